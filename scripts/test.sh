#!/usr/bin/env bash
# The test command: installs dependencies, builds, converts the models and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
cd build
ctest -j "$(nproc)" --output-on-failure
