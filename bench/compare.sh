#!/usr/bin/env bash
# Side by side: msq bench against the PyTorch reference on the same configs, interleaved
# in one run; prints medians and the ratio msq / PyTorch. Installs CPU PyTorch into
# .venv-torch when missing (pip's local CPU wheel where offered, else the PyPI build).
# usage: bash bench/compare.sh [--threads 2] [--rounds 3] [--steps 5] [--configs a,b,vit] [--modes train,infer]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source bench/torch-venv.sh
swift build -c release >/dev/null
REF="${MSQ_REFERENCE:-../shared/reference/modsquad_torch.py}"
[ -f "$REF" ] || { echo "compare: the PyTorch reference is not at $REF (set MSQ_REFERENCE)"; exit 1; }
exec python3 bench/compare.py --msq .build/release/msq --python .venv-torch/bin/python --reference "$REF" "$@"
