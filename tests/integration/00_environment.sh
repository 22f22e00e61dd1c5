#!/usr/bin/env bash
# The harness itself: PostgreSQL, SoftHSM, the lib.sh helpers, and that the
# two binaries exist and answer --help.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

module=$SIGNET_TEST_PKCS11_MODULE

# ---- PostgreSQL
db=$(fresh_db env)
check "psql answers 'select 1' on a fresh database" psql "$db" -Atc 'select 1'
expect_eq "'select 1' returns 1" "$(cat "$CHECK_OUT")" 1
expect_eq "a fresh database is empty" \
	"$(psql "$db" -Atc "select count(*) from pg_tables where schemaname = 'public'")" 0
db2=$(fresh_db env)
check_fails "fresh_db gives a new database each time" test "$db" = "$db2"
expect_eq "the test role is a superuser (tests disable triggers)" \
	"$(psql "$db" -Atc 'select rolsuper from pg_roles where rolname = current_user')" t
check "the per-file SIGNET_TEST_DB answers" psql "$SIGNET_TEST_DB" -Atc 'select 1'

pg_kill
check_fails "after pg_kill the database is unreachable" psql "$db" -Atc 'select 1'
pg_start_again
check "after pg_start_again it answers again" psql "$db" -Atc 'select 1'

# ---- SoftHSM
check "pkcs11-tool lists the slots" pkcs11-tool --module "$module" -L
slots=$(cat "$CHECK_OUT")
expect_match "token signet-online exists" "$slots" "token label +: signet-online"
expect_match "token signet-root exists" "$slots" "token label +: signet-root"
expect_eq "online PIN file is mode 0600" "$(stat -c %a "$SIGNET_TEST_PIN_FILE")" 600
expect_eq "root PIN file is mode 0600" "$(stat -c %a "$SIGNET_TEST_ROOT_PIN_FILE")" 600
expect_eq "online PIN file holds the PIN" "$(cat "$SIGNET_TEST_PIN_FILE")" "$SIGNET_TEST_PIN"
check "login to signet-online with its PIN" \
	pkcs11-tool --module "$module" --token-label "$SIGNET_TEST_TOKEN" --login \
	--pin "$(cat "$SIGNET_TEST_PIN_FILE")" -O
check_fails "login to signet-online with a wrong PIN fails" \
	pkcs11-tool --module "$module" --token-label "$SIGNET_TEST_TOKEN" --login --pin 9999 -O
check "login to signet-root with its own PIN" \
	pkcs11-tool --module "$module" --token-label "$SIGNET_TEST_ROOT_TOKEN" --login \
	--pin "$(cat "$SIGNET_TEST_ROOT_PIN_FILE")" -O
check_fails "signet-root refuses the online PIN" \
	pkcs11-tool --module "$module" --token-label "$SIGNET_TEST_ROOT_TOKEN" --login \
	--pin "$SIGNET_TEST_PIN" -O

check "a key generated on signet-online" \
	pkcs11-tool --module "$module" --token-label "$SIGNET_TEST_TOKEN" --login \
	--pin "$SIGNET_TEST_PIN" --keypairgen --key-type EC:prime256v1 --label envtest
fresh_tokens "$PWD/hsm2"
check "fresh_tokens gives empty tokens" \
	pkcs11-tool --module "$module" --token-label "$SIGNET_TEST_TOKEN" --login \
	--pin "$SIGNET_TEST_PIN" -O
expect_eq "no objects on the fresh token" "$(grep -c 'Object;' "$CHECK_OUT" || true)" 0

# ---- background processes and ports
port=$(free_port)
port2=$(free_port)
check_fails "free_port does not hand out the same port twice" test "$port" = "$port2"
start_bg web python3 -m http.server --bind 127.0.0.1 "$port"
check "wait_http sees a server started with start_bg" wait_http "http://127.0.0.1:$port/" 20
check "its pid is recorded" test -f "$SIGNET_TEST_PIDS/$SIGNET_TEST_NAME.web.pid"
web_pid=$(bg_pid web)
stop_bg web
check_fails "stop_bg stopped it" kill -0 "$web_pid"
check_fails "wait_http gives up on a closed port" wait_http "http://127.0.0.1:$port2/" 1

# ---- the binaries
check "signet --help exits 0" "$SIGNET" --help
check "signetd --help exits 0" "$SIGNETD" --help
