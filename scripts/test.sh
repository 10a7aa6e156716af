#!/usr/bin/env bash
# The test command: set up, build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
swift build --build-tests
swift test --skip-build --disable-swift-testing "$@"   # XCTest only: its summary closes the run
