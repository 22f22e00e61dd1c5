#!/usr/bin/env bash
# ACME (RFC 8555) orders end to end, with acme_flow.py as the client:
# new-order (policy, identifiers, notAfter, rate limits), authorizations
# and their challenges (http-01, tls-alpn-01, dns-01 through
# pebble-challtestsrv as signetd's resolver), validation by signetd's
# workers (a wrong key authorization fails the order), Retry-After while
# pending, finalize (CSR names must be the order's), the certificate
# chain (verifies against the root, in the inventory, good over OCSP),
# the account's orders list, authorization deactivation, policy trusted
# instead of challenges for EAB-bound accounts.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

CTS=/usr/bin/pebble-challtestsrv
if [ ! -x "$CTS" ]; then
	skip "ACME orders" "needs $CTS (package pebble)"
	exit 0
fi
flow=$SIGNET_SRC/tests/integration/acme_flow.py
jws=$SIGNET_SRC/tests/integration/acme_jws.py
E=urn:ietf:params:acme:error:

DNS_PORT=$(free_port)
MGMT_PORT=$(free_port)
CH_PORT=$(free_port)
start_bg challtestsrv "$CTS" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
	-dns01 "127.0.0.1:$DNS_PORT" -http01 "" -https01 "" -tlsalpn01 "" \
	-management "127.0.0.1:$MGMT_PORT"
check "pebble-challtestsrv is up" wait_http "http://127.0.0.1:$MGMT_PORT/" 20

ca_init
ca_conf_set acme_resolver "127.0.0.1@$DNS_PORT"
ca_conf_set acme_http01_port "$CH_PORT"
ca_conf_set acme_tlsalpn01_port "$CH_PORT"
ca_conf_set acme_validation_timeout 5s
ca_conf_set acme_rate_orders_per_account 30
ca_start
ca_provisioner web --acme --allow-dns '*.web.test' --allow-ip 127.0.0.0/8 \
	--max-lifetime 2d
DIR=$CA_URL/acme/web/directory

python3 "$jws" keygen ec256 acct.key
# order NAMES [flags]: runs a flow, the result in ./flow.json.
order() {
	python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key acct.key \
		order "$@" --port "$CH_PORT" --dns-mgmt "http://127.0.0.1:$MGMT_PORT" \
		>flow.json 2>flow.err
}
jf() {
	python3 -c 'import json,sys; j=json.load(open("flow.json")); v=eval(sys.argv[1]); print(json.dumps(v) if isinstance(v,(list,dict,bool)) else v)' "$1"
}

# --- http-01, two names ---
order a.web.test,b.web.test --cert-out a.pem --csr-key a.key
expect_eq "new-order answers 201" "$(jf 'j.get("new_order_status")')" 201
expect_eq "  pending, with one authorization per name" \
	"$(jf '[j["new_order_body"]["status"], len(j["new_order_body"]["authorizations"])]')" '["pending", 2]'
expect_eq "  dns names are offered http-01, dns-01 and tls-alpn-01" \
	"$(jf 'sorted(j["authz"][0]["challenges"])')" '["dns-01", "http-01", "tls-alpn-01"]'
expect_eq "  an answered challenge carries Retry-After" \
	"$(jf 'j["challenge_retry_after"][0]')" 1
expect_eq "http-01 validated by signetd: the order became ready and then valid" \
	"$(jf 'j.get("status")')" valid
expect_eq "  finalize answered 200" "$(jf 'j.get("finalize_status")')" 200
expect_eq "  the certificate comes as application/pem-certificate-chain" \
	"$(jf 'j.get("cert_type")')" application/pem-certificate-chain
serial=$(jf 'j.get("serial")')
expect_eq "  leaf and issuing CA in the chain" "$(grep -c 'BEGIN CERTIFICATE' a.pem)" 2
openssl x509 -in a.pem -out a-leaf.pem
awk 'n > 0 || /BEGIN CERT/ && ++c == 2 { n = 1; print }' a.pem >a-chain.pem
check "  it verifies against signet's root" openssl verify -CAfile "$CA_DIR/roots.pem" \
	-untrusted a-chain.pem -purpose sslserver a-leaf.pem
expect_match "  with both names" "$(openssl x509 -in a-leaf.pem -noout -ext subjectAltName)" \
	'DNS:a.web.test, DNS:b.web.test'
