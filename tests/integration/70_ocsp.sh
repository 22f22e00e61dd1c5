#!/usr/bin/env bash
# OCSP end to end, with the URL taken from the certificate's AIA as relying
# parties do: openssl ocsp and GnuTLS ocsptool see good, then revoked with
# the reason; unknown for a serial never issued; unauthorized for another
# CA; GET in both base64 flavours with caching headers; malformed input of
# every kind leaves the responder answering; 1,000 requests sign nothing;
# a revocation through the CLI or another signetd is served within a
# bound; nginx staples signet's response.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

enroll() {
	local name=$1 san=$2 tok
	shift 2
	tok=$(ca_token ci "$san")
	check "enrolled $name ($san)" "$SIGNET" enroll --ca-url "$CA_URL" \
		--root "$CA_DIR/roots.pem" --token "$tok" --cert-out "$name.pem" \
		--key-out "$name.key" "$@"
}

# signs: every HSM signature signetd made so far (all keys), from /metrics.
signs() {
	curl -fsS --max-time 5 "$PUBLIC_URL/metrics" |
		awk '/^signet_hsm_sign_total/ { s += $NF } END { printf "%d\n", s }'
}

# ask CERT [URL] [extra openssl ocsp flags]: openssl ocsp against URL
# (default: the certificate's AIA), verified against the roots.
ask() {
	local cert=$1 url=${2:-}
	shift 2 || shift $#
	[ -n "$url" ] || url=$(openssl x509 -in "$cert" -noout -ocsp_uri)
	openssl ocsp -url "$url" -CAfile "$CA_DIR/roots.pem" -timeout 5 "$@" \
		-issuer "$CA_DIR/chain.pem" -cert "$cert"
}

# post_der FILE [CTYPE]: POST it to /ocsp; prints the HTTP status, body in
# ./post.out, headers in ./post.hdr.
post_der() {
	curl -sS --max-time 5 -o post.out -D post.hdr -w '%{http_code}' \
		-H "Content-Type: ${2:-application/ocsp-request}" \
		--data-binary "@$1" "$PUBLIC_URL/ocsp"
}

# still_answers DESC: a good request is answered at once after DESC.
still_answers() {
	expect_eq "  after $1 a good request is still answered" \
		"$(post_der good.req)" 200
}

# resp_status FILE: the OCSPResponseStatus (00 successful, 01
# malformedRequest, 06 unauthorized, ...), read by openssl.
resp_status() {
	openssl asn1parse -inform DER -in "$1" 2>/dev/null |
		awk '/ENUMERATED/ { print $NF; exit }' | sed 's/^://'
}

ca_init
check "init recorded a delegated OCSP signer" test \
	"$(psql_val "select count(*) from ocsp_signers")" = 1
label=$(psql_val "select key_label from ocsp_signers")
expect_eq "  with its own key on the token" "$label" signet-ocsp-1
psql_val "select encode(der, 'base64') from ocsp_signers" | base64 -d >signer.der
openssl x509 -inform DER -in signer.der -noout -text >signer.txt
expect_match "  id-kp-OCSPSigning" "$(cat signer.txt)" "OCSP Signing"
expect_match "  id-pkix-ocsp-nocheck" "$(cat signer.txt)" "OCSP No Check"
expect_match "  CA:FALSE" "$(cat signer.txt)" "CA:FALSE"
expect_match "  digitalSignature, critical" "$(cat signer.txt)" "Key Usage: critical"$'\n'" *Digital Signature"
check "  verifies against the chain" openssl verify -CAfile "$CA_DIR/roots.pem" \
	-untrusted "$CA_DIR/chain.pem" -purpose ocsphelper signer.der
# Audit checkpoints sign too: keep them out of the 1,000-request count.
echo "audit_checkpoint_interval = 1d" >>"$CA_CONF"
echo "ocsp_poll = 2s" >>"$CA_CONF"
ca_start
ca_provisioner ci --allow-dns '*.svc.corp' --profiles server,client,both --may-revoke

enroll a a.svc.corp
enroll b b.svc.corp
enroll c c.svc.corp
sa=$(serial_of a.pem)
sb=$(serial_of b.pem)
url=$(openssl x509 -in a.pem -noout -ocsp_uri)
expect_eq "the AIA names signet's OCSP URL" "$url" "$PUBLIC_URL/ocsp"

