#!/usr/bin/env bash
# make_test_certs.sh OUT: certificates and tokens for the TLS and token tests, made afresh with
# the openssl CLI on every run (nothing secret is committed):
#   OUT/good/    CA, server (localhost, 127.0.0.1, ::1) and client, by scripts/make-certs.sh
#   OUT/rogue/   the same from another CA, which nobody trusts
#   OUT/good/expired-{server,client}.{pem,key}  signed by the good CA, expired yesterday
#   OUT/good/other-host.{pem,key}               signed by the good CA for other.example only
#   OUT/tokens   two tokens, the second limited to lenet; OUT/token-{good,limited,wrong}
set -euo pipefail
out=$1
root=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$out"
mkdir -p "$out"
"$root/scripts/make-certs.sh" "$out/good" >/dev/null
"$root/scripts/make-certs.sh" "$out/rogue" >/dev/null
cd "$out/good"
umask 077
sign() {  # NAME DAYS PURPOSE SAN
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
    openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=%s\n%s' "$3" \
        "${4:+subjectAltName=$4}" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$2" \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
sign expired-server -1 serverAuth "DNS:localhost,IP:127.0.0.1"
sign expired-client -1 clientAuth ""
sign other-host 30 serverAuth "DNS:other.example"
cd "$out"
good=$(cat good/token) limited=$(openssl rand -hex 32) wrong=$(openssl rand -hex 32)
printf '# tokens for the tests\n%s\n%s models=lenet\n' "$good" "$limited" >tokens
echo "$good" >token-good
echo "$limited" >token-limited
echo "$wrong" >token-wrong
echo "make_test_certs: wrote $out"
