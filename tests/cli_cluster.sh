#!/usr/bin/env bash
# cli_cluster.sh NSENGINE MODELS_DIR PROFILE: the cloud tier as a user runs it. scripts/
# loadtest.sh starts two `nsengine cloud` replicas behind HAProxy (scripts/cluster.sh), runs
# `nsengine load` (8 edges x 40 requests of MobileNetV2 at cut 5, dynamic batching on) and kills
# one replica with SIGKILL mid-run, restarting it a second later: every request must be answered,
# every answer equal to the local run, some by the cloud, the dead replica's edges retried.
set -u
nse=$1
dir=$2
profile=$3
here=$(cd "$(dirname "$0")" && pwd)
json=$(mktemp)
trap 'rm -f "$json"' EXIT
fail() { echo "FAIL: $*"; cat "$json"; exit 1; }
command -v haproxy >/dev/null || fail "haproxy is not installed (scripts/install_deps.sh)"
NSE=$nse timeout 150 "$here/../scripts/loadtest.sh" --replicas 2 --edges 8 --requests 40 \
    --model mobilenet_v2 --split 5 --kill-after-s 1 --down-s 1 --models-dir "$dir" \
    --json "$json" -- --workers 1 --threads 1 --profile "$profile" --max-queue-delay-us 2000 ||
    fail "loadtest.sh exited $?"
field() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$json" "$1"; }
[ "$(field answered)" = 320 ] || fail "answered $(field answered) of 320"
[ "$(field wrong)" = 0 ] || fail "$(field wrong) wrong answers"
[ "$(field lost)" = 0 ] || fail "$(field lost) lost"
[ "$(field cloud)" -ge 100 ] || fail "only $(field cloud) answered by the cloud"
[ "$(field retried)" -ge 1 ] || fail "no edge retried after the replica died"
echo "cluster: $(field cloud) of 320 by the cloud, $(field retried) retried, $(field fallbacks) fell back"
