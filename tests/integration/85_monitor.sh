#!/usr/bin/env bash
# signet monitor against real peers on loopback: openssl s_server serving
# a valid, an expired and a revoked signet certificate and one from a
# foreign CA, SMTP STARTTLS and PostgreSQL SSLRequest peers, a port where
# nothing listens and listeners that accept and never answer.  Each is
# reported as it should be in --json (revocation both from the database
# and over OCSP), the table and the exit status; --prometheus passes
# promtool; stalled targets cost their --timeout, concurrently; bad
# arguments are one line on stderr and exit 2.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"
# shellcheck source=SCRIPTDIR/../../scripts/lib/deps.sh
. "$SIGNET_SRC/scripts/lib/deps.sh"

PEER=$SIGNET_SRC/tests/integration/monitor_peer.py

# promtool comes with Debian's prometheus package; install it like the
# scripts install everything else (apt-get, only when missing).
if ! command -v promtool >/dev/null; then
	SIGNET_DEPS=(prometheus)
	signet_install_deps || true
fi

# jget FILE TARGET KEY: one field of one target's object in a --json
# report (booleans as true/false, null as null).
jget() {
	python3 - "$@" <<'PY'
import json, sys
rows = {o["target"]: o for o in json.load(open(sys.argv[1]))}
v = rows[sys.argv[2]][sys.argv[3]]
print("null" if v is None else str(v).lower() if isinstance(v, bool) else v)
PY
}

