#!/usr/bin/env bash
# Expiry: `signet expiring` (what expires without a successor, exit 1 for
# monitoring), the LEFT column of `signet list`, /metrics (every family
# with HELP and TYPE, promtool, the issued counter, the expiring gauge
# without renewed certificates) and the expiry webhook (once per
# certificate and threshold with two signetd on one database, none for a
# renewed certificate or one issued inside the window, delivered once the
# receiver comes up).
#
# Renewal lineage is set with SQL (certificates.predecessor), as
# POST /v1/renew would; "issued hours ago" is set with SQL too
# (certificates.issued_at), rather than waiting hours.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

ca_init
HOOK_PORT=$(free_port)
# The receiver is not up yet: the first notifications fail.
cat >>"$CA_CONF" <<CONF
notify_webhook_url = http://127.0.0.1:$HOOK_PORT/hook
notify_thresholds = 2h, 30m
notify_interval = 1s
notify_timeout = 2s
CONF
ca_start
ca_provisioner ci --allow-dns '*.svc.corp' --profiles server,client --max-lifetime 30d
ca_provisioner ops --allow-dns '*.ops.corp' --profiles server --max-lifetime 30d

# enroll NAME PROVISIONER LIFETIME SAN: NAME.pem; its serial in $SERIAL.
enroll() {
	local tok
	TOKEN_FLAGS=(--lifetime "$3")
	tok=$(ca_token "$2" "$4")
	TOKEN_FLAGS=()
	check "enroll $1 ($2, $3)" "$SIGNET" enroll --ca-url "$CA_URL" \
		--root "$CA_DIR/roots.pem" --token "$tok" --cert-out "$1.pem" \
		--key-out "$1.key"
	SERIAL=$(serial_of "$1.pem")
}

# issue NAME LIFETIME: an administrator's certificate.
issue() {
	new_csr "$1" "/CN=$1.svc.corp" "DNS:$1.svc.corp"
	check "signet issue $1 ($2)" "$SIGNET" issue --csr "$1.csr" \
		--profile server --lifetime "$2" --cert-out "$1.pem"
	SERIAL=$(serial_of "$1.pem")
}

# run_rc CMD...: stdout in ./out, stderr in ./err, exit status echoed.
run_rc() {
	local rc=0
	"$@" >out 2>err || rc=$?
	echo "$rc"
}

# json_serials FILE: the sorted serials of a JSON array of certificates.
json_serials() {
	python3 -c 'import json,sys; print(" ".join(sorted(c["serial"] for c in json.load(open(sys.argv[1])))))' "$1"
}
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }

# ---- certificates of every kind
enroll short1 ci 1h short1.svc.corp
short1=$SERIAL
enroll short2 ops 90m short2.ops.corp
short2=$SERIAL
enroll long ci 10d long.svc.corp
long=$SERIAL
issue adm 1h
adm=$SERIAL
# Expired an hour ago (the CA is minutes old: its certificates cannot
# start earlier, so the row is moved back in time).
issue old 1h
old=$SERIAL
psql_val "UPDATE certificates SET not_before = now() - interval '3 hours',
	not_after = now() - interval '1 hour', issued_at = now() - interval '3 hours'
	WHERE serial = '$old'" >/dev/null
enroll gone ci 1h gone.svc.corp
gone=$SERIAL
check "revoke one" "$SIGNET" revoke "$gone" --reason superseded

# ---- signet expiring
expect_eq "signet expiring --within 2h exits 1 (expiring, no successor)" \
	"$(run_rc "$SIGNET" expiring --within 2h)" 1
table=$(cat out)
expect_match "  a table with a header" "$table" 'SERIAL +NOT AFTER +LEFT +PROVISIONER +SUCCESSOR +SUBJECT +NAMES'
expect_match "  the 1h certificate, its time left and no successor" "$table" \
	"$short1 +[0-9T:Z-]+ +([0-9]+m[0-9]{2}s|1h00m) +ci +- "
expect_match "  an administrator's certificate (provisioner -)" "$table" "$adm +[^ ]+ +[^ ]+ +- +- "
expect_eq "signet expiring --within 2h --json exits 1 too" \
	"$(run_rc "$SIGNET" expiring --within 2h --json)" 1
