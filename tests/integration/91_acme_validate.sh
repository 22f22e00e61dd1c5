#!/usr/bin/env bash
# ACME challenge validators (ca/acme_validate) against real peers on
# loopback, through tests/acme_validate_probe: pebble-challtestsrv serves
# DNS (the acme_resolver), http-01 and tls-alpn-01; a small python3 HTTP
# server serves what challtestsrv cannot (a body over 8 KiB, trailing
# whitespace, 404, redirects followed and refused); openssl s_server serves tls-alpn-01
# certificates for an ip identifier (RFC 8738), a non-critical
# acmeIdentifier, two SANs, and a server without acme-tls/1.  Each
# outcome is checked by its ACME error type; bad acme_hosts and
# acme_resolver settings are config errors naming the entry.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/../../scripts/lib/deps.sh
. "$SIGNET_SRC/scripts/lib/deps.sh"

PROBE=$SIGNET_BUILD_DIR/tests/acme_validate_probe
CTS=/usr/bin/pebble-challtestsrv

if [ ! -x "$CTS" ]; then
	SIGNET_DEPS=(pebble)
	signet_install_deps || true
fi
if [ ! -x "$CTS" ] || [ ! -x "$PROBE" ]; then
	skip "ACME challenge validation" "needs $CTS (package pebble) and $PROBE (make check)"
	exit 0
fi

