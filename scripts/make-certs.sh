#!/usr/bin/env bash
# Makes what nsengine's TLS needs, with the openssl CLI, in DIR:
#   ca.pem, ca.key          a private certificate authority (keep ca.key offline)
#   server.pem, server.key  the cloud's certificate, for every --name given
#   client.pem, client.key  an edge's certificate, for mutual TLS (nsengine cloud --tls-client-ca)
#   token                   a random token for nsengine cloud/edge --token-file
# Keys are P-256 and readable by their owner only. An existing CA in DIR is reused, so running
# it again with another --client-name adds an edge without re-issuing the others.
#   scripts/make-certs.sh DIR [--name cloud.example.org] [--name 203.0.113.7] [--days 365]
#                             [--client-name edge-1]
# Default names: localhost, 127.0.0.1 and ::1 (the loopback demo).
set -euo pipefail
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
dir=$1; shift
names=() days=365 client=edge
while [ $# -gt 0 ]; do
    case $1 in
        --name) names+=("$2"); shift 2 ;;
        --days) days=$2; shift 2 ;;
        --client-name) client=$2; shift 2 ;;
        -h|--help) usage ;;
        *) echo "make-certs: unknown argument $1"; exit 2 ;;
    esac
done
[[ "$days" =~ ^[0-9]+$ ]] && [ "$days" -ge 1 ] || { echo "make-certs: --days wants a positive number"; exit 2; }
[ ${#names[@]} -gt 0 ] || names=(localhost 127.0.0.1 ::1)
command -v openssl >/dev/null || { echo "make-certs: openssl not found (apt-get install openssl)"; exit 2; }
mkdir -p "$dir"
cd "$dir"
umask 077
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [ ! -f ca.pem ] || [ ! -f ca.key ]; then
    key ca.key
    openssl req -x509 -new -key ca.key -out ca.pem -days $((days * 5)) -subj "/CN=nsengine CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        2>/dev/null
    echo "make-certs: made a CA in $dir/ca.pem"
fi

san=""
for n in "${names[@]}"; do
    if [[ "$n" =~ ^[0-9.]+$ || "$n" == *:* ]]; then san+="IP:$n,"; else san+="DNS:$n,"; fi
done
issue() {  # NAME CN PURPOSE SAN
    key "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s' \
        "$3" "${4:+subjectAltName=$4}" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
    chmod 644 "$1.pem"
}
issue server "${names[0]}" serverAuth "${san%,}"
issue client "$client" clientAuth ""
chmod 644 ca.pem
[ -f token ] || openssl rand -hex 32 >token
echo "make-certs: $dir/server.pem for ${names[*]}, $dir/client.pem for $client, $dir/token; valid $days days"
