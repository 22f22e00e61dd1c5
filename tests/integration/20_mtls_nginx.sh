#!/usr/bin/env bash
# mTLS with a real relying party: nginx serves with a certificate from
# signet and requires client certificates from signet's chain.  curl with a
# signet client certificate gets through; one from another CA does not.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

if ! command -v nginx >/dev/null; then
	skip "nginx mTLS" "nginx is not installed"
	exit 0
fi
ca_init
ca_start
ca_provisioner mesh --allow-dns localhost --allow-dns '*.mesh.test' --profiles server,client,both

TOKEN_FLAGS=(--profile server)
tok=$(ca_token mesh localhost)
check "a server certificate for nginx" "$SIGNET" enroll --ca-url "$CA_URL" \
	--root "$CA_DIR/roots.pem" --token "$tok" --cert-out srv.pem --key-out srv.key \
	--chain-out srv-chain.pem
TOKEN_FLAGS=(--profile client)
tok=$(ca_token mesh client.mesh.test)
check "a client certificate for curl" "$SIGNET" enroll --ca-url "$CA_URL" \
	--root "$CA_DIR/roots.pem" --token "$tok" --key-type ed25519 --cert-out cli.pem \
	--key-out cli.key --chain-out cli-chain.pem
TOKEN_FLAGS=()

# Another CA, made with openssl, and a client certificate from it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj "/CN=Other CA" -keyout other-ca.key -out other-ca.pem 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=client.mesh.test" -keyout other.key -out other.csr 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >ext.cnf
openssl x509 -req -in other.csr -CA other-ca.pem -CAkey other-ca.key \
	-CAcreateserial -days 1 -extfile ext.cnf -out other.pem 2>/dev/null

port=$(free_port)
mkdir -p nginx/logs
cat srv.pem srv-chain.pem >nginx/srv-full.pem
cat "$CA_DIR/chain.pem" "$CA_DIR/roots.pem" >nginx/clients-ca.pem
nginx_tls_start "$port" "$PWD/nginx/srv-full.pem" "$PWD/srv.key" "
    ssl_client_certificate $PWD/nginx/clients-ca.pem;
    ssl_verify_client on;
    ssl_verify_depth 2;
    location / { return 200 \"hello \$ssl_client_s_dn\n\"; }" localhost

check "curl with signet's client certificate gets through" curl -fsS \
	--cacert "$CA_DIR/roots.pem" --cert cli.pem --key cli.key \
	"https://localhost:$port/"
expect_match "  nginx saw the client's name" "$(cat "$CHECK_OUT")" "client.mesh.test"
check_fails "curl with another CA's client certificate is refused" curl -fsS \
	--cacert "$CA_DIR/roots.pem" --cert other.pem --key other.key \
	"https://localhost:$port/"
check_fails "curl without a client certificate is refused" curl -fsS \
	--cacert "$CA_DIR/roots.pem" "https://localhost:$port/"
check "gnutls-cli verifies nginx's signet certificate" bash -c \
	"echo | gnutls-cli --x509cafile '$CA_DIR/roots.pem' --x509certfile cli.pem \
	 --x509keyfile cli.key -p $port localhost"
stop_bg nginx
stop_bg signetd
