#!/usr/bin/env bash
# A private CA, a server certificate and client certificates for the gateway's TLS and mutual-TLS
# endpoints: the seed documents' openssl steps (CA, server.csr/server.crt, client.csr/client.crt signed by
# the CA) with modern parameters.
#
#   - keys: ECDSA P-256 (KEY=rsa gives RSA 3072 instead);
#   - the CA is valid CA_DAYS (3650), the server certificate SERVER_DAYS (397, the longest that public
#     browsers accept), client certificates CLIENT_DAYS (365);
#   - the server certificate names localhost and 127.0.0.1 as subject alternative names, plus any in
#     SERVER_SANS (for example "DNS:gateway.example.com,IP:10.0.0.5");
#   - each client certificate's subject CN is the client's name, which the gateway uses as its identity
#     ({clientId} in topic templates); it also carries the name as a DNS SAN and is marked for client auth;
#   - server.p12 holds the server certificate and key as PKCS#12, with the password in P12_PASSWORD
#     (empty by default).
#
# Usage: bash deploy/certs/make-certs.sh [OUT_DIR] [CLIENT_NAME...]
#   OUT_DIR defaults to deploy/certs/out; clients default to "device1 device2".
#   An existing CA in OUT_DIR is reused, so more clients can be added later with the same CA.
set -euo pipefail

OUT="${1:-$(dirname "$0")/out}"
shift || true
CLIENTS=("$@")
[[ ${#CLIENTS[@]} -gt 0 ]] || CLIENTS=(device1 device2)
KEY="${KEY:-ec}"
CA_DAYS="${CA_DAYS:-3650}"
SERVER_DAYS="${SERVER_DAYS:-397}"
CLIENT_DAYS="${CLIENT_DAYS:-365}"
SERVER_CN="${SERVER_CN:-localhost}"
SERVER_SANS="DNS:localhost,IP:127.0.0.1,IP:::1${SERVER_SANS:+,$SERVER_SANS}"
P12_PASSWORD="${P12_PASSWORD:-}"

command -v openssl >/dev/null || { echo "make-certs: openssl not found" >&2; exit 1; }
mkdir -p "$OUT/clients"
cd "$OUT"

new_key() {   # file
    if [[ "$KEY" == rsa ]]; then openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$1" 2>/dev/null
    else openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; fi
    chmod 600 "$1"
}

# Signs a CSR with the CA; the extensions come from a temporary file (openssl 3.0 has no -addext for x509 -req).
sign() {   # csr out days extensions
    local ext
    ext="$(mktemp)"
    printf '%s\n' "$4" >"$ext"
    openssl x509 -req -in "$1" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$2" -days "$3" -sha256 -extfile "$ext" 2>/dev/null
    rm -f "$ext" "$1"
}

if [[ ! -f ca.crt || ! -f ca.key ]]; then
    new_key ca.key
    openssl req -x509 -new -key ca.key -out ca.crt -days "$CA_DAYS" -sha256 -subj "/CN=Gateway private CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    echo "make-certs: CA            $OUT/ca.crt (valid $CA_DAYS days)"
fi

new_key server.key
openssl req -new -key server.key -out server.csr -subj "/CN=$SERVER_CN"
sign server.csr server.crt "$SERVER_DAYS" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$SERVER_SANS"
openssl pkcs12 -export -in server.crt -inkey server.key -certfile ca.crt -out server.p12 -passout "pass:$P12_PASSWORD"
chmod 600 server.p12
echo "make-certs: server        $OUT/server.crt + server.key, server.p12 ($SERVER_SANS; valid $SERVER_DAYS days)"

for name in "${CLIENTS[@]}"; do
    [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "make-certs: client name '$name' must be letters, digits, '.', '_' or '-'" >&2; exit 1; }
    new_key "clients/$name.key"
    openssl req -new -key "clients/$name.key" -out "clients/$name.csr" -subj "/CN=$name"
    sign "clients/$name.csr" "clients/$name.crt" "$CLIENT_DAYS" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=DNS:$name"
    echo "make-certs: client $name $OUT/clients/$name.crt + $name.key (valid $CLIENT_DAYS days)"
done
