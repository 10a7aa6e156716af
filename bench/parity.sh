#!/usr/bin/env bash
# Accuracy parity on real data: msq beside the same model in PyTorch (bench/parity.py; minutes per case).
# Installs what it needs (Debian packages, CPU PyTorch in .venv-torch), builds release, prints the table.
# usage: bash bench/parity.sh [--steps 1000] [--cases fashion,folder,multifashion,scenes] [--models vit,squad] [--seed 0] [--numerics]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source bench/torch-venv.sh
swift build -c release >/dev/null
exec .venv-torch/bin/python bench/parity.py --msq .build/release/msq "$@"
