#!/usr/bin/env bash
# The spine end to end: init, signetd, provisioner, token, enrollment with
# curl and with `signet enroll`, verified by independent parsers, and every
# bad input refused with a clear problem and no certificate.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

module=$SIGNET_TEST_PKCS11_MODULE

ca_init
for f in signet.conf roots.pem chain.pem server.pem server.key; do
	check "init wrote $f" test -s "$CA_DIR/$f"
done
expect_eq "server.key is mode 0600" "$(stat -c %a "$CA_DIR/server.key")" 600
check "the root is self-signed and verifies" openssl verify -x509_strict \
	-CAfile "$CA_DIR/roots.pem" "$CA_DIR/roots.pem"
check "the intermediate verifies against the root" openssl verify -x509_strict \
	-CAfile "$CA_DIR/roots.pem" "$CA_DIR/chain.pem"
check "openssl prints the intermediate" openssl x509 -in "$CA_DIR/chain.pem" -noout -text
expect_match "the intermediate has pathlen:0" "$(cat "$CHECK_OUT")" "CA:TRUE, pathlen:0"
expect_eq "issuers are recorded" "$(psql_val 'select count(*) from issuers')" 2
check_fails "a second init is refused" "$SIGNET" init --dir "$CA_DIR" \
	--db "$SIGNET_TEST_DB" --pkcs11-module "$module" --token "$SIGNET_TEST_TOKEN" \
	--pin-file "$SIGNET_TEST_PIN_FILE" --root-token "$SIGNET_TEST_ROOT_TOKEN" \
	--root-pin-file "$SIGNET_TEST_ROOT_PIN_FILE" --https-listen 127.0.0.1:1 \
	--http-listen 127.0.0.1:2 --public-url http://127.0.0.1:2
expect_match "it says why" "$(cat "$CHECK_OUT")" "exists|already"

# The CA keys live on the tokens, sensitive and never extractable.
check "pkcs11-tool lists the online token's keys" pkcs11-tool --module "$module" \
	--token-label "$SIGNET_TEST_TOKEN" --login --pin "$SIGNET_TEST_PIN" -O
objs=$(cat "$CHECK_OUT")
expect_match "the issuing key is on the online token" "$objs" "signet-issuing-1"
expect_match "the audit key is on the online token" "$objs" "signet-audit"
expect_match "private keys are never extractable" "$objs" "never extractable"
check_fails "no private key is extractable" grep -qE "^ *Access: .*[^r ]extractable|Access: +extractable" <<<"$objs"
expect_match "private keys are sensitive" "$objs" "sensitive"
check_fails "the root key is not on the online token" grep -q "signet-root" <<<"$objs"
check "pkcs11-tool lists the root token" pkcs11-tool --module "$module" \
	--token-label "$SIGNET_TEST_ROOT_TOKEN" --login --pin "$(cat "$SIGNET_TEST_ROOT_PIN_FILE")" -O
expect_match "the root key is on the root token" "$(cat "$CHECK_OUT")" "signet-root-1"

# A short skew so that the expired-token case needs no long sleep.
echo "token_skew = 1s" >>"$CA_CONF"
ca_start
check "/healthz answers" curl -fsS "$PUBLIC_URL/healthz"
check "/roots.pem is served over HTTP" curl -fsS -o served-roots.pem "$PUBLIC_URL/roots.pem"
check "the served root is the one init wrote" cmp served-roots.pem "$CA_DIR/roots.pem"
check "/chain.pem is served" curl -fsS -o served-chain.pem "$PUBLIC_URL/chain.pem"
check "the served chain is the one init wrote" cmp served-chain.pem "$CA_DIR/chain.pem"
check "HTTPS /healthz verifies against the root" curl -fsS --cacert "$CA_DIR/roots.pem" "$CA_URL/healthz"
check "/ca/issuing-1.cer is the intermediate in DER" curl -fsS -o inter.cer "$PUBLIC_URL/ca/issuing-1.cer"
check "it parses as DER" openssl x509 -inform DER -in inter.cer -noout

ca_provisioner ci --allow-dns '*.svc.corp' --allow-dns localhost \
	--allow-ip 10.0.0.0/8 --allow-uri spiffe://corp/ --profiles server,client,both
