# shellcheck shell=bash
# Shared steps for the integration tests that need a running CA: init into
# ./ca on this file's fresh database and tokens, start signetd, add a
# provisioner.  Source after lib.sh.

# ca_init [extra init flags...]: sets CA_DIR, CA_CONF, HTTPS_PORT, HTTP_PORT,
# CA_URL, PUBLIC_URL.
ca_init() {
	HTTPS_PORT=$(free_port)
	HTTP_PORT=$(free_port)
	CA_DIR=$PWD/ca
	CA_CONF=$CA_DIR/signet.conf
	CA_URL=https://127.0.0.1:$HTTPS_PORT
	PUBLIC_URL=http://127.0.0.1:$HTTP_PORT
	export SIGNET_CONFIG=$CA_CONF
	check "signet init creates the CA" "$SIGNET" init --dir "$CA_DIR" \
		--db "$SIGNET_TEST_DB" --pkcs11-module "$SIGNET_TEST_PKCS11_MODULE" \
		--token "$SIGNET_TEST_TOKEN" --pin-file "$SIGNET_TEST_PIN_FILE" \
		--root-token "$SIGNET_TEST_ROOT_TOKEN" \
		--root-pin-file "$SIGNET_TEST_ROOT_PIN_FILE" \
		--https-listen "127.0.0.1:$HTTPS_PORT" \
		--http-listen "127.0.0.1:$HTTP_PORT" --public-url "$PUBLIC_URL" "$@"
}

# ca_conf_set KEY VALUE: set KEY in $CA_CONF (after ca_init, before
# ca_start): replaces the line that sets it, else appends one (signetd
# refuses a key set twice).
ca_conf_set() {
	local key=$1 value=$2
	awk -v k="$key" -v v="$value" '
		$0 ~ "^" k "[ \t]*=" { print k " = " v; done = 1; next }
		{ print }
		END { if (!done) print k " = " v }' "$CA_CONF" >"$CA_CONF.new"
	cat "$CA_CONF.new" >"$CA_CONF" # keeps the file's mode
	rm -f "$CA_CONF.new"
}

# ca_start [NAME]: start signetd in the background and wait until ready.
ca_start() {
	local name=${1:-signetd}
	start_bg "$name" "$SIGNETD" -c "$CA_CONF"
	check "$name answers /readyz" wait_http "$PUBLIC_URL/readyz" 30
}

# ca_provisioner NAME [policy flags...]: adds it, key in ./NAME.jwk.
ca_provisioner() {
	local name=$1
	shift
	check "provisioner $name added" "$SIGNET" provisioner add "$name" \
		--key-out "$PWD/$name.jwk" "$@"
}

# ca_token PROV SAN... : prints a token (extra flags via TOKEN_FLAGS array).
ca_token() {
	local prov=$1 args=()
	shift
	for s in "$@"; do args+=(--san "$s"); done
	"$SIGNET" token --provisioner "$prov" --key "$PWD/$prov.jwk" \
		"${args[@]}" ${TOKEN_FLAGS[@]+"${TOKEN_FLAGS[@]}"}
}

# sign_json CSR_FILE TOKEN: the JSON body for POST /v1/sign.
sign_json() {
	python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "token": sys.argv[2]}))' "$1" "$2"
}

# post_sign BODY_FILE: POST it with curl; prints "STATUS" and leaves the
# body in ./resp.json.
post_sign() {
	curl -sS --cacert "$CA_DIR/roots.pem" -o resp.json -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary "@$1" \
		"$CA_URL/v1/sign"
}

# serial_of [PEM]: a certificate's serial as signet writes it (lowercase
# hex without leading zeros); from stdin without a file.
serial_of() {
	openssl x509 ${1:+-in "$1"} -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//'
}

# ca_enroll NAME PROV SAN [enroll flags...]: NAME.pem, NAME.key through
# `signet enroll` with a token of PROV for SAN (token flags from
# TOKEN_FLAGS).
ca_enroll() {
	local name=$1 prov=$2 san=$3 tok
	shift 3
	tok=$(ca_token "$prov" "$san")
	check "enrolled $name ($san via $prov)" "$SIGNET" enroll --ca-url "$CA_URL" \
		--root "$CA_DIR/roots.pem" --token "$tok" --cert-out "$name.pem" \
		--key-out "$name.key" "$@"
}

# new_csr NAME SUBJ SANS [KEYALG_OPTS...]: NAME.key, NAME.csr with openssl.
new_csr() {
	local name=$1 subj=$2 sans=$3
	shift 3
	if [ $# -eq 0 ]; then set -- -newkey ec -pkeyopt ec_paramgen_curve:P-256; fi
	openssl req -new -nodes "$@" -keyout "$name.key" -out "$name.csr" \
		-subj "$subj" ${sans:+-addext "subjectAltName=$sans"} 2>/dev/null
}

# psql_val SQL: one value from the CA's database.
psql_val() {
	psql "$SIGNET_TEST_DB" -Atc "$1"
}

# nginx_tls_start PORT CERT KEY DIRECTIVES [HOST]: nginx in ./nginx on
# 127.0.0.1:PORT with TLS (CERT: full chain, KEY), the server-block
# DIRECTIVES given (ssl_* and a location), started with start_bg as
# "nginx" and checked up at https://HOST:PORT/.
nginx_tls_start() {
	local port=$1 cert=$2 key=$3 directives=$4 host=${5:-127.0.0.1}
	mkdir -p "$PWD/nginx/logs"
	cat >"$PWD/nginx/nginx.conf" <<CONF
worker_processes 1;
error_log $PWD/nginx/logs/error.log info;
events { worker_connections 64; }
http {
  access_log $PWD/nginx/logs/access.log;
  client_body_temp_path $PWD/nginx/body;
  proxy_temp_path $PWD/nginx/proxy;
  fastcgi_temp_path $PWD/nginx/fastcgi;
  uwsgi_temp_path $PWD/nginx/uwsgi;
  scgi_temp_path $PWD/nginx/scgi;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $cert;
    ssl_certificate_key $key;
$directives
  }
}
CONF
	start_bg nginx nginx -c "$PWD/nginx/nginx.conf" -p "$PWD/nginx" \
		-g "daemon off; pid $PWD/nginx/nginx.pid;"
	check "nginx is up" wait_http "https://$host:$port/" 20 -k
}
