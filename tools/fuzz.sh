#!/usr/bin/env bash
# Builds the libFuzzer target for the wire protocol decoders with clang (ASan + libFuzzer) in
# build-fuzz/ (every library instrumented for coverage) and runs it for SECONDS (default 60). Needs clang and libclang-rt-14-dev.
#   tools/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang)"; exit 2; }
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address" -DNSE_BUILD_FUZZERS=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target nse_fuzz_protocol
mkdir -p build-fuzz/corpus
build-fuzz/tests/nse_fuzz_protocol -max_total_time="$seconds" -max_len=4096 build-fuzz/corpus
