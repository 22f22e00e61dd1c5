#!/usr/bin/env bash
# ACME (RFC 8555): External Account Binding (7.3.4) and `signet acme eab`,
# keyChange (7.3.5) and revokeCert (7.6).
#
# EAB: the CLI's refusals and output; a directory that requires a binding
# refuses a new account without one (externalAccountRequired), with a bad
# MAC, an unknown kid, another provisioner's kid, a used or expired key,
# another URL or account key, a nonce; a good binding (HS256, HS384)
# binds the key to the account in the database; two racing requests with
# one key bind one account; a directory that does not require a binding
# binds one given anyway.  keyChange: success (the old key refused after,
# the new one works), a key of another account (409 + Location), inner
# url, account and oldKey mismatches.  revokeCert: certificates issued by
# `signet enroll` and attached to an ACME order with psql (standing in
# for finalize): by a non-owner's kid (403), the owner's, an account
# holding valid authorizations for every name, the certificate's own key,
# another key, reasons 6 and "1" (badRevocationReason), twice
# (alreadyRevoked), another provisioner's and a foreign certificate; OCSP
# then says revoked.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

jws=$SIGNET_SRC/tests/integration/acme_jws.py

CH_PORT=$(free_port)
ca_init
# For the one real order at the end: http-01 on loopback.
ca_conf_set acme_hosts "acme1.svc.test=127.0.0.1"
ca_conf_set acme_http01_port "$CH_PORT"
ca_conf_set acme_validation_timeout 5s
ca_start
ca_provisioner eab --allow-dns '*.svc.test' --acme-eab
ca_provisioner open --allow-dns '*.svc.test' --acme
ca_provisioner other --allow-dns '*.svc.test' --acme
ca_provisioner noacme --allow-dns '*.svc.test'
DIR=$CA_URL/acme/eab
OPEN=$CA_URL/acme/open
# shellcheck source=SCRIPTDIR/acme_lib.sh
. "$(dirname "$0")/acme_lib.sh"
# sign BASE KEY ALG URL [sign flags...]: ./req.json with a fresh nonce of BASE.
sign() {
	local base=$1 key=$2 alg=$3 url=$4
	shift 4
	python3 "$jws" sign "$key" "$alg" "$url" "--nonce=$(nonce "$base")" "$@" >req.json
}
# cli ARGS...: run signet; rc in $rc, stdout in ./cli.out, stderr ./cli.err.
cli() {
	rc=0
	"$SIGNET" "$@" >cli.out 2>cli.err || rc=$?
}
# eab_new PROV [flags]: mint a key; sets KID and HKEY.
eab_new() {
	local p=$1
	shift
	cli acme eab --provisioner "$p" "$@"
	KID=$(awk '$1 == "kid:" { print $2 }' cli.out)
	HKEY=$(awk '$1 == "hmac_key:" { print $2 }' cli.out)
}
# binding ACCOUNT_KEY KID HKEY [eab flags]: the externalAccountBinding JSON
# for $DIR's new-account.
binding() {
	local key=$1 kid=$2 hk=$3
	shift 3
	python3 "$jws" eab "$key" "$kid" "$hk" "${EAB_URL:-$DIR/new-account}" "$@"
}
# new_account BASE KEY [PAYLOAD]: status of a new-account of KEY (ES256).
new_account() {
	local payload=${3:-}
	[ -n "$payload" ] || payload='{"termsOfServiceAgreed":true}'
	sign "$1" "$2" ES256 "$1/new-account" --payload "$payload"
	post "$1/new-account" req.json
}
# ocsp_says CERT WANT: poll openssl ocsp (no nonce) for up to 15 s.
ocsp_says() {
	local deadline=$((SECONDS + 15)) url
	url=$(openssl x509 -in "$1" -noout -ocsp_uri)
	while [ "$SECONDS" -lt "$deadline" ]; do
		if openssl ocsp -url "$url" -CAfile "$CA_DIR/roots.pem" -timeout 5 \
			-no_nonce -issuer "$CA_DIR/chain.pem" -cert "$1" 2>&1 | grep -q "$2"; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# ======================================================= signet acme eab
cli acme eab --provisioner nobody
expect_eq "signet acme eab for an unknown provisioner exits 2" "$rc" 2
expect_eq "  with one line on stderr" "$(wc -l <cli.err)" 1
expect_match "  naming it" "$(cat cli.err)" 'no provisioner "nobody"'
cli acme eab --provisioner noacme
expect_eq "signet acme eab for a provisioner without ACME exits 2" "$rc" 2
expect_eq "  with one line on stderr" "$(wc -l <cli.err)" 1
expect_match "  saying how to open ACME" "$(cat cli.err)" 'does not speak ACME.*--acme'
cli acme eab
expect_eq "signet acme eab without --provisioner exits 2" "$rc" 2
cli acme eab --provisioner eab --ttl 5x
expect_eq "signet acme eab --ttl 5x exits 2" "$rc" 2
expect_eq "no key was stored by the refusals" "$(psql_val "SELECT count(*) FROM acme_eab_keys")" 0

eab_new eab
expect_eq "signet acme eab exits 0" "$rc" 0
expect_eq "  two lines" "$(wc -l <cli.out)" 2
expect_match "  a base64url kid" "$KID" '^[A-Za-z0-9_-]{22}$'
expect_match "  a base64url 32-byte HMAC key" "$HKEY" '^[A-Za-z0-9_-]{43}$'
expect_eq "  stored for the provisioner" \
	"$(psql_val "SELECT provisioner || ' ' || length(hmac_key) || ' ' || (used_at IS NULL) FROM acme_eab_keys WHERE kid = '$KID'")" \
	"eab 32 true"
expect_eq "  expiring in 7 days by default" \
	"$(psql_val "SELECT expires_at - created_at BETWEEN interval '6 days 23 hours' AND interval '7 days 1 minute' FROM acme_eab_keys WHERE kid = '$KID'")" t
expect_eq "  audited (acme.eab.create, by kid)" \
	"$(psql_val "SELECT count(*) FROM audit_log WHERE action = 'acme.eab.create' AND subject = '$KID'")" 1
expect_eq "  the audit entry does not hold the key" \
	"$(psql_val "SELECT count(*) FROM audit_log WHERE detail::text LIKE '%$HKEY%'")" 0
GOOD_KID=$KID GOOD_KEY=$HKEY

cli acme eab --provisioner eab --ttl 1h --json
expect_eq "signet acme eab --json exits 0" "$rc" 0
expect_eq "  kid, hmac_key, provisioner, expires" \
	"$(python3 -c 'import json; j=json.load(open("cli.out")); print(sorted(j), j["provisioner"], len(j["hmac_key"]))')" \
	"['expires', 'hmac_key', 'kid', 'provisioner'] eab 43"
expect_match "  expires is RFC 3339" \
	"$(python3 -c 'import json; print(json.load(open("cli.out"))["expires"])')" \
	'^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
expect_eq "  --ttl 1h is an hour" \
	"$(psql_val "SELECT expires_at - created_at BETWEEN interval '59 minutes' AND interval '61 minutes' FROM acme_eab_keys WHERE kid = '$(python3 -c 'import json; print(json.load(open("cli.out"))["kid"])')'")" t
JSON_KID=$(python3 -c 'import json; print(json.load(open("cli.out"))["kid"])')
JSON_KEY=$(python3 -c 'import json; print(json.load(open("cli.out"))["hmac_key"])')

# ============================================================ EAB itself
expect_eq "the EAB directory answers" "$(fetch GET "$DIR/directory")" 200
expect_eq "  meta.externalAccountRequired is true" "$(jf 'j["meta"]["externalAccountRequired"]')" true

for n in a b c d e f g; do python3 "$jws" keygen ec256 "$n.key"; done

expect_eq "new-account without a binding where one is required answers 400" "$(new_account "$DIR" a.key)" 400
expect_eq "  externalAccountRequired" "$(jf 'j["type"]')" "${E}externalAccountRequired"
expect_match "  saying where a key comes from" "$(jf 'j["detail"]')" 'signet acme eab'

eab_case() { # DESC STATUS TYPE DETAIL_REGEX ACCOUNT_KEY BINDING_ARGS...
	local desc=$1 st=$2 ty=$3 re=$4 key=$5
	shift 5
	b=$(binding "$key" "$@")
	expect_eq "$desc answers $st" \
		"$(new_account "$DIR" "$key" "{\"externalAccountBinding\":$b}")" "$st"
	expect_eq "  $ty" "$(jf 'j["type"]')" "$E$ty"
	expect_match "  saying why" "$(jf 'j["detail"]')" "$re"
}
other_key=$(python3 -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode())')
eab_case "a binding with a bad MAC" 401 unauthorized 'MAC does not verify' \
	a.key "$GOOD_KID" "$other_key"
eab_case "a binding with an unknown kid" 401 unauthorized 'not an EAB key of provisioner eab' \
	a.key "bm8tc3VjaC1rZXktaWQ" "$GOOD_KEY"
eab_new other
OTHER_KID=$KID OTHER_KEY=$HKEY
eab_case "a binding with a kid of another provisioner" 401 unauthorized \
	'not an EAB key of provisioner eab' a.key "$OTHER_KID" "$OTHER_KEY"
EAB_URL=$OPEN/new-account eab_case "a binding for another URL" 401 unauthorized \
	'url must be the newAccount URL' a.key "$GOOD_KID" "$GOOD_KEY"
eab_case "a binding of another account key" 401 unauthorized \
	'payload is not the key that signed' a.key "$GOOD_KID" "$GOOD_KEY" --payload-key b.key
eab_case "a binding with a nonce" 400 malformed 'must not have a nonce' \
	a.key "$GOOD_KID" "$GOOD_KEY" --nonce=abcdefghij
eab_case "a binding signed with ES256" 400 malformed 'HS256, HS384, HS512' \
	a.key "$GOOD_KID" "$GOOD_KEY" --alg ES256
expect_eq "  nothing made an account or spent the key" \
	"$(psql_val "SELECT (SELECT count(*) FROM acme_accounts) || ' ' || (SELECT count(*) FROM acme_eab_keys WHERE used_at IS NOT NULL)")" "0 0"

b=$(binding a.key "$GOOD_KID" "$GOOD_KEY")
expect_eq "a good binding (HS256) makes the account: 201" \
	"$(new_account "$DIR" a.key "{\"termsOfServiceAgreed\":true,\"externalAccountBinding\":$b}")" 201
acct_a=$(hdr Location)
expect_eq "  the account records the EAB kid" \
	"$(psql_val "SELECT eab_kid FROM acme_accounts WHERE id = ${acct_a##*/}")" "$GOOD_KID"
expect_eq "  the key is used, bound to the account" \
	"$(psql_val "SELECT (used_at IS NOT NULL) || ' ' || account_id FROM acme_eab_keys WHERE kid = '$GOOD_KID'")" \
	"true ${acct_a##*/}"
expect_eq "  the creation's audit entry names the kid" \
	"$(psql_val "SELECT detail->>'eab_kid' FROM audit_log WHERE action = 'acme.account.create' AND subject = '${acct_a##*/}'")" \
	"$GOOD_KID"
expect_eq "the same account key again, without a binding, finds it: 200" "$(new_account "$DIR" a.key)" 200
expect_eq "  the same account" "$(hdr Location)" "$acct_a"
eab_case "the used key for another account key" 401 unauthorized 'bound to an account already' \
	b.key "$GOOD_KID" "$GOOD_KEY"
psql_val "UPDATE acme_eab_keys SET expires_at = now() - interval '1 minute' WHERE kid = '$JSON_KID'" >/dev/null
eab_case "an expired key" 401 unauthorized 'has expired' b.key "$JSON_KID" "$JSON_KEY"

eab_new eab
b=$(binding b.key "$KID" "$HKEY" --alg HS384)
expect_eq "a good binding with HS384 answers 201" \
	"$(new_account "$DIR" b.key "{\"externalAccountBinding\":$b}")" 201
acct_b=$(hdr Location)
expect_eq "  bound to that key" \
	"$(psql_val "SELECT eab_kid FROM acme_accounts WHERE id = ${acct_b##*/}")" "$KID"

# Two new-accounts race with one key (different account keys): one wins.
eab_new eab
RACE_KID=$KID
for n in c d; do
	b=$(binding "$n.key" "$KID" "$HKEY")
	sign "$DIR" "$n.key" ES256 "$DIR/new-account" --payload "{\"externalAccountBinding\":$b}"
	mv req.json "race_$n.json"
done
race_pids=()
for n in c d; do
	curl -sS --cacert "$CA_DIR/roots.pem" -o "race_$n.out" -w '%{http_code}' \
		-H 'Content-Type: application/jose+json' --data-binary "@race_$n.json" \
		"$DIR/new-account" >"race_$n.code" &
	race_pids+=($!)
done
# Only the two curls: a bare `wait` would wait for signetd too.
wait "${race_pids[@]}"
expect_eq "two racing requests with one EAB key: one 201, one 401" \
	"$(printf '%s\n%s\n' "$(cat race_c.code)" "$(cat race_d.code)" | sort | tr '\n' ' ')" "201 401 "
expect_eq "  one account bound to that key" \
	"$(psql_val "SELECT count(*) FROM acme_accounts WHERE eab_kid = '$RACE_KID'")" 1

eab_new open
b=$(EAB_URL=$OPEN/new-account binding e.key "$KID" "$HKEY")
expect_eq "a binding where none is required is verified and bound: 201" \
	"$(new_account "$OPEN" e.key "{\"externalAccountBinding\":$b}")" 201
acct_e=$(hdr Location)
expect_eq "  the account records the kid" \
	"$(psql_val "SELECT eab_kid FROM acme_accounts WHERE id = ${acct_e##*/}")" "$KID"
b=$(EAB_URL=$OPEN/new-account binding f.key "$KID" "$other_key")
expect_eq "  a bad binding there is refused too (401)" \
	"$(new_account "$OPEN" f.key "{\"externalAccountBinding\":$b}")" 401
expect_eq "without a binding there an account is made as before: 201" "$(new_account "$OPEN" f.key)" 201
acct_f=$(hdr Location)
expect_eq "  without a kid" "$(psql_val "SELECT eab_kid IS NULL FROM acme_accounts WHERE id = ${acct_f##*/}")" t

# A provisioner removed and added again does not inherit its old keys.
ca_provisioner gone --allow-dns '*.svc.test' --acme-eab
eab_new gone
GONE_KID=$KID GONE_KEY=$HKEY
check "provisioner gone removed" "$SIGNET" provisioner remove gone
expect_eq "  its EAB keys went with it" \
	"$(psql_val "SELECT count(*) FROM acme_eab_keys WHERE kid = '$GONE_KID'")" 0
check "provisioner gone added again" "$SIGNET" provisioner add gone \
	--key-out "$PWD/gone2.jwk" --allow-dns '*.svc.test' --acme-eab
b=$(EAB_URL=$CA_URL/acme/gone/new-account binding g.key "$GONE_KID" "$GONE_KEY")
expect_eq "  a key minted before the removal binds nothing (401)" \
	"$(new_account "$CA_URL/acme/gone" g.key "{\"externalAccountBinding\":$b}")" 401

# ============================================================ keyChange
KC=$OPEN/key-change
python3 "$jws" keygen ec384 n1.key
inner() { # NEW_KEY ALG URL ACCOUNT OLD_KEY
	python3 "$jws" keychange "$@"
}
kc_case() { # DESC INNER_ARGS...
	local desc=$1
	shift
	sign "$OPEN" e.key ES256 "$KC" --kid "$acct_e" --payload "$(inner "$@")"
	expect_eq "$desc answers 400" "$(post "$KC" req.json)" 400
	expect_eq "  malformed" "$(jf 'j["type"]')" "${E}malformed"
}
kc_case "keyChange with an inner url other than the outer" n1.key ES384 "$OPEN/acct/1" "$acct_e" e.key
expect_match "  saying so" "$(jf 'j["detail"]')" 'inner JWS url'
kc_case "keyChange for another account" n1.key ES384 "$KC" "$acct_f" e.key
expect_match "  saying so" "$(jf 'j["detail"]')" "account is not the account"
kc_case "keyChange with an oldKey that is not the account's" n1.key ES384 "$KC" "$acct_e" f.key
expect_match "  saying so" "$(jf 'j["detail"]')" 'oldKey'

sign "$OPEN" e.key ES256 "$KC" --kid "$acct_e" --payload "$(inner f.key ES256 "$KC" "$acct_e" e.key)"
expect_eq "keyChange to the key of another account answers 409" "$(post "$KC" req.json)" 409
expect_eq "  with that account's Location" "$(hdr Location)" "$acct_f"

sign "$OPEN" e.key ES256 "$KC" --kid "$acct_e" --payload "$(inner n1.key ES384 "$KC" "$acct_e" e.key)"
expect_eq "keyChange to a new key answers 200" "$(post "$KC" req.json)" 200
expect_eq "  with the account" "$(jf 'j["status"]')" valid
expect_eq "  the stored key is the new one" \
	"$(psql_val "SELECT jwk_thumbprint FROM acme_accounts WHERE id = ${acct_e##*/}")" \
	"$(python3 "$jws" thumbprint n1.key)"
expect_eq "  audited" \
	"$(psql_val "SELECT detail->>'thumbprint' = '$(python3 "$jws" thumbprint n1.key)' AND detail->>'old_thumbprint' = '$(python3 "$jws" thumbprint e.key)' FROM audit_log WHERE action = 'acme.account.key_change' AND subject = '${acct_e##*/}'")" t
sign "$OPEN" e.key ES256 "$acct_e" --kid "$acct_e" --post-as-get
expect_eq "  the old key is refused then (400)" "$(post "$acct_e" req.json)" 400
sign "$OPEN" e.key ES256 "$OPEN/new-account" --payload '{"onlyReturnExisting":true}'
expect_eq "  and finds no account (accountDoesNotExist)" \
	"$(post "$OPEN/new-account" req.json)/$(jf 'j["type"]')" "400/${E}accountDoesNotExist"
sign "$OPEN" n1.key ES384 "$acct_e" --kid "$acct_e" --post-as-get
expect_eq "  the new key works (200)" "$(post "$acct_e" req.json)" 200
sign "$OPEN" n1.key ES384 "$OPEN/new-account" --payload '{"onlyReturnExisting":true}'
expect_eq "  and finds the account" "$(post "$OPEN/new-account" req.json) $(hdr Location)" "200 $acct_e"

# ============================================================ revokeCert
RV=$OPEN/revoke-cert
TOKEN_FLAGS=()
ca_enroll c1 open c1.svc.test
ca_enroll c2 open c2.svc.test
ca_enroll c3 other c3.svc.test
ca_enroll c4 open c4.svc.test
ca_enroll c5 open c5.svc.test
s1=$(serial_of c1.pem) s2=$(serial_of c2.pem) s3=$(serial_of c3.pem) s4=$(serial_of c4.pem)
b64der() { openssl x509 -in "$1" -outform DER | python3 -c 'import base64,sys; print(base64.urlsafe_b64encode(sys.stdin.buffer.read()).rstrip(b"=").decode())'; }
# Finalize stands in: c1 is account f's order's certificate.
order_of() { # ACCOUNT_URL SERIAL|NULL NAME: an order id
	psql_val "INSERT INTO acme_orders (provisioner, account_id, status, expires, identifiers, cert_serial)
		VALUES ('open', ${1##*/}, 'valid', now() + interval '1 day',
		'[{\"type\":\"dns\",\"value\":\"$3\"}]', $2) RETURNING id" | head -1
}
order_of "$acct_f" "'$s1'" c1.svc.test >/dev/null
revoke() { # KEY ALG KID|"" CERT [REASON_JSON]
	local kidflag=()
	[ -n "$3" ] && kidflag=(--kid "$3")
	sign "$OPEN" "$1" "$2" "$RV" "${kidflag[@]}" \
		--payload "{\"certificate\":\"$(b64der "$4")\"${5:+,\"reason\":$5}}"
	post "$RV" req.json
}
expect_eq "revokeCert by the kid of an account that did not order it answers 403" \
	"$(revoke n1.key ES384 "$acct_e" c1.pem)" 403
expect_eq "  unauthorized" "$(jf 'j["type"]')" "${E}unauthorized"
expect_eq "  and revokes nothing" "$(psql_val "SELECT status FROM certificates WHERE serial = '$s1'")" good
expect_eq "revokeCert with reason 6 (certificateHold) answers 400" \
	"$(revoke f.key ES256 "$acct_f" c1.pem 6)" 400
expect_eq "  badRevocationReason" "$(jf 'j["type"]')" "${E}badRevocationReason"
expect_eq "revokeCert with a reason that is not a number answers 400" \
	"$(revoke f.key ES256 "$acct_f" c1.pem '"1"')" 400
expect_eq "  badRevocationReason" "$(jf 'j["type"]')" "${E}badRevocationReason"
expect_eq "revokeCert of another provisioner's certificate answers 403" \
	"$(revoke f.key ES256 "$acct_f" c3.pem)" 403
expect_eq "  unauthorized" "$(jf 'j["type"]')" "${E}unauthorized"
expect_match "  naming the provisioner" "$(jf 'j["detail"]')" 'not issued through provisioner open'
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout foreign.key \
	-out foreign.pem -subj /CN=c1.svc.test -days 1 2>/dev/null
expect_eq "revokeCert of a certificate signet did not issue answers 404" \
	"$(revoke f.key ES256 "$acct_f" foreign.pem)" 404

expect_eq "revokeCert by the ordering account (superseded) answers 200" \
	"$(revoke f.key ES256 "$acct_f" c1.pem 4)" 200
expect_eq "  with an empty body" "$(wc -c <acme.json)" 0
expect_eq "  recorded (revoked, reason 4)" \
	"$(psql_val "SELECT status || ' ' || revocation_reason FROM certificates WHERE serial = '$s1'")" "revoked 4"
expect_eq "  audited via acme by the account" \
	"$(psql_val "SELECT actor || ' ' || (detail->>'via') FROM audit_log WHERE action = 'cert.revoke' AND subject = '$s1'")" \
	"acme:open/acct/${acct_f##*/} acme"
check "  OCSP says revoked" ocsp_says c1.pem "c1.pem: revoked"
expect_eq "revokeCert of it again answers 400" "$(revoke f.key ES256 "$acct_f" c1.pem)" 400
expect_eq "  alreadyRevoked" "$(jf 'j["type"]')" "${E}alreadyRevoked"

expect_eq "revokeCert signed by another key than the certificate's (jwk) answers 403" \
	"$(revoke g.key ES256 "" c2.pem)" 403
expect_eq "  unauthorized" "$(jf 'j["type"]')" "${E}unauthorized"
expect_eq "revokeCert signed by the certificate's key (jwk) answers 200" \
	"$(revoke c2.key ES256 "" c2.pem 1)" 200
expect_eq "  revoked for keyCompromise" \
	"$(psql_val "SELECT status || ' ' || revocation_reason FROM certificates WHERE serial = '$s2'")" "revoked 1"
expect_eq "  its key is blocked" "$(psql_val "SELECT count(*) FROM blocked_keys WHERE serial = '$s2'")" 1
expect_eq "  audited as the certificate key's" \
	"$(psql_val "SELECT actor FROM audit_log WHERE action = 'cert.revoke' AND subject = '$s2'")" \
	"acme:open/certificate-key"
check "  OCSP says revoked" ocsp_says c2.pem "c2.pem: revoked"

# An account holding valid authorizations for every name (RFC 8555 7.6).
o=$(order_of "$acct_e" NULL c4.svc.test)
expect_eq "revokeCert by an account without authorizations for the names answers 403" \
	"$(revoke n1.key ES384 "$acct_e" c4.pem)" 403
psql_val "INSERT INTO acme_authzs (order_id, account_id, ident_type, ident_value, status, expires)
	VALUES ($o, ${acct_e##*/}, 'dns', 'c4.svc.test', 'valid', now() + interval '1 day'),
	       ($o, ${acct_e##*/}, 'dns', 'c5.svc.test', 'pending', now() + interval '1 day')" >/dev/null
expect_eq "revokeCert by an account with a pending authorization only answers 403" \
	"$(revoke n1.key ES384 "$acct_e" c5.pem)" 403
expect_eq "revokeCert by an account holding a valid authorization for each name answers 200" \
	"$(revoke n1.key ES384 "$acct_e" c4.pem)" 200
expect_eq "  revoked" "$(psql_val "SELECT status FROM certificates WHERE serial = '$s4'")" revoked
check "  OCSP says revoked" ocsp_says c4.pem "c4.pem: revoked"
expect_eq "  c3 (another provisioner's) is still good" \
	"$(psql_val "SELECT status FROM certificates WHERE serial = '$s3'")" good

# A certificate from a real ACME order (http-01, acme_flow.py), revoked
# by the account that ordered it.
flow=$SIGNET_SRC/tests/integration/acme_flow.py
python3 "$jws" keygen ec256 flow.key
python3 "$flow" --dir "$OPEN/directory" --ca "$CA_DIR/roots.pem" --key flow.key \
	order acme1.svc.test --port "$CH_PORT" --cert-out acme1.pem --csr-key acme1.key \
	>flow.json 2>flow.err || true
expect_eq "an ACME order (http-01) issues a certificate" \
	"$(python3 -c 'import json; print(json.load(open("flow.json")).get("status"))')" valid
acct_flow=$(python3 "$flow" --dir "$OPEN/directory" --ca "$CA_DIR/roots.pem" --key flow.key account)
openssl x509 -in acme1.pem -out acme1-leaf.pem 2>/dev/null
expect_eq "revokeCert of it by another account answers 403" \
	"$(revoke f.key ES256 "$acct_f" acme1-leaf.pem)" 403
expect_eq "revokeCert of it by the account that ordered it answers 200" \
	"$(revoke flow.key ES256 "$acct_flow" acme1-leaf.pem 5)" 200
check "  OCSP says revoked" ocsp_says acme1-leaf.pem "acme1-leaf.pem: revoked"
check "  with reason cessationOfOperation" openssl ocsp \
	-url "$(openssl x509 -in acme1-leaf.pem -noout -ocsp_uri)" -CAfile "$CA_DIR/roots.pem" \
	-no_nonce -issuer "$CA_DIR/chain.pem" -cert acme1-leaf.pem
expect_match "  (openssl ocsp)" "$(cat "$CHECK_OUT")" 'Reason: cessationOfOperation'

check "signetd logged no sanitizer report" \
	bash -c "! grep -q 'runtime error\|AddressSanitizer\|LeakSanitizer' signetd.log"
