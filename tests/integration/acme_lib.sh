# shellcheck shell=bash
# Helpers of the ACME tests that talk to signetd with curl: the last
# response's status, headers (./acme.hdr) and body (./acme.json).  Source
# after lib.sh and ca_lib.sh; DIR (a directory base URL) is the default
# for nonce.

E=urn:ietf:params:acme:error:

# fetch METHOD URL [curl args]: status; headers in ./acme.hdr, body in
# ./acme.json.
fetch() {
	local m=$1
	shift
	if [ "$m" = HEAD ]; then
		curl -sS --cacert "$CA_DIR/roots.pem" -I -D acme.hdr -o /dev/null \
			-w '%{http_code}' "$@"
		: >acme.json
	else
		curl -sS --cacert "$CA_DIR/roots.pem" -X "$m" -D acme.hdr -o acme.json \
			-w '%{http_code}' "$@"
	fi
}
# hdr NAME: a header of the last response.
hdr() {
	awk -v h="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]'):" \
		'tolower($1) == h { sub(/\r$/, ""); $1 = ""; print substr($0, 2) }' acme.hdr
}
# jf EXPR: a Python expression over the last body (j), printed.
jf() {
	python3 -c 'import json,sys; j=json.load(open("acme.json")); v=eval(sys.argv[1]); print(json.dumps(v) if isinstance(v,(list,dict,bool)) else v)' "$1"
}
# nonce [BASE]: a fresh nonce from BASE's new-nonce (HEAD).
nonce() {
	curl -sS --cacert "$CA_DIR/roots.pem" -I "${1:-$DIR}/new-nonce" |
		awk 'tolower($1) == "replay-nonce:" { sub(/\r$/, ""); print $2 }'
}
# post URL BODY_FILE [CONTENT_TYPE]: status, as fetch.
post() {
	fetch POST -H "Content-Type: ${3:-application/jose+json}" \
		--data-binary "@$2" "$1"
}
