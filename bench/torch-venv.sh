#!/usr/bin/env bash
# Installs CPU PyTorch (with numpy and safetensors) into .venv-torch when missing: pip's local
# CPU wheel where offered, else the PyPI build. Sourced by the benchmarks that run PyTorch beside msq.
if ! .venv-torch/bin/python -c 'import torch, numpy, safetensors' >/dev/null 2>&1; then
  echo "bench: installing CPU PyTorch into .venv-torch (about 1 GB)"
  python3 -m venv .venv-torch
  if ! .venv-torch/bin/pip install -q --no-deps "torch==2.13.0+cpu"; then
    .venv-torch/bin/pip install -q torch
  fi
  .venv-torch/bin/pip install -q numpy safetensors filelock typing-extensions sympy networkx jinja2 fsspec
fi