check "provisioner list shows it" "$SIGNET" provisioner list
expect_match "  with its rule" "$(cat "$CHECK_OUT")" 'ci .*\*\.svc\.corp'
expect_eq "the provisioner key file is mode 0600" "$(stat -c %a ci.jwk)" 600

# ---- enroll with signet enroll
tok=$(ca_token ci web.svc.corp 10.1.2.3)
check "signet enroll gets a certificate" "$SIGNET" enroll --ca-url "$CA_URL" \
	--root "$CA_DIR/roots.pem" --token "$tok" --cert-out web.pem \
	--key-out web.key --chain-out web-chain.pem
expect_eq "the enrolled key is mode 0600" "$(stat -c %a web.key)" 600
check "openssl verify -x509_strict -purpose sslserver" openssl verify -x509_strict \
	-purpose sslserver -CAfile "$CA_DIR/roots.pem" -untrusted web-chain.pem web.pem
check_fails "it is not a client certificate (profile server)" openssl verify \
	-x509_strict -purpose sslclient -CAfile "$CA_DIR/roots.pem" -untrusted web-chain.pem web.pem
cat web.pem web-chain.pem >web-full.pem
cat web-full.pem "$CA_DIR/roots.pem" >web-to-root.pem
check "certtool --verify-chain accepts leaf, intermediate and root" certtool \
	--verify-chain --verify-profile medium --infile web-to-root.pem
check "certtool --verify against the root as trust anchor" certtool --verify \
	--verify-profile medium --load-ca-certificate "$CA_DIR/roots.pem" --infile web-full.pem
check "NSS vfychain accepts it as an SSL server" bash -c '
	d=$(mktemp -d) && certutil -N -d "sql:$d" --empty-password &&
	certutil -A -d "sql:$d" -n root -t "C,," -a -i "$1" &&
	vfychain -d "sql:$d" -u 1 -a web.pem -a web-chain.pem; rc=$?; rm -rf "$d"; exit $rc' _ "$CA_DIR/roots.pem"
