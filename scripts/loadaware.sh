#!/usr/bin/env bash
# Load-aware splitting against its baselines on loopback, interleaved (docs/serving.md): the
# cloud pinned to CPU 0 (1 worker x 1 thread), 32 edges (one `nsengine load` process, 1 kernel
# thread each) pinned to CPU 1. Each round runs: a batch-1 FIFO cloud with every request at cut 0,
# everything on the edges, and --split auto against a batching cloud (--max-batch 8), also with
# a second build when --baseline is given. Prints total requests/s (by the cloud), p50 and the
# edges' medians per run; exit 1 if any answer was wrong or lost.
#
# With --edge-cpu F each edge's thread is limited to F of a CPU (nsengine load --edge-cpu: a
# cgroup per edge, root), as devices of their own would be, rather than all sharing CPU 1.
# --tolls "0 1 3" runs auto once per --queue-toll value (default: the edge's default only).
# --seconds S runs each configuration for S seconds (every edge sends until then) instead of a
# count of requests per edge: a count ends in a tail where the edges that fell behind finish
# alone while the rest of the system idles.
#
#   scripts/loadaware.sh [--model mobilenet_v2] [--rounds 2] [--requests 10] [--edges 32]
#                        [--profile FILE] [--baseline OTHER_NSENGINE] [--edge-cpu F]
#                        [--tolls "T ..."] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
model=mobilenet_v2 rounds=2 requests=10 edges=32 profile="" baseline="" edge_cpu=0 tolls=""
seconds=300 timed=0
while [ $# -gt 0 ]; do
    case "$1" in
        --model) model=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --requests) requests=$2; shift 2 ;;
        --edges) edges=$2; shift 2 ;;
        --profile) profile=$2; shift 2 ;;
        --baseline) baseline=$2; shift 2 ;;
        --edge-cpu) edge_cpu=$2; shift 2 ;;
        --tolls) tolls=$2; shift 2 ;;
        --seconds) seconds=$2 timed=1; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "loadaware.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ "$timed" = 0 ] || requests=100000  # (each edge sends until --seconds)
[ "$(nproc)" -ge 2 ] || { echo "loadaware.sh: needs two CPUs" >&2; exit 2; }
nse=${NSE:-build/tools/nsengine}
prof=()
[ -z "$profile" ] || prof=(--profile "$profile")
run=$(mktemp -d /tmp/nsengine-loadaware.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$run"' EXIT
status=0
one() {  # label binary max_batch split [load options...]
    local port=$((20000 + RANDOM % 9000))
    taskset -c 0 "$2" cloud --port "$port" --models "$model" --workers 1 --threads 1 \
        --max-batch "$3" "${prof[@]}" --quiet >"$run/cloud.log" 2>&1 &
    local cloud=$!
    for _ in $(seq 6000); do  # up to 10 min: without --profile the first start builds one
        grep -q "serving" "$run/cloud.log" && break
        kill -0 $cloud 2>/dev/null || { cat "$run/cloud.log" >&2; exit 1; }
        sleep 0.1
    done
    taskset -c 1 "$2" load --model "$model" -p "$port" --edges "$edges" --requests "$requests" \
        --split "$4" "${prof[@]}" --edge-cpu "$edge_cpu" --max-seconds "$seconds" --json "${@:5}" \
        >"$run/load.json" || status=1
    kill $cloud; wait $cloud 2>/dev/null || true
    /usr/bin/python3 - "$run/load.json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"  {sys.argv[2]:14} {r['requests_per_s']:7.1f} req/s ({r['cloud_requests_per_s']:.1f} by the "
      f"cloud)  p50 {r['p50_ms']:7.1f} ms  edges' medians {r['edge_median_ms_min']:.0f}.."
      f"{r['edge_median_ms_max']:.0f} ms  wrong {r['wrong']} lost {r['lost']}")
PY
}
for r in $(seq "$rounds"); do
    limit="each edge's CPU: $edge_cpu"
    [ "$edge_cpu" != 0 ] || limit="the edges share CPU 1"
    length="$requests requests"
    [ "$timed" = 0 ] || length="${seconds} s"
    echo "$model, round $r ($edges edges x $length; $limit)"
    one "fifo cut 0" "$nse" 1 cloud
    one "all on edges" "$nse" 1 edge
    [ -z "$baseline" ] || one "auto baseline" "$baseline" 8 auto
    if [ -z "$tolls" ]; then
        one "auto" "$nse" 8 auto
    else
        for t in $tolls; do one "auto toll $t" "$nse" 8 auto --queue-toll "$t"; done
    fi
done
exit $status
