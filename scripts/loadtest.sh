#!/usr/bin/env bash
# Heavy load on a cloud tier, bounded in count and time, loopback only: scripts/cluster.sh
# starts R replicas behind HAProxy, `nsengine load` runs E edges x Q requests against it, and
# (with --kill-after-s) one replica is killed with SIGKILL mid-run and started again --down-s
# later. Prints the load report (every answer checked against the local run: cloud, retried,
# fallback, wrong, lost) and how many requests each replica served. Exit 1 if any answer was
# wrong or lost.
#
#   scripts/loadtest.sh [--replicas 3] [--edges 64] [--requests 50] [--model mobilenet_v2]
#                       [--split 5] [--kill-after-s 0] [--down-s 3] [--models-dir models]
#                       [--json FILE] [-- cloud flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
replicas=3 edges=64 requests=50 model=mobilenet_v2 split=5 kill_after=0 down=3
models_dir=models json_out="" cloud_flags=()
while [ $# -gt 0 ]; do
    case "$1" in
        --replicas) replicas=$2; shift 2 ;;
        --edges) edges=$2; shift 2 ;;
        --requests) requests=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --split) split=$2; shift 2 ;;
        --kill-after-s) kill_after=$2; shift 2 ;;
        --down-s) down=$2; shift 2 ;;
        --models-dir) models_dir=$2; shift 2 ;;
        --json) json_out=$2; shift 2 ;;
        --) shift; cloud_flags=(-- "$@"); break ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "loadtest.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
nse=${NSE:-build/tools/nsengine}
run=$(mktemp -d /tmp/nsengine-load.XXXXXX)
# Below the ephemeral range (32768 on), where the kernel picks the ports of other programs' clients.
port=$((20000 + RANDOM % 9000))
scripts/cluster.sh "$replicas" --port "$port" --base-port $((port + 100)) \
    --metrics-base-port $((port + 200)) --models-dir "$models_dir" --run-dir "$run" \
    "${cloud_flags[@]}" >/dev/null 2>"$run/cluster.err" &
cluster=$!
# The run folder (replica logs, HAProxy's configuration and log) goes when the run passes, and is
# kept, with a line saying where, when it fails.
finish() {
    local rc=$?
    kill $cluster 2>/dev/null || true
    wait $cluster 2>/dev/null || true
    if [ "$rc" = 0 ]; then rm -rf "$run"; else echo "loadtest.sh: logs kept in $run" >&2; fi
}
trap finish EXIT
for _ in $(seq 3000); do  # up to 10 min: the first replica may build the profile
    [ -f "$run/ready" ] && break
    kill -0 $cluster 2>/dev/null || { cat "$run/cluster.err" >&2; exit 1; }
    sleep 0.2
done
[ -f "$run/ready" ] || { echo "loadtest.sh: the cluster did not start" >&2; exit 1; }

"$nse" load --model "$model" --models-dir "$models_dir" -p "$port" --edges "$edges" \
    --requests "$requests" --split "$split" --max-seconds 600 --json >"$run/load.json" &
load=$!
if [ "$kill_after" != 0 ] && [ "$replicas" -ge 2 ]; then
    sleep "$kill_after"
    # The victim is the replica that has served most so far: one the edges are connected to
    # (on a busy machine HAProxy may have sent every connection to one replica).
    victim=1 most=-1
    for i in $(seq "$replicas"); do
        served=$(grep -c "cut=" "$run/cloud$i.log" 2>/dev/null || true)
        [ "${served:-0}" -gt "$most" ] && victim=$i most=${served:-0}
    done
    pid=$(cat "$run/cloud$victim.pid")
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "nsengine cloud --port" ||
        { echo "loadtest.sh: replica $victim is not running" >&2; exit 1; }
    kill -9 "$pid"
    echo "loadtest.sh: killed replica $victim (SIGKILL) after ${kill_after} s" >&2
    sleep "$down"
    bash -c "exec $(cat "$run/cloud$victim.cmd")" >>"$run/cloud$victim.log" 2>&1 &
    echo $! >"$run/cloud$victim.pid"
    echo "loadtest.sh: started replica $victim again after ${down} s down" >&2
fi
status=0
wait $load || status=$?
[ -z "$json_out" ] || cp "$run/load.json" "$json_out"
/usr/bin/python3 - "$run" "$replicas" <<'PY'
import json, re, sys
run, replicas = sys.argv[1], int(sys.argv[2])
r = json.load(open(f"{run}/load.json"))
print(f"{r['edges']} edges x {r['requests_per_edge']} requests of {r['model']} (split "
      f"{r['split']}) through HAProxy to {replicas} replica(s)")
for k in ("planned", "answered", "cloud", "edge_by_choice", "fallbacks", "retried", "wrong",
          "lost", "not_started"):
    print(f"  {k:15} {r[k]}")
print(f"  wall {r['wall_s']:.1f} s, {r['requests_per_s']:.1f} requests/s "
      f"({r['cloud_requests_per_s']:.1f}/s by the cloud); p50 {r['p50_ms']:.1f} ms, "
      f"p99 {r['p99_ms']:.1f} ms; mean cloud batch {r['mean_cloud_batch']:.2f}")
for i in range(1, replicas + 1):
    log = open(f"{run}/cloud{i}.log", errors="replace").read()
    print(f"  replica {i}: {len(re.findall(r' cut=', log))} requests served")
PY
exit $status
