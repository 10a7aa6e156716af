#!/usr/bin/env bash
# Side by side: msq bench against the PyTorch reference on the same configs, interleaved
# in one run; prints medians and the ratio msq / PyTorch. Installs CPU PyTorch into
# .venv-torch when missing (pip's local CPU wheel where offered, else the PyPI build).
# usage: bash bench/compare.sh [--threads 2] [--rounds 3] [--steps 5] [--configs a,b,vit] [--modes train,infer]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! .venv-torch/bin/python -c 'import torch' >/dev/null 2>&1; then
  echo "compare: installing CPU PyTorch into .venv-torch (about 1 GB)"
  python3 -m venv .venv-torch
  if ! .venv-torch/bin/pip install -q --no-deps "torch==2.13.0+cpu"; then
    .venv-torch/bin/pip install -q torch
  fi
  .venv-torch/bin/pip install -q numpy filelock typing-extensions sympy networkx jinja2 fsspec
fi
swift build -c release >/dev/null
REF="${MSQ_REFERENCE:-../shared/reference/modsquad_torch.py}"
[ -f "$REF" ] || { echo "compare: the PyTorch reference is not at $REF (set MSQ_REFERENCE)"; exit 1; }
exec python3 bench/compare.py --msq .build/release/msq --python .venv-torch/bin/python --reference "$REF" "$@"