cp out exp.json
expect_eq "  exactly the short, unrevoked, unexpired ones" "$(json_serials exp.json)" \
	"$(sorted "$short1" "$short2" "$adm")"
check "  sorted by notAfter, with seconds_left and successor null" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
na = [c["not_after"] for c in v]
assert na == sorted(na), na
for c in v:
    assert 0 < c["seconds_left"] <= 5400, c
    assert c["successor"] is None, c
    assert c["sans"] and all(s.startswith("DNS:") for s in c["sans"]), c
' exp.json
expect_eq "--provisioner ci" "$(run_rc "$SIGNET" expiring --within 2h --provisioner ci --json)" 1
expect_eq "  only ci's" "$(json_serials out)" "$short1"
expect_eq "--within 11d also finds the 10d certificate" \
	"$(run_rc "$SIGNET" expiring --within 11d --json)" 1
expect_eq "  and still not the expired or revoked" "$(json_serials out)" \
	"$(sorted "$short1" "$short2" "$adm" "$long")"
expect_eq "--within 1m finds nothing: exit 0" "$(run_rc "$SIGNET" expiring --within 1m)" 0
for bad in 7x -1d 99999d 0 ""; do
	expect_eq "--within '$bad' is a usage error (exit 2)" \
		"$(run_rc "$SIGNET" expiring --within "$bad")" 2
	expect_eq "  one line on stderr" "$(wc -l <err)" 1
	expect_eq "  nothing on stdout" "$(wc -c <out)" 0
done
expect_eq "no --within is a usage error (exit 2)" "$(run_rc "$SIGNET" expiring)" 2
expect_eq "  one line on stderr" "$(wc -l <err)" 1
expect_eq "an unknown option is a usage error (exit 2)" \
	"$(run_rc "$SIGNET" expiring --within 1d --bogus)" 2
expect_eq "  one line on stderr" "$(wc -l <err)" 1

# ---- signet list: expiry columns
check "signet list" "$SIGNET" list
listing=$(cat "$CHECK_OUT")
expect_match "  has NOT AFTER and LEFT columns" "$listing" 'SERIAL +STATUS +NOT AFTER +LEFT +PROFILE'
expect_match "  time left of the 10d certificate" "$listing" "$long +good +[0-9T:Z-]+ +(9d23h|10d00h) "
expect_match "  the expired one says expired" "$listing" "$old +expired +[0-9T:Z-]+ +expired "
expect_match "  the revoked one has no time left" "$listing" "$gone +revoked +[0-9T:Z-]+ +- "

