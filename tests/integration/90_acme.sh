#!/usr/bin/env bash
# ACME (RFC 8555), first slice: the directory, nonces (HEAD 200 / GET 204,
# stored in PostgreSQL: good on any signetd of the database, once),
# accounts (new-account with ES256, ES384, RS256 and PS256 keys, found
# again, onlyReturnExisting, contacts, POST-as-GET, deactivation) and the
# JWS checks: bad or reused nonce, url header, alg (EdDSA answered with
# badSignatureAlgorithm and the accepted list), jwk and kid together,
# Content-Type, tampered signature, unknown kid.  Requests are flattened
# JWS made by acme_jws.py (python3-cryptography), sent with curl.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

jws=$SIGNET_SRC/tests/integration/acme_jws.py

ca_init
ca_start
ca_provisioner svc --allow-dns '*.svc.test' --acme
ca_provisioner noacme --allow-dns '*.svc.test'
DIR=$CA_URL/acme/svc
# shellcheck source=SCRIPTDIR/acme_lib.sh
. "$(dirname "$0")/acme_lib.sh"
# sign KEY ALG URL [sign flags...]: ./req.json with a fresh nonce.
sign() {
	local key=$1 alg=$2 url=$3
	shift 3
	python3 "$jws" sign "$key" "$alg" "$url" "--nonce=$(nonce)" "$@" >req.json
}

# --- directory ---
expect_eq "GET directory answers 200" "$(fetch GET "$DIR/directory")" 200
expect_eq "  newNonce" "$(jf 'j["newNonce"]')" "$DIR/new-nonce"
expect_eq "  newAccount" "$(jf 'j["newAccount"]')" "$DIR/new-account"
expect_eq "  newOrder" "$(jf 'j["newOrder"]')" "$DIR/new-order"
expect_eq "  revokeCert" "$(jf 'j["revokeCert"]')" "$DIR/revoke-cert"
expect_eq "  keyChange" "$(jf 'j["keyChange"]')" "$DIR/key-change"
expect_eq "  renewalInfo" "$(jf 'j["renewalInfo"]')" "$DIR/renewal-info"
expect_eq "  meta.externalAccountRequired is false" \
	"$(jf 'j["meta"]["externalAccountRequired"]')" false
expect_eq "an unknown provisioner has no directory (404)" \
	"$(fetch GET "$CA_URL/acme/nobody/directory")" 404
expect_eq "  as an ACME problem" "$(jf 'j["type"]')" "${E}malformed"
expect_eq "a provisioner without --acme has no directory (404)" \
	"$(fetch GET "$CA_URL/acme/noacme/directory")" 404
expect_match "  saying how to open one" "$(jf 'j["detail"]')" 'provisioner add --acme'

# --- methods ---
expect_eq "GET of an account URL answers 405 (resources take POST-as-GET)" \
	"$(fetch GET "$DIR/acct/1")" 405
expect_eq "  Allow: POST" "$(hdr Allow)" POST
expect_eq "  as an ACME problem" "$(jf 'j["type"]')" "${E}malformed"
expect_match "  with a Replay-Nonce" "$(hdr Replay-Nonce)" '^[A-Za-z0-9_-]{22}$'
expect_eq "POST to new-nonce answers 405, Allow: GET, HEAD" \
	"$(fetch POST -H 'Content-Type: application/jose+json' -d '{}' "$DIR/new-nonce") $(hdr Allow)" "405 GET, HEAD"
expect_eq "PUT and DELETE answer 405 as ACME problems too" \
	"$(fetch PUT -d '{}' "$DIR/new-order") $(jf 'j["type"]') $(fetch DELETE "$DIR/directory")" \
	"405 ${E}malformed 405"
expect_eq "GET of no ACME resource answers 404" "$(fetch GET "$DIR/no-such-thing")" 404

# --- new-nonce ---
expect_eq "HEAD new-nonce answers 200" "$(fetch HEAD "$DIR/new-nonce")" 200
n1=$(hdr Replay-Nonce)
expect_match "  with a base64url Replay-Nonce" "$n1" '^[A-Za-z0-9_-]{22}$'
expect_eq "  Cache-Control: no-store" "$(hdr Cache-Control)" no-store
expect_eq "  Link rel=index to the directory" "$(hdr Link)" "<$DIR/directory>;rel=\"index\""
expect_eq "GET new-nonce answers 204" "$(fetch GET "$DIR/new-nonce")" 204
n2=$(hdr Replay-Nonce)
expect_match "  with a Replay-Nonce" "$n2" '^[A-Za-z0-9_-]{22}$'
check "  nonces differ" test "$n1" != "$n2"
expect_eq "nonces are stored in PostgreSQL" \
	"$(psql_val "SELECT count(*) FROM acme_nonces WHERE nonce IN ('$n1', '$n2')")" 2