# wait_tcp PORT: until something accepts on 127.0.0.1:PORT (20 s at most).
wait_tcp() {
	local deadline=$((SECONDS + 20))
	until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

# mgmt ENDPOINT JSON: a challtestsrv management call.
mgmt() {
	curl -sf --max-time 5 -X POST -d "$2" "http://127.0.0.1:$MGMT_PORT/$1" >/dev/null
}

# probe CONF TYPE IDENT_TYPE IDENT TOKEN KEY_AUTHZ: sets OUT to the
# probe's one line; anything on stderr or an exit other than 0 or 1 (a
# sanitizer report, a crash, threads that disagree) replaces it, so that
# no expectation matches.
probe() {
	local rc=0
	OUT=$("$PROBE" "$@" 2>probe.err) || rc=$?
	if [ "$rc" -gt 1 ] || [ -s probe.err ]; then
		OUT="probe failed (exit $rc): $(head -c 2000 probe.err)"
	fi
}

# dns01_value KEY_AUTHZ: base64url(SHA-256(key authorization)), RFC 8555 8.4.
dns01_value() {
	printf '%s' "$1" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '='
}

DNS_PORT=$(free_port)
HTTP01_PORT=$(free_port)
ALPN_PORT=$(free_port)
MGMT_PORT=$(free_port)
DEAD_PORT=$(free_port)   # nothing ever listens here
PY_PORT=$(free_port)

start_bg challtestsrv "$CTS" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
	-dns01 "127.0.0.1:$DNS_PORT" -http01 "127.0.0.1:$HTTP01_PORT" -https01 "" \
	-tlsalpn01 "127.0.0.1:$ALPN_PORT" -management "127.0.0.1:$MGMT_PORT"
check "pebble-challtestsrv is up" wait_http "http://127.0.0.1:$MGMT_PORT/" 20
check "its http-01 server is up" wait_tcp "$HTTP01_PORT"
check "its tls-alpn-01 server is up" wait_tcp "$ALPN_PORT"

# base_conf [TIMEOUT]: the settings config_load requires, and
# acme_validation_timeout (5s); the ACME ones follow per file.
base_conf() {
	cat <<EOF
db = host=/nonexistent dbname=signet
token = signet-online
public_url = http://127.0.0.1:1
ca_url = https://127.0.0.1:2
tls_cert = server.pem
tls_key = server.key
roots_file = roots.pem
chain_file = chain.pem
acme_validation_timeout = ${1:-5s}
EOF
}
{
	base_conf
	echo "acme_resolver = 127.0.0.1@$DNS_PORT"
	echo "acme_http01_port = $HTTP01_PORT"
	echo "acme_tlsalpn01_port = $ALPN_PORT"
	# mapped.test is 127.0.0.9 in the DNS (nothing there): the map wins.
	echo "acme_hosts = mapped.test=127.0.0.1, other.test=::1"
} >cts.conf

THUMB=NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs
tok() { printf '%-43s' "$1" | tr ' ' 'x'; }
T1=$(tok goodtoken)
KA1=$T1.$THUMB

# ---- http-01 through challtestsrv
check "add-http01" mgmt add-http01 "{\"token\":\"$T1\",\"content\":\"$KA1\"}"
probe cts.conf http-01 dns example.test "$T1" "$KA1"
expect_eq "http-01: the name resolved through acme_resolver, the right body: valid" "$OUT" "valid"
probe cts.conf http-01 ip 127.0.0.1 "$T1" "$KA1"
expect_eq "http-01: an ip identifier (RFC 8738): valid" "$OUT" "valid"
T2=$(tok wrongbody)
check "add-http01 with another thumbprint" mgmt add-http01 \
	"{\"token\":\"$T2\",\"content\":\"$T2.someoneelsesthumbprintxxxxxxxxxxxxxxxxxxxx\"}"
probe cts.conf http-01 dns example.test "$T2" "$T2.$THUMB"
expect_match "http-01: another key authorization: incorrectResponse naming the URL" "$OUT" \
	"^invalid incorrectResponse: http-01: GET http://example\.test:$HTTP01_PORT/\.well-known/acme-challenge/$T2 \(127\.0\.0\.1\): the body is not the key authorization"
check "add-a: elsewhere.test and mapped.test are 127.0.0.9" mgmt add-a \
	'{"host":"elsewhere.test","addresses":["127.0.0.9"]}'
check "add-a mapped.test" mgmt add-a '{"host":"mapped.test","addresses":["127.0.0.9"]}'
probe cts.conf http-01 dns elsewhere.test "$T1" "$KA1"
expect_match "http-01: the address comes from the resolver (127.0.0.9: nothing there): connection" \
	"$OUT" "^invalid connection: .*127\.0\.0\.9"
probe cts.conf http-01 dns mapped.test "$T1" "$KA1"
expect_eq "http-01: acme_hosts is looked up before DNS: valid" "$OUT" "valid"
probe cts.conf http-01 dns nosuchname.invalid "$T1" "$KA1"
expect_match "http-01: a name without an address: dns" "$OUT" "^invalid dns: .*nosuchname\.invalid"
SIGNET_PROBE_THREADS=8 probe cts.conf http-01 dns example.test "$T1" "$KA1"
expect_eq "http-01: 8 threads on one validator agree: valid" "$OUT" "valid"

# ---- refused before any lookup
probe cts.conf http-01 dns Example.test "$T1" "$KA1"
expect_match "an uppercase letter: rejectedIdentifier" "$OUT" '^invalid rejectedIdentifier: identifier "Example\.test"'
probe cts.conf http-01 dns 'ex_ample.test' "$T1" "$KA1"
expect_match "an underscore: rejectedIdentifier" "$OUT" "^invalid rejectedIdentifier:"
probe cts.conf dns-01 dns 'a..b.test' "$T1" "$KA1"
expect_match "an empty label: rejectedIdentifier" "$OUT" "^invalid rejectedIdentifier:"
probe cts.conf http-01 dns "$(printf 'abcdefghi.%.0s' $(seq 1 25))abcd" "$T1" "$KA1"
expect_match "254 bytes: rejectedIdentifier" "$OUT" "^invalid rejectedIdentifier:"
probe cts.conf http-01 ip 127.0.0.300 "$T1" "$KA1"
expect_match "an ip identifier that is no address: rejectedIdentifier" "$OUT" "^invalid rejectedIdentifier:"
probe cts.conf http-01 dns example.test "$T1" "$T1.bad/thumb"
expect_match "a key authorization that is not token.thumbprint: serverInternal" "$OUT" "^invalid serverInternal:"
probe cts.conf smtp-01 dns example.test "$T1" "$KA1"
expect_match "an unknown challenge type: serverInternal" "$OUT" "^invalid serverInternal:"

# ---- http-01 answers challtestsrv does not give
cat >httpd.py <<'PY'
# http-01 peer: the token's first letters choose the answer.
import http.server, sys
port, thumb = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        tok = self.path.rsplit("/", 1)[-1]
        if tok.startswith("big"):
            self.answer(200, b"a" * 9000)
        elif tok.startswith("chunkedbig"):
            self.answer(200, b"a" * 9000, length=False)
        elif tok.startswith("ws"):
            self.answer(200, (tok + "." + thumb + " \r\n\t\n").encode())
        elif self.path.startswith("/final/"):
            self.answer(200, (tok + "." + thumb).encode())
        elif tok.startswith("redirsame"):
            self.redirect("/final/" + tok)
        elif tok.startswith("redirhost"):
            self.redirect("http://other.example.test:%d/final/%s" % (port, tok))
        elif tok.startswith("redirloop"):
            self.redirect(self.path)
        elif tok.startswith("redirport"):
            self.redirect("http://example.test:1/final/" + tok)
        elif tok.startswith("redirip"):
            self.redirect("http://127.0.0.1:%d/final/%s" % (port, tok))
        elif tok.startswith("redirftp"):
            self.redirect("ftp://example.test/final/" + tok)
        else:
            self.answer(404, b"not found\n")
    def redirect(self, where):
        self.send_response(302)
        self.send_header("Location", where)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def answer(self, code, body, length=True):
        self.send_response(code)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
start_bg httpd python3 httpd.py "$PY_PORT" "$THUMB"
check "the python3 http-01 peer is up" wait_tcp "$PY_PORT"
{
	base_conf
	echo "acme_resolver = 127.0.0.1@$DNS_PORT"
	echo "acme_http01_port = $PY_PORT"
} >py.conf
T=$(tok wsbody)
probe py.conf http-01 dns example.test "$T" "$T.$THUMB"
expect_eq "http-01: whitespace after the key authorization is ignored (RFC 8555 8.3): valid" "$OUT" "valid"
T=$(tok bigbody)
probe py.conf http-01 dns example.test "$T" "$T.$THUMB"
expect_match "http-01: a body of 9000 bytes (Content-Length): incorrectResponse" "$OUT" \
	"^invalid incorrectResponse: .*longer than 8192 bytes"
T=$(tok chunkedbigbody)
probe py.conf http-01 dns example.test "$T" "$T.$THUMB"
expect_match "http-01: a body of 9000 bytes (no Content-Length): incorrectResponse" "$OUT" \
	"^invalid incorrectResponse: .*longer than 8192 bytes"
T=$(tok notfound)
probe py.conf http-01 dns example.test "$T" "$T.$THUMB"
expect_match "http-01: 404: unauthorized naming the status" "$OUT" "^invalid unauthorized: .*HTTP 404, want 200"
T=$(tok redirsame)
probe py.conf http-01 dns example.test "$T" "$T.$THUMB"
expect_eq "http-01: a relative redirect on the same host is followed (RFC 8555 8.3): valid" "$OUT" valid
T=$(tok redirhost)
probe py.conf http-01 dns example.test "$T" "$T.$THUMB"
expect_eq "http-01: a redirect to another name (resolved by signet) is followed: valid" "$OUT" valid
T=$(tok redirloop)
probe py.conf http-01 dns example.test "$T" "$T.$THUMB"
expect_match "http-01: a redirect loop stops after 10: unauthorized" "$OUT" \
	"^invalid unauthorized: .*more than 10 redirects"
T=$(tok redirport)
probe py.conf http-01 dns example.test "$T" "$T.$THUMB"
expect_match "http-01: a redirect to another port is not followed: unauthorized naming it" "$OUT" \
	"^invalid unauthorized: .*redirects to \"http://example\.test:1/final/.*ports 80, 443"
T=$(tok redirip)
probe py.conf http-01 dns example.test "$T" "$T.$THUMB"
expect_match "http-01: a redirect to an IP address is not followed: unauthorized" "$OUT" \
	"^invalid unauthorized: .*redirects to IP addresses are not followed"
T=$(tok redirftp)
probe py.conf http-01 dns example.test "$T" "$T.$THUMB"
expect_match "http-01: a redirect to ftp is not followed: unauthorized" "$OUT" \
	"^invalid unauthorized: .*redirects to \"ftp://"
{
	base_conf
	echo "acme_resolver = 127.0.0.1@$DNS_PORT"
	echo "acme_http01_port = $DEAD_PORT"
	echo "acme_tlsalpn01_port = $DEAD_PORT"
} >dead.conf
probe dead.conf http-01 dns example.test "$T1" "$KA1"
expect_match "http-01: nothing listening: connection" "$OUT" \
	"^invalid connection: http-01: GET http://example\.test:$DEAD_PORT/.*cannot connect to 127\.0\.0\.1"
probe dead.conf tls-alpn-01 dns example.test "$T1" "$KA1"
expect_match "tls-alpn-01: nothing listening: connection" "$OUT" "^invalid connection: tls-alpn-01: "

# ---- dns-01 through challtestsrv (acme_hosts does not apply)
check "set-txt _acme-challenge.example.test" mgmt set-txt \
	"{\"host\":\"_acme-challenge.example.test.\",\"value\":\"$(dns01_value "$KA1")\"}"
probe cts.conf dns-01 dns example.test "$T1" "$KA1"
expect_eq "dns-01: the TXT record is base64url(SHA-256(key authorization)): valid" "$OUT" "valid"
probe cts.conf dns-01 dns example.test "$T2" "$T2.$THUMB"
expect_match "dns-01: another value: incorrectResponse naming the record" "$OUT" \
	"^invalid incorrectResponse: dns-01: none of the 1 TXT record\(s\) at _acme-challenge\.example\.test"
probe cts.conf dns-01 dns mapped.test "$T1" "$KA1"
expect_match "dns-01: no TXT record (acme_hosts does not count): unauthorized" "$OUT" \
	"^invalid unauthorized: dns-01: no TXT record at _acme-challenge\.mapped\.test"
check "clear-txt" mgmt clear-txt '{"host":"_acme-challenge.example.test."}'
probe cts.conf dns-01 dns example.test "$T1" "$KA1"
expect_match "dns-01: the record removed, a new lookup sees it gone: unauthorized" "$OUT" \
	"^invalid unauthorized: dns-01: no TXT record"
probe cts.conf dns-01 ip 127.0.0.1 "$T1" "$KA1"
expect_match "dns-01 for an ip identifier (RFC 8738 7): rejectedIdentifier" "$OUT" "^invalid rejectedIdentifier:"
{
	base_conf 2s
	echo "acme_resolver = 127.0.0.1@$DEAD_PORT"
	echo "acme_http01_port = $HTTP01_PORT"
} >deaddns.conf
probe deaddns.conf dns-01 dns example.test "$T1" "$KA1"
expect_match "dns-01: a resolver that never answers: dns" "$OUT" "^invalid dns: "

# ---- tls-alpn-01 through challtestsrv
check "add-tlsalpn01 example.test" mgmt add-tlsalpn01 "{\"host\":\"example.test\",\"content\":\"$KA1\"}"
probe cts.conf tls-alpn-01 dns example.test "$T1" "$KA1"
expect_eq "tls-alpn-01: the challenge certificate: valid" "$OUT" "valid"
SIGNET_PROBE_THREADS=8 probe cts.conf tls-alpn-01 dns example.test "$T1" "$KA1"
expect_eq "tls-alpn-01: 8 threads on one validator agree: valid" "$OUT" "valid"
probe cts.conf tls-alpn-01 dns example.test "$T2" "$T2.$THUMB"
expect_match "tls-alpn-01: another key authorization: incorrectResponse" "$OUT" \
	"^invalid incorrectResponse: tls-alpn-01: 127\.0\.0\.1:$ALPN_PORT \(SNI example\.test\): the acmeIdentifier is not SHA-256"
check "add-tlsalpn01 mapped.test" mgmt add-tlsalpn01 "{\"host\":\"mapped.test\",\"content\":\"$KA1\"}"
probe cts.conf tls-alpn-01 dns mapped.test "$T1" "$KA1"
expect_eq "tls-alpn-01: acme_hosts is looked up before DNS: valid" "$OUT" "valid"
probe cts.conf tls-alpn-01 dns nochallenge.test "$T1" "$KA1"
expect_match "tls-alpn-01: a name the server has no certificate for: tls" "$OUT" "^invalid tls: .*SNI nochallenge\.test"

# ---- tls-alpn-01 certificates of our own, with openssl s_server
# alpn_cert NAME SAN CRITICAL KEY_AUTHZ: a self-signed challenge
# certificate; OpenSSL encodes the acmeIdentifier OCTET STRING.
alpn_cert() {
	local digest
	digest=$(printf '%s' "$4" | openssl dgst -sha256 -binary | od -An -tx1 | tr -d ' \n')
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj "/CN=acme" -keyout "$1.key" -out "$1.pem" \
		-addext "subjectAltName=$2" \
		-addext "1.3.6.1.5.5.7.1.31=$3ASN1:FORMAT:HEX,OCTETSTRING:$digest" 2>/dev/null
}
# serve NAME [S_SERVER_ARGS...]: s_server on a fresh port with NAME.pem;
# sets PORT and writes NAME.conf pointing tls-alpn-01 there.
serve() {
	local name=$1
	shift
	PORT=$(free_port)
	start_bg "$name" openssl s_server -accept "127.0.0.1:$PORT" -cert "$name.pem" \
		-key "$name.key" -www "$@"
	check "s_server $name is up" wait_tcp "$PORT"
	{
		base_conf
		echo "acme_resolver = 127.0.0.1@$DNS_PORT"
		echo "acme_tlsalpn01_port = $PORT"
	} >"$name.conf"
}
check "certificate: iPAddress 127.0.0.1, critical acmeIdentifier" alpn_cert ipok "IP:127.0.0.1" "critical," "$KA1"
serve ipok -alpn acme-tls/1
probe ipok.conf tls-alpn-01 ip 127.0.0.1 "$T1" "$KA1"
expect_eq "tls-alpn-01: an ip identifier, SNI 1.0.0.127.in-addr.arpa, iPAddress SAN (RFC 8738 6): valid" "$OUT" "valid"
probe ipok.conf tls-alpn-01 dns example.test "$T1" "$KA1"
expect_match "tls-alpn-01: an iPAddress SAN for a dns identifier: incorrectResponse" "$OUT" \
	"^invalid incorrectResponse: .*not the dNSName example\.test"
check "certificate: a non-critical acmeIdentifier" alpn_cert noncrit "DNS:example.test" "" "$KA1"
serve noncrit -alpn acme-tls/1
probe noncrit.conf tls-alpn-01 dns example.test "$T1" "$KA1"
expect_match "tls-alpn-01: a non-critical acmeIdentifier: incorrectResponse" "$OUT" \
	"^invalid incorrectResponse: .*not critical"
check "certificate: two SANs" alpn_cert twosans "DNS:example.test,DNS:www.example.test" "critical," "$KA1"
serve twosans -alpn acme-tls/1
probe twosans.conf tls-alpn-01 dns example.test "$T1" "$KA1"
expect_match "tls-alpn-01: two SANs: incorrectResponse" "$OUT" "^invalid incorrectResponse: .*2 subjectAltNames"
check "certificate: right, but served without ALPN" alpn_cert noalpn "DNS:example.test" "critical," "$KA1"
serve noalpn
probe noalpn.conf tls-alpn-01 dns example.test "$T1" "$KA1"
expect_match "tls-alpn-01: a server that does not offer acme-tls/1: tls" "$OUT" \
	"^invalid tls: .*did not select the ALPN protocol acme-tls/1"

# ---- config errors
# conf_error LINE REGEX [TIMEOUT]: a config with LINE is refused (exit 2)
# with a message matching REGEX.
conf_error() {
	{
		base_conf "${3:-5s}"
		echo "$1"
	} >bad.conf
	OUT=$("$PROBE" bad.conf http-01 dns example.test "$T1" "$KA1" 2>&1) && return 1
	[ $? -eq 2 ] && [[ $OUT =~ $2 ]]
}
check "acme_hosts: an entry without = is a config error naming it" conf_error \
	"acme_hosts = a.test=127.0.0.1, nonsense" 'acme_hosts: "nonsense" is not name=address'
check "acme_hosts: a bad address is a config error naming the entry" conf_error \
	"acme_hosts = a.test=999.1.1.1" 'acme_hosts: a\.test="999\.1\.1\.1"'
check "acme_hosts: an uppercase name is a config error" conf_error \
	"acme_hosts = A.test=127.0.0.1" 'acme_hosts: "A\.test" is not a DNS name'
check "acme_hosts: a name listed twice is a config error" conf_error \
	"acme_hosts = a.test=127.0.0.1,a.test=::1" 'acme_hosts: a\.test is listed twice'
check "acme_hosts: 65 entries is a config error" conf_error \
	"acme_hosts = $(seq -s, -f 'h%g.test=127.0.0.1' 1 65)" 'more than 64'
check "acme_resolver: a name is a config error" conf_error \
	"acme_resolver = dns.example.test" 'acme_resolver: "dns\.example\.test" is not IP or IP@PORT'
check "acme_resolver: port 0 is a config error" conf_error \
	"acme_resolver = 127.0.0.1@0" 'acme_resolver:'
check "acme_validation_timeout: 61s is a config error" conf_error \
	"acme_validation_attempts = 1" 'acme_validation_timeout' 61s
check "acme_validation_attempts: 11 is a config error" conf_error \
	"acme_validation_attempts = 11" 'acme_validation_attempts: 11 is outside 1\.\.10'

for n in ipok noncrit twosans noalpn httpd challtestsrv; do
	stop_bg "$n"
done
