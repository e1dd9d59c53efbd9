#!/usr/bin/env bash
# tools/bench_tls.sh [ROUNDS] [bench-net flags...]: plaintext against TLS on loopback, interleaved
# (plaintext, TLS, plaintext, ...), each round a fresh `nsengine bench-net` with its own cloud;
# prints each round and the medians of the per-round ratios and differences. Certificates come
# from scripts/make-certs.sh into build/bench-certs.
#   tools/bench_tls.sh 8 -t lenet --runs 500 --threads 1
set -euo pipefail
cd "$(dirname "$0")/.."
nse=build/tools/nsengine
[ -x $nse ] || { echo "bench_tls: build first (scripts/build.sh)"; exit 2; }
rounds=${1:-6}
shift || true
certs=build/bench-certs
[ -f $certs/server.pem ] || scripts/make-certs.sh $certs >/dev/null
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
echo "round  upload GB/s plain/TLS  round trip GB/s plain/TLS  per-request overhead ms plain/TLS  connect ms plain/TLS"
for r in $(seq "$rounds"); do
    a=$($nse bench-net --json "$@")
    b=$($nse bench-net --json --tls-dir $certs "$@")
    /usr/bin/python3 - "$a" "$b" "$r" <<'PY' | tee -a "$rows"
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
k = ["upload_gbytes_per_s", "round_trip_gbytes_per_s", "overhead_ms", "connect_ms"]
print(sys.argv[3], " ".join("%.3f %.3f" % (a[x], b[x]) for x in k))
PY
done
/usr/bin/python3 - "$rows" <<'PY'
import statistics as st, sys
r = [list(map(float, l.split()[1:])) for l in open(sys.argv[1])]
med = lambda v: st.median(v)
print("medians of per-round figures: TLS/plaintext upload %.2f, round trip %.2f; TLS adds %.3f ms per"
      " request (plaintext %.3f, TLS %.3f); connect %.3f ms plaintext, %.3f ms TLS (handshake +%.3f ms)"
      % (med([x[1] / x[0] for x in r]), med([x[3] / x[2] for x in r]), med([x[5] - x[4] for x in r]),
         med([x[4] for x in r]), med([x[5] for x in r]), med([x[6] for x in r]), med([x[7] for x in r]),
         med([x[7] - x[6] for x in r])))
PY