check "python cryptography parses it strictly" python3 -c '
import sys
from cryptography import x509
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
bc = c.extensions.get_extension_for_class(x509.BasicConstraints)
assert bc.critical and not bc.value.ca
san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
assert san.get_values_for_type(x509.DNSName) == ["web.svc.corp"], san
' web.pem
check "openssl prints the leaf" openssl x509 -in web.pem -noout -text -serial -dates
leaf=$(cat "$CHECK_OUT")
expect_match "AIA carries the OCSP URL" "$leaf" "OCSP - URI:$PUBLIC_URL/ocsp"
expect_match "AIA carries the CA issuers URL" "$leaf" "CA Issuers - URI:$PUBLIC_URL/ca/issuing-1.cer"
expect_match "a CRL distribution point" "$leaf" "URI:$PUBLIC_URL/crl/issuing-1.crl"
expect_match "SAN holds the IP" "$leaf" "IP Address:10.1.2.3"
serial=$(openssl x509 -in web.pem -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
expect_match "the serial has at least 64 bits" "$serial" '^[0-9a-f]{17,}$'
nb=$(date -d "$(openssl x509 -in web.pem -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in web.pem -noout -enddate | cut -d= -f2)" +%s)
expect_eq "the default lifetime is 24h (plus 60s backdating)" "$((na - nb))" 86460
expect_eq "the row exists with its DER" \
	"$(psql_val "select status, length(der) > 0 from certificates where serial = '$serial'")" "good|t"
expect_eq "the stored DER is the certificate" \
	"$(psql_val "select encode(fingerprint_sha256, 'hex') from certificates where serial = '$serial'")" \
	"$(openssl x509 -in web.pem -outform DER | sha256sum | cut -d' ' -f1)"

# ---- enroll with curl and an openssl CSR, profile both, with a URI
TOKEN_FLAGS=(--profile both --lifetime 2h)
tok=$(ca_token ci api.svc.corp spiffe://corp/ns/api)
TOKEN_FLAGS=()
new_csr api "/CN=api.svc.corp" "DNS:api.svc.corp,URI:spiffe://corp/ns/api"
sign_json api.csr "$tok" >body.json
expect_eq "curl POST /v1/sign answers 201" "$(post_sign body.json)" 201
python3 -c 'import json; d=json.load(open("resp.json")); open("api.pem","w").write(d["certificate"]); open("api-chain.pem","w").write("".join(d["chain"])); print(d["serial"], d["not_after"])' >resp.txt
expect_match "the answer has serial and not_after" "$(cat resp.txt)" '^[0-9a-f]+ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$'
check "the mTLS certificate verifies as server" openssl verify -purpose sslserver \
	-CAfile "$CA_DIR/roots.pem" -untrusted api-chain.pem api.pem
check "and as client" openssl verify -purpose sslclient \
	-CAfile "$CA_DIR/roots.pem" -untrusted api-chain.pem api.pem
nb=$(date -d "$(openssl x509 -in api.pem -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in api.pem -noout -enddate | cut -d= -f2)" +%s)
expect_eq "the token's lifetime (2h) is used" "$((na - nb))" 7260

# ---- bad input: each gets a clear problem and no certificate
count() { psql_val "select count(*) from certificates where status = 'good'"; }
before=$(count)
problem() { # DESC STATUS TYPE-REGEX BODY-FILE [CONTENT-TYPE]
	local desc=$1 want=$2 type=$3 file=$4 ct=${5:-application/json} got
	got=$(curl -sS --cacert "$CA_DIR/roots.pem" -o resp.json -w '%{http_code} %{content_type}' \
		-H "Content-Type: $ct" --data-binary "@$file" "$CA_URL/v1/sign")
	expect_eq "$desc: HTTP $want problem+json" "$got" "$want application/problem+json"
	expect_match "$desc: type and detail" "$(cat resp.json)" "\"type\": ?\"urn:signet:problem:$type\".*\"detail\""
}
printf '{"csr": "x", "token": ' >bad.json
problem "malformed JSON" 400 malformed bad.json
tok=$(ca_token ci web.svc.corp)
python3 -c 'import json,sys; print(json.dumps({"csr": "hello, not PEM", "token": sys.argv[1]}))' "$tok" >bad.json
problem "a non-PEM CSR" 400 malformed bad.json
new_csr good "/CN=web.svc.corp" "DNS:web.svc.corp"
python3 - good.csr >badsig.csr <<'PY'
import base64, sys
lines = open(sys.argv[1]).read().split("\n")
der = bytearray(base64.b64decode("".join(lines[1:-2])))
der[-5] ^= 0x42   # inside the signature
b = base64.b64encode(bytes(der)).decode()
print("-----BEGIN CERTIFICATE REQUEST-----")
for i in range(0, len(b), 64): print(b[i:i+64])
print("-----END CERTIFICATE REQUEST-----")
PY
tok=$(ca_token ci web.svc.corp)
sign_json badsig.csr "$tok" >bad.json
problem "a CSR with a bad signature" 400 malformed bad.json
new_csr rsa1024 "/CN=web.svc.corp" "DNS:web.svc.corp" -newkey rsa:1024
tok=$(ca_token ci web.svc.corp)
sign_json rsa1024.csr "$tok" >bad.json
problem "an RSA-1024 key" 403 forbidden bad.json
expect_match "  the detail names the rule" "$(cat resp.json)" "2048"
new_csr extra "/CN=web.svc.corp" "DNS:web.svc.corp,DNS:db.svc.corp"
tok=$(ca_token ci web.svc.corp)
sign_json extra.csr "$tok" >bad.json
problem "a SAN the token does not grant" 403 forbidden bad.json
expect_match "  the detail names the SAN" "$(cat resp.json)" "db.svc.corp"
new_csr evil "/CN=www.evil.com" "DNS:www.evil.com"
tok=$(ca_token ci www.evil.com)
sign_json evil.csr "$tok" >bad.json
problem "a SAN the policy forbids" 403 forbidden bad.json
expect_match "  the detail says policy" "$(cat resp.json)" "policy"
new_csr ca "/CN=web.svc.corp" "DNS:web.svc.corp" -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign"
tok=$(ca_token ci web.svc.corp)
sign_json ca.csr "$tok" >bad.json
problem "a CSR asking for CA:TRUE" 403 forbidden bad.json
TOKEN_FLAGS=(--ttl 1s)
tok=$(ca_token ci web.svc.corp)
TOKEN_FLAGS=()
sleep 3   # the token expires, and the 1 s skew runs out
sign_json good.csr "$tok" >bad.json
problem "an expired token" 401 unauthorized bad.json
expect_match "  the detail says expired" "$(cat resp.json)" "expired"
TOKEN_FLAGS=(--ca-url https://other-ca.example:8443)
tok=$(ca_token ci web.svc.corp)
TOKEN_FLAGS=()
sign_json good.csr "$tok" >bad.json
problem "a token for another audience" 401 unauthorized bad.json
ca_provisioner temp --allow-dns '*.svc.corp'
tok=$(ca_token temp web.svc.corp)
check "the temp provisioner is removed" "$SIGNET" provisioner remove temp
sign_json good.csr "$tok" >bad.json
problem "a token signed by a removed provisioner" 401 unauthorized bad.json
tok=$(ca_token ci web.svc.corp)
sign_json good.csr "$tok" >ok.json
expect_eq "a fresh token works" "$(post_sign ok.json)" 201
problem "the same token replayed" 401 unauthorized ok.json
expect_match "  the detail says already used" "$(cat resp.json)" "already used"
head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >big.json
problem "a 10 MiB body" 413 too-large big.json
problem "a wrong content type" 415 malformed ok.json text/plain
after=$(count)
expect_eq "no bad request produced a certificate" "$after" "$((before + 1))"

# ---- inventory
check "signet list" "$SIGNET" list
expect_match "  lists the web certificate" "$(cat "$CHECK_OUT")" "$serial"
check "signet list --json --provisioner ci" "$SIGNET" list --json --provisioner ci
expect_eq "  three certificates from ci" \
	"$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$CHECK_OUT")" 3
check "signet list --status good" "$SIGNET" list --status good
check_fails "signet list --expiring 3h finds some (exit 1)" "$SIGNET" list --expiring 3h
expect_match "  the 2h certificate" "$(cat "$CHECK_OUT")" "api.svc.corp"
check "signet list --expiring 1m finds none (exit 0)" "$SIGNET" list --expiring 1m
check "signet show SERIAL" "$SIGNET" show "$serial"
expect_match "  shows the names" "$(cat "$CHECK_OUT")" "DNS:web.svc.corp"
expect_match "  and the PEM" "$(cat "$CHECK_OUT")" "BEGIN CERTIFICATE"
check "signet show --json" "$SIGNET" show "$serial" --json
expect_match "  JSON with status" "$(cat "$CHECK_OUT")" '"status": "good"'
check_fails "signet show of an unknown serial fails" "$SIGNET" show 0123456789abcdef
check_fails "signet show of a non-hex serial fails" "$SIGNET" show "'; drop table x"
new_csr admin "/CN=admin.svc.corp" "DNS:admin.svc.corp"
check "signet issue from a CSR" "$SIGNET" issue --csr admin.csr --profile client \
	--lifetime 1h --cert-out admin.pem
check "  it verifies as a client certificate" openssl verify -purpose sslclient \
	-CAfile "$CA_DIR/roots.pem" -untrusted "$CA_DIR/chain.pem" admin.pem
check_fails "signet issue refuses a lifetime over max_lifetime" "$SIGNET" issue \
	--csr admin.csr --profile client --lifetime 60d --cert-out x.pem
check_fails "signet issue refuses an unknown profile" "$SIGNET" issue \
	--csr admin.csr --profile ca --cert-out x.pem

# ---- metrics
check "GET /metrics" curl -fsS "$PUBLIC_URL/metrics"
m=$(cat "$CHECK_OUT")
expect_match "issued counter by provisioner and outcome" "$m" \
	'signet_certificates_issued_total\{provisioner="ci",profile="server",outcome="issued"\} [1-9]'
expect_match "refusals are counted too" "$m" 'outcome="forbidden"'
expect_match "HSM signatures by key" "$m" 'signet_hsm_sign_total\{key="signet-issuing-1"\} [1-9]'
expect_match "HSM signing time" "$m" 'signet_hsm_sign_duration_seconds_count [1-9]'
expect_match "certificates expiring within 1d (all four leaves: 24h, 24h, 2h, 1h)" "$m" 'signet_certificates_expiring\{within="1d"\} 4'
expect_match "per-endpoint request durations" "$m" 'signet_http_request_duration_seconds_count\{endpoint="sign"\} [1-9]'

stop_bg signetd
