#!/usr/bin/env bash
# cli_security.sh NSENGINE MODELS_DIR PROFILE TLS_DIR [TABLE]: real `nsengine cloud` processes
# with TLS, client certificates and tokens on loopback, and `nsengine edge` against them:
#   - the good edge is served by the cloud (fallbacks 0, and the cloud logged the request);
#   - each failure (bad certificate, unknown CA, wrong host name, expired, missing client
#     certificate, wrong token, a model outside the token's list, plaintext vs TLS) prints one
#     line naming the cause and the edge finishes locally; with --require-cloud it exits 1;
#   - /metrics parsed by prometheus_client's parser, its counters moving as requests are served;
#   - the secure defaults (no plaintext beyond loopback without --insecure) and bad flags.
# TABLE, when given, receives a Markdown table of every failure case and the edge's exact line.
# TLS_DIR is tests/make_test_certs.sh's output.
set -u
nse=$1 dir=$2 profile=$3 tls=$4 table=${5:-}
work=$(mktemp -d)
clouds=()
trap 'for c in "${clouds[@]}"; do kill -9 "$c" 2>/dev/null; done; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; for f in "$work"/cloud*.log; do echo "== $f"; cat "$f"; done; exit 1; }
g=$tls/good

start_cloud() {  # NAME ARGS...: starts a cloud serving lenet,mobilenet_v2; sets $port
    local name=$1; shift
    "$nse" cloud -p 0 --models-dir "$dir" --models lenet,mobilenet_v2 --threads 1 \
        --profile "$profile" "$@" 2>"$work/cloud-$name.log" &
    clouds+=($!)
    for _ in $(seq 100); do
        port=$(sed -n 's/.*serving .* on 127.0.0.1:\([0-9]*\),.*/\1/p' "$work/cloud-$name.log")
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    fail "cloud $name did not start"
}

edge() {  # PORT ARGS...: one lenet request at cut 2; stdout+stderr in $out, status in $rc
    local p=$1; shift
    out=$("$nse" edge -t lenet --models-dir "$dir" -p "$p" --split 2 "$@" 2>&1)
    rc=$?
}

[ -n "$table" ] && printf '| case | what `nsengine edge` printed |\n|---|---|\n' >"$table"
expect_refused() {  # CASE PORT EXPECTED ARGS...
    local what=$1 p=$2 says=$3; shift 3
    edge "$p" "$@"
    [ $rc -eq 0 ] || fail "$what: edge exited $rc: $out"
    local line
    line=$(echo "$out" | grep "cloud failed") || fail "$what: no failure line in: $out"
    echo "$line" | grep -qF -- "$says" || fail "$what: expected '$says' in: $line"
    echo "$out" | grep -q "edge (fallback)" || fail "$what: the edge did not finish locally: $out"
    edge "$p" "$@" --require-cloud
    [ $rc -eq 1 ] || fail "$what: --require-cloud exited $rc: $out"
    [ -n "$table" ] && printf '| %s | `%s` |\n' "$what" "${line//127.0.0.1:$p/127.0.0.1:PORT}" >>"$table"
    echo "ok: $what"
}

# The strict cloud: TLS, client certificates, tokens (one limited to lenet), metrics.
start_cloud strict --tls-cert "$g/server.pem" --tls-key "$g/server.key" \
    --tls-client-ca "$g/ca.pem" --token-file "$tls/tokens" --metrics-port 0
strict=$port
mport=$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$work/cloud-strict.log")
[ -n "$mport" ] || fail "no metrics port in the log"
grep -q "TLS with client certificates, 2 token(s)" "$work/cloud-strict.log" ||
    fail "the cloud does not say how it is secured"
good=(--tls-ca "$g/ca.pem" --tls-cert "$g/client.pem" --tls-key "$g/client.key")

scrape() {  # prints "requests_ok auth_failures" from /metrics, parsed by prometheus_client
    /usr/bin/python3 - "$mport" <<'EOF'
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
port = sys.argv[1]
for path in ("/healthz", "/readyz"):
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}{path}").status == 200, path
text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
fam = {f.name: f for f in text_string_to_metric_families(text)}
for name in ("nsengine_requests", "nsengine_compute_seconds", "nsengine_queue_seconds",
             "nsengine_receive_seconds", "nsengine_open_connections", "nsengine_queue_depth",
             "nsengine_auth_failures", "nsengine_errors", "nsengine_received_bytes",
             "nsengine_tls_handshake_seconds"):
    assert name in fam, (name, sorted(fam))
ok = sum(s.value for s in fam["nsengine_requests"].samples
         if s.name == "nsengine_requests_total" and s.labels.get("outcome") == "ok"
         and s.labels.get("model") == "lenet")
auth = sum(s.value for s in fam["nsengine_auth_failures"].samples
           if s.name == "nsengine_auth_failures_total")
print(int(ok), int(auth))
EOF
}
read -r ok0 auth0 <<<"$(scrape)" || fail "scraping /metrics failed"

edge "$strict" "${good[@]}" --token-file "$tls/token-good" --repeat 3 --json
[ $rc -eq 0 ] && echo "$out" | grep -q '"fallbacks": 0' || fail "the good edge was not served: $out"
grep -q "lenet cut=2/8" "$work/cloud-strict.log" || fail "the cloud did not log the good requests"
read -r ok1 auth1 <<<"$(scrape)"
[ $((ok1 - ok0)) -eq 3 ] || fail "requests_total moved by $((ok1 - ok0)), not 3"
echo "ok: served over mutual TLS with a token; /metrics counted 3 requests"

