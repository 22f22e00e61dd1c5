#!/usr/bin/env bash
# Revocation and CRLs end to end: `signet revoke`, POST /v1/revoke with a
# provisioner token and with proof of possession, keyCompromise blocking
# the key, CRLs signed by signetd within seconds of a revocation and on a
# schedule, served over HTTP with caching headers and written to the
# publish directory, checked by openssl and by nginx ssl_crl.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

pop=$SIGNET_SRC/tests/integration/pop_jws.py

# post_revoke SERIAL REASON TOKEN: prints the status; body in ./revoke.json.
post_revoke() {
	python3 -c 'import json,sys; print(json.dumps({"serial": sys.argv[1], "reason": sys.argv[2], "token": sys.argv[3]}))' \
		"$1" "$2" "$3" >revoke-body.json
	curl -sS --cacert "$CA_DIR/roots.pem" -o revoke.json -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary @revoke-body.json \
		"$CA_URL/v1/revoke"
}

# crl_lists DER_FILE SERIAL: the CRL lists that serial.
crl_lists() {
	openssl crl -in "$1" -inform DER -noout -text |
		grep -qi "Serial Number: 0*$(echo "$2" | tr 'a-f' 'A-F')\$"
}

# crl_number DER_FILE: in decimal (openssl prints 0x..).
crl_number() {
	printf '%d\n' "$(openssl crl -in "$1" -inform DER -noout -crlnumber | cut -d= -f2)"
}

