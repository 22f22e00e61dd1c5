#!/usr/bin/env bash
# Never lose a certificate: signetd is SIGKILLed under issuance load and
# restarted; every certificate a client received is in the database, and
# stale intents are reconciled at start-up.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

ca_init
ca_start
ca_provisioner load --allow-dns '*.load.test'
new_csr w "/CN=w.load.test" "DNS:w.load.test"

n=300
mkdir -p bodies got
check "$n tokens minted" "$SIGNET" token --provisioner load --key "$PWD/load.jwk" \
	--san w.load.test --count "$n"
python3 - "$CHECK_OUT" <<'PY'
import json, sys
csr = open("w.csr").read()
for i, tok in enumerate(open(sys.argv[1]).read().split(), 1):
    open("bodies/%d.json" % i, "w").write(json.dumps({"csr": csr, "token": tok}))
PY

# One enrollment: keep the certificate only if the CA answered 201.
cat >one.sh <<'SH'
#!/usr/bin/env bash
i=$1
code=$(curl -sS --max-time 10 --cacert "$CA_DIR/roots.pem" -o "got/$i.resp" \
	-w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary "@bodies/$i.json" "$CA_URL/v1/sign" 2>/dev/null) || true
if [ "$code" = 201 ]; then
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write(d["certificate"])' \
		"got/$i.resp" "got/$i.pem"
fi
rm -f "got/$i.resp"
SH
chmod +x one.sh
export CA_DIR CA_URL
seq 1 "$n" | xargs -P 8 -n 1 ./one.sh &
load=$!
# Kill it in the middle of the load.
for _ in $(seq 1 100); do
	[ "$(ls got/*.pem 2>/dev/null | wc -l)" -ge 40 ] && break
	sleep 0.1
done
kill_bg signetd
wait "$load" || true
received=$(ls got/*.pem 2>/dev/null | wc -l)
expect_match "clients received certificates before the kill" "$received" '^[1-9][0-9]*$'
check_fails "not every request succeeded (the kill hit mid-load)" test "$received" -eq "$n"

missing=0
for f in got/*.pem; do
	fp=$(openssl x509 -in "$f" -outform DER | sha256sum | cut -d' ' -f1)
	row=$(psql_val "select status from certificates where fingerprint_sha256 = decode('$fp', 'hex')")
	[ "$row" = good ] || missing=$((missing + 1))
done
expect_eq "every received certificate is in the database as good ($received)" "$missing" 0

# Whatever was in flight at the kill is a pending intent with no DER.
pending=$(psql_val "select count(*) from certificates where status = 'pending'")
echo "  pending intents after the kill: $pending"
expect_eq "no pending intent holds a DER" \
	"$(psql_val "select count(*) from certificates where status = 'pending' and der is not null")" 0
# Age them (and a synthetic one, so there is at least one) past reconcile_after.
iss=$(psql_val "select id from issuers where kind = 'intermediate'")
psql_val "insert into certificates (serial, issuer_id, subject, profile, requester,
	not_before, not_after, tbs_sha256, spki_sha256)
	values ('abcdef0123456789', $iss, 'CN=lost', 'server', 'test', now(),
	now() + interval '1 day', '\\x00', '\\x00')" >/dev/null
psql_val "update certificates set created_at = now() - interval '1 hour' where status = 'pending'" >/dev/null
ca_start signetd2
expect_eq "stale intents were reconciled at start-up" \
	"$(psql_val "select count(*) from certificates where status = 'pending'")" 0
expect_eq "  and marked abandoned" \
	"$(psql_val "select count(*) from certificates where status = 'abandoned'")" "$((pending + 1))"
expect_eq "  with an audit entry each" \
	"$(psql_val "select count(*) from audit_log where action = 'certificate.abandon'")" "$((pending + 1))"
expect_eq "every good row has its DER" \
	"$(psql_val "select count(*) from certificates where status = 'good' and der is null")" 0

tok=$(ca_token load w.load.test)
sign_json w.csr "$tok" >after.json
expect_eq "the restarted signetd issues" "$(post_sign after.json)" 201

# A second signetd on the same database: a token used on one is refused
# on the other, and a token sent to both at once is honoured once.
https2=$(free_port)
http2=$(free_port)
sed -e "s|^https_listen = .*|https_listen = 127.0.0.1:$https2|" \
	-e "s|^http_listen = .*|http_listen = 127.0.0.1:$http2|" "$CA_CONF" >"$CA_DIR/second.conf"
start_bg signetd3 "$SIGNETD" -c "$CA_DIR/second.conf"
check "a second signetd answers /readyz" wait_http "http://127.0.0.1:$http2/readyz" 30
post_to() { # PORT BODY
	curl -sS --cacert "$CA_DIR/roots.pem" -o /dev/null -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary "@$2" \
		"https://127.0.0.1:$1/v1/sign"
}
tok=$(ca_token load w.load.test)
sign_json w.csr "$tok" >once.json
expect_eq "a token used on the first signetd" "$(post_to "$HTTPS_PORT" once.json)" 201
expect_eq "  is refused on the second" "$(post_to "$https2" once.json)" 401
ok=0
for i in $(seq 1 10); do
	tok=$(ca_token load w.load.test)
	sign_json w.csr "$tok" >race.json
	post_to "$HTTPS_PORT" race.json >a.code &
	pa=$!
	post_to "$https2" race.json >b.code &
	pb=$!
	wait "$pa" "$pb" || true
	if [ "$(sort a.code b.code | tr '\n' ' ')" = "201 401 " ]; then ok=$((ok + 1)); fi
done
expect_eq "a token sent to both at once is honoured exactly once (10 races)" "$ok" 10
stop_bg signetd3
stop_bg signetd2
