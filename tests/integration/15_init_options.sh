#!/usr/bin/env bash
# signet init's options: P-384 CA keys, name constraints that relying
# parties enforce, migrations that are idempotent, and --force.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

ca_init --key-type ec-p384 --permit-dns .corp.test --permit-ip 10.0.0.0/8
check "the intermediate prints" openssl x509 -in "$CA_DIR/chain.pem" -noout -text
inter=$(cat "$CHECK_OUT")
expect_match "the CA keys are P-384" "$inter" "ASN1 OID: secp384r1"
expect_match "signed with ecdsa-with-SHA384" "$inter" "ecdsa-with-SHA384"
expect_match "name constraints are critical" "$inter" "X509v3 Name Constraints: critical"
expect_match "  permitting DNS:.corp.test" "$inter" "DNS:.corp.test"
expect_match "  and IP:10.0.0.0/255.0.0.0" "$inter" "IP:10.0.0.0/255.0.0.0"

check "signet db migrate is idempotent" "$SIGNET" db migrate
expect_match "  nothing left to apply" "$(cat "$CHECK_OUT")" "^0 migrations applied"

new_csr in "/CN=web.corp.test" "DNS:web.corp.test"
check "issue inside the constraints" "$SIGNET" issue --csr in.csr --profile server --cert-out in.pem
check "  openssl verifies it" openssl verify -x509_strict -CAfile "$CA_DIR/roots.pem" \
	-untrusted "$CA_DIR/chain.pem" in.pem
new_csr out "/CN=web.other.test" "DNS:web.other.test"
check "issue outside the constraints (the administrator's CSR)" "$SIGNET" issue \
	--csr out.csr --profile server --cert-out out.pem
check_fails "  openssl refuses it: name constraints hold" openssl verify -x509_strict \
	-CAfile "$CA_DIR/roots.pem" -untrusted "$CA_DIR/chain.pem" out.pem
expect_match "  saying why" "$(cat "$CHECK_OUT")" "name constraint|permitted subtree"

check_fails "init refuses an unknown key type" "$SIGNET" init --dir "$PWD/x" \
	--db "$SIGNET_TEST_DB" --pkcs11-module "$SIGNET_TEST_PKCS11_MODULE" \
	--token "$SIGNET_TEST_TOKEN" --pin-file "$SIGNET_TEST_PIN_FILE" \
	--root-token "$SIGNET_TEST_ROOT_TOKEN" --root-pin-file "$SIGNET_TEST_ROOT_PIN_FILE" \
	--https-listen 127.0.0.1:1 --http-listen 127.0.0.1:2 --public-url http://x --key-type dsa
chmod 644 "$SIGNET_TEST_PIN_FILE"
check_fails "init refuses a PIN file readable by others" "$SIGNET" init --dir "$PWD/y" \
	--db "$SIGNET_TEST_DB" --pkcs11-module "$SIGNET_TEST_PKCS11_MODULE" \
	--token "$SIGNET_TEST_TOKEN" --pin-file "$SIGNET_TEST_PIN_FILE" \
	--root-token "$SIGNET_TEST_ROOT_TOKEN" --root-pin-file "$SIGNET_TEST_ROOT_PIN_FILE" \
	--https-listen 127.0.0.1:1 --http-listen 127.0.0.1:2 --public-url http://x --force
expect_match "  saying chmod 600" "$(cat "$CHECK_OUT")" "chmod 600"
chmod 600 "$SIGNET_TEST_PIN_FILE"

old_root=$(openssl x509 -in "$CA_DIR/roots.pem" -noout -fingerprint)
check "init --force makes a new CA beside the old one" "$SIGNET" init --dir "$CA_DIR" \
	--db "$SIGNET_TEST_DB" --pkcs11-module "$SIGNET_TEST_PKCS11_MODULE" \
	--token "$SIGNET_TEST_TOKEN" --pin-file "$SIGNET_TEST_PIN_FILE" \
	--root-token "$SIGNET_TEST_ROOT_TOKEN" --root-pin-file "$SIGNET_TEST_ROOT_PIN_FILE" \
	--https-listen "127.0.0.1:$HTTPS_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
	--public-url "$PUBLIC_URL" --force
check_fails "  with a new root" test "$old_root" = "$(openssl x509 -in "$CA_DIR/roots.pem" -noout -fingerprint)"
expect_eq "  the old issuers are retired, not deleted" \
	"$(psql_val "select string_agg(name || ':' || status, ' ' order by id) from issuers")" \
	"root-1:retired issuing-1:retired root-2:active issuing-2:active"
expect_eq "  certificates keep their issuer" \
	"$(psql_val "select count(*) from certificates c join issuers i on i.id = c.issuer_id where i.name = 'issuing-1'")" 3
ca_start
check "signetd starts on the new CA" curl -fsS --cacert "$CA_DIR/roots.pem" "$CA_URL/healthz"
stop_bg signetd
