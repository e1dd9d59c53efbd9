#!/usr/bin/env bash
# The test command: installs dependencies, builds, converts the models and runs every test; then,
# on an x86-64 machine, the ARM64 subset (scripts/test-arm64.sh --ci: the cross build, the kernel
# suites on the neon path and an aarch64 edge against this machine's cloud, under emulation).
#   scripts/test.sh [--no-arm64]   (--no-arm64: leave the ARM64 subset and its packages out)
set -euo pipefail
cd "$(dirname "$0")/.."
arm64=1
for a in "$@"; do
    case $a in
        --no-arm64) arm64=0 ;;
        -h | --help) sed -n '2,5p' "$0"; exit 0 ;;
        *) echo "test.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
    esac
done
[ "$(uname -m)" = x86_64 ] || arm64=0  # elsewhere the suite below already runs the native path
if [ "$arm64" = 1 ]; then scripts/install_deps.sh --arm64; else scripts/install_deps.sh; fi
scripts/build.sh
(cd build && ctest -j "$(nproc)" --output-on-failure)
if [ "$arm64" = 1 ]; then scripts/test-arm64.sh --ci; fi