# wait_crl_lists SERIAL [TIMEOUT]: poll the served CRL until it lists SERIAL.
wait_crl_lists() {
	local deadline=$((SECONDS + ${2:-10}))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if curl -fsS -o polled.crl "$crl_url" 2>/dev/null && crl_lists polled.crl "$1"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

ca_init
check "init wrote the root's CRL" test -s "$CA_DIR/crl/root-1.crl"
check "init wrote the intermediate's CRL" test -s "$CA_DIR/crl/issuing-1.crl"
cat "$CA_DIR/chain.pem" "$CA_DIR/roots.pem" >chain-root.pem
check "the root's CRL from init verifies against the root" openssl crl \
	-in "$CA_DIR/crl/root-1.crl" -inform DER -CAfile "$CA_DIR/roots.pem" -noout
expect_match "  and openssl says so" "$(cat "$CHECK_OUT")" "verify OK"
# Scheduled CRLs every 10 s, so that the RFC 5280 3.3 case needs no long wait.
echo "crl_refresh = 10s" >>"$CA_CONF"
ca_start

ca_provisioner ci --allow-dns '*.svc.corp' --profiles server,client,both --may-revoke
ca_provisioner other --allow-dns '*.other.corp' --may-revoke
ca_provisioner norev --allow-dns '*.norev.corp'

ca_enroll a ci a.svc.corp
ca_enroll b ci b.svc.corp
ca_enroll good ci good.svc.corp
sa=$(serial_of a.pem)
sb=$(serial_of b.pem)

# The CRL URL from the certificate, as relying parties find it.
crl_url=$(openssl x509 -in a.pem -noout -ext crlDistributionPoints | grep -o 'URI:[^ ]*' | head -1 | cut -c5-)
expect_eq "the certificate's CRL DP is the issuer's CRL on the HTTP listener" \
	"$crl_url" "$PUBLIC_URL/crl/issuing-1.crl"
check "signetd serves a CRL at once" curl -fsS -o crl0.crl "$crl_url"
n0=$(crl_number crl0.crl)

# ---- signet revoke
check "signet revoke --reason superseded" "$SIGNET" revoke "$sa" --reason superseded
expect_match "  it says so" "$(cat "$CHECK_OUT")" "^revoked $sa at .* \(reason superseded\)"
expect_eq "  the row is revoked with reason 4" \
	"$(psql_val "select status || ' ' || revocation_reason || ' ' || (revoked_at is not null) from certificates where serial = '$sa'")" \
	"revoked 4 true"
expect_eq "  with an audit entry" \
	"$(psql_val "select count(*) from audit_log where action = 'cert.revoke' and subject = '$sa'")" 1
check "revoking twice is harmless" "$SIGNET" revoke "$sa" --reason keyCompromise
expect_match "  and reported as such" "$(cat "$CHECK_OUT")" "already revoked at .* \(reason superseded\)"
expect_eq "  the first reason stays" "$(psql_val "select revocation_reason from certificates where serial = '$sa'")" 4
rc=0
"$SIGNET" revoke 123456789abcdef --reason superseded >unknown.out 2>&1 || rc=$?
expect_eq "an unknown serial exits 3" "$rc" 3
expect_eq "  with one line" "$(wc -l <unknown.out)" 1
expect_match "  that names it" "$(cat unknown.out)" "no certificate with serial 123456789abcdef"
rc=0
"$SIGNET" revoke "$sb" --reason certificateHold >hold.out 2>&1 || rc=$?
expect_eq "certificateHold is refused (usage, exit 2)" "$rc" 2
expect_match "  saying why" "$(cat hold.out)" "certificateHold is not supported"
check_fails "removeFromCRL is refused" "$SIGNET" revoke "$sb" --reason removeFromCRL
check_fails "an unknown reason is refused" "$SIGNET" revoke "$sb" --reason stolen
check "signet show tells the revocation" "$SIGNET" show "$sa"
expect_match "  with its time and reason" "$(cat "$CHECK_OUT")" "revoked at: .*reason 4"

# Within about a second on the served CRL (LISTEN/NOTIFY).
check "the served CRL lists it (bounded wait, 15 s)" wait_crl_lists "$sa" 15
check "  the CRL verifies against intermediate and root" openssl crl -in polled.crl \
	-inform DER -CAfile chain-root.pem -noout -text
crltext=$(cat "$CHECK_OUT")
expect_match "  openssl says verify OK" "$crltext" "verify OK"
expect_match "  it is a v2 CRL" "$crltext" "Version 2"
expect_match "  with the issuer's name" "$crltext" "Issuer: O = signet, CN = signet Issuing CA 1"
expect_match "  with an authority key identifier" "$crltext" "X509v3 Authority Key Identifier"
expect_match "  with the reason superseded" "$crltext" "Superseded"
n1=$(crl_number polled.crl)
check "  the CRL number increased ($n0 -> $n1)" test "$n1" -gt "$n0"

# ---- POST /v1/revoke with a provisioner token
tok=$("$SIGNET" token --provisioner ci --key ci.jwk --san b.svc.corp --revoke)
expect_eq "a may_revoke token revokes (keyCompromise)" "$(post_revoke "$sb" keyCompromise "$tok")" 200
expect_match "  the answer says revoked" "$(cat revoke.json)" '"status":"revoked".*"reason":"keyCompromise"'
expect_eq "  the same token again is refused (401)" "$(post_revoke "$sb" keyCompromise "$tok")" 401
expect_eq "  the key is blocked" "$(psql_val "select count(*) from blocked_keys b join certificates c on c.spki_sha256 = b.spki_sha256 where c.serial = '$sb'")" 1
openssl req -new -key b.key -subj /CN=b2.svc.corp -addext subjectAltName=DNS:b2.svc.corp \
	-out b2.csr 2>/dev/null
sign_json b2.csr "$(ca_token ci b2.svc.corp)" >b2.json
expect_eq "a CSR with the compromised key is refused (403)" "$(post_sign b2.json)" 403
expect_match "  saying why" "$(cat resp.json)" "keyCompromise"
tok=$("$SIGNET" token --provisioner ci --key ci.jwk --san good.svc.corp)
expect_eq "a token for /v1/sign cannot revoke (401, audience)" \
	"$(post_revoke "$(serial_of good.pem)" superseded "$tok")" 401

ca_enroll n norev n.norev.corp
tok=$("$SIGNET" token --provisioner norev --key norev.jwk --san n.norev.corp --revoke)
expect_eq "a provisioner without may_revoke is refused (403)" \
	"$(post_revoke "$(serial_of n.pem)" superseded "$tok")" 403
expect_match "  naming may_revoke" "$(cat revoke.json)" "may_revoke"
tok=$("$SIGNET" token --provisioner other --key other.jwk --san x.other.corp --revoke)
expect_eq "a provisioner cannot revoke another's certificate (403)" \
	"$(post_revoke "$(serial_of good.pem)" superseded "$tok")" 403
expect_eq "  and it stays good" "$(psql_val "select status from certificates where serial = '$(serial_of good.pem)'")" good
expect_eq "no token is 401" "$(post_revoke "$(serial_of good.pem)" superseded "")" 401
expect_eq "a bad reason is 400" "$(post_revoke "$(serial_of good.pem)" certificateHold "$tok")" 400
expect_eq "a bad serial is 400" "$(post_revoke "xyz" superseded "$tok")" 400

# ---- proof of possession
ca_enroll p ci p.svc.corp
ca_enroll q ci q.svc.corp
ca_enroll r ci r.svc.corp --key-type rsa-2048
sp=$(serial_of p.pem)
aud=$CA_URL/v1/revoke
expect_eq "PoP with exp - iat of 10 minutes is refused (401)" \
	"$(post_revoke "$sp" superseded "$(python3 "$pop" p.pem p.key "$aud" --ttl 600)")" 401
expect_match "  naming the limit" "$(cat revoke.json)" "exp - iat"
expect_eq "PoP for another audience is refused (401)" \
	"$(post_revoke "$sp" superseded "$(python3 "$pop" p.pem p.key "$CA_URL/v1/sign")")" 401
expect_eq "PoP signed by another key is refused (401)" \
	"$(post_revoke "$sp" superseded "$(python3 "$pop" p.pem q.key "$aud")")" 401
expect_eq "PoP whose x5c is another certificate is refused (401)" \
	"$(post_revoke "$sp" superseded "$(python3 "$pop" q.pem q.key "$aud")")" 401
expect_eq "  p is still good" "$(psql_val "select status from certificates where serial = '$sp'")" good
jws=$(python3 "$pop" p.pem p.key "$aud")
expect_eq "PoP signed by the certificate's key revokes it" "$(post_revoke "$sp" keyCompromise "$jws")" 200
expect_eq "  replaying it is refused (401)" "$(post_revoke "$sp" keyCompromise "$jws")" 401
expect_eq "  audited as pop" "$(psql_val "select actor from audit_log where action = 'cert.revoke' and subject = '$sp'")" "pop:$sp"
expect_eq "PoP with an RSA key (RS256) revokes" \
	"$(post_revoke "$(serial_of r.pem)" cessationOfOperation "$(python3 "$pop" r.pem r.key "$aud")")" 200
expect_eq "PoP with an RSA key (PS256) on a revoked one says already" \
	"$(post_revoke "$(serial_of r.pem)" superseded "$(python3 "$pop" r.pem r.key "$aud" --alg PS256)")" 200
expect_match "  already" "$(cat revoke.json)" '"already":true'

# ---- the CRL: content, openssl verify, HTTP headers
check "the served CRL lists the PoP revocation" wait_crl_lists "$(serial_of r.pem)" 15
cp polled.crl issuing.crl
check "openssl crl -text" openssl crl -in issuing.crl -inform DER -CAfile chain-root.pem -noout -text
crltext=$(cat "$CHECK_OUT")
expect_match "  lists b with keyCompromise" "$crltext" "Key Compromise"
expect_match "  lists r with cessationOfOperation" "$crltext" "Cessation Of Operation"
for s in "$sa" "$sb" "$sp"; do
	check "  lists $s" crl_lists issuing.crl "$s"
done
check_fails "  does not list the good certificate" crl_lists issuing.crl "$(serial_of good.pem)"
openssl crl -in issuing.crl -inform DER -out issuing.pem
openssl crl -in "$CA_DIR/crl/root-1.crl" -inform DER -out root.pem
cat issuing.pem root.pem >crls.pem
check_fails "openssl verify -crl_check rejects the revoked certificate" openssl verify \
	-crl_check -CRLfile issuing.pem -CAfile "$CA_DIR/roots.pem" -untrusted "$CA_DIR/chain.pem" a.pem
expect_match "  as revoked" "$(cat "$CHECK_OUT")" "certificate revoked"
check "openssl verify -crl_check_all accepts the good one" openssl verify \
	-crl_check_all -CRLfile crls.pem -CAfile "$CA_DIR/roots.pem" -untrusted "$CA_DIR/chain.pem" good.pem

check "GET the CRL with headers" curl -fsS -D headers.txt -o /dev/null "$crl_url"
hdrs=$(tr -d '\r' <headers.txt)
expect_match "  Content-Type application/pkix-crl" "$hdrs" $'[Cc]ontent-[Tt]ype: application/pkix-crl'
expect_match "  Cache-Control max-age" "$hdrs" $'[Cc]ache-[Cc]ontrol: [^\n]*max-age=[0-9]+'
expect_match "  Last-Modified" "$hdrs" $'[Ll]ast-[Mm]odified: [A-Z][a-z]{2}, [0-9]{2} '
expect_match "  Expires" "$hdrs" $'[Ee]xpires: [A-Z][a-z]{2}, [0-9]{2} '
expect_match "  ETag" "$hdrs" $'[Ee][Tt]ag: "issuing-1-[0-9]+"'
etag=$(grep -i '^etag:' <<<"$hdrs" | cut -d' ' -f2)
expect_eq "  If-None-Match answers 304" \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$crl_url")" 304
expect_eq "  an unknown issuer is 404" "$(curl -sS -o /dev/null -w '%{http_code}' "$PUBLIC_URL/crl/nope.crl")" 404
expect_eq "  a path outside /crl/{issuer}.crl is 404" "$(curl -sS -o /dev/null -w '%{http_code}' "$PUBLIC_URL/crl/..%2fx.crl")" 404
# The file catches up with the database within the sync interval (5 s).
wait_crl_file_number() {
	local deadline=$((SECONDS + 20)) want
	while [ "$SECONDS" -lt "$deadline" ]; do
		want=$(curl -fsS -o served.crl "$crl_url" && crl_number served.crl)
		[ "$(crl_number "$CA_DIR/crl/issuing-1.crl")" = "$want" ] && return 0
		sleep 0.2
	done
	return 1
}
check "the publish directory holds the newest CRL" wait_crl_file_number

# ---- signet crl, signet root crl
before=$(crl_number "$CA_DIR/crl/issuing-1.crl")
check "signet crl signs one now" "$SIGNET" crl
expect_match "  and prints path and number" "$(cat "$CHECK_OUT")" "$CA_DIR/crl/issuing-1.crl number [0-9]+"
check "  its number is higher" test "$(crl_number "$CA_DIR/crl/issuing-1.crl")" -gt "$before"
check_fails "signet crl --issuer of an unknown CA fails" "$SIGNET" crl --issuer nope
check_fails "signet root crl without the root PIN fails" env -u SIGNET_ROOT_PIN "$SIGNET" root crl
check "signet root crl --root-pin-file" "$SIGNET" root crl --root-pin-file "$SIGNET_TEST_ROOT_PIN_FILE" --next-update 400d
expect_match "  writes root-1.crl number 2" "$(cat "$CHECK_OUT")" "$CA_DIR/crl/root-1.crl number 2 "
check "  which verifies against the root" openssl crl -in "$CA_DIR/crl/root-1.crl" \
	-inform DER -CAfile "$CA_DIR/roots.pem" -noout -nextupdate
nu=$(cut -d= -f2 <<<"$(cat "$CHECK_OUT" | grep nextUpdate)")
check "  with nextUpdate about 400 days out" test "$(( $(date -d "$nu" +%s) - $(date +%s) ))" -gt $((399 * 86400))
check "signetd serves the root's CRL" curl -fsS -o root-served.crl "$PUBLIC_URL/crl/root-1.crl"
expect_eq "  the newest one" "$(crl_number root-served.crl)" 2

check "/metrics has signet_crl_age_seconds" curl -fsS "$PUBLIC_URL/metrics"
expect_match "  for the intermediate" "$(cat "$CHECK_OUT")" 'signet_crl_age_seconds\{issuer="issuing-1"\} [0-9]'

# ---- a second signetd on the same database: both serve the newest CRL,
# numbers never repeat, the files follow in each one's publish directory.
https2=$(free_port)
http2=$(free_port)
sed -e "s|^https_listen = .*|https_listen = 127.0.0.1:$https2|" \
	-e "s|^http_listen = .*|http_listen = 127.0.0.1:$http2|" \
	-e "s|^ca_url = .*|ca_url = https://127.0.0.1:$https2|" "$CA_CONF" >"$CA_DIR/signet2.conf"
echo "crl_publish_dir = crl2" >>"$CA_DIR/signet2.conf"
start_bg signetd2 "$SIGNETD" -c "$CA_DIR/signet2.conf"
check "a second signetd answers /readyz" wait_http "http://127.0.0.1:$http2/readyz" 30
ca_enroll two ci two.svc.corp
s2=$(serial_of two.pem)
jws=$(python3 "$pop" two.pem two.key "https://127.0.0.1:$https2/v1/revoke")
python3 -c 'import json,sys; print(json.dumps({"serial": sys.argv[1], "token": sys.argv[2]}))' "$s2" "$jws" >two.json
expect_eq "PoP revocation through the second signetd" "$(curl -sS --cacert "$CA_DIR/roots.pem" \
	-o two-resp.json -w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary @two.json "https://127.0.0.1:$https2/v1/revoke")" 200
check "  the first signetd's CRL lists it (bounded wait)" wait_crl_lists "$s2" 15
saved_url=$crl_url
crl_url=http://127.0.0.1:$http2/crl/issuing-1.crl
check "  so does the second's" wait_crl_lists "$s2" 15
crl_url=$saved_url
deadline=$((SECONDS + 20))
until [ -s "$CA_DIR/crl2/issuing-1.crl" ] && crl_lists "$CA_DIR/crl2/issuing-1.crl" "$s2" || [ "$SECONDS" -ge "$deadline" ]; do
	sleep 0.2
done
check "  and the second's publish directory" crl_lists "$CA_DIR/crl2/issuing-1.crl" "$s2"
stop_bg signetd2
expect_eq "no CRL number was signed twice" \
	"$(cat signetd.log signetd2.log | grep -o 'msg="signed CRL" issuer=issuing-1 number=[0-9]*' | sort | uniq -d)" ""

# ---- RFC 5280 3.3: an expired certificate stays until one scheduled CRL
# after its notAfter listed it.
psql_val "update certificates set not_after = now() - interval '1 hour' where serial = '$sa'" >/dev/null
deadline=$((SECONDS + 25))
while [ "$SECONDS" -lt "$deadline" ] && [ "$(psql_val "select crl_done from certificates where serial = '$sa'")" != t ]; do
	sleep 0.2
done
expect_eq "a scheduled CRL marks the expired revoked certificate" \
	"$(psql_val "select crl_done from certificates where serial = '$sa'")" t
psql_val "select encode(k.der, 'base64') from crls k join issuers i on i.id = k.issuer_id where i.name = 'issuing-1'" |
	base64 -d >sched.crl
check "  that CRL still lists it" crl_lists sched.crl "$sa"
check "signet crl afterwards" "$SIGNET" crl
check_fails "  no longer lists it" crl_lists "$CA_DIR/crl/issuing-1.crl" "$sa"
check "  but still the unexpired ones" crl_lists "$CA_DIR/crl/issuing-1.crl" "$sb"

# ---- nginx ssl_crl with the CRLs of intermediate and root
if ! command -v nginx >/dev/null; then
	skip "nginx ssl_crl" "nginx is not installed"
else
	TOKEN_FLAGS=(--profile server)
	ca_enroll srv ci srv.svc.corp --chain-out srv-chain.pem
	TOKEN_FLAGS=(--profile client)
	ca_enroll cgood ci cgood.svc.corp
	ca_enroll cbad ci cbad.svc.corp
	TOKEN_FLAGS=()
	check "revoke the bad client" "$SIGNET" revoke "$(serial_of cbad.pem)" --reason privilegeWithdrawn
	check "signet crl" "$SIGNET" crl
	cat "$CA_DIR/crl/issuing-1.crl" | openssl crl -inform DER >nginx-crls.pem
	openssl crl -in "$CA_DIR/crl/root-1.crl" -inform DER >>nginx-crls.pem
	port=$(free_port)
	mkdir -p nginx/logs
	cat srv.pem srv-chain.pem >nginx/srv-full.pem
	nginx_tls_start "$port" "$PWD/nginx/srv-full.pem" "$PWD/srv.key" "
    server_name srv.svc.corp;
    ssl_client_certificate $PWD/chain-root.pem;
    ssl_crl $PWD/nginx-crls.pem;
    ssl_verify_client on;
    ssl_verify_depth 2;
    location / { return 200 \"hello \$ssl_client_s_dn\n\"; }"
	check "nginx with ssl_crl accepts a good client certificate" curl -fsS \
		--cacert "$CA_DIR/roots.pem" --resolve "srv.svc.corp:$port:127.0.0.1" \
		--cert cgood.pem --key cgood.key "https://srv.svc.corp:$port/"
	expect_match "  nginx saw the client's name" "$(cat "$CHECK_OUT")" "cgood.svc.corp"
	check_fails "nginx with ssl_crl rejects the revoked client certificate" curl -fsS \
		--cacert "$CA_DIR/roots.pem" --resolve "srv.svc.corp:$port:127.0.0.1" \
		--cert cbad.pem --key cbad.key "https://srv.svc.corp:$port/"
	expect_match "  nginx logged why" "$(cat nginx/logs/error.log)" "certificate revoked"
	stop_bg nginx
fi
# ---- the database goes away and comes back: the publisher LISTENs again
ca_enroll late ci late.svc.corp
pg_kill
sleep 1
pg_start_again
check "after a database restart, signet revoke works" "$SIGNET" revoke "$(serial_of late.pem)" --reason affiliationChanged
check "  and the served CRL lists it (LISTEN re-made; bounded wait)" wait_crl_lists "$(serial_of late.pem)" 15
stop_bg signetd
