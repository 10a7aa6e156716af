#!/usr/bin/env python3
"""Kernel latency through jupyter_client: the median round trip of execute_request("1 + 1")
(request sent → reply and idle status received) for the msq kernel and ipykernel in the same
run, interleaved in rounds so both see the same machine load; and for msq the time from
train's last progress update to its plot's display_data.

usage: python3 bench/kernel.py [--msq .build/release/msq] [--calls 200] [--rounds 4]
Installs the msq kernelspec into a temporary prefix (your own kernelspecs are untouched)."""
import argparse, os, platform, statistics, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--msq", default=".build/release/msq")
ap.add_argument("--calls", type=int, default=200)
ap.add_argument("--rounds", type=int, default=4)
a = ap.parse_args()

work = tempfile.mkdtemp(prefix="msq-kernel-bench-")
subprocess.run([os.path.abspath(a.msq), "kernel", "install", "--prefix", work], check=True, stdout=subprocess.DEVNULL)
os.environ["JUPYTER_PATH"] = os.path.join(work, "share", "jupyter")
os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(work, "runtime")
os.chdir(work)
from jupyter_client.manager import start_new_kernel  # noqa: E402


def wait_idle(kc, msg_id, sink=None):
    while True:
        m = kc.get_iopub_msg(timeout=600)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if sink is not None:
            sink.append((time.perf_counter(), m))
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return


def round_trip(kc, code):
    t = time.perf_counter()
    msg_id = kc.execute(code)
    reply = kc.get_shell_msg(timeout=60)
    wait_idle(kc, msg_id)
    assert reply["content"]["status"] == "ok", reply["content"]
    return time.perf_counter() - t


kernels = {}
for name in ("msq", "python3"):
    km, kc = start_new_kernel(kernel_name=name, startup_timeout=60)
    for _ in range(20):
        round_trip(kc, "1 + 1")   # warm-up
    kernels[name] = (km, kc)

times = {n: [] for n in kernels}
per_round = max(1, a.calls // a.rounds)
for r in range(a.rounds):
    for name, (km, kc) in kernels.items():
        times[name] += [round_trip(kc, "1 + 1") for _ in range(per_round)]

# msq: train, then a plot in the same cell; time from the last progress update to the PNG.
km, kc = kernels["msq"]
round_trip(kc, 'data = scenes(size: 32, train: 256, test: 64, tasks: ["segment", "depth"])\n'
               "m = squad(tasks: data, dim: 32, depth: 2, experts: 4, head_dim: 8)")
gaps = []
for i in range(3):
    msg_id = kc.execute('train(m, data, steps: 20, batch: 16)\nplot_experts(m, "experts-%d.png")' % i)
    msgs = []
    wait_idle(kc, msg_id, msgs)   # read IOPub as it arrives (the reply waits in its queue)
    kc.get_shell_msg(timeout=600)
    last_progress = max(t for t, m in msgs if m["msg_type"] in ("update_display_data", "stream"))
    png = min(t for t, m in msgs if m["msg_type"] == "display_data" and "image/png" in m["content"]["data"])
    gaps.append(png - last_progress)

for km, kc in kernels.values():
    kc.stop_channels()
    km.shutdown_kernel(now=True)

cpu = platform.processor() or ""
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except (OSError, StopIteration):
    pass
print("CPU: %s, load average %.2f" % (cpu, os.getloadavg()[0]))
print("execute_request(\"1 + 1\") round trip, %d calls each, interleaved in %d rounds:" % (per_round * a.rounds, a.rounds))
for name, label in (("msq", "msq kernel"), ("python3", "ipykernel")):
    t = sorted(times[name])
    print("  %-10s median %.2f ms   p10 %.2f ms   p90 %.2f ms" % (
        label, 1e3 * statistics.median(t), 1e3 * t[len(t) // 10], 1e3 * t[len(t) * 9 // 10]))
print("msq: last training update → plot display_data: median %.1f ms over %d runs (plot drawing included)"
      % (1e3 * statistics.median(gaps), len(gaps)))
