#!/usr/bin/env bash
# The main job: set up, build release, run the quickstart notebook into a report.
# Extra arguments go to `msq run` (e.g. --ipynb out/quickstart/quickstart.ipynb).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
.build/release/msq doctor
mkdir -p out/quickstart
.build/release/msq run notebooks/quickstart.msq --report out/quickstart/report.md "$@"
echo "quickstart: report in out/quickstart/report.md, pictures in out/quickstart/"
