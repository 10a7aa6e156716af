#!/usr/bin/env python3
"""Runs msq bench and the PyTorch reference on the same configs, interleaved round by
round (so both see the same machine load), and prints a table of medians with the
ratio msq / PyTorch for step time and peak RSS. Called by bench/compare.sh."""
import argparse, datetime, json, platform, statistics, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("--msq", required=True)
ap.add_argument("--python", required=True)
ap.add_argument("--reference", required=True)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--steps", type=int, default=5)
ap.add_argument("--configs", default="a,b,vit")
ap.add_argument("--modes", default="train,infer")
ap.add_argument("--markdown", default=None, help="also write the table to this file")
a = ap.parse_args()

REF_FLAGS = {"a": [], "b": ["--experts", "16", "--k", "4"], "vit": ["--model", "vit"]}


def run_ref(cfg, mode):
    cmd = [a.python, a.reference, "bench", "--mode", mode, "--threads", str(a.threads),
           "--steps", str(a.steps), "--warmup", "2"] + REF_FLAGS[cfg]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    d = json.loads(out)
    key = "step_s" if mode == "train" else "infer_s"
    return d[key]["median"], d["peak_rss_mib"]


def run_msq(cfg, mode):
    cmd = [a.msq, "bench", mode, "--config", cfg, "--threads", str(a.threads), "--steps", str(a.steps),
           "--warmup", "2", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    d = json.loads(out)[0]
    return d["median_s"], d["peak_rss_mib"]


rows = []
for cfg in a.configs.split(","):
    for mode in a.modes.split(","):
        if cfg == "vit" and mode == "infer":
            continue
        ours, theirs = [], []
        for r in range(a.rounds):
            theirs.append(run_ref(cfg, mode))
            ours.append(run_msq(cfg, mode))
            print(f"  {cfg} {mode} round {r + 1}: msq {ours[-1][0]:.3f}s  torch {theirs[-1][0]:.3f}s", file=sys.stderr)
        mt, tt = statistics.median(x[0] for x in ours), statistics.median(x[0] for x in theirs)
        mr, tr = max(x[1] for x in ours), max(x[1] for x in theirs)
        rows.append((cfg, mode, mt, tt, mt / tt, mr, tr, mr / tr))

head = f"{datetime.date.today()} · {platform.node()} · {a.threads} threads · {a.rounds} rounds × {a.steps} steps (medians)"
lines = [head, "", "| config | mode | msq s | PyTorch s | ratio | msq RSS MiB | PyTorch RSS MiB | RSS ratio |",
         "|---|---|---|---|---|---|---|---|"]
for c, m, mt, tt, r, mr, tr, rr in rows:
    lines.append(f"| {c} | {m} | {mt:.3f} | {tt:.3f} | {r:.2f} | {mr:.0f} | {tr:.0f} | {rr:.2f} |")
print("\n".join(lines))
if a.markdown:
    with open(a.markdown, "w") as f:
        f.write("\n".join(lines) + "\n")