# ---- /metrics
metric() { # NAME{LABELS} from FILE: the value, or "absent"
	awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print "absent" }' "$2"
}
check "GET /metrics" curl -fsS -o m1.txt "$PUBLIC_URL/metrics"
for f in signet_certificates_issued_total:counter \
	signet_certificates_renewed_total:counter \
	signet_http_request_duration_seconds:histogram \
	signet_hsm_sign_duration_seconds:histogram \
	signet_hsm_sign_total:counter \
	signet_ocsp_responses_total:counter \
	signet_crl_age_seconds:gauge \
	signet_db_pool_connections:gauge \
	signet_certificates_expiring:gauge \
	signet_expiry_notifications_total:counter \
	signet_expiry_scans_total:counter; do
	name=${f%%:*}
	type=${f##*:}
	check "  $name has HELP" grep -q "^# HELP $name [^ ]" m1.txt
	check "  $name has TYPE $type" grep -qx "# TYPE $name $type" m1.txt
done
if command -v promtool >/dev/null 2>&1; then
	check "promtool check metrics accepts the exposition" promtool check metrics <m1.txt
else
	skip "promtool check metrics" "promtool not installed (Debian package prometheus)"
fi
expect_eq "signet_certificates_expiring{within=\"1d\"}: the three without successor" \
	"$(metric 'signet_certificates_expiring{within="1d"}' m1.txt)" 3
expect_eq "  as many as signet expiring --within 1d lists" \
	"$(run_rc "$SIGNET" expiring --within 1d --json)|$(json_serials out | wc -w)" "1|3"
key='signet_certificates_issued_total{provisioner="ci",profile="server",outcome="issued"}'
before=$(metric "$key" m1.txt)
enroll succ1 ci 10d short1.svc.corp
succ1=$SERIAL
check "GET /metrics after one issuance" curl -fsS -o m2.txt "$PUBLIC_URL/metrics"
expect_eq "  the issued counter of ci moved by exactly one" \
	"$(metric "$key" m2.txt)" "$((before + 1))"

# ---- a successor (as POST /v1/renew records it)
psql_val "UPDATE certificates SET predecessor = '$short1' WHERE serial = '$succ1'" >/dev/null
check "GET /metrics after the renewal" curl -fsS -o m3.txt "$PUBLIC_URL/metrics"
expect_eq "  the expiring gauge no longer counts the renewed one" \
	"$(metric 'signet_certificates_expiring{within="1d"}' m3.txt)" 2
expect_eq "signet expiring --within 2h: the renewed one is gone" \
	"$(run_rc "$SIGNET" expiring --within 2h --json)|$(json_serials out)" \
	"1|$(sorted "$short2" "$adm")"
expect_eq "--provisioner ci: nothing left without a successor, exit 0" \
	"$(run_rc "$SIGNET" expiring --within 2h --provisioner ci)" 0
expect_eq "--all shows it, with its successor, still exit 0" \
	"$(run_rc "$SIGNET" expiring --within 2h --provisioner ci --all)" 0
expect_match "  successor column" "$(cat out)" "$short1 +[^ ]+ +[^ ]+ +ci +$succ1 "
expect_eq "  and in --json" "$(run_rc "$SIGNET" expiring --within 2h --provisioner ci --all --json)|$(
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["successor"])' out)" "0|$succ1"
# A revoked certificate replaces nothing.
psql_val "UPDATE certificates SET predecessor = '$short2' WHERE serial = '$gone'" >/dev/null
expect_eq "a revoked successor does not count" \
	"$(run_rc "$SIGNET" expiring --within 2h --provisioner ops --json)|$(json_serials out)" "1|$short2"

# ---- the webhook, with a second signetd on the same database
https2=$(free_port)
http2=$(free_port)
sed -e "s|^https_listen = .*|https_listen = 127.0.0.1:$https2|" \
	-e "s|^http_listen = .*|http_listen = 127.0.0.1:$http2|" "$CA_CONF" >"$CA_DIR/signet2.conf"
echo "crl_publish_dir = crl2" >>"$CA_DIR/signet2.conf"
start_bg signetd2 "$SIGNETD" -c "$CA_DIR/signet2.conf"
check "a second signetd answers /readyz" wait_http "http://127.0.0.1:$http2/readyz" 30

# backdate SERIAL: "issued 5 hours ago", so that it entered the windows
# since (a certificate issued inside a window is not notified for it).
backdate() {
	psql_val "UPDATE certificates SET issued_at = now() - interval '5 hours' WHERE serial = '$1'" >/dev/null
}
enroll dueA ci 1h duea.svc.corp          # inside 2h
dueA=$SERIAL
enroll dueB ci 20m dueb.svc.corp         # inside 2h and 30m
dueB=$SERIAL
enroll dueS ci 1h dues.svc.corp          # inside 2h, but renewed
dueS=$SERIAL
enroll succS ci 10d dues.svc.corp
succS=$SERIAL
psql_val "BEGIN; UPDATE certificates SET predecessor = '$dueS' WHERE serial = '$succS';
	UPDATE certificates SET issued_at = now() - interval '5 hours' WHERE serial = '$dueS'; COMMIT" >/dev/null
backdate "$dueA"
backdate "$dueB"

# wait_for DESC SECONDS CMD...: poll until CMD succeeds (bounded).
wait_for() {
	local desc=$1 t=$2 deadline
	shift 2
	deadline=$((SECONDS + t))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			fail "$desc" "not within ${t}s"
			return 0
		fi
		sleep 0.2
	done
	pass "$desc"
}
both_failed() {
	grep -q 'expiry notification failed' signetd.log &&
		grep -q 'expiry notification failed' signetd2.log
}
wait_for "with the receiver down, both signetd try and fail" 60 both_failed
expect_eq "  and a failed notification leaves no record" \
	"$(psql_val 'select count(*) from expiry_notifications')" 0

