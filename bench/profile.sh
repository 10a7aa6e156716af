#!/usr/bin/env bash
# Where the time goes, from perf's samples of one `msq bench` run (after its warm-up),
# grouped by kind of work into a Markdown table. Installs perf when missing.
# usage: bash bench/profile.sh [train|infer] [--config a|b|vit] [--steps N] [...msq bench options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v perf >/dev/null 2>&1; then
  echo "profile: installing perf (linux-perf)"
  apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null
fi
swift build -c release >/dev/null
mode="${1:-train}"; shift || true
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
mkfifo "$out/ctl"
# Sampling runs from the end of warm-up to the last step (msq writes enable/disable to the fifo):
# model set-up and first-touch page clearing are not the step's cost.
MSQ_PERF_CONTROL="$out/ctl" perf record -q -D -1 --control "fifo:$out/ctl" -o "$out/perf.data" \
  .build/release/msq bench "$mode" --warmup 2 --steps 6 "$@" | tail -1
perf report -i "$out/perf.data" --no-children --sort sym --stdio 2>/dev/null | swift demangle --simplified | python3 bench/perf_report.py