expect_eq "  recorded as good, issued through the provisioner" \
	"$(psql_val "SELECT status || ' ' || provisioner FROM certificates WHERE serial = '$serial'")" "good web"
expect_eq "  the order points at it" \
	"$(psql_val "SELECT cert_serial FROM acme_orders WHERE id = $(jf 'j["order"].rsplit("/",1)[1]')")" "$serial"
ocsp_url=$(openssl x509 -in a-leaf.pem -noout -ocsp_uri)
check_out=$(openssl ocsp -issuer a-chain.pem -cert a-leaf.pem -url "$ocsp_url" \
	-CAfile "$CA_DIR/roots.pem" -verify_other a-chain.pem 2>&1 || true)
expect_match "  OCSP says good" "$check_out" 'a-leaf.pem: good'

# --- a CSR with an empty subject (certbot's kind) ---
order n.web.test --csr-no-cn --cert-out n.pem
expect_eq "a CSR without a subject is issued" "$(jf 'j.get("status")')" valid
openssl x509 -in n.pem -out n-leaf.pem
expect_eq "  with an empty subject" "$(openssl x509 -in n-leaf.pem -noout -subject -nameopt RFC2253)" "subject="
expect_match "  and a critical subjectAltName (RFC 5280 4.2.1.6)" \
	"$(openssl x509 -in n-leaf.pem -noout -text)" 'Subject Alternative Name: critical'

# --- tls-alpn-01 and an IP identifier ---
order c.web.test,127.0.0.1 --challenge tls-alpn-01
expect_eq "tls-alpn-01 for a name and an IP address: valid" "$(jf 'j.get("status")')" valid
expect_eq "  an IP identifier is offered http-01 and tls-alpn-01" \
	"$(jf 'sorted(j["authz"][1]["challenges"])')" '["http-01", "tls-alpn-01"]'

# --- dns-01 and a wildcard ---
order '*.wild.web.test' --challenge dns-01
expect_eq "dns-01 for a wildcard: valid" "$(jf 'j.get("status")')" valid
expect_eq "  a wildcard is offered dns-01 only" "$(jf 'j["authz"][0]["challenges"]')" '["dns-01"]'
expect_eq "  and marked wildcard" "$(jf 'j["authz"][0]["wildcard"]')" true

# --- a wrong key authorization ---
order d.web.test --wrong-keyauth
expect_eq "a wrong key authorization makes the order invalid" "$(jf 'j.get("status")')" invalid
expect_eq "  the challenge's error is incorrectResponse" \
	"$(jf 'j["authz_after"][0]["challenges"][[c["type"] for c in j["authz_after"][0]["challenges"]].index("http-01")]["error"]["type"]')" \
	"${E}incorrectResponse"
expect_eq "  the authorization is invalid" "$(jf 'j["authz_after"][0]["status"]')" invalid

# --- policy ---
order x.other.test
expect_eq "a name outside the policy answers 400" "$(jf 'j.get("new_order_status")')" 400
expect_eq "  rejectedIdentifier" "$(jf 'j["new_order_body"]["type"]')" "${E}rejectedIdentifier"
order 10.1.2.3
expect_eq "an IP outside the policy: rejectedIdentifier" "$(jf 'j["new_order_body"]["type"]')" "${E}rejectedIdentifier"
order e.web.test --not-after "$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)"
expect_eq "notAfter beyond the provisioner's maximum lifetime answers 400" \
	"$(jf 'j.get("new_order_status")')" 400
order e.web.test --not-after "$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)" --cert-out e.pem
expect_eq "notAfter within it is honoured" "$(jf 'j.get("status")')" valid
na=$(openssl x509 -in e.pem -noout -enddate | cut -d= -f2)
want=$(date -u -d '+1 day' +%s)
got=$(date -u -d "$na" +%s)
expect_eq "  the certificate ends at the asked notAfter (within a minute)" \
	"$(( got - want < 120 && want - got < 120 ))" 1

python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key acct.key post \
	"$CA_URL/acme/web/new-order" --payload '{"identifiers":[{"type":"dns","value":"127.0.0.1"}]}' >bad.json
expect_match "an address sent as a dns identifier is refused, saying to use ip" \
	"$(python3 -c 'import json; j=json.load(open("bad.json")); print(j["status"], j["body"]["detail"])')" \
	'^400 .*use type "ip"'