cat >receiver.py <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(sys.argv[2], "ab") as f:
            f.write(self.path.encode() + b" " + self.headers.get("Content-Type", "-").encode()
                    + b" " + body.replace(b"\n", b" ") + b"\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
: >hook.log
start_bg receiver python3 receiver.py "$HOOK_PORT" "$PWD/hook.log"

got() { grep -c . hook.log; }
three_arrived() {
	grep -q "\"serial\":\"$dueA\"" hook.log && [ "$(grep -c "\"serial\":\"$dueB\"" hook.log)" -ge 2 ]
}
wait_for "once the receiver is up the notifications arrive" 60 three_arrived

# Several more scans by each signetd (their scan counters), then count.
scans() { curl -fsS "$1/metrics" | awk '$1 == "signet_expiry_scans_total" { print $2 }'; }
s1=$(scans "$PUBLIC_URL")
s2=$(scans "http://127.0.0.1:$http2")
more_scans() {
	[ "$(scans "$PUBLIC_URL")" -ge $((s1 + 3)) ] &&
		[ "$(scans "http://127.0.0.1:$http2")" -ge $((s2 + 3)) ]
}
wait_for "both signetd scan three more times" 60 more_scans
expect_eq "exactly three notifications in all" "$(got)" 3
python3 - hook.log >pairs.txt <<'PY'
import json, sys
for line in open(sys.argv[1]):
    path, ctype, body = line.rstrip("\n").split(" ", 2)
    ev = json.loads(body)
    print(ev["serial"], ev["threshold"], path, ctype)
PY
expect_eq "  one per certificate and threshold" "$(sort pairs.txt | tr '\n' ';')" \
	"$(printf '%s\n' "$dueA 2h /hook application/json" "$dueB 2h /hook application/json" \
		"$dueB 30m /hook application/json" | sort | tr '\n' ';')"
expect_eq "  recorded once each in expiry_notifications" \
	"$(psql_val "select string_agg(serial || ' ' || threshold, ';' order by serial, threshold) from expiry_notifications")" \
	"$(printf '%s\n' "$dueA 2h" "$dueB 2h" "$dueB 30m" | sort | tr '\n' ';' | sed 's/;$//')"
check_fails "  the renewed certificate was not notified" grep -q "$dueS" hook.log
check_fails "  nor one issued inside the window (90m, 2h threshold)" grep -q "$short2" hook.log
check "  the event carries what the docs promise" python3 - hook.log "$dueA" <<'PY'
import json, sys, re
ev = None
for line in open(sys.argv[1]):
    e = json.loads(line.rstrip("\n").split(" ", 2)[2])
    if e["serial"] == sys.argv[2]:
        ev = e
assert ev is not None
assert list(ev) == ["event", "threshold", "serial", "subject", "sans",
                    "provisioner", "not_after", "seconds_left"], list(ev)
assert ev["event"] == "certificate.expiring", ev
assert ev["threshold"] == "2h", ev
assert ev["sans"] == ["DNS:duea.svc.corp"], ev
assert ev["provisioner"] == "ci", ev
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ev["not_after"]), ev
assert isinstance(ev["seconds_left"], int) and 0 < ev["seconds_left"] <= 3600, ev
assert "duea.svc.corp" in ev["subject"], ev
PY
expect_eq "  its not_after is the certificate's" \
	"$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l.rstrip("\n").split(" ", 2)[2])
    if e["serial"] == sys.argv[2]: print(e["not_after"])' hook.log "$dueA")" \
	"$(date -u -d "$(openssl x509 -in dueA.pem -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)"
sent_total() {
	cat m_a.txt m_b.txt | awk '$1 ~ /^signet_expiry_notifications_total\{.*outcome="sent"/ { s += $2 } END { print s + 0 }'
}
curl -fsS -o m_a.txt "$PUBLIC_URL/metrics"
curl -fsS -o m_b.txt "http://127.0.0.1:$http2/metrics"
expect_eq "  the two signetd count three sent between them" "$(sent_total)" 3
if command -v promtool >/dev/null 2>&1; then
	check "promtool still accepts /metrics with notification series" promtool check metrics <m_a.txt
fi

stop_bg receiver
stop_bg signetd2
stop_bg signetd