# ---- good, with openssl ocsp (a nonce: answered fresh) and ocsptool
check "openssl ocsp: a is good" ask a.pem
expect_match "  good" "$(cat "$CHECK_OUT")" "a.pem: good"
expect_match "  the response verifies against the chain" "$(cat "$CHECK_OUT")" "Response verify OK"
check "openssl ocsp without a nonce: good" ask a.pem "" -no_nonce
expect_match "  good" "$(cat "$CHECK_OUT")" "a.pem: good"
expect_match "  verified" "$(cat "$CHECK_OUT")" "Response verify OK"
check "openssl ocsp with a SHA-256 CertID: good" ask a.pem "" -no_nonce -sha256
expect_match "  good" "$(cat "$CHECK_OUT")" "a.pem: good"
# GnuTLS's trust-list verification accepts a signer only if a trust anchor
# issued it directly, so for the delegated signer the intermediate goes in
# the trust list.  A CA-signed response (the second signetd, below)
# carries no certificate (RFC 5019 keeps responses small), so ocsptool
# is given the signer, as GnuTLS's TLS stack does with the issuer.
cat "$CA_DIR/chain.pem" "$CA_DIR/roots.pem" >chain-roots.pem
if command -v ocsptool >/dev/null; then
	check "ocsptool: a is good" ocsptool --ask --load-issuer "$CA_DIR/chain.pem" \
		--load-cert a.pem --load-trust chain-roots.pem
	expect_match "  good" "$(cat "$CHECK_OUT")" "Certificate Status: good"
	expect_match "  verified" "$(cat "$CHECK_OUT")" "Verifying OCSP Response: Success"
else
	skip "ocsptool" "gnutls-bin is not installed"
fi

# ---- GET: both base64 flavours; caching headers
openssl ocsp -issuer "$CA_DIR/chain.pem" -cert a.pem -no_nonce -reqout good.req >/dev/null 2>&1
std=$(base64 -w0 good.req)
pct=$(printf '%s' "$std" | sed -e 's/+/%2B/g' -e 's|/|%2F|g' -e 's/=/%3D/g')
urlsafe=$(printf '%s' "$std" | tr '+/' '-_' | tr -d '=')
check "GET, standard base64 %-escaped" curl -fsS --max-time 5 -D get.hdr -o get1.der "$PUBLIC_URL/ocsp/$pct"
expect_eq "  successful" "$(resp_status get1.der)" 00
check "  good" bash -c "openssl ocsp -respin get1.der -resp_text -noverify | grep -q 'Cert Status: good'"
hdr=$(tr -d '\r' <get.hdr)
expect_match "  Content-Type" "$hdr" $'\n''Content-Type: application/ocsp-response'
expect_match "  Cache-Control max-age" "$hdr" $'\n''Cache-Control: max-age=[0-9]+, public'
expect_match "  Expires" "$hdr" $'\n''Expires: [A-Z][a-z]{2}, '
expect_match "  Last-Modified" "$hdr" $'\n''Last-Modified: [A-Z][a-z]{2}, '
expect_match "  ETag" "$hdr" $'\n''ETag: "[0-9a-f]{64}"'
check "GET, URL-safe base64 without padding" curl -fsS --max-time 5 -o get2.der "$PUBLIC_URL/ocsp/$urlsafe"
check "  the same pre-signed response" cmp get1.der get2.der
check "GET, standard base64 unescaped" curl -fsS --max-time 5 -o get3.der "$PUBLIC_URL/ocsp/$std"
check "  the same pre-signed response" cmp get1.der get3.der
check "the response verifies against the chain (openssl -respin)" openssl ocsp \
	-respin get1.der -issuer "$CA_DIR/chain.pem" -cert a.pem -CAfile "$CA_DIR/roots.pem"
expect_match "  verified" "$(cat "$CHECK_OUT")" "Response verify OK"

# ---- conditional GET (RFC 7232): a cache revalidating what it holds
etag=$(printf '%s\n' "$hdr" | sed -n 's/^ETag: //p')
lastmod=$(printf '%s\n' "$hdr" | sed -n 's/^Last-Modified: //p')
expect_eq "If-None-Match with its ETag: 304" "$(curl -sS --max-time 5 -D cond.hdr \
	-o cond.body -w '%{http_code}' -H "If-None-Match: $etag" "$PUBLIC_URL/ocsp/$urlsafe")" 304
