"""Interleaves `msq bench` over several builds, round by round, and prints each build's
median of round medians: the fair way to compare commits on a shared, noisy host.

usage: python3 bench/interleave.py [--rounds 3] BUILD_DIR... -- BENCH_ARGS...
  BUILD_DIR: a folder holding msq (e.g. a worktree's .build/release)
  e.g. python3 bench/interleave.py ../old/.build/release .build/release -- train --config a --steps 5 --warmup 2
"""
import re, statistics, subprocess, sys

def main(argv):
    rounds = 3
    if argv[:1] == ["--rounds"]:
        rounds, argv = int(argv[1]), argv[2:]
    if "--" not in argv:
        sys.exit(__doc__)
    cut = argv.index("--")
    builds, args = argv[:cut], argv[cut + 1:]
    if not builds or not args:
        sys.exit(__doc__)
    times = {b: [] for b in builds}
    rss = {}
    for r in range(rounds):
        for b in builds:
            run = subprocess.run([f"{b}/msq", "bench", *args], capture_output=True, text=True)
            m = re.search(r"median ([0-9.]+) s.*peak RSS (\d+)", run.stdout)
            if not m:
                sys.exit(f"interleave: {b}/msq bench {' '.join(args)} printed no median:\n{run.stdout}{run.stderr}")
            times[b].append(float(m.group(1))); rss[b] = m.group(2)
            print(f"round {r + 1}  {b}: {m.group(1)} s", flush=True)
    print("\n| build | median of round medians s | rounds | peak RSS MiB |\n|---|---|---|---|")
    for b in builds:
        print(f"| {b} | {statistics.median(times[b]):.3f} | {' / '.join(f'{t:.3f}' for t in times[b])} | {rss[b]} |")

if __name__ == "__main__":
    main(sys.argv[1:])
