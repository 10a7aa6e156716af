#!/usr/bin/env bash
# Installs what ModSquad needs on Debian when missing: OpenBLAS, Cairo, readline,
# zlib, ZeroMQ, Open MPI (mpirun; msq loads libmpi only under it), fonts, Fashion-MNIST; with --test also the Python test tooling.
set -euo pipefail
need=()
for p in libopenblas-dev libcairo2-dev libreadline-dev zlib1g-dev libzmq3-dev openmpi-bin libopenmpi-dev pkg-config fonts-dejavu-core dataset-fashion-mnist; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ "${1:-}" = "--test" ]; then
  if ! python3 -c 'import numpy, safetensors, nbformat, pexpect' >/dev/null 2>&1; then
    echo "setup: installing numpy safetensors nbformat pexpect (fixtures, round trips, .ipynb validation, REPL tests)"
    python3 -m pip install -q numpy safetensors nbformat pexpect 2>&1 | grep -v 'Running pip as the' || true
  fi
  if ! python3 -c 'import jupyter_client, jupyter_kernel_test, nbclient, ipykernel' >/dev/null 2>&1; then
    echo "setup: installing jupyter_client jupyter_kernel_test nbclient nbformat ipykernel (kernel tests, bench/kernel.py)"
    python3 -m pip install -q jupyter_client jupyter_kernel_test nbclient nbformat ipykernel 2>&1 | grep -v 'Running pip as the' || true
  fi
fi
command -v swift >/dev/null || { echo "setup: swift 6.x is not on PATH (https://swift.org/install)"; exit 1; }