python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key acct.key post \
	"$CA_URL/acme/web/new-order" --payload '{"identifiers":[{"type":"dns","value":"bad_name.web.test"}]}' >bad.json
expect_eq "a name that is no host name (underscore) is refused: rejectedIdentifier" \
	"$(python3 -c 'import json; j=json.load(open("bad.json")); print(j["status"], j["body"]["type"])')" "400 ${E}rejectedIdentifier"
python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key acct.key post \
	"$CA_URL/acme/web/new-order" --payload '{"identifiers":[{"type":"dns","value":"x.other.test"},{"type":"dns","value":"ok.web.test"},{"type":"ip","value":"10.9.9.9"}]}' >bad.json
expect_eq "several refused identifiers are each named in subproblems (RFC 8555 6.7.1)" \
	"$(python3 -c 'import json; j=json.load(open("bad.json"))["body"]; print(j["type"], [(s["type"].rsplit(":",1)[1], s["identifier"]["value"]) for s in j["subproblems"]])')" \
	"${E}rejectedIdentifier [('rejectedIdentifier', 'x.other.test'), ('rejectedIdentifier', '10.9.9.9')]"

# --- finalize with a CSR that does not match the order ---
order f.web.test --csr-names f.web.test,g.web.test
expect_eq "finalize with an extra CSR name answers 400" "$(jf 'j.get("finalize_status")')" 400
expect_eq "  badCSR" "$(jf 'j["finalize_body"]["type"]')" "${E}badCSR"
expect_match "  naming it" "$(jf 'j["finalize_body"]["detail"]')" 'g.web.test'
order f2.web.test --csr-names g.web.test
expect_eq "finalize with other names: badCSR" "$(jf 'j["finalize_body"]["type"]')" "${E}badCSR"

# --- not ready, deactivation ---
order h.web.test --no-answer
order_url=$(jf 'j["order"]')
authz_url=$(jf 'j["authz"][0]["url"]')
python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key acct.key post "$order_url" \
	--post-as-get >get.json
expect_eq "a pending order carries Retry-After" \
	"$(python3 -c 'import json; print(json.load(open("get.json"))["headers"].get("Retry-After"))')" 1
python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key acct.key post \
	"${order_url}/finalize" --payload '{"csr":"AAAA"}' >fin.json
expect_eq "finalizing a pending order answers 403" \
	"$(python3 -c 'import json; print(json.load(open("fin.json"))["status"])')" 403
expect_eq "  orderNotReady" \
	"$(python3 -c 'import json; print(json.load(open("fin.json"))["body"]["type"])')" "${E}orderNotReady"
python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key acct.key post "$authz_url" \
	--payload '{"status":"deactivated"}' >deact.json
expect_eq "deactivating an authorization answers 200, deactivated" \
	"$(python3 -c 'import json; j=json.load(open("deact.json")); print(j["status"], j["body"]["status"])')" "200 deactivated"
python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key acct.key post "$order_url" \
	--post-as-get >get.json
expect_eq "  its order is invalid" \
	"$(python3 -c 'import json; print(json.load(open("get.json"))["body"]["status"])')" invalid

# --- another account cannot see this one's order ---
python3 "$jws" keygen ec256 other.key
python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key other.key post "$order_url" \
	--post-as-get >get.json
expect_eq "another account's order answers 403" \
	"$(python3 -c 'import json; j=json.load(open("get.json")); print(j["status"], j["body"]["type"])')" "403 ${E}unauthorized"

# --- a provisioner that trusts its policy for EAB-bound accounts ---
ca_provisioner corp --acme-trust '*.corp.test' --allow-dns '*.corp.test' \
	--allow-dns '*.web.test'
CORP=$CA_URL/acme/corp/directory
"$SIGNET" acme eab --provisioner corp --json >eab.json
python3 "$jws" keygen ec256 bound.key
python3 "$flow" --dir "$CORP" --ca "$CA_DIR/roots.pem" --key bound.key \
	--eab-kid "$(python3 -c 'import json; print(json.load(open("eab.json"))["kid"])')" \
	--eab-key "$(python3 -c 'import json; print(json.load(open("eab.json"))["hmac_key"])')" \
	order svc.corp.test --challenge none --cert-out corp.pem >flow.json
