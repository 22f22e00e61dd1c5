#!/usr/bin/env bash
# signetd renews its own HTTPS certificate before it expires: a successor
# (same names, new key, predecessor recorded) is written to tls_cert and
# tls_key and served to new connections, while a keep-alive connection
# opened before goes on being answered on the same socket.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

# served_serial: the serial of the certificate a new connection gets.
served_serial() {
	openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -servername localhost \
		</dev/null 2>/dev/null | serial_of
}

# A client holding one HTTPS connection, asking /healthz every 0.2 s
# until ./stop appears (at most 300 s), then reporting how it went.
cat >keepalive.py <<'PY'
import http.client, os, ssl, sys, time
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
ok = errors = 0
first_sock = None
peer = None
deadline = time.time() + 300
while time.time() < deadline and not os.path.exists("stop"):
    try:
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        r.read()
        if first_sock is None:
            first_sock = conn.sock
            peer = conn.sock.getpeercert(binary_form=True)
        if r.status == 200 and conn.sock is first_sock:
            ok += 1
        else:
            errors += 1
    except Exception as e:
        errors += 1
        print("error:", e, file=sys.stderr)
        conn.close()
    open("keepalive.progress", "w").write(str(ok))
    time.sleep(0.2)
same = conn.sock is not None and conn.sock is first_sock and \
    conn.sock.getpeercert(binary_form=True) == peer
open("keepalive.result", "w").write("ok=%d errors=%d same_socket=%s\n" % (ok, errors, same))
open("keepalive.peer.der", "wb").write(peer or b"")
PY

# The listener's certificate lives 60 s (back-dated 60 s, as every leaf):
# signetd renews it two thirds into those 120 s, about 20 s after init.
ca_init --server-lifetime 60s
ca_start
first=$(serial_of <"$CA_DIR/server.pem")
expect_eq "a new connection gets the certificate init made" "$(served_serial)" "$first"

start_bg keepalive python3 keepalive.py "$HTTPS_PORT" "$CA_DIR/roots.pem"
for _ in $(seq 1 100); do
	[ -s keepalive.progress ] && [ "$(cat keepalive.progress)" -gt 0 ] && break
	sleep 0.1
done
check "the keep-alive client is being answered" test "$(cat keepalive.progress)" -gt 0

for _ in $(seq 1 150); do
	now=$(served_serial)
	[ -n "$now" ] && [ "$now" != "$first" ] && break
	sleep 1
done
check "signetd serves a renewed certificate to new connections" \
	test -n "$now" -a "$now" != "$first"
expect_eq "tls_cert holds the certificate served" "$(serial_of <"$CA_DIR/server.pem")" "$now"
expect_eq "tls_key is still mode 600" "$(stat -c %a "$CA_DIR/server.key")" "600"
check "tls_key belongs to tls_cert" test \
	"$(openssl x509 -in "$CA_DIR/server.pem" -noout -pubkey | openssl sha256)" = \
	"$(openssl pkey -in "$CA_DIR/server.key" -pubout | openssl sha256)"
check "the renewed certificate verifies for localhost" openssl verify \
	-CAfile "$CA_DIR/roots.pem" -untrusted "$CA_DIR/chain.pem" \
	-verify_hostname localhost -purpose sslserver "$CA_DIR/server.pem"
psql_val "SELECT encode(der, 'base64') FROM certificates WHERE serial = '$first'" |
	base64 -d >first.der
expect_eq "it keeps the names" \
	"$(openssl x509 -in "$CA_DIR/server.pem" -noout -ext subjectAltName | tail -n +2)" \
	"$(openssl x509 -inform DER -in first.der -noout -ext subjectAltName | tail -n +2)"
check "the database records the predecessor" test \
	"$(psql_val "SELECT count(*) FROM certificates WHERE serial = '$now' AND predecessor IS NOT NULL")" = 1
check "the successor chain starts at init's certificate" test \
	"$(psql_val "WITH RECURSIVE up(serial, predecessor) AS (SELECT serial, predecessor FROM certificates WHERE serial = '$now' UNION ALL SELECT c.serial, c.predecessor FROM certificates c JOIN up ON c.serial = up.predecessor) SELECT count(*) FROM up WHERE serial = '$first'")" = 1
check "curl over a new connection verifies the renewed certificate" curl -fsS \
	--cacert "$CA_DIR/roots.pem" -o /dev/null "$CA_URL/healthz"

sleep 1
touch stop
for _ in $(seq 1 100); do
	[ -s keepalive.result ] && break
	sleep 0.1
done
result=$(cat keepalive.result 2>/dev/null)
expect_match "the keep-alive connection never failed" "$result" "errors=0 "
expect_match "  and stayed one socket throughout" "$result" "same_socket=True"
expect_eq "  which still shows the old certificate (never reconnected)" \
	"$(openssl x509 -inform DER -in keepalive.peer.der | serial_of)" "$first"
stop_bg keepalive

stop_bg signetd
ca_start signetd-restarted
expect_eq "after a restart signetd serves the renewed files" "$(served_serial)" \
	"$(serial_of <"$CA_DIR/server.pem")"
stop_bg signetd-restarted
