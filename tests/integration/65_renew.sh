#!/usr/bin/env bash
# POST /v1/renew: a certificate renews itself with no provisioner token,
# over mTLS (curl --cert) or with a proof of possession; the new
# certificate keeps names, profile and lifetime and records its
# predecessor; revoked, expired, foreign, administrator-issued and
# no-longer-allowed certificates cannot renew; a proof is good once.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

pop=$SIGNET_SRC/tests/integration/pop_jws.py

ca_init
ca_start
ca_provisioner svc --allow-dns '*.svc.test' --profiles server,client --default-lifetime 1h \
	--max-lifetime 2h
ca_provisioner gone --allow-dns '*.gone.test'
ca_provisioner narrow --allow-dns '*.wide.test'

# renew_body [CSR_FILE] [TOKEN]: the JSON body in ./renew-body.json.
renew_body() {
	python3 -c '
import json, sys
b = {}
if sys.argv[1]: b["csr"] = open(sys.argv[1]).read()
if sys.argv[2]: b["token"] = sys.argv[2]
print(json.dumps(b))' "${1:-}" "${2:-}" >renew-body.json
}

# post_renew [curl args...]: POST ./renew-body.json to /v1/renew; prints
# the status, body in ./renew.json.
post_renew() {
	curl -sS --cacert "$CA_DIR/roots.pem" -o renew.json -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary @renew-body.json \
		"$@" "$CA_URL/v1/renew"
}

# json_field FILE KEY
json_field() {
	python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"
}

# save_cert NAME: the certificate of ./renew.json as NAME.pem.
save_cert() {
	python3 -c 'import json,sys; open(sys.argv[2],"w").write(json.load(open(sys.argv[1]))["certificate"])' renew.json "$1.pem"
}