check "  with no body" test ! -s cond.body
expect_match "  and the same ETag" "$(tr -d '\r' <cond.hdr)" $'\n'"ETag: $etag"
expect_match "  and Cache-Control" "$(tr -d '\r' <cond.hdr)" $'\n''Cache-Control: max-age=[0-9]+, public'
expect_eq "If-None-Match as a weak tag in a list: 304" "$(curl -sS --max-time 5 -o /dev/null \
	-w '%{http_code}' -H "If-None-Match: \"0\", W/$etag" "$PUBLIC_URL/ocsp/$urlsafe")" 304
expect_eq "If-None-Match with another ETag: 200 and the response" "$(curl -sS --max-time 5 \
	-o cond.der -w '%{http_code}' -H 'If-None-Match: "00"' "$PUBLIC_URL/ocsp/$urlsafe")" 200
check "  the same response" cmp get1.der cond.der
expect_eq "If-Modified-Since its Last-Modified: 304" "$(curl -sS --max-time 5 -o /dev/null \
	-w '%{http_code}' -H "If-Modified-Since: $lastmod" "$PUBLIC_URL/ocsp/$urlsafe")" 304
expect_eq "If-Modified-Since a day before: 200" "$(curl -sS --max-time 5 -o /dev/null \
	-w '%{http_code}' -H "If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT" "$PUBLIC_URL/ocsp/$urlsafe")" 200
expect_eq "a malformed If-Modified-Since is ignored: 200" "$(curl -sS --max-time 5 -o /dev/null \
	-w '%{http_code}' -H "If-Modified-Since: soon" "$PUBLIC_URL/ocsp/$urlsafe")" 200
expect_eq "POST ignores validators: 200" "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' \
	-H 'Content-Type: application/ocsp-request' -H "If-None-Match: $etag" \
	--data-binary @good.req "$PUBLIC_URL/ocsp")" 200

# ---- unknown, unauthorized
check "openssl ocsp -serial of a serial never issued" openssl ocsp -url "$url" \
	-CAfile "$CA_DIR/roots.pem" -timeout 5 -no_nonce -issuer "$CA_DIR/chain.pem" \
	-serial 0x1234567890abcdef
expect_match "  unknown" "$(cat "$CHECK_OUT")" "0x1234567890abcdef: unknown"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj "/CN=Other CA" -keyout other-ca.key -out other-ca.pem 2>/dev/null
openssl ocsp -issuer other-ca.pem -serial 0x1234 -no_nonce -reqout other.req >/dev/null 2>&1
expect_eq "another CA's issuer: HTTP 200" "$(post_der other.req)" 200
expect_eq "  unsigned unauthorized" "$(resp_status post.out)" 06

# ---- malformed input; after each, a good request is answered at once
head -c 40 good.req >trunc.req
post_der trunc.req >/dev/null
expect_eq "truncated DER: malformedRequest" "$(resp_status post.out)" 01
still_answers "truncated DER"
head -c 1048576 /dev/urandom >big.req
code=$(post_der big.req)
expect_match "a 1 MiB POST is refused (413 or malformedRequest)" "$code" '^(413|200)$'
still_answers "a 1 MiB POST"
code=$(curl -sS --max-time 5 -o junk.out -w '%{http_code}' "$PUBLIC_URL/ocsp/@@not-base64@@")
expect_eq "garbage base64 in GET: HTTP 200" "$code" 200
expect_eq "  malformedRequest" "$(resp_status junk.out)" 01
expect_match "  Cache-Control: no-store" "$(curl -sS -D - -o /dev/null "$PUBLIC_URL/ocsp/@@" | tr -d '\r')" "Cache-Control: no-store"
still_answers "garbage base64"
expect_eq "wrong Content-Type: 415" "$(post_der good.req text/plain)" 415
still_answers "a wrong Content-Type"
python3 - "$HTTP_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.close()
PY
still_answers "a client that connects and closes"
python3 - "$HTTP_PORT" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: 100\r\n\r\n0123")
time.sleep(8)
s.close()
PY
stall_pid=$!
sleep 0.5
still_answers "a client that sends half a request and stalls"
wait "$stall_pid" 2>/dev/null || true

