#!/usr/bin/env bash
# The extracted model against the full squad it came from, each loaded from its checkpoint
# in a fresh process: parameters, checkpoint size, peak RSS and one-task inference time.
# usage: bash bench/extracted.sh [--config a|b] [--steps N]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release >/dev/null
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
msq=.build/release/msq
$msq bench infer --extracted --save "$dir" --steps 3 "$@" | grep -E "^extract|saved"
for m in full extracted; do
  $msq bench infer --checkpoint "$dir/$m.safetensors" --steps 20 --json "$@" > "$dir/$m.json"
done
python3 - "$dir" <<'PY'
import json, os, sys
d = sys.argv[1]
rows = {}
for m in ("full", "extracted"):
    r = json.load(open(f"{d}/{m}.json")); r = r[0] if isinstance(r, list) else r
    rows[m] = (r["params"], os.path.getsize(f"{d}/{m}.safetensors") / 2**20, r["peak_rss_mib"], r["median_s"])
print("| model | params | checkpoint MiB | peak RSS MiB | one-task infer s |")
print("|---|---|---|---|---|")
for m, (p, c, rss, t) in rows.items():
    print(f"| {m} | {p:,} | {c:.1f} | {rss:.0f} | {t:.4f} |")
(pf, cf, rf, tf), (pe, ce, re_, te) = rows["full"], rows["extracted"]
print(f"| extracted / full | {pe / pf:.2f} | {ce / cf:.2f} | {re_ / rf:.2f} | {te / tf:.2f} |")
PY
