#!/usr/bin/env bash
# The main job, end to end on a fresh machine: installs dependencies, builds, converts the
# default model (MobileNetV2, seeded random weights), starts `nsengine cloud` on loopback, runs
# `nsengine edge --model mobilenet_v2` against it (automatic split; the first run builds this
# machine's profile, about two minutes on 2 cores), then a few fixed cuts, and stops the cloud.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-mobilenet_v2}
scripts/install_deps.sh
scripts/build.sh
/usr/bin/python3 tools/convert_torchvision.py "$model" --out models --skip-existing
nse=build/tools/nsengine

log=$(mktemp)
"$nse" cloud -p 0 --models "$model" 2>"$log" &
cloud=$!
# What the cloud says while it starts (on first use: building this machine's profile, with a
# progress bar) is shown as it comes; its per-request log is printed at the end.
tail -f "$log" >&2 &
follow=$!
trap 'kill $follow $cloud 2>/dev/null || true; wait $cloud 2>/dev/null || true; rm -f "$log"' EXIT
echo "== starting nsengine cloud (on first use it builds this machine's profile: about 2 min)"
port=""
for _ in $(seq 1500); do  # up to 5 min: the profile is built first
    port=$(sed -n 's/.*serving .* on 127.0.0.1:\([0-9]*\),.*/\1/p' "$log")
    [ -n "$port" ] && break
    kill -0 $cloud 2>/dev/null || { sleep 0.3; echo "demo: the cloud failed"; exit 1; }
    sleep 0.2
done
sleep 0.3  # let tail print the line that said so
kill $follow 2>/dev/null || true
wait $follow 2>/dev/null || true
[ -n "$port" ] || { echo "demo: the cloud did not start"; exit 1; }
echo "== nsengine cloud is serving $model on 127.0.0.1:$port"

echo
echo "== nsengine edge --model $model -p $port --repeat 3   (--split auto)"
"$nse" edge --model "$model" -p "$port" --repeat 3 --top 3
n=$("$nse" info --model "$model" --json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["nodes"]))')
for split in cloud $((n / 2)) edge; do
    echo
    echo "== nsengine edge --model $model -p $port --split $split --repeat 2"
    "$nse" edge --model "$model" -p "$port" --split "$split" --repeat 2 --top 1
done
echo
echo "== random weights, but the answer follows the input: nsengine run --input ref, then random"
"$nse" run --model "$model" --input ref --top 1 | sed -n '/^rank/,$p'
"$nse" run --model "$model" --input random --top 1 | sed -n '/^rank/,$p'
echo
echo "== cloud log (one line per request)"
kill -INT $cloud
wait $cloud || true
sed -n '/serving/,$p' "$log"