# wait_tcp PORT: until something accepts on 127.0.0.1:PORT (20 s at most).
wait_tcp() {
	local deadline=$((SECONDS + 20))
	until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

# serve NAME CERT KEY CHAIN [S_SERVER_ARGS...]: openssl s_server on a
# fresh port; sets PORT.
serve() {
	local name=$1 cert=$2 key=$3 chain=$4
	shift 4
	PORT=$(free_port)
	start_bg "$name" openssl s_server -accept "127.0.0.1:$PORT" -www -cert "$cert" \
		-key "$key" -cert_chain "$chain" "$@"
	check "s_server $name is up" wait_tcp "$PORT"
}

ca_init
ca_start
ca_provisioner web --allow-dns localhost --allow-dns '*.mon.test' \
	--profiles server,client,both --max-lifetime 30d
ROOTS=$CA_DIR/roots.pem
CHAIN=$CA_DIR/chain.pem

# ---- the certificates
# Expired: signet issues nothing already expired, so back-date it to end
# 15 s from now, and make the rest meanwhile; wait for its end below.
now=$(date -u +%s)
new_csr exp "/CN=localhost" "DNS:localhost"
check "signet issue: a certificate that ends in 15 s" "$SIGNET" issue --csr exp.csr \
	--profile server --not-before "$(date -u -d "@$((now - 3600))" +%Y-%m-%dT%H:%M:%SZ)" \
	--lifetime 3615s --cert-out exp.pem

TOKEN_FLAGS=(--profile server --lifetime 20d)
tok=$(ca_token web localhost)
TOKEN_FLAGS=()
check "signet enroll: a valid server certificate (20 days)" "$SIGNET" enroll \
	--ca-url "$CA_URL" --root "$ROOTS" --token "$tok" --cert-out valid.pem \
	--key-out valid.key --chain-out valid-chain.pem

new_csr rev "/CN=localhost" "DNS:localhost"
check "signet issue: a certificate to revoke" "$SIGNET" issue --csr rev.csr \
	--profile server --lifetime 20d --cert-out rev.pem
rev_serial=$(openssl x509 -in rev.pem -noout -serial | cut -d= -f2)
check "signet revoke it (keyCompromise)" "$SIGNET" revoke "$rev_serial" --reason keyCompromise

# A foreign CA and a server certificate from it, made with openssl.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=Foreign CA" -keyout foreign-ca.key -out foreign-ca.pem 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=localhost" -keyout foreign.key -out foreign.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >foreign.ext
openssl x509 -req -in foreign.csr -CA foreign-ca.pem -CAkey foreign-ca.key \
	-CAcreateserial -days 30 -extfile foreign.ext -out foreign.pem 2>/dev/null

# ---- the peers
serve valid valid.pem valid.key valid-chain.pem
P_VALID=$PORT
serve expired exp.pem exp.key "$CHAIN"
P_EXP=$PORT
serve revoked rev.pem rev.key "$CHAIN"
P_REV=$PORT
serve foreign foreign.pem foreign.key foreign-ca.pem
P_FOREIGN=$PORT
# TLS 1.2, a client certificate required: the server aborts the
# handshake, but only after its own chain went out.
serve mtls valid.pem valid.key valid-chain.pem -tls1_2 -Verify 1 -CAfile "$ROOTS"
P_MTLS=$PORT
P_DEAD=$(free_port)
cat valid.pem valid-chain.pem >valid-full.pem
P_SMTP=$(free_port)
start_bg smtp python3 "$PEER" smtp "$P_SMTP" valid-full.pem valid.key
P_PG=$(free_port)
start_bg pg python3 "$PEER" postgres "$P_PG" valid-full.pem valid.key
P_SILENT=$(free_port)
start_bg silent python3 "$PEER" silent "$P_SILENT"
for p in "$P_SMTP" "$P_PG" "$P_SILENT"; do
	check "test peer on $p is up" wait_tcp "$p"
done

T_VALID=localhost:$P_VALID
T_EXP=127.0.0.1:$P_EXP,localhost
T_REV=127.0.0.1:$P_REV,localhost
T_FOREIGN=127.0.0.1:$P_FOREIGN,localhost
T_DEAD=127.0.0.1:$P_DEAD
T_SMTP=smtp://localhost:$P_SMTP
T_PG=postgres://127.0.0.1:$P_PG,localhost
T_WRONG=127.0.0.1:$P_VALID,other.mon.test
T_MTLS=127.0.0.1:$P_MTLS,localhost
# Five targets on the stalled listener: probed one after another they
# would need 5 x 15 s, beyond the 60 s bound around the run.
T_SILENT=("127.0.0.1:$P_SILENT" "127.0.0.1:$P_SILENT,a.mon.test" \
	"127.0.0.1:$P_SILENT,b.mon.test" "127.0.0.1:$P_SILENT,c.mon.test" \
	"127.0.0.1:$P_SILENT,d.mon.test")

check "the expired certificate's end passed" bash -c \
	'for i in $(seq 1 120); do openssl x509 -in exp.pem -noout -checkend 0 >/dev/null || exit 0; sleep 0.5; done; exit 1'
check "the revocation reached the OCSP responder" bash -c "for i in \$(seq 1 60); do
	openssl ocsp -issuer '$CHAIN' -cert rev.pem -CAfile '$ROOTS' -no_nonce \
	  -url '$PUBLIC_URL/ocsp' 2>/dev/null | grep -q 'rev.pem: revoked' && exit 0; sleep 0.5; done; exit 1"

# ---- one valid target: the table, exit 0
check "one valid target: exit 0" "$SIGNET" monitor "$T_VALID"
out=$(cat "$CHECK_OUT")
expect_match "  the table has its header" "$out" "^TARGET +STATUS +DAYS +NOT AFTER +VERIFY +REVOCATION +SUBJECT +ISSUER +NOTE"
expect_match "  and the target's row: ok, verified, good in the database" "$out" \
	$'\n'"localhost:$P_VALID +ok +(19|20)\.[0-9] +[0-9T:Z-]+ +yes +good \(database\) +CN=localhost "
check_fails "--within 25d: the 20-day certificate is expiring (exit 1)" "$SIGNET" monitor \
	--within 25d "$T_VALID"
expect_match "  expiring" "$(cat "$CHECK_OUT")" "localhost:$P_VALID +expiring "

# ---- everything at once, revocation from the database
rc=0
timeout 60 "$SIGNET" monitor --json --timeout 15s "$T_VALID" "$T_EXP" "$T_REV" \
	"$T_FOREIGN" "$T_DEAD" "$T_SMTP" "$T_PG" "$T_WRONG" "$T_MTLS" "${T_SILENT[@]}" \
	>all.json 2>all.err || rc=$?
expect_eq "all targets, stalled ones among them: done within 60 s, exit 1" "$rc" 1
check "  the report is JSON, one object per target" python3 -c \
	'import json,sys; d=json.load(open("all.json")); sys.exit(len(d) != 14)'
expect_eq "  nothing on stderr" "$(cat all.err)" ""
expect_eq "  valid: ok" "$(jget all.json "$T_VALID" status)" ok
expect_eq "  valid: verified" "$(jget all.json "$T_VALID" verified)" true
expect_eq "  valid: signet's own" "$(jget all.json "$T_VALID" signet)" true
expect_eq "  valid: good" "$(jget all.json "$T_VALID" revocation)" good
expect_eq "  valid: from the database" "$(jget all.json "$T_VALID" revocation_source)" database
expect_eq "  valid: subject" "$(jget all.json "$T_VALID" subject)" CN=localhost
expect_match "  valid: issuer is signet's intermediate" "$(jget all.json "$T_VALID" issuer)" .
expect_eq "  valid: notAfter as in the certificate" "$(jget all.json "$T_VALID" not_after)" \
	"$(date -u -d "$(openssl x509 -in valid.pem -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)"
expect_match "  valid: days left" "$(jget all.json "$T_VALID" days_left)" '^(19\.[0-9]+|20(\.0+)?)$'
expect_eq "  valid: chain of leaf and intermediate" "$(jget all.json "$T_VALID" chain_length)" 2
expect_eq "  expired: expired" "$(jget all.json "$T_EXP" status)" expired
expect_match "  expired: negative days left" "$(jget all.json "$T_EXP" days_left)" '^-0\.[0-9]+$'
expect_match "  expired: negative seconds left" "$(jget all.json "$T_EXP" seconds_left)" '^-[0-9]+$'
expect_match "  expired: verification says so" "$(jget all.json "$T_EXP" verify_error)" "expired"
expect_eq "  revoked: revoked" "$(jget all.json "$T_REV" status)" revoked
expect_eq "  revoked: revocation revoked" "$(jget all.json "$T_REV" revocation)" revoked
expect_eq "  revoked: from the database" "$(jget all.json "$T_REV" revocation_source)" database
expect_eq "  revoked: reason keyCompromise" "$(jget all.json "$T_REV" revocation_reason)" keyCompromise
expect_match "  revoked: when" "$(jget all.json "$T_REV" revoked_at)" '^20[0-9-]+T[0-9:]+Z$'
expect_eq "  revoked: chain still verifies (revocation is not in it)" "$(jget all.json "$T_REV" verified)" true
expect_eq "  foreign: unverified" "$(jget all.json "$T_FOREIGN" status)" unverified
expect_eq "  foreign: not signet's" "$(jget all.json "$T_FOREIGN" signet)" false
expect_eq "  foreign: revocation not checked" "$(jget all.json "$T_FOREIGN" revocation)" not_checked
expect_eq "  foreign: issuer" "$(jget all.json "$T_FOREIGN" issuer)" "CN=Foreign CA"
expect_eq "  nothing listening: unreachable" "$(jget all.json "$T_DEAD" status)" unreachable
expect_match "  nothing listening: refused" "$(jget all.json "$T_DEAD" error)" "Connection refused"
expect_eq "  nothing listening: no subject" "$(jget all.json "$T_DEAD" subject)" null
expect_eq "  SMTP STARTTLS: ok" "$(jget all.json "$T_SMTP" status)" ok
expect_eq "  SMTP STARTTLS: signet's, good" "$(jget all.json "$T_SMTP" revocation)" good
expect_eq "  PostgreSQL SSLRequest: ok" "$(jget all.json "$T_PG" status)" ok
expect_eq "  PostgreSQL SSLRequest: protocol" "$(jget all.json "$T_PG" protocol)" postgres
expect_eq "  SNI the certificate does not name: unverified" "$(jget all.json "$T_WRONG" status)" unverified
expect_match "  ... and why" "$(jget all.json "$T_WRONG" verify_error)" "does not name other.mon.test"
expect_eq "  TLS 1.2 server requiring a client certificate: ok" "$(jget all.json "$T_MTLS" status)" ok
expect_eq "  ... its chain was read" "$(jget all.json "$T_MTLS" chain_length)/$(jget all.json "$T_MTLS" tls_version)" 2/TLSv1.2
expect_match "  ... and the aborted handshake is noted" "$(jget all.json "$T_MTLS" handshake_error)" "TLS handshake"
expect_eq "  a complete handshake notes nothing" "$(jget all.json "$T_VALID" handshake_error)" null
for t in "${T_SILENT[@]}"; do
	expect_eq "  stalled $t: unreachable" "$(jget all.json "$t" status)" unreachable
	expect_match "  stalled $t: timed out" "$(jget all.json "$t" error)" "timed out during the TLS handshake"
done

# ---- revocation over OCSP: the same config, database not used
rc=0
timeout 60 "$SIGNET" monitor --json --no-db "$T_VALID" "$T_REV" "$T_FOREIGN" "$T_SMTP" \
	>ocsp.json 2>ocsp.err || rc=$?
expect_eq "--no-db: exit 1 (one revoked)" "$rc" 1
expect_eq "  valid: good" "$(jget ocsp.json "$T_VALID" revocation)" good
expect_eq "  valid: over OCSP" "$(jget ocsp.json "$T_VALID" revocation_source)" ocsp
expect_eq "  valid: ok" "$(jget ocsp.json "$T_VALID" status)" ok
expect_eq "  revoked: revoked" "$(jget ocsp.json "$T_REV" status)" revoked
expect_eq "  revoked: over OCSP" "$(jget ocsp.json "$T_REV" revocation_source)" ocsp
expect_eq "  revoked: reason keyCompromise" "$(jget ocsp.json "$T_REV" revocation_reason)" keyCompromise
expect_eq "  foreign: not checked" "$(jget ocsp.json "$T_FOREIGN" revocation)" not_checked
expect_eq "  SMTP: good over OCSP" "$(jget ocsp.json "$T_SMTP" revocation)" good

# No config at all: roots and issuers from files; OCSP.
rc=0
env -u SIGNET_CONFIG timeout 60 "$SIGNET" monitor --json --roots "$ROOTS" --issuers "$CHAIN" \
	"$T_VALID" "$T_REV" >noconf.json 2>noconf.err || rc=$?
expect_eq "no config, --roots and --issuers: exit 1" "$rc" 1
expect_eq "  valid: ok over OCSP" "$(jget noconf.json "$T_VALID" status)/$(jget noconf.json "$T_VALID" revocation_source)" ok/ocsp
expect_eq "  revoked: revoked over OCSP" "$(jget noconf.json "$T_REV" status)/$(jget noconf.json "$T_REV" revocation_source)" revoked/ocsp
# Without a config or --roots the system store is the trust: signet's
# private root is not in it.
rc=0
env -u SIGNET_CONFIG timeout 60 "$SIGNET" monitor --json "$T_VALID" >sys.json 2>&1 || rc=$?
expect_eq "no config, no --roots: the system store does not know signet's root" \
	"$(jget sys.json "$T_VALID" status)/$(jget sys.json "$T_VALID" signet)/$rc" unverified/false/1

# A config whose database is unreachable: one line says so, OCSP answers.
sed -e 's|^db = .*|db = host=/nonexistent/signet-monitor dbname=none connect_timeout=2|' \
	"$CA_CONF" >"$CA_DIR/nodb.conf"
rc=0
timeout 60 "$SIGNET" -c "$CA_DIR/nodb.conf" monitor --json "$T_VALID" \
	>nodb.json 2>nodb.err || rc=$?
expect_eq "database unreachable: still exit 0" "$rc" 0
expect_eq "  revocation over OCSP instead" "$(jget nodb.json "$T_VALID" revocation_source)" ocsp
expect_match "  one line on stderr says why" "$(cat nodb.err)" "^signet monitor: the database is not usable .*asking OCSP instead$"

# --targets-file: comments, blank lines, the same target twice (kept once).
printf '# watched\n\n  %s  \n%s\n%s\n' "$T_VALID" "$T_REV" "$T_VALID" >targets.txt
rc=0
"$SIGNET" monitor --json --targets-file targets.txt >file.json 2>&1 || rc=$?
check "--targets-file: two targets read" python3 -c \
	'import json,sys; d=json.load(open("file.json")); sys.exit([o["status"] for o in d] != ["ok", "revoked"])'
expect_eq "  exit 1" "$rc" 1

# ---- Prometheus text
rc=0
"$SIGNET" monitor --prometheus --timeout 5s "$T_VALID" "$T_EXP" "$T_REV" "$T_FOREIGN" \
	"$T_DEAD" "$T_SMTP" >metrics.txt 2>metrics.err || rc=$?
expect_eq "--prometheus: exit 1" "$rc" 1
if command -v promtool >/dev/null; then
	check "  promtool check metrics accepts it" promtool check metrics <metrics.txt
else
	fail "  promtool check metrics accepts it" "promtool missing and could not be installed"
fi
m=$(cat metrics.txt)
expect_match "  up 1 for the valid target" "$m" $'\n'"signet_monitor_up\{target=\"$T_VALID\"\} 1"$'\n'
expect_match "  up 0 where nothing listens" "$m" $'\n'"signet_monitor_up\{target=\"$T_DEAD\"\} 0"$'\n'
expect_match "  ok 1 for the valid target" "$m" $'\n'"signet_monitor_ok\{target=\"$T_VALID\"\} 1"$'\n'
expect_match "  ok 0 for the expired one" "$m" $'\n'"signet_monitor_ok\{target=\"$T_EXP\"\} 0"$'\n'
expect_match "  notAfter of the valid certificate" "$m" \
	$'\n'"signet_monitor_cert_not_after_seconds\{target=\"$T_VALID\"\} $(date -u -d "$(openssl x509 -in valid.pem -noout -enddate | cut -d= -f2)" +%s)"$'\n'
expect_match "  remaining seconds negative once expired" "$m" \
	$'\n'"signet_monitor_cert_remaining_seconds\{target=\"$T_EXP\"\} -[0-9]+"$'\n'
expect_match "  revoked 1" "$m" $'\n'"signet_monitor_cert_revoked\{target=\"$T_REV\"\} 1"$'\n'
expect_match "  status label" "$m" \
	$'\n'"signet_monitor_status\{target=\"$T_FOREIGN\",status=\"unverified\"\} 1"$'\n'

# ---- bad arguments: one line on stderr, exit 2
usage_err() {
	local desc=$1 rc=0
	shift
	"$SIGNET" monitor "$@" >usage.out 2>usage.err || rc=$?
	expect_eq "$desc: exit 2" "$rc" 2
	expect_eq "  one line on stderr" "$(wc -l <usage.err)" 1
}
usage_err "unknown option" --bogus "$T_VALID"
usage_err "a target without a port" localhost
usage_err "port 0" localhost:0
usage_err "port 65536" localhost:65536
usage_err "IPv6 without brackets" ::1:443
usage_err "no targets"
usage_err "--json with --prometheus" --json --prometheus "$T_VALID"
usage_err "--timeout 0s" --timeout 0s "$T_VALID"
usage_err "--concurrency 0" --concurrency 0 "$T_VALID"
usage_err "an unknown scheme" "imap://localhost:143"
usage_err "a host name with a space" "bad host:443"
usage_err "a missing --targets-file" --targets-file "$PWD/none.txt"

for n in silent pg smtp mtls foreign revoked expired valid; do stop_bg "$n"; done
stop_bg signetd
