#!/usr/bin/env bash
# ACME Renewal Information (RFC 9773): GET renewal-info/{certID} for a
# certificate issued through /v1/sign by a provisioner that speaks ACME.
# The certID is computed here from the certificate (python3-cryptography:
# AKI keyIdentifier, serial INTEGER content octets).  A good certificate's
# window is 37/60..43/60 of its lifetime (signet renew's 2/3 +- 5%), with
# Retry-After; after `signet revoke` the window has begun.  Malformed
# certIDs answer 400, certIDs of no certificate of this directory 404,
# both as malformed problems, never 500: no dot, padding, the base64
# alphabet, a superfluous leading zero byte, a negative serial, a huge
# input, the root's key identifier, an unknown serial, a pending intent,
# another provisioner's certificate, an administrator's.  Then replaces
# (RFC 9773 5) through new-order with acme_flow.py (http-01 for
# 127.0.0.1): an ACME-issued certificate answers renewal-info too, an
# order replacing it by its certID issues its successor (predecessor
# recorded), a second replacement is alreadyReplaced, and malformed or
# foreign certIDs are refused.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

ca_init
# ACME orders for 127.0.0.1 (RFC 8738: no DNS) answered by acme_flow.py.
CH_PORT=$(free_port)
ca_conf_set acme_http01_port "$CH_PORT"
ca_conf_set acme_validation_timeout 5s
ca_start
ca_provisioner svc --allow-dns '*.svc.test' --allow-ip 127.0.0.0/8 --acme
ca_provisioner other --allow-dns '*.svc.test' --acme
DIR=$CA_URL/acme/svc
# shellcheck source=SCRIPTDIR/acme_lib.sh
. "$(dirname "$0")/acme_lib.sh"
# b64u HEX: base64url without padding of the bytes HEX.
b64u() {
	python3 -c 'import base64,sys; print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).rstrip(b"=").decode())' "$1"
}
# cert_id PEM: RFC 9773 4.1's certID of a certificate.
cert_id() {
	python3 - "$1" <<'PY'
import base64, sys
from cryptography import x509
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
aki = c.extensions.get_extension_for_class(
    x509.AuthorityKeyIdentifier).value.key_identifier
n = c.serial_number
# The INTEGER's content octets: big-endian, room for the sign bit.
ser = n.to_bytes((n.bit_length() + 8) // 8, "big")
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
print(b(aki) + "." + b(ser))
PY
}
# window_check PEM: checks the last body's window against the
# certificate's lifetime; prints "ok", or what is wrong.
window_check() {
	python3 - "$1" <<'PY'
import json, sys, calendar, time
from cryptography import x509
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
# not_valid_*_utc from cryptography 42 on, the naive ones before.
utc = lambda n: getattr(c, n + "_utc", None) or getattr(c, n)
nb = calendar.timegm(utc("not_valid_before").timetuple())
na = calendar.timegm(utc("not_valid_after").timetuple())
w = json.load(open("acme.json"))["suggestedWindow"]
ts = lambda s: calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
start, end, life = ts(w["start"]), ts(w["end"]), na - nb
if abs(start - (nb + life * 37 // 60)) > 1 or abs(end - (nb + life * 43 // 60)) > 1:
    print("window %s..%s is not 37/60..43/60 of %d..%d" % (w["start"], w["end"], nb, na))
elif not start <= nb + life * 2 / 3 <= end:
    print("2/3 of the lifetime is outside the window")
else:
    print("ok")
PY
}
# problem STATUS DESC URL: a malformed problem with STATUS.
problem() {
	expect_eq "$2 ($1)" "$(fetch GET "$3")" "$1"
	expect_eq "  as application/problem+json" "$(hdr Content-Type)" \
		application/problem+json
	expect_eq "  of type malformed" "$(jf 'j["type"]')" "${E}malformed"
}

# --- a good certificate ---
ca_enroll one svc a.svc.test
ID=$(cert_id one.pem)
AKI=${ID%%.*}
expect_eq "renewal-info of a certificate of svc answers 200" \
	"$(fetch GET "$DIR/renewal-info/$ID")" 200
expect_eq "  as application/json" "$(hdr Content-Type)" application/json
expect_eq "  the window is 37/60..43/60 of the lifetime (2/3 +- 5%)" \
	"$(window_check one.pem)" ok
RA=$(hdr Retry-After)
expect_match "  Retry-After is a number of seconds" "$RA" '^[0-9]+$'
check "  Retry-After is between a minute and six hours" \
	test "$RA" -ge 60 -a "$RA" -le 21600
expect_eq "  cacheable for as long (RFC 9773 7)" "$(hdr Cache-Control)" "public, max-age=$RA"
expect_eq "  without a Replay-Nonce (nothing to sign: no nonce spent)" "$(hdr Replay-Nonce)" ""
expect_eq "HEAD renewal-info answers 200 too" \
	"$(curl -sS --cacert "$CA_DIR/roots.pem" -I -o /dev/null -w '%{http_code}' \
		"$DIR/renewal-info/$ID")" 200
expect_eq "POST renewal-info is refused (405)" \
	"$(fetch POST -H 'Content-Type: application/jose+json' --data '{}' \
		"$DIR/renewal-info/$ID")" 405

# --- whose certificate ---
ca_enroll two other b.svc.test
ID2=$(cert_id two.pem)
expect_eq "another provisioner's directory answers for its own (200)" \
	"$(fetch GET "$CA_URL/acme/other/renewal-info/$ID2")" 200
problem 404 "a certificate of another provisioner is not found" \
	"$DIR/renewal-info/$ID2"
problem 404 "  nor is svc's at the other directory" \
	"$CA_URL/acme/other/renewal-info/$ID"
new_csr admin /CN=admin.svc.test DNS:admin.svc.test
check "an administrator issues a certificate" "$SIGNET" issue --csr admin.csr \
	--profile server --cert-out admin.pem
problem 404 "an administrator's certificate is no provisioner's" \
	"$DIR/renewal-info/$(cert_id admin.pem)"

# --- certIDs of no certificate here ---
ROOT_SKI=$(python3 -c 'import sys
from cryptography import x509
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
print(c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex())' \
	"$CA_DIR/roots.pem")
problem 404 "the root's key identifier with a good serial" \
	"$DIR/renewal-info/$(b64u "$ROOT_SKI").${ID#*.}"
problem 404 "an unknown serial" "$DIR/renewal-info/$AKI.$(b64u 7e1d2c3b4a5968778695a4b3c2d1e0f1)"
INTERMEDIATE=$(psql_val "SELECT issuer_id FROM certificates WHERE serial = '$(serial_of one.pem)'")
psql_val "INSERT INTO certificates (serial, issuer_id, status, subject, profile,
	provisioner, requester, not_before, not_after, tbs_sha256, spki_sha256)
	VALUES ('5eed0001', $INTERMEDIATE, 'pending', '', 'server', 'svc', 'test',
	now(), now() + interval '1 day', '\\x00', '\\x00')" >/dev/null
problem 404 "a pending intent, never issued" "$DIR/renewal-info/$AKI.$(b64u 5eed0001)"

# --- malformed certIDs ---
problem 400 "no dot" "$DIR/renewal-info/$AKI"
problem 400 "two dots" "$DIR/renewal-info/$ID.AA"
problem 400 "an empty serial" "$DIR/renewal-info/$AKI."
problem 400 "an empty certID" "$DIR/renewal-info/"
problem 400 "padding on the keyIdentifier" "$DIR/renewal-info/$AKI=.${ID#*.}"
problem 400 "padding on the serial" "$DIR/renewal-info/$AKI.$(b64u 0087654321)="
problem 400 "the base64 alphabet, not base64url" "$DIR/renewal-info/$AKI.AI+lQyE"
problem 400 "a character of neither" "$DIR/renewal-info/$AKI.AI*lQyE"
problem 400 "stray trailing bits" "$DIR/renewal-info/$AKI.AIdlQyF"
problem 400 "a superfluous leading zero byte" "$DIR/renewal-info/$AKI.$(b64u 0001)"
problem 400 "a negative serial (no zero byte before 0x87)" \
	"$DIR/renewal-info/$AKI.$(b64u 87654321)"
problem 400 "a zero serial" "$DIR/renewal-info/$AKI.$(b64u 00)"
problem 400 "a serial of 21 octets" "$DIR/renewal-info/$AKI.$(b64u "$(printf '01%.0s' $(seq 21))")"
problem 400 "a huge certID" "$DIR/renewal-info/$(printf 'A%.0s' $(seq 3000)).AIdlQyE"
expect_match "  saying what the limit is" "$(jf 'j["detail"]')" 'at most [0-9]+ characters'

# --- revoked ---
check "signet revoke" "$SIGNET" revoke "$(serial_of one.pem)" --reason superseded
expect_eq "renewal-info of a revoked certificate answers 200" \
	"$(fetch GET "$DIR/renewal-info/$ID")" 200
check "  its window has begun and ends after it begins" python3 -c '
import calendar, json, sys, time
w = json.load(open("acme.json"))["suggestedWindow"]
ts = lambda s: calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
sys.exit(not (ts(w["start"]) < time.time() and ts(w["end"]) > ts(w["start"])))'
expect_match "  with Retry-After" "$(hdr Retry-After)" '^[0-9]+$'

# --- replaces (RFC 9773 5), through new-order ---
flow=$SIGNET_SRC/tests/integration/acme_flow.py
python3 "$SIGNET_SRC/tests/integration/acme_jws.py" keygen ec256 acct.key
# order NAMES [flags]: an acme_flow.py order, its result in ./flow.json.
order() {
	python3 "$flow" --dir "$DIR/directory" --ca "$CA_DIR/roots.pem" \
		--key acct.key order "$@" --port "$CH_PORT" >flow.json 2>flow.err
}
ff() {
	python3 -c 'import json,sys; j=json.load(open("flow.json")); v=eval(sys.argv[1]); print(json.dumps(v) if isinstance(v,(list,dict,bool)) else v)' "$1"
}
order 127.0.0.1 --cert-out r1.pem
expect_eq "an ACME order (http-01, 127.0.0.1) issues a certificate" \
	"$(ff 'j.get("status")')" valid
openssl x509 -in r1.pem -out r1-leaf.pem
R1=$(cert_id r1-leaf.pem)
expect_eq "renewal-info of the ACME-issued certificate answers 200" \
	"$(fetch GET "$DIR/renewal-info/$R1")" 200
expect_eq "  with the same window rule" "$(window_check r1-leaf.pem)" ok
order 127.0.0.1 --replaces "$R1" --cert-out r2.pem
expect_eq "new-order replacing it by its certID answers 201" \
	"$(ff 'j.get("new_order_status")')" 201
expect_eq "  and the order becomes valid" "$(ff 'j.get("status")')" valid
expect_eq "  the order echoes replaces (RFC 9773 5)" "$(ff 'j["order_json"].get("replaces")')" "$R1"
expect_eq "  the new certificate's predecessor is the replaced one" \
	"$(psql_val "SELECT predecessor FROM certificates WHERE serial = '$(ff 'j.get("serial")')'")" \
	"$(serial_of r1-leaf.pem)"
order 127.0.0.1 --replaces "$R1"
expect_eq "replacing it a second time: 409" "$(ff 'j.get("new_order_status")')" 409
expect_eq "  alreadyReplaced" "$(ff 'j["new_order_body"].get("type")')" "${E}alreadyReplaced"
openssl x509 -in r2.pem -out r2-leaf.pem
order 127.0.0.2 --replaces "$(cert_id r2-leaf.pem)"
expect_eq "replacing a certificate that shares no identifier with the order: 400 (RFC 9773 5)" \
	"$(ff 'j.get("new_order_status")') $(ff 'j["new_order_body"].get("type")')" "400 ${E}malformed"
order 127.0.0.1 --replaces "$AKI.$(b64u 0001)"
expect_eq "replaces with a malformed certID: 400" "$(ff 'j.get("new_order_status")')" 400
expect_eq "  malformed" "$(ff 'j["new_order_body"].get("type")')" "${E}malformed"
expect_match "  naming the rule" "$(ff 'j["new_order_body"].get("detail")')" 'RFC 9773'
order 127.0.0.1 --replaces "$ID2"
expect_match "replaces naming another provisioner's certificate is refused (4xx)" \
	"$(ff 'j.get("new_order_status")')" '^4[0-9][0-9]$'
order 127.0.0.1 --replaces "$ID"
expect_match "replaces naming a certificate this account did not order is refused (4xx)" \
	"$(ff 'j.get("new_order_status")')" '^4[0-9][0-9]$'

stop_bg signetd
