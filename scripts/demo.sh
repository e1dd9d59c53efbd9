#!/usr/bin/env bash
# The main job, end to end on a fresh machine: installs dependencies, builds, converts the
# default model (MobileNetV2, seeded random weights) and runs it with nsengine.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-mobilenet_v2}
scripts/install_deps.sh
scripts/build.sh
/usr/bin/python3 tools/convert_torchvision.py "$model" --out models --skip-existing
echo
echo "== nsengine info --model $model"
build/tools/nsengine info --model "$model"
echo
echo "== nsengine run --model $model --input ref"
build/tools/nsengine run --model "$model" --input ref
echo
echo "== nsengine bench --model $model"
build/tools/nsengine bench --model "$model" --runs 20
