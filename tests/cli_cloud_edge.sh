#!/usr/bin/env bash
# cli_cloud_edge.sh NSENGINE MODELS_DIR PROFILE: a real `nsengine cloud` process on a free
# loopback port, `nsengine edge` against it at several cuts and with --split auto, then the cloud
# killed and the edge still answering (locally), and a clean SIGTERM shutdown of a second cloud.
set -u
nse=$1
dir=$2
profile=$3
log=$(mktemp)
trap 'kill -9 $cloud 2>/dev/null; rm -f "$log"' EXIT
fail() { echo "FAIL: $*"; cat "$log"; exit 1; }

start_cloud() {
    # Emptied here, not by the redirection below: that runs in the background child, and the
    # loop could read the previous cloud's port first and signal this one before it handles
    # signals (a CI run saw "cloud exited 143 on SIGTERM").
    : >"$log"
    "$nse" cloud -p 0 --models-dir "$dir" --models lenet,mobilenet_v2 --threads 1 \
        --profile "$profile" 2>"$log" &
    cloud=$!
    for _ in $(seq 100); do
        port=$(sed -n 's/.*serving .* on 127.0.0.1:\([0-9]*\),.*/\1/p' "$log")
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    fail "cloud did not start"
}

start_cloud
for split in cloud 1 30 edge; do
    out=$("$nse" edge -t mobilenet --models-dir "$dir" -p "$port" --split "$split" --repeat 2 --json) ||
        fail "edge --split $split exited $?"
    echo "$out" | grep -q '"fallbacks": 0' || fail "edge --split $split fell back: $out"
done
grep -q "mobilenet_v2 cut=30/65" "$log" || fail "cloud did not log the cut-30 request"
# The first request pays for connecting, and says so: its total is the sum of its columns.
out=$("$nse" edge -t mobilenet --models-dir "$dir" -p "$port" --split 30 --repeat 2 --json) ||
    fail "edge --split 30 exited $?"
echo "$out" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)["requests"]
assert r[0]["connect_ms"] > 0 and r[1]["connect_ms"] == 0, r
for q in r:
    parts = q["connect_ms"] + q["prepare_ms"] + q["edge_ms"] + q["encode_ms"] + q["upload_ms"] \
        + q["cloud_queue_ms"] + q["cloud_decode_ms"] + q["cloud_compute_ms"] + q["network_ms"]
    assert abs(q["total_ms"] - parts) < 0.5 + 0.05 * q["total_ms"], (q["total_ms"], parts)
' || fail "the columns do not add up to the total: $out"
# A cut sent as int8 + zstd: the cloud decodes it (and logs so); a quarter of the bytes or less.
out=$("$nse" edge -t mobilenet --models-dir "$dir" -p "$port" --split 30 --wire int8+zstd --json) ||
    fail "edge --wire int8+zstd exited $?"
echo "$out" | /usr/bin/python3 -c '
import json, sys
q = json.load(sys.stdin)["requests"][0]
assert q["where"] == "cloud" and q["wire"] == "int8+zstd", q
assert 0 < q["sent_bytes"] < q["raw_bytes"] / 4, q
' || fail "int8+zstd request: $out"
grep -q "mobilenet_v2 cut=30/65 .*wire=int8+zstd" "$log" || fail "cloud did not log the encoding"
out=$("$nse" edge -t mobilenet --models-dir "$dir" -p "$port" --profile "$profile" --repeat 3 \
    --threads 1 --json) || fail "edge --split auto exited $?"
echo "$out" | grep -q '"fallbacks": 0' || fail "edge --split auto fell back: $out"
echo "$out" | grep -q '"predicted_ms"' || fail "no prediction in: $out"

kill -9 "$cloud"
wait "$cloud" 2>/dev/null
out=$("$nse" edge -t lenet --models-dir "$dir" -p "$port" --split 2 2>&1) || fail "edge without cloud exited $?"
echo "$out" | grep -q "finished on the edge" || fail "no fallback notice: $out"
echo "$out" | grep -q "edge (fallback)" || fail "no fallback row: $out"
"$nse" edge -t lenet --models-dir "$dir" -p "$port" --split 2 --require-cloud >/dev/null 2>&1 &&
    fail "--require-cloud succeeded without a cloud"

start_cloud
kill -TERM "$cloud"
wait "$cloud" || fail "cloud exited $? on SIGTERM"
grep -q "shutting down" "$log" || fail "no shutdown message"
echo "cloud/edge CLI: all checks passed"
