#!/usr/bin/env bash
# Reruns the paper study: notebooks/paper/*.msq in out/paper (checkpoints, reports, figures),
# then assembles docs/RESULTS.md from notebooks/paper/summary.md and the seven reports.
#   bash scripts/paper.sh              # two notebooks at a time, one thread each (about 100 min here)
#   bash scripts/paper.sh --jobs 1     # one at a time with every thread
#   bash scripts/paper.sh --assemble   # only rebuild docs/RESULTS.md from out/paper
#   MSQ=/path/to/msq bash scripts/paper.sh   # run that build (e.g. a copy of msq and libModSquadKit.so side by side, so rebuilding meanwhile is safe)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=2 assemble_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) jobs=$2; shift 2 ;;
    --assemble) assemble_only=1; shift ;;
    *) echo "paper.sh: unknown argument '$1' (use --jobs N or --assemble)" >&2; exit 2 ;;
  esac
done
work=$root/out/paper
msq=${MSQ:-$root/.build/release/msq}
mkdir -p "$work"

run() {   # run NAME [THREADS]: one notebook into NAME.md / NAME.ipynb / NAME.log
  local n=$1 threads=${2:-}
  echo "paper: $n started $(date +%H:%M:%S)"
  (cd "$work" && env ${threads:+MSQ_THREADS=$threads} "$msq" run "$root/notebooks/paper/$n.msq" \
      --report "$n.md" --ipynb "$n.ipynb" > "$n.log" 2>&1) \
    || { echo "paper: $n failed; see $work/$n.log" >&2; tail -5 "$work/$n.log" >&2; return 1; }
  echo "paper: $n done $(date +%H:%M:%S) ($(tail -1 "$work/$n.log"))"
}

if [ "$assemble_only" = 0 ]; then
  bash "$root/scripts/setup.sh"
  [ -n "${MSQ:-}" ] || (cd "$root" && swift build -c release)
  if [ "$jobs" -ge 2 ]; then
    # Two lanes of one thread each (small models use two threads poorly); transfer needs seed 1's squad;
    # the ablations then run alone with every thread.
    (run 1-scenes-seed1 1 && run 4-multifashion 1 && run 5-transfer 1) & lane_a=$!
    (run 1-scenes-seed2 1 && run 4-fashion 1) & lane_b=$!
    wait $lane_a; wait $lane_b
    run 3-ablations
    run 2-scenes
  else
    for n in 1-scenes-seed1 1-scenes-seed2 2-scenes 3-ablations 4-fashion 4-multifashion 5-transfer; do run $n; done
  fi
fi

# docs/RESULTS.md: the summary, then each report with its headings one level down and its pictures in docs/results.
out=$root/docs/RESULTS.md
mkdir -p "$root/docs/results/figures"
cp "$work"/figures/*.png "$root/docs/results/figures/"
{
  cat "$root/notebooks/paper/summary.md"
  for n in 2-scenes 1-scenes-seed1 1-scenes-seed2 3-ablations 4-multifashion 4-fashion 5-transfer; do
    [ -f "$work/$n.md" ] || { echo "paper: $work/$n.md missing (run the notebooks first)" >&2; exit 1; }
    echo; echo "---"; echo
    awk -v nb="$n" 'NR == 1 && /^# .*\.msq$/ { next }
         /^_Run with msq/ { sub(/^_Run with msq/, "_`notebooks/paper/" nb ".msq`, run with msq") }
         /^```/ { fence = !fence } !fence && /^#/ { $0 = "#" $0 } { gsub(/\]\(figures\//, "](results/figures/"); print }' "$work/$n.md"
  done
} > "$out"
echo "paper: wrote $out"