# ---- 1,000 requests: served from the cache, nothing signed
post_der good.req >/dev/null
before=$(signs)
for i in $(seq 1 1000); do
	printf 'url = "%s"\noutput = "/dev/null"\n' "$PUBLIC_URL/ocsp/$urlsafe"
done >many.cfg
ok=$(curl -sS --max-time 120 -K many.cfg -w '%{http_code}\n' | grep -c '^200$' || true)
expect_eq "1,000 GET requests answered" "$ok" 1000
for i in $(seq 1 20); do post_der good.req >/dev/null; done
after=$(signs)
expect_eq "  signet_hsm_sign_total did not move" "$after" "$before"
check "/metrics counts OCSP responses by status" curl -fsS "$PUBLIC_URL/metrics"
expect_match "  good" "$(cat "$CHECK_OUT")" 'signet_ocsp_responses_total\{status="good"\} [0-9]'

# ---- revocation through the CLI: visible within a bound
check "signet revoke a (keyCompromise)" "$SIGNET" revoke "$sa" --reason keyCompromise
# wait_ocsp CERT WANT [URL]: poll with openssl ocsp -no_nonce (the
# pre-signed response) for up to 15 s.
wait_ocsp() {
	local deadline=$((SECONDS + 15))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if ask "$1" "${3:-}" -no_nonce 2>&1 | grep -q "$2"; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}
check "a is revoked over OCSP within 15 s" wait_ocsp a.pem "a.pem: revoked"
check "openssl ocsp shows the reason" ask a.pem "" -no_nonce
expect_match "  Key Compromise" "$(cat "$CHECK_OUT")" "Reason: keyCompromise"
expect_match "  and the time" "$(cat "$CHECK_OUT")" "Revocation Time: "
check "  with a nonce too (fresh)" ask a.pem
expect_match "  revoked" "$(cat "$CHECK_OUT")" "a.pem: revoked"
if command -v ocsptool >/dev/null; then
	check "ocsptool: a is revoked" ocsptool --ask --load-issuer "$CA_DIR/chain.pem" \
		--load-cert a.pem --load-trust chain-roots.pem
	expect_match "  revoked" "$(cat "$CHECK_OUT")" "Certificate Status: revoked"
fi
check "GET (the cached response) says revoked too" curl -fsS --max-time 5 -o get4.der "$PUBLIC_URL/ocsp/$urlsafe"
check "  revoked" bash -c "openssl ocsp -respin get4.der -resp_text -noverify | grep -q 'Cert Status: revoked'"

# ---- several CertIDs: one fresh response
openssl ocsp -issuer "$CA_DIR/chain.pem" -cert b.pem -cert c.pem -no_nonce -reqout two.req >/dev/null 2>&1
post_der two.req >/dev/null
check "two CertIDs in one request: both answered" bash -c \
	"openssl ocsp -respin post.out -resp_text -noverify | grep -c 'Cert Status: good' | grep -qx 2"

# ---- a second signetd on the same database, the CA key signing its
# responses (ocsp_signer = ca)
https2=$(free_port)
http2=$(free_port)
sed -e "s|^https_listen = .*|https_listen = 127.0.0.1:$https2|" \
	-e "s|^http_listen = .*|http_listen = 127.0.0.1:$http2|" \
	-e "s|^ca_url = .*|ca_url = https://127.0.0.1:$https2|" "$CA_CONF" >"$CA_DIR/signet2.conf"
echo "crl_publish_dir = crl2" >>"$CA_DIR/signet2.conf"
echo "ocsp_signer = ca" >>"$CA_DIR/signet2.conf"
start_bg signetd2 "$SIGNETD" -c "$CA_DIR/signet2.conf"
check "a second signetd answers /readyz" wait_http "http://127.0.0.1:$http2/readyz" 30
expect_eq "  it uses the same OCSP signer" "$(psql_val "select count(*) from ocsp_signers")" 1
check "  it says b is good" wait_ocsp b.pem "b.pem: good" "http://127.0.0.1:$http2/ocsp"
check "revoke b (superseded) through the CLI" "$SIGNET" revoke "$sb" --reason superseded
check "  the first signetd says revoked" wait_ocsp b.pem "b.pem: revoked"
check "  the second signetd agrees" wait_ocsp b.pem "b.pem: revoked" "http://127.0.0.1:$http2/ocsp"
check "  with the reason, signed by the CA" ask b.pem "http://127.0.0.1:$http2/ocsp" -no_nonce
expect_match "  superseded" "$(cat "$CHECK_OUT")" "Reason: superseded"
expect_match "  verified" "$(cat "$CHECK_OUT")" "Response verify OK"
if command -v ocsptool >/dev/null; then
	check "ocsptool: b is revoked (CA-signed)" ocsptool \
		--ask="http://127.0.0.1:$http2/ocsp" --load-issuer "$CA_DIR/chain.pem" \
		--load-cert b.pem --load-signer "$CA_DIR/chain.pem"
	expect_match "  revoked" "$(cat "$CHECK_OUT")" "Certificate Status: revoked"
	expect_match "  verified" "$(cat "$CHECK_OUT")" "Verifying OCSP Response: Success"
