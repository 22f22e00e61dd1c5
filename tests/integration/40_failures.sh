#!/usr/bin/env bash
# Start-up and run-time failures: a wrong PIN, a broken config, a missing
# file, and the database going away mid-run (503, nothing issued), then
# coming back (issuing again without a restart).
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

ca_init

# ---- start-up errors: one line, naming the setting, non-zero exit
SIGNET_PIN=9999 check_fails "signetd with a wrong PIN refuses to start" "$SIGNETD" -c "$CA_CONF"
expect_match "  it says the PIN is wrong" "$(cat "$CHECK_OUT")" "PIN"
expect_eq "  in one line" "$(wc -l <"$CHECK_OUT")" 1
check_fails "  and does not print the PIN" grep -q 9999 "$CHECK_OUT"
sed 's/^threads = .*/threads = lots/' "$CA_CONF" >"$CA_DIR/bad1.conf"
check_fails "a non-numeric setting stops start-up" "$SIGNETD" -c "$CA_DIR/bad1.conf"
expect_match "  naming the setting and the line" "$(cat "$CHECK_OUT")" "bad1.conf:[0-9]+: threads"
sed "s|^tls_key = .*|tls_key = $PWD/nonexistent.key|" "$CA_CONF" >"$CA_DIR/bad2.conf"
check_fails "a missing TLS key stops start-up" "$SIGNETD" -c "$CA_DIR/bad2.conf"
expect_match "  naming the setting and the file" "$(cat "$CHECK_OUT")" "tls_key: .*nonexistent.key"
expect_eq "  in one line" "$(wc -l <"$CHECK_OUT")" 1
chmod 644 "$CA_DIR/server.key"
check_fails "a TLS key readable by others stops start-up" "$SIGNETD" -c "$CA_CONF"
expect_match "  saying chmod 600" "$(cat "$CHECK_OUT")" "chmod 600"
chmod 600 "$CA_DIR/server.key"
check_fails "signetd without a config says so" env -u SIGNET_CONFIG "$SIGNETD"
check_fails "signet with an unknown command fails" "$SIGNET" frobnicate
expect_eq "  with exit 2" "$("$SIGNET" frobnicate 2>/dev/null; echo $?)" 2
check_fails "signet token without --san fails" "$SIGNET" token --provisioner x --key y
check_fails "signet list --status bogus fails" "$SIGNET" list --status bogus

# ---- the database stops mid-run
ca_start
ca_provisioner p --allow-dns '*.db.test'
new_csr a "/CN=a.db.test" "DNS:a.db.test"
tok=$(ca_token p a.db.test)
sign_json a.csr "$tok" >a.json
expect_eq "issuing works with the database up" "$(post_sign a.json)" 201
tok=$(ca_token p a.db.test)
sign_json a.csr "$tok" >b.json
tok=$(ca_token p a.db.test)
sign_json a.csr "$tok" >c.json
pg_kill
expect_eq "with the database stopped, /v1/sign answers 503" "$(post_sign b.json)" 503
expect_match "  as problem+json naming the database" "$(cat resp.json)" '"status": ?503.*database|database.*"status": ?503'
expect_eq "/readyz answers 503" "$(curl -s -o /dev/null -w '%{http_code}' "$PUBLIC_URL/readyz")" 503
check "/healthz still answers (the process is alive)" curl -fsS "$PUBLIC_URL/healthz"
pg_start_again
expect_eq "with the database back, the same signetd issues again" "$(post_sign c.json)" 201
expect_eq "/readyz is ready again" "$(curl -s -o /dev/null -w '%{http_code}' "$PUBLIC_URL/readyz")" 200
expect_eq "the refused request left no certificate" \
	"$(psql_val "select count(*) from certificates where status = 'good' and provisioner = 'p'")" 2
expect_eq "its token was not consumed (a retry with it works)" "$(post_sign b.json)" 201

# ---- connections that misbehave
port=${HTTP_PORT}
check "a client that connects and closes does not hurt" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; exec 3>&-"
check "a client that sends half a request and stalls" bash -c \
	"exec 3<>/dev/tcp/127.0.0.1/$port; printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n' >&3; sleep 1; exec 3>&-"
check "a good request is answered at once after both" curl -fsS --max-time 5 "$PUBLIC_URL/healthz"
check "unknown paths get 404 problem+json" bash -c \
	"curl -s -o /dev/null -w '%{http_code} %{content_type}' '$PUBLIC_URL/nope' | grep -q '^404 application/problem+json'"

stop_bg signetd