expect_refused "no client certificate" "$strict" "requires a client certificate" \
    --tls-ca "$g/ca.pem" --token-file "$tls/token-good"
expect_refused "client certificate from an unknown CA" "$strict" "refused this edge's certificate" \
    --tls-ca "$g/ca.pem" --tls-cert "$tls/rogue/client.pem" --tls-key "$tls/rogue/client.key" \
    --token-file "$tls/token-good"
expect_refused "expired client certificate" "$strict" "it has expired" \
    --tls-ca "$g/ca.pem" --tls-cert "$g/expired-client.pem" --tls-key "$g/expired-client.key" \
    --token-file "$tls/token-good"
expect_refused "cloud certificate from a CA the edge does not trust" "$strict" \
    "not signed by a CA this edge trusts" --tls-ca "$tls/rogue/ca.pem" \
    --tls-cert "$g/client.pem" --tls-key "$g/client.key" --token-file "$tls/token-good"
expect_refused "wrong host name" "$strict" "not made out to this host name" \
    "${good[@]}" --tls-server-name cloud.example.org --token-file "$tls/token-good"
expect_refused "no token" "$strict" "this cloud requires a token" "${good[@]}"
expect_refused "wrong token" "$strict" "the token was not accepted" "${good[@]}" \
    --token-file "$tls/token-wrong"
out=$("$nse" edge -t mobilenet_v2 --models-dir "$dir" -p "$strict" --split 10 "${good[@]}" \
    --token-file "$tls/token-limited" 2>&1)
echo "$out" | grep "cloud failed" | grep -qF "this token may not use model 'mobilenet_v2'" ||
    fail "a model outside the token's list: $out"
[ -n "$table" ] && printf '| %s | `%s` |\n' "model outside the token's list" \
    "$(echo "$out" | grep "cloud failed" | sed "s/127.0.0.1:$strict/127.0.0.1:PORT/")" >>"$table"
echo "ok: model outside the token's list"
expect_refused "plaintext edge, TLS cloud" "$strict" "tls_required" --token-file "$tls/token-good"
read -r ok2 auth2 <<<"$(scrape)"
[ "$auth2" -gt "$auth1" ] || fail "auth_failures_total did not move ($auth1 -> $auth2)"
echo "ok: /metrics counted $((auth2 - auth1)) authentication failures"

start_cloud expired --tls-cert "$g/expired-server.pem" --tls-key "$g/expired-server.key"
expect_refused "expired cloud certificate" "$port" "the cloud's certificate has expired" \
    --tls-ca "$g/ca.pem"
start_cloud plain
expect_refused "TLS edge, plaintext cloud" "$port" "the cloud does not speak TLS" --tls-ca "$g/ca.pem"

# Secure by default, and flags that cannot work.
refuses() {  # EXPECTED COMMAND...: exits 2 with EXPECTED on stderr
    local says=$1; shift
    local msg
    msg=$(timeout 20 "$@" 2>&1 >/dev/null)
    local code=$?
    [ $code -eq 2 ] || fail "exit $code (not 2) from: $* ($msg)"
    echo "$msg" | grep -qF -- "$says" || fail "expected '$says' from: $* (got: $msg)"
    echo "ok: refused: ${*:2:3} ... ($says)"
}
cloud=("$nse" cloud -p 0 --models-dir "$dir" --models lenet --profile "$profile")
refuses "refusing to serve on 0.0.0.0 without TLS and a token or client certificates" \
    "${cloud[@]}" -i 0.0.0.0
refuses "refusing to serve on 0.0.0.0 without a token or client certificates" "${cloud[@]}" \
    -i 0.0.0.0 --tls-cert "$g/server.pem" --tls-key "$g/server.key"
refuses "--tls-cert and --tls-key go together" "${cloud[@]}" --tls-cert "$g/server.pem"
refuses "--tls-client-ca needs TLS" "${cloud[@]}" --tls-client-ca "$g/ca.pem"
refuses "cannot read certificate /nonexistent.pem" "${cloud[@]}" --tls-cert /nonexistent.pem \
    --tls-key "$g/server.key"
refuses "does not belong to certificate" "${cloud[@]}" --tls-cert "$g/server.pem" \
    --tls-key "$g/client.key"
echo "short" >"$work/short-token"
refuses "short-token:1: a token must have 16" "${cloud[@]}" --token-file "$work/short-token"
refuses "refusing to speak plaintext to 192.0.2.1 (not loopback)" "$nse" edge -t lenet \
    --models-dir "$dir" -i 192.0.2.1 --split 2
refuses "cannot read CA file /nonexistent-ca.pem" "$nse" edge -t lenet --models-dir "$dir" \
    --split 2 --tls-ca /nonexistent-ca.pem
refuses "holds no token" "$nse" edge -t lenet --models-dir "$dir" --split 2 --token-file /dev/null
"${cloud[@]}" -i 0.0.0.0 --insecure 2>"$work/cloud-insecure.log" &
clouds+=($!)
for _ in $(seq 100); do grep -q "serving" "$work/cloud-insecure.log" && break; sleep 0.1; done
grep -q "warning: serving on 0.0.0.0 without TLS" "$work/cloud-insecure.log" ||
    fail "--insecure on 0.0.0.0 did not start with a warning: $(cat "$work/cloud-insecure.log")"
echo "security CLI: all checks passed"