expect_eq "an EAB-bound account's order for a trusted name is ready without a challenge" \
	"$(jf 'j["new_order_body"]["status"]')" ready
expect_eq "  its authorization was created valid" "$(jf 'j["authz"][0]["status"]')" valid
expect_eq "  and it is issued" "$(jf 'j.get("status")')" valid
python3 "$flow" --dir "$CORP" --ca "$CA_DIR/roots.pem" --key bound.key \
	order x.web.test --challenge none --skip-finalize >flow.json
expect_eq "  a name the policy allows but does not trust still needs a challenge" \
	"$(jf 'j["new_order_body"]["status"]')" pending
python3 "$flow" --dir "$CORP" --ca "$CA_DIR/roots.pem" --key other.key \
	order svc.corp.test --challenge none --skip-finalize >flow.json
expect_eq "an account without a binding must prove control of a trusted name too" \
	"$(jf 'j["new_order_body"]["status"]')" pending

# --- the account's orders list ---
acct_url=$(python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key acct.key account)
python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key acct.key post "$acct_url/orders" \
	--post-as-get >list.json
expect_eq "the orders list holds the account's orders that are not invalid" \
	"$(python3 -c 'import json; print(len(json.load(open("list.json"))["body"]["orders"]))')" \
	"$(psql_val "SELECT count(*) FROM acme_orders WHERE account_id = ${acct_url##*/} AND status <> 'invalid'")"
expect_match "  newest first" \
	"$(python3 -c 'import json; print(json.load(open("list.json"))["body"]["orders"][0])')" \
	"/order/$(psql_val "SELECT max(id) FROM acme_orders WHERE account_id = ${acct_url##*/} AND status <> 'invalid'")"'$'
expect_eq "  without the invalid ones (RFC 8555 7.1.2.1)" \
	"$(python3 -c 'import json,sys; print(sys.argv[1] in json.load(open("list.json"))["body"]["orders"])' "$order_url")" False

# --- the certificate URL is the account's only ---
python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key other.key post \
	"$CA_URL/acme/web/cert/$serial" --post-as-get >get.json
expect_eq "another account cannot download the certificate (403)" \
	"$(python3 -c 'import json; print(json.load(open("get.json"))["status"])')" 403

# --- rate limit: 30 orders per account per hour ---
n=$(psql_val "SELECT count(*) FROM acme_orders WHERE account_id = ${acct_url##*/}")
for _ in $(seq "$n" 29); do
	python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key acct.key post \
		"$CA_URL/acme/web/new-order" --payload '{"identifiers":[{"type":"dns","value":"r.web.test"}]}' >/dev/null
done
python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key acct.key post \
	"$CA_URL/acme/web/new-order" --payload '{"identifiers":[{"type":"dns","value":"r.web.test"}]}' >rl.json
expect_eq "order 31 within the hour answers 429 rateLimited" \
	"$(python3 -c 'import json; j=json.load(open("rl.json")); print(j["status"], j["body"]["type"])')" "429 ${E}rateLimited"
expect_match "  with Retry-After" \
	"$(python3 -c 'import json; print(json.load(open("rl.json"))["headers"].get("Retry-After"))')" '^[0-9]+$'
python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key other.key post \
	"$CA_URL/acme/web/new-order" --payload '{"identifiers":[{"type":"dns","value":"r.web.test"}]}' >rl.json
expect_eq "  another account is not limited" \
	"$(python3 -c 'import json; print(json.load(open("rl.json"))["status"])')" 201

# --- malformed orders ---
for p in '{"identifiers":[]}' '{"identifiers":[{"type":"email","value":"a@web.test"}]}' \
	'{"identifiers":[{"type":"dns","value":"a.web.test","x":1}]}' \
	'{"identifiers":[{"type":"dns","value":"a.web.test"}],"notAfter":"tomorrow"}'; do
	python3 "$flow" --dir "$DIR" --ca "$CA_DIR/roots.pem" --key other.key post \
		"$CA_URL/acme/web/new-order" --payload "$p" >bad.json
	expect_match "new-order $p answers 400 with an ACME error" \
		"$(python3 -c 'import json; j=json.load(open("bad.json")); print(j["status"], j["body"]["type"])')" \
		"^400 ${E}(malformed|unsupportedIdentifier|rejectedIdentifier)$"
done
