#!/usr/bin/env bash
# Builds the fuzzers with libFuzzer + AddressSanitizer and runs each for a while; crashers land in
# fuzz/crashers/<target>/ (commit them: Tests/ModSquadKitTests/FuzzRegressionTests.swift replays them).
#   bash fuzz/run.sh                 # every target, 600 s each
#   bash fuzz/run.sh 60 script png   # these targets, 60 s each
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(script safetensors npy idx png manifest notebook)
swift build -c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address 2>&1 | tail -3
bin=$(swift build -c release --scratch-path .build-fuzz --show-bin-path)
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "crashers/$t"
  if [ "$t" = script ]; then exe=$bin/FuzzScript; else exe=$bin/FuzzLoaders; fi
  fx=../Tests/Fixtures
  case $t in   # seeds: the committed fixtures
    script) cp -n $fx/fuzz/msq/*.msq ../notebooks/*.msq "corpus/$t/" ;;
    idx) cp -n $fx/fuzz/idx/* "corpus/$t/" ;;
    png) cp -n $fx/fuzz/png/* $fx/fuzz/manifest/*.png "corpus/$t/" ;;
    manifest) cp -n $fx/fuzz/manifest/manifest.csv "corpus/$t/" ;;
    npy) cp -n $(ls $fx/ops/*.npy | head -8) "corpus/$t/" ;;
    safetensors) cp -n $(ls $fx/io/*.safetensors 2>/dev/null | head -4) "corpus/$t/" 2>/dev/null || true ;;
    notebook) cp -n $fx/fuzz/msq/*.msq "corpus/$t/" ;;
  esac
  echo "fuzz: $t for ${secs}s"
  ASAN_OPTIONS=detect_leaks=0 FUZZ_LOADER=$t "$exe" "corpus/$t" -max_total_time="$secs" -max_len=8192 -rss_limit_mb=3000 -timeout=10 \
      -artifact_prefix="crashers/$t/" -print_final_stats=1 2>&1 | grep -E '^(stat::number_of_executed_units|stat::peak_rss|==|SUMMARY|artifact_prefix|Test unit written|INFO: Running)' || true
done