lifetime_of() {
	local nb na
	nb=$(date -d "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s)
	na=$(date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s)
	echo $((na - nb))
}

spki_of() {
	openssl x509 -in "$1" -noout -pubkey | openssl sha256 | awk '{print $NF}'
}

renewed_metric() {
	curl -sS "$PUBLIC_URL/metrics" |
		awk '/^signet_certificates_renewed_total\{provisioner="svc",outcome="renewed"\}/ {print $2}'
}

# Enrolled first so that it has lapsed by the end: its expiry is checked
# last, after everything else has run.
TOKEN_FLAGS=(--lifetime 60s)
ca_enroll x svc x.svc.test
TOKEN_FLAGS=(--lifetime 1h)
ca_enroll a svc a.svc.test
TOKEN_FLAGS=()
a_serial=$(serial_of a.pem)

# --- mTLS with a new key ---
new_csr a2 "/CN=a.svc.test" "DNS:a.svc.test"
renew_body a2.csr
status=$(post_renew --cert a.pem --key a.key)
expect_eq "mTLS renewal with a new CSR answers 201" "201" "$status"
save_cert a2
a2_serial=$(serial_of a2.pem)
expect_eq "the answer names its predecessor" "$a_serial" "$(json_field renew.json predecessor)"
expect_eq "the serial field is the new certificate's" "$a2_serial" "$(json_field renew.json serial)"
check "the new serial differs" test "$a2_serial" != "$a_serial"
expect_eq "the database records the predecessor" "$a_serial" \
	"$(psql_val "SELECT predecessor FROM certificates WHERE serial = '$a2_serial'")"
check "the renewed certificate verifies against the chain" openssl verify \
	-CAfile "$CA_DIR/roots.pem" -untrusted "$CA_DIR/chain.pem" a2.pem
expect_eq "it certifies the CSR's new key" "$(openssl pkey -in a2.key -pubout | openssl sha256 | awk '{print $NF}')" \
	"$(spki_of a2.pem)"
expect_match "it keeps the name" "$(openssl x509 -in a2.pem -noout -ext subjectAltName)" "DNS:a.svc.test"
expect_eq "it keeps the lifetime" "$(lifetime_of a.pem)" "$(lifetime_of a2.pem)"
expect_eq "it keeps the profile" \
	"$(openssl x509 -in a.pem -noout -ext extendedKeyUsage | tail -n +2)" \
	"$(openssl x509 -in a2.pem -noout -ext extendedKeyUsage | tail -n +2)"
expect_eq "it keeps the provisioner" "svc" \
	"$(psql_val "SELECT provisioner FROM certificates WHERE serial = '$a2_serial'")"
expect_eq "renewal is audited with the predecessor" "$a_serial" \
	"$(psql_val "SELECT detail->>'predecessor' FROM audit_log WHERE subject = '$a2_serial' AND action = 'certificate.issue'")"
expect_eq "one renewal counted" "1" "$(renewed_metric)"

# --- mTLS without a CSR keeps the key ---
renew_body
status=$(post_renew --cert a2.pem --key a2.key)
expect_eq "mTLS renewal without a CSR answers 201" "201" "$status"
save_cert a3
cp a2.key a3.key
expect_eq "without a CSR the key is kept" "$(spki_of a2.pem)" "$(spki_of a3.pem)"
expect_eq "two renewals counted" "2" "$(renewed_metric)"

# --- the old certificate may renew again (a lost answer is retried) ---
renew_body
expect_eq "a certificate already renewed can renew again" "201" \
	"$(post_renew --cert a.pem --key a.key)"

# --- proof of possession ---
tok=$(python3 "$pop" a3.pem a3.key "$CA_URL/v1/renew")
renew_body "" "$tok"
expect_eq "renewal with a proof of possession answers 201" "201" "$(post_renew)"
save_cert a4
cp a3.key a4.key
expect_eq "PoP renewal names its predecessor" "$(serial_of a3.pem)" \
	"$(json_field renew.json predecessor)"
expect_eq "a replayed proof is refused (401)" "401" "$(post_renew)"
expect_match "  saying it was used" "$(cat renew.json)" "already used"
tok=$(python3 "$pop" a3.pem a3.key "$CA_URL/v1/revoke")
renew_body "" "$tok"
expect_eq "a proof for /v1/revoke does not renew (401)" "401" "$(post_renew)"
expect_match "  naming the audience" "$(cat renew.json)" "audience"
tok=$(python3 "$pop" a3.pem a3.key "$CA_URL/v1/renew" --ttl 600)
renew_body "" "$tok"
expect_eq "a proof living longer than 5 minutes is refused" "401" "$(post_renew)"
tok=$(python3 "$pop" a3.pem a.key "$CA_URL/v1/renew")
renew_body "" "$tok"
expect_eq "a proof signed by another key is refused" "401" "$(post_renew)"

# --- names: a renewal never adds one ---
new_csr more "/CN=a.svc.test" "DNS:a.svc.test,DNS:b.svc.test"
renew_body more.csr
expect_eq "a CSR adding a name is refused (403)" "403" "$(post_renew --cert a4.pem --key a4.key)"
expect_match "  saying renewal keeps the names" "$(cat renew.json)" "keeps the names"

# --- revoked ---
ca_enroll r svc r.svc.test
check "signet revoke r" "$SIGNET" revoke "$(serial_of r.pem)" --reason superseded
renew_body
expect_eq "a revoked certificate cannot renew (401)" "401" "$(post_renew --cert r.pem --key r.key)"
expect_match "  saying it is revoked" "$(cat renew.json)" "revoked"

# --- no proof, a foreign certificate, a forged one ---
renew_body
expect_eq "no client certificate and no token: 401" "401" "$(post_renew)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout foreign.key -out foreign.pem -subj /CN=a.svc.test -days 1 \
	-addext subjectAltName=DNS:a.svc.test 2>/dev/null
expect_eq "a foreign certificate over mTLS: 401" "401" "$(post_renew --cert foreign.pem --key foreign.key)"
expect_match "  not issued by this CA" "$(cat renew.json)" "not issued by this CA"
# The same serial as ours, signed by someone else.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout forged.key -out forged.pem -subj /CN=a.svc.test -days 1 \
	-set_serial "0x$a_serial" 2>/dev/null
expect_eq "a forged certificate with our serial: 401" "401" "$(post_renew --cert forged.pem --key forged.key)"
expect_match "  not the one this CA issued" "$(cat renew.json)" "not the one this CA issued"
renew_body
expect_eq "wrong content type: 415" "415" "$(curl -sS --cacert "$CA_DIR/roots.pem" \
	-o renew.json -w '%{http_code}' -H 'Content-Type: text/plain' \
	--data-binary @renew-body.json --cert a4.pem --key a4.key "$CA_URL/v1/renew")"
echo '{"csr": 5}' >renew-body.json
expect_eq "a csr that is not a string: 400" "400" "$(post_renew --cert a4.pem --key a4.key)"
echo '{"token": "not.a.jws"}' >renew-body.json
expect_eq "a garbage token: 401" "401" "$(post_renew)"
expect_match "  answered as problem+json" "$(cat renew.json)" '"type":"urn:signet:problem:'

# --- an administrator's certificate ---
new_csr adm "/CN=adm.svc.test" "DNS:adm.svc.test"
check "signet issue (administrator)" "$SIGNET" issue --csr adm.csr --profile server \
	--cert-out adm.pem
renew_body
expect_eq "an administrator-issued certificate cannot renew here (403)" "403" \
	"$(post_renew --cert adm.pem --key adm.key)"

# --- the provisioner removed or narrowed since ---
ca_enroll g gone x.gone.test
ca_enroll n narrow x.wide.test
check "provisioner gone removed" "$SIGNET" provisioner remove gone
renew_body
expect_eq "a removed provisioner's certificate cannot renew (403)" "403" \
	"$(post_renew --cert g.pem --key g.key)"
expect_match "  saying it was removed" "$(cat renew.json)" "removed"
check "provisioner narrow removed" "$SIGNET" provisioner remove narrow
ca_provisioner narrow --allow-dns '*.other.test'
expect_eq "a narrowed provisioner's certificate cannot renew (403)" "403" \
	"$(post_renew --cert n.pem --key n.key)"
expect_match "  naming the name" "$(cat renew.json)" "x.wide.test"

# --- Ed25519 renews over mTLS (cjose cannot check its JWS) ---
ca_enroll ed svc ed.svc.test --key-type ed25519
renew_body
expect_eq "an Ed25519 certificate renews over mTLS" "201" "$(post_renew --cert ed.pem --key ed.key)"
save_cert ed2
expect_match "  keeping its Ed25519 key" "$(openssl x509 -in ed2.pem -noout -text)" "ED25519"

# --- expired (last: it waits for the 60-second certificate enrolled
# first to lapse) ---
for _ in $(seq 1 90); do
	openssl x509 -in x.pem -noout -checkend 0 >/dev/null || break
	sleep 1
done
check "the 60-second certificate has expired" bash -c '! openssl x509 -in x.pem -noout -checkend 0'
renew_body
expect_eq "an expired certificate cannot renew (401)" "401" "$(post_renew --cert x.pem --key x.key)"
expect_match "  saying it expired" "$(cat renew.json)" "expired"

stop_bg signetd