# --- new-account with each accepted algorithm ---
declare -A acct
for ka in ec256:ES256 ec384:ES384 rsa2048:RS256 rsa4096:PS256; do
	k=${ka%%:*} alg=${ka#*:}
	python3 "$jws" keygen "$k" "$alg.key"
	sign "$alg.key" "$alg" "$DIR/new-account" \
		--payload '{"termsOfServiceAgreed":true,"contact":["mailto:ops@svc.test"]}'
	expect_eq "new-account ($alg, $k) answers 201" "$(post "$DIR/new-account" req.json)" 201
	acct[$alg]=$(hdr Location)
	expect_match "  Location is an account URL" "${acct[$alg]}" "^$DIR/acct/[0-9]+\$"
	expect_eq "  status valid" "$(jf 'j["status"]')" valid
	expect_eq "  contact kept" "$(jf 'j["contact"]')" '["mailto:ops@svc.test"]'
	expect_match "  a fresh Replay-Nonce" "$(hdr Replay-Nonce)" '^[A-Za-z0-9_-]{22}$'
	expect_eq "  the stored thumbprint is RFC 7638's" \
		"$(psql_val "SELECT jwk_thumbprint FROM acme_accounts WHERE id = ${acct[$alg]##*/}")" \
		"$(python3 "$jws" thumbprint "$alg.key")"
	sign "$alg.key" "$alg" "$DIR/new-account" --payload '{"termsOfServiceAgreed":true}'
	expect_eq "  the same key again answers 200" "$(post "$DIR/new-account" req.json)" 200
	expect_eq "  with the same account" "$(hdr Location)" "${acct[$alg]}"
	sign "$alg.key" "$alg" "${acct[$alg]}" --kid "${acct[$alg]}" --post-as-get
	expect_eq "  POST-as-GET of the account with its kid answers 200" \
		"$(post "${acct[$alg]}" req.json)" 200
	expect_eq "  status valid" "$(jf 'j["status"]')" valid
done
expect_eq "each account creation is audited" \
	"$(psql_val "SELECT count(*) FROM audit_log WHERE action = 'acme.account.create'")" 4

# --- onlyReturnExisting ---
python3 "$jws" keygen ec256 fresh.key
sign fresh.key ES256 "$DIR/new-account" --payload '{"onlyReturnExisting":true}'
expect_eq "onlyReturnExisting for an unknown key answers 400" "$(post "$DIR/new-account" req.json)" 400
expect_eq "  accountDoesNotExist" "$(jf 'j["type"]')" "${E}accountDoesNotExist"
expect_eq "  and creates nothing" "$(psql_val "SELECT count(*) FROM acme_accounts")" 4
sign ES256.key ES256 "$DIR/new-account" --payload '{"onlyReturnExisting":true}'
expect_eq "onlyReturnExisting for a known key answers 200" "$(post "$DIR/new-account" req.json)" 200
expect_eq "  with its account" "$(hdr Location)" "${acct[ES256]}"

# --- contacts ---
sign ES256.key ES256 "${acct[ES256]}" --kid "${acct[ES256]}" \
	--payload '{"contact":["mailto:a@svc.test","mailto:b@svc.test"]}'
expect_eq "contacts are updated (200)" "$(post "${acct[ES256]}" req.json)" 200
expect_eq "  to the new list" "$(jf 'j["contact"]')" '["mailto:a@svc.test", "mailto:b@svc.test"]'
contact_case() { # DESC PAYLOAD TYPE
	sign fresh.key ES256 "$DIR/new-account" --payload "$2"
	expect_eq "$1 answers 400" "$(post "$DIR/new-account" req.json)" 400
	expect_eq "  $3" "$(jf 'j["type"]')" "$E$3"
}
contact_case "a tel: contact" '{"contact":["tel:+15551234"]}' unsupportedContact
contact_case "a mailto: with two addresses" '{"contact":["mailto:a@x.test,b@x.test"]}' invalidContact
contact_case "a mailto: with an empty domain label" '{"contact":["mailto:a@x..test"]}' invalidContact
contact_case "a mailto: with hfields" '{"contact":["mailto:a@x.test?subject=hi"]}' invalidContact
contact_case "five contacts" \
	'{"contact":["mailto:a@x.test","mailto:b@x.test","mailto:c@x.test","mailto:d@x.test","mailto:e@x.test"]}' \
	invalidContact
expect_eq "  refused contacts create no account" "$(psql_val "SELECT count(*) FROM acme_accounts")" 4

sign ES256.key ES256 "${acct[ES256]}" --kid "${acct[ES256]}" --payload '{}'
expect_eq "an account update with nothing to change answers 200" "$(post "${acct[ES256]}" req.json)" 200
expect_eq "  and keeps the contacts" "$(jf 'j["contact"]')" '["mailto:a@svc.test", "mailto:b@svc.test"]'

# --- nonces ---
python3 "$jws" sign ES256.key ES256 "${acct[ES256]}" "--nonce=bm90LWEtbm9uY2UtYXQtYWxs" \
	--kid "${acct[ES256]}" --post-as-get >req.json
expect_eq "an unknown nonce answers 400" "$(post "${acct[ES256]}" req.json)" 400
expect_eq "  badNonce" "$(jf 'j["type"]')" "${E}badNonce"
retry=$(hdr Replay-Nonce)
expect_match "  with a fresh Replay-Nonce" "$retry" '^[A-Za-z0-9_-]{22}$'
python3 "$jws" sign ES256.key ES256 "${acct[ES256]}" "--nonce=$retry" --kid "${acct[ES256]}" \
	--post-as-get >req.json
expect_eq "  the retry with it succeeds" "$(post "${acct[ES256]}" req.json)" 200
expect_eq "the same nonce a second time answers 400" "$(post "${acct[ES256]}" req.json)" 400
expect_eq "  badNonce" "$(jf 'j["type"]')" "${E}badNonce"

# --- the JWS checks ---
sign ES256.key ES256 "$DIR/acct/999999" --kid "${acct[ES256]}" --post-as-get
expect_eq "a url header other than the request's answers 401" "$(post "${acct[ES256]}" req.json)" 401
expect_eq "  unauthorized" "$(jf 'j["type"]')" "${E}unauthorized"
expect_match "  with a Replay-Nonce" "$(hdr Replay-Nonce)" '^[A-Za-z0-9_-]{22}$'

python3 "$jws" keygen ed25519 ed.key
sign ed.key EdDSA "$DIR/new-account" --payload '{}'
expect_eq "an EdDSA JWS answers 400" "$(post "$DIR/new-account" req.json)" 400
expect_eq "  badSignatureAlgorithm" "$(jf 'j["type"]')" "${E}badSignatureAlgorithm"
expect_eq "  listing the accepted algorithms" "$(jf 'j["algorithms"]')" \
	'["ES256", "ES384", "RS256", "PS256"]'
sign ES256.key ES384 "$DIR/new-account" --payload '{}'
expect_eq "an alg that does not fit the key (ES384, P-256) answers 400" \
	"$(post "$DIR/new-account" req.json)" 400
expect_eq "  badSignatureAlgorithm" "$(jf 'j["type"]')" "${E}badSignatureAlgorithm"

sign ES256.key ES256 "${acct[ES256]}" --kid "${acct[ES256]}" --with-jwk --post-as-get
expect_eq "a JWS with both kid and jwk answers 400" "$(post "${acct[ES256]}" req.json)" 400
expect_eq "  malformed" "$(jf 'j["type"]')" "${E}malformed"
sign ES256.key ES256 "$DIR/new-account" --kid "${acct[ES256]}" --payload '{}'
expect_eq "new-account signed with a kid answers 400" "$(post "$DIR/new-account" req.json)" 400
expect_eq "  malformed" "$(jf 'j["type"]')" "${E}malformed"

sign ES256.key ES256 "${acct[ES256]}" --kid "${acct[ES256]}" --post-as-get
expect_eq "Content-Type application/json answers 415" \
	"$(post "${acct[ES256]}" req.json application/json)" 415
expect_eq "  malformed" "$(jf 'j["type"]')" "${E}malformed"
python3 -c 'import json; j=json.load(open("req.json")); print(".".join([j["protected"], j["payload"], j["signature"]]))' >compact.txt
expect_eq "a compact JWS answers 400" "$(post "${acct[ES256]}" compact.txt)" 400
expect_eq "  malformed" "$(jf 'j["type"]')" "${E}malformed"

sign RS256.key RS256 "${acct[RS256]}" --kid "${acct[RS256]}" --post-as-get --tamper
expect_eq "a tampered signature answers 400" "$(post "${acct[RS256]}" req.json)" 400
expect_eq "  malformed" "$(jf 'j["type"]')" "${E}malformed"
sign ES256.key ES256 "${acct[ES384]}" --kid "${acct[ES384]}" --post-as-get
expect_eq "another account's kid with this key answers 400" "$(post "${acct[ES384]}" req.json)" 400

sign ES256.key ES256 "$DIR/acct/987654" --kid "$DIR/acct/987654" --post-as-get
expect_eq "an unknown kid answers 400" "$(post "$DIR/acct/987654" req.json)" 400
expect_eq "  accountDoesNotExist" "$(jf 'j["type"]')" "${E}accountDoesNotExist"
sign ES256.key ES256 "$CA_URL/acme/svc/acct/1" --kid "$CA_URL/acme/other/acct/1" --post-as-get
expect_eq "a kid of another directory answers 400" "$(post "$CA_URL/acme/svc/acct/1" req.json)" 400
expect_eq "  accountDoesNotExist" "$(jf 'j["type"]')" "${E}accountDoesNotExist"

sign ES256.key ES256 "$DIR/new-order" --kid "${acct[ES256]}" --payload '{}'
expect_eq "newOrder without identifiers answers 400" "$(post "$DIR/new-order" req.json)" 400
expect_eq "  malformed" "$(jf 'j["type"]')" "${E}malformed"
for extra in '{"crit":["foo"],"foo":1}' '{"b64":false,"crit":["b64"]}'; do
	sign ES256.key ES256 "${acct[ES256]}" --kid "${acct[ES256]}" --post-as-get --extra-header "$extra"
	expect_eq "a JWS with critical extensions $extra answers 400 (RFC 7515 4.1.11)" \
		"$(post "${acct[ES256]}" req.json)" 400
	expect_eq "  malformed" "$(jf 'j["type"]')" "${E}malformed"
done
head -c 70000 /dev/zero | tr '\0' a >big.json
expect_eq "a body over 64 KiB answers 413" "$(post "$DIR/new-account" big.json)" 413

# --- deactivation ---
sign PS256.key PS256 "${acct[PS256]}" --kid "${acct[PS256]}" --payload '{"status":"deactivated"}'
expect_eq "deactivating an account answers 200" "$(post "${acct[PS256]}" req.json)" 200
expect_eq "  status deactivated" "$(jf 'j["status"]')" deactivated
expect_eq "  recorded" "$(psql_val "SELECT status FROM acme_accounts WHERE id = ${acct[PS256]##*/}")" deactivated
sign PS256.key PS256 "${acct[PS256]}" --kid "${acct[PS256]}" --post-as-get
expect_eq "  a later request with its kid answers 401" "$(post "${acct[PS256]}" req.json)" 401
expect_eq "  unauthorized" "$(jf 'j["type"]')" "${E}unauthorized"
sign PS256.key PS256 "$DIR/new-account" --payload '{}'
expect_eq "  new-account with its key answers 401" "$(post "$DIR/new-account" req.json)" 401
sign ES384.key ES384 "${acct[ES384]}" --kid "${acct[ES384]}" --payload '{"status":"revoked"}'
expect_eq "a client cannot set status revoked (400)" "$(post "${acct[ES384]}" req.json)" 400
sign ES384.key ES384 "${acct[ES384]}" --kid "${acct[ES384]}" --payload '{"status":"valid","orders":"x","unknownField":1}'
expect_eq "the current status and fields a client cannot change are ignored (200, RFC 8555 7.3.2)" \
	"$(post "${acct[ES384]}" req.json)" 200
expect_eq "  still valid" "$(jf 'j["status"]')" valid

# --- two signetd on one database ---
https2=$(free_port)
http2=$(free_port)
sed -e "s|^https_listen = .*|https_listen = 127.0.0.1:$https2|" \
	-e "s|^http_listen = .*|http_listen = 127.0.0.1:$http2|" "$CA_CONF" >"$CA_DIR/second.conf"
start_bg signetd2 "$SIGNETD" -c "$CA_DIR/second.conf"
check "a second signetd answers /readyz" wait_http "http://127.0.0.1:$http2/readyz" 30
# Both serve ca_url's URLs (a load balancer in front of both).
n=$(nonce)
python3 "$jws" sign ES256.key ES256 "${acct[ES256]}" "--nonce=$n" --kid "${acct[ES256]}" \
	--post-as-get >req.json
second=https://127.0.0.1:$https2${acct[ES256]#"$CA_URL"}
expect_eq "a nonce from the first signetd is good on the second" "$(post "$second" req.json)" 200
expect_eq "  once: the first refuses it then" "$(post "${acct[ES256]}" req.json)" 400
expect_eq "  badNonce" "$(jf 'j["type"]')" "${E}badNonce"
n=$(nonce "https://127.0.0.1:$https2/acme/svc")
python3 "$jws" sign ES256.key ES256 "${acct[ES256]}" "--nonce=$n" --kid "${acct[ES256]}" \
	--post-as-get >req.json
expect_eq "a nonce from the second signetd is good on the first" "$(post "${acct[ES256]}" req.json)" 200
expect_eq "  once: the second refuses it then" "$(post "$second" req.json)" 400
stop_bg signetd2

check "neither signetd logged a sanitizer report" \
	bash -c "! grep -q 'runtime error\|AddressSanitizer\|LeakSanitizer' signetd.log signetd2.log"
