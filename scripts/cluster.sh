#!/usr/bin/env bash
# A cloud tier on this machine: N `nsengine cloud` replicas behind HAProxy (deploy/haproxy.cfg,
# TCP mode, leastconn, health-checked on each replica's /readyz). Edges use the frontend port as
# one cloud. Runs until Ctrl-C (or SIGTERM), then stops everything it started.
#
#   scripts/cluster.sh N [--port 9999] [--models-dir models] [--run-dir DIR] [-- cloud flags...]
#
# Replica i listens on 127.0.0.1:(base+i) with metrics on (metrics-base+i); its pid, command
# line and log are in the run directory (cloudI.pid, cloudI.cmd, cloudI.log), so a test can kill
# one and start it again (scripts/loadtest.sh does); a file `ready` appears there once HAProxy
# runs. The flags after `--` go to every replica
# (default: --workers 1 --threads 1). Without a cached profile for the replicas' thread count,
# the first replica builds it (about two minutes on 2 cores) before the others start.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}
[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac
n=$1
shift
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 32 ] || {
    echo "cluster.sh: N must be 1..32, got '$n'" >&2
    exit 2
}
port=9999 base=10000 metrics_base=11000 models_dir=models run_dir=""
cloud_flags=(--workers 1 --threads 1)
while [ $# -gt 0 ]; do
    case "$1" in
        --port) port=$2; shift 2 ;;
        --base-port) base=$2; shift 2 ;;
        --metrics-base-port) metrics_base=$2; shift 2 ;;
        --models-dir) models_dir=$2; shift 2 ;;
        --run-dir) run_dir=$2; shift 2 ;;
        --) shift; cloud_flags=("$@"); break ;;
        -h|--help) usage ;;
        *) echo "cluster.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
nse=${NSE:-build/tools/nsengine}
[ -x "$nse" ] || { echo "cluster.sh: $nse not built (scripts/build.sh)" >&2; exit 1; }
command -v haproxy >/dev/null || {
    echo "cluster.sh: haproxy is not installed (scripts/install_deps.sh installs it)" >&2
    exit 1
}
[ -n "$run_dir" ] || run_dir=$(mktemp -d /tmp/nsengine-cluster.XXXXXX)
mkdir -p "$run_dir"

# Signals the process whose pid file is $1 if it is still ours: a pid file left by a process
# that exited may name another program by now (pids are reused, quickly where pid_max is 32768).
kill_ours() {  # pidfile [signal]
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE "haproxy -db -f $run_dir/|nsengine cloud --port" &&
        kill "${2:--TERM}" "$pid" 2>/dev/null || true
}
stop() {
    trap - INT TERM EXIT
    echo "cluster.sh: stopping" >&2
    for f in "$run_dir"/*.pid; do [ -f "$f" ] && kill_ours "$f"; done
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

ready() {  # replica i answers /readyz with 200
    local code
    code=$(exec 3<>/dev/tcp/127.0.0.1/$((metrics_base + $1)) &&
        printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3 && head -c 12 <&3 | cut -c10-12) 2>/dev/null || true
    [ "$code" = "200" ]
}

start_replica() {  # i
    local i=$1
    local cmd=("$nse" cloud --port $((base + i)) --metrics-port $((metrics_base + i))
        --models-dir "$models_dir" "${cloud_flags[@]}")
    printf '%q ' "${cmd[@]}" >"$run_dir/cloud$i.cmd"
    "${cmd[@]}" >>"$run_dir/cloud$i.log" 2>&1 &
    echo $! >"$run_dir/cloud$i.pid"
}

wait_ready() {  # i timeout_s
    local i=$1 deadline=$((SECONDS + $2))
    until ready "$i"; do
        kill -0 "$(cat "$run_dir/cloud$i.pid")" 2>/dev/null || {
            echo "cluster.sh: replica $i exited:" >&2
            tail -5 "$run_dir/cloud$i.log" >&2
            exit 1
        }
        [ $SECONDS -lt "$deadline" ] || { echo "cluster.sh: replica $i not ready" >&2; exit 1; }
        sleep 0.2
    done
}

# The first replica alone: it builds and caches the profile the others then read.
start_replica 1
echo "cluster.sh: replica 1 starting (log $run_dir/cloud1.log)" >&2
wait_ready 1 600
for i in $(seq 2 "$n"); do start_replica "$i"; done
for i in $(seq 2 "$n"); do wait_ready "$i" 120; done

cfg="$run_dir/haproxy.cfg"
sed -e '/^    # servers/,$d' -e "s/bind 127.0.0.1:9999/bind 127.0.0.1:$port/" deploy/haproxy.cfg >"$cfg"
for i in $(seq 1 "$n"); do
    echo "    server cloud$i 127.0.0.1:$((base + i)) check port $((metrics_base + i))" >>"$cfg"
done
haproxy -c -q -f "$cfg"
haproxy -db -f "$cfg" >>"$run_dir/haproxy.log" 2>&1 &
echo $! >"$run_dir/haproxy.pid"
sleep 0.5
kill -0 "$(cat "$run_dir/haproxy.pid")" 2>/dev/null || {
    echo "cluster.sh: haproxy did not start:" >&2
    cat "$run_dir/haproxy.log" >&2
    exit 1
}
echo "cluster.sh: $n replica(s) on 127.0.0.1:$((base + 1))..$((base + n)) behind HAProxy on" \
    "127.0.0.1:$port (run directory $run_dir); Ctrl-C stops" >&2
echo "$port" >"$run_dir/ready"
echo "ready $port $run_dir"
while kill -0 "$(cat "$run_dir/haproxy.pid")" 2>/dev/null; do sleep 1; done
echo "cluster.sh: haproxy exited" >&2
exit 1