fi
stop_bg signetd2

# ---- nginx OCSP stapling
if command -v nginx >/dev/null; then
	enroll srv localhost.svc.corp --chain-out srv-chain.pem
	port=$(free_port)
	mkdir -p nginx/logs
	cat srv.pem srv-chain.pem >nginx/srv-full.pem
	cat "$CA_DIR/chain.pem" "$CA_DIR/roots.pem" >nginx/trusted.pem
	nginx_tls_start "$port" "$PWD/nginx/srv-full.pem" "$PWD/srv.key" "
    ssl_stapling on;
    ssl_stapling_verify on;
    ssl_trusted_certificate $PWD/nginx/trusted.pem;
    location / { return 200 \"hello\n\"; }"
	stapled() {
		local i
		for i in $(seq 1 20); do
			# nginx fetches lazily: each handshake may trigger the fetch.
			curl -sk --max-time 5 -o /dev/null "https://127.0.0.1:$port/" || true
			if echo | openssl s_client -connect "127.0.0.1:$port" -status \
				-servername localhost.svc.corp 2>/dev/null >stapled.txt &&
				grep -q "OCSP Response Status: successful" stapled.txt &&
				grep -q "Cert Status: good" stapled.txt; then
				return 0
			fi
			sleep 0.5
		done
		cat stapled.txt
		return 1
	}
	check "nginx staples a good response from signet" stapled
	stop_bg nginx
else
	skip "nginx OCSP stapling" "nginx is not installed"
fi

# ---- the database down: cached answers still served, the rest tryLater
enroll d d.svc.corp
openssl ocsp -issuer "$CA_DIR/chain.pem" -cert d.pem -no_nonce -reqout d.req >/dev/null 2>&1
pg_kill
expect_eq "database down: a cached response is still served" "$(post_der good.req)" 200
expect_eq "  successful" "$(resp_status post.out)" 00
expect_eq "  an uncached certificate: HTTP 200" "$(post_der d.req)" 200
expect_eq "  tryLater" "$(resp_status post.out)" 03
expect_match "  not cacheable" "$(tr -d '\r' <post.hdr)" "Cache-Control: no-store"
pg_start_again
check "database back: d is good" wait_ocsp d.pem "d.pem: good"

# ---- rotation: a config asking for shorter-lived signers makes signetd
# replace the signer at start, and again when a third of its life is left.
stop_bg signetd
echo "ocsp_cert_lifetime = 30s" >>"$CA_CONF"
ca_start
# (A 30-second signer is back-dated 60 s like every certificate, so a
# third of its life is left within seconds: it may be replaced again
# before this looks.)
check "signetd made a new OCSP signer at start" test \
	"$(psql_val "select count(*) from ocsp_signers")" -ge 2
check "  responses verify with it" ask c.pem "" -no_nonce
expect_match "  good" "$(cat "$CHECK_OUT")" "c.pem: good"
expect_match "  verified" "$(cat "$CHECK_OUT")" "Response verify OK"
wait_signers() {
	local deadline=$((SECONDS + 45))
	while [ "$SECONDS" -lt "$deadline" ]; do
		[ "$(psql_val "select count(*) from ocsp_signers")" -ge 3 ] && return 0
		sleep 1
	done
	return 1
}
check "  and rotated it before it expired (within 45 s)" wait_signers
check "  responses still verify" wait_ocsp c.pem "c.pem: good"
expect_match "  signed by a newer signer" "$(psql_val "select key_label from ocsp_signers order by id desc limit 1")" "^signet-ocsp-([3-9]|[1-9][0-9])$"
stop_bg signetd
