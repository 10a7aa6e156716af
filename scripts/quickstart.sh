#!/usr/bin/env bash
# The main job: set up, build release, run the quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
.build/release/msq doctor
.build/release/msq example "$@"
