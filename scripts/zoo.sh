#!/usr/bin/env bash
# Converts and checks every torchvision classification model and writes docs/zoo.md (tools/zoo.py; an hour or more
# on 2 cores: the largest networks take minutes each). Arguments go to tools/zoo.py, e.g.
#   scripts/zoo.sh --models resnet50,densenet121 --doc /tmp/zoo.md
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/tools/nsengine ] || scripts/build.sh
coretype=$(scripts/openblas-coretype.sh)  # SKYLAKEX on AVX-512 CPUs, HASWELL on AVX2 ones
[ -z "$coretype" ] || export OPENBLAS_CORETYPE=$coretype
exec /usr/bin/python3 tools/zoo.py "$@"
