#!/usr/bin/env bash
# Real ACME clients from Debian against signetd on loopback: certbot
# (standalone http-01, two names), lego (http-01, tls-alpn-01, and dns-01
# for a name and its wildcard through its `exec` provider) and uacme
# (http-01 through its hook; also an IP address).  Each gets a
# certificate that verifies against signet's root and carries the names
# it asked for, renews it (a new serial), and revokes it (by account, and
# with uacme also by the certificate's key); the revocation shows over
# OCSP at the URL in the certificate's AIA, with the reason given.
# lego 4.9.1 asks for an IP address as a "dns" identifier: refused.
#
# Names: every *.acme.test resolves to 127.0.0.1 through signet's own
# resolver setting (acme_resolver = pebble-challtestsrv's DNS server, which
# answers every A query with 127.0.0.1 and serves the TXT records that
# lego's exec hook sets through its management API); /etc/hosts is not
# touched.  signetd connects for http-01 and tls-alpn-01 to the ports the
# clients listen on (acme_http01_port, acme_tlsalpn01_port).
#
# Trust: lego through LEGO_CA_CERTIFICATES, certbot through
# REQUESTS_CA_BUNDLE; uacme's libcurl reads only the system bundle, so
# uacme runs in a private mount namespace (unshare -m) where a bundle with
# signet's root is bind-mounted over /etc/ssl/certs/ca-certificates.crt,
# for that process alone.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

missing=()
for c in certbot lego uacme pebble-challtestsrv unshare openssl python3; do
	command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
if [ "${#missing[@]}" -ne 0 ]; then
	skip "ACME clients against signetd" "not installed: ${missing[*]} (scripts/lib/deps.sh lists them)"
	exit 0
fi

T=120 # upper bound of one client run, seconds
DNS_PORT=$(free_port)
MGMT_PORT=$(free_port)
HTTP01_PORT=$(free_port)
TLSALPN_PORT=$(free_port)

# --- the DNS server: every A query answers 127.0.0.1, no AAAA; TXT records
# set over its management API.  Its challenge servers stay off.
start_bg challtestsrv pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
	-dns01 "127.0.0.1:$DNS_PORT" -management "127.0.0.1:$MGMT_PORT" \
	-http01 "" -https01 "" -tlsalpn01 ""
check "pebble-challtestsrv is up" wait_http "http://127.0.0.1:$MGMT_PORT/" 20

# --- the CA
ca_init
ca_conf_set acme_resolver "127.0.0.1@$DNS_PORT"
ca_conf_set acme_http01_port "$HTTP01_PORT"
ca_conf_set acme_tlsalpn01_port "$TLSALPN_PORT"
ca_conf_set acme_validation_timeout 10s
ca_start
ca_provisioner clients --allow-dns '*.acme.test' --allow-ip 127.0.0.0/8 --acme
DIR=$CA_URL/acme/clients/directory
ROOTS=$CA_DIR/roots.pem
check "the ACME directory answers" curl -fsS --cacert "$ROOTS" -o directory.json "$DIR"

# --- helpers

# leaf_of FILE OUT / chain_of FILE OUT: the first certificate of a PEM
# bundle, and the ones after it.
leaf_of() {
	awk '/-----BEGIN CERTIFICATE-----/ { n++ } n == 1' "$1" >"$2"
}
chain_of() {
	awk '/-----BEGIN CERTIFICATE-----/ { n++ } n > 1' "$1" >"$2"
}
# sans_of CERT: its DNS names and IP addresses, sorted, one line,
# comma-separated.
sans_of() {
	openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null |
		grep -Eo '(DNS|IP Address):[^, ]*' | sed -E 's/^(DNS|IP Address)://' |
		LC_ALL=C sort | paste -sd, -
}
# cert_checks LABEL CERT CHAIN NAMES: verifies against signet's root
# through CHAIN, and carries exactly NAMES (sorted, comma-separated).
cert_checks() {
	local label=$1 cert=$2 chain=$3 names=$4
	check "$label: verifies against signet's root (openssl verify)" \
		openssl verify -x509_strict -purpose sslserver -CAfile "$ROOTS" \
		-untrusted "$chain" "$cert"
	expect_eq "$label: names" "$(sans_of "$cert")" "$names"
}
# ocsp_status CERT ISSUER: "good", "revoked" or "unknown" from the OCSP URL
# in CERT's AIA (the response verified against signet's root).
ocsp_status() {
	local url
	url=$(openssl x509 -in "$1" -noout -ocsp_uri)
	openssl ocsp -issuer "$2" -cert "$1" -url "$url" -CAfile "$ROOTS" \
		-no_nonce -timeout 5 2>&1 | awk -v c="$1" 'index($0, c ": ") == 1 { print $2; exit }'
}
# ocsp_revoked CERT ISSUER: wait (at most 30 s) until OCSP says revoked.
ocsp_revoked() {
	local i st=
	for i in $(seq 1 60); do
		st=$(ocsp_status "$1" "$2")
		[ "$st" = revoked ] && return 0
		sleep 0.5
	done
	echo "OCSP still says '${st:-no answer}' for $1 after 30 s"
	openssl ocsp -issuer "$2" -cert "$1" -url "$(openssl x509 -in "$1" -noout -ocsp_uri)" \
		-CAfile "$ROOTS" -no_nonce -resp_text 2>&1 | tail -20
	return 1
}
# ocsp_reason ISSUER CERT: the revocation reason OCSP gives ("" if none).
ocsp_reason() {
	openssl ocsp -issuer "$1" -cert "$2" -url "$(openssl x509 -in "$2" -noout -ocsp_uri)" \
		-CAfile "$ROOTS" -no_nonce -timeout 5 2>/dev/null |
		awk '$1 == "Reason:" { print $2; exit }'
}
# ocsp_good_check LABEL CERT ISSUER: OCSP says good.
ocsp_good_check() {
	expect_eq "$1: OCSP (URL from the AIA) says good" "$(ocsp_status "$2" "$3")" good
}

# ======================================================================
# certbot: standalone http-01
cb=(certbot --non-interactive --agree-tos --register-unsafely-without-email
	--server "$DIR" --config-dir "$PWD/certbot/config" --work-dir "$PWD/certbot/work"
	--logs-dir "$PWD/certbot/logs")
cbenv=(env REQUESTS_CA_BUNDLE="$ROOTS")
live=$PWD/certbot/config/live/c.acme.test
check "certbot certonly --standalone (http-01) for c.acme.test, c2.acme.test" \
	timeout "$T" "${cbenv[@]}" "${cb[@]}" certonly --standalone \
	--http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" \
	-d c.acme.test -d c2.acme.test
if [ -s "$live/cert.pem" ]; then
	cert_checks "certbot" "$live/cert.pem" "$live/chain.pem" c.acme.test,c2.acme.test
	s1=$(serial_of "$live/cert.pem")
	expect_eq "certbot: signet's inventory has the certificate" \
		"$(psql_val "SELECT count(*) FROM certificates WHERE serial = '$s1'")" 1
	check "certbot renew --force-renewal" timeout "$T" "${cbenv[@]}" "${cb[@]}" \
		renew --force-renewal --no-random-sleep-on-renew
	s2=$(serial_of "$live/cert.pem")
	check "certbot: the renewed certificate has a new serial ($s1 -> $s2)" test "$s1" != "$s2"
	cert_checks "certbot renewed" "$live/cert.pem" "$live/chain.pem" c.acme.test,c2.acme.test
	cp "$live/cert.pem" certbot-cert.pem
	cp "$live/chain.pem" certbot-chain.pem
	leaf_of certbot-chain.pem certbot-issuer.pem
	ocsp_good_check "certbot" certbot-cert.pem certbot-issuer.pem
	check "certbot revoke --reason superseded" timeout "$T" "${cbenv[@]}" "${cb[@]}" \
		revoke --cert-path "$live/cert.pem" --reason superseded --no-delete-after-revoke
	check "certbot: OCSP says revoked" ocsp_revoked certbot-cert.pem certbot-issuer.pem
	expect_eq "certbot: OCSP gives the reason asked for" \
		"$(ocsp_reason certbot-issuer.pem certbot-cert.pem)" superseded
else
	fail "certbot saved a certificate" "no $live/cert.pem; see certbot/logs"
fi

# ======================================================================
# lego: http-01, tls-alpn-01, dns-01 (exec provider)
cat >lego-dns-hook.sh <<HOOK
#!/bin/sh
# lego's exec provider: \$1 present|cleanup, \$2 FQDN (with the final dot), \$3 value.
case \$1 in
present) exec curl -fsS --max-time 10 -d "{\"host\":\"\$2\",\"value\":\"\$3\"}" http://127.0.0.1:$MGMT_PORT/set-txt ;;
cleanup) exec curl -fsS --max-time 10 -d "{\"host\":\"\$2\"}" http://127.0.0.1:$MGMT_PORT/clear-txt ;;
*) exit 0 ;;
esac
HOOK
chmod +x lego-dns-hook.sh
# The exec provider solves one name at a time, EXEC_SEQUENCE_INTERVAL
# (60 s by default) apart.
lego=(env LEGO_CA_CERTIFICATES="$ROOTS" EXEC_PATH="$PWD/lego-dns-hook.sh"
	EXEC_POLLING_INTERVAL=1 EXEC_PROPAGATION_TIMEOUT=30 EXEC_SEQUENCE_INTERVAL=1
	lego --server "$DIR" --accept-tos --email ops@acme.test --path "$PWD/lego")
for kind in http tls dns; do
	name=l-$kind.acme.test
	names=$name
	doms=(-d "$name")
	case $kind in
	http) how=(--http --http.port "127.0.0.1:$HTTP01_PORT") label="lego http-01" ;;
	tls) how=(--tls --tls.port "127.0.0.1:$TLSALPN_PORT") label="lego tls-alpn-01" ;;
	dns)
		# A name and its wildcard: two TXT values at one _acme-challenge name.
		how=(--dns exec --dns.disable-cp --dns.resolvers "127.0.0.1:$DNS_PORT")
		label="lego dns-01"
		doms+=(-d "*.$name")
		names="*.$name,$name"
		;;
	esac
	crt=$PWD/lego/certificates/$name.crt
	check "$label: lego run for $names" timeout "$T" "${lego[@]}" "${doms[@]}" "${how[@]}" run
	if [ ! -s "$crt" ]; then
		fail "$label: lego saved a certificate" "no $crt"
		continue
	fi
	leaf_of "$crt" "lego-$kind-1.pem"
	cert_checks "$label" "lego-$kind-1.pem" "$PWD/lego/certificates/$name.issuer.crt" "$names"
	check "$label: lego renew --days 365 --no-random-sleep" timeout "$T" "${lego[@]}" \
		"${doms[@]}" "${how[@]}" renew --days 365 --no-random-sleep
	leaf_of "$crt" "lego-$kind-2.pem"
	s1=$(serial_of "lego-$kind-1.pem")
	s2=$(serial_of "lego-$kind-2.pem")
	check "$label: the renewed certificate has a new serial ($s1 -> $s2)" test "$s1" != "$s2"
	cert_checks "$label renewed" "lego-$kind-2.pem" "$PWD/lego/certificates/$name.issuer.crt" "$names"
	leaf_of "$PWD/lego/certificates/$name.issuer.crt" "lego-$kind-issuer.pem"
	ocsp_good_check "$label" "lego-$kind-2.pem" "lego-$kind-issuer.pem"
	reason=0
	[ "$kind" = tls ] && reason=5 # cessationOfOperation
	check "$label: lego revoke --reason $reason" timeout "$T" "${lego[@]}" "${doms[@]}" \
		revoke --keep --reason "$reason"
	check "$label: OCSP says revoked" ocsp_revoked "lego-$kind-2.pem" "lego-$kind-issuer.pem"
	if [ "$kind" = tls ]; then
		expect_eq "$label: OCSP gives the reason asked for" \
			"$(ocsp_reason "lego-$kind-issuer.pem" "lego-$kind-2.pem")" cessationOfOperation
	fi
	expect_eq "$label: OCSP still says good for the certificate it renewed" \
		"$(ocsp_status "lego-$kind-1.pem" "lego-$kind-issuer.pem")" good
done

# lego 4.9.1 predates RFC 8738: it asks for an IP address as a "dns"
# identifier, which signet refuses (as pebble does).
check_fails "lego 4.9.1 for 127.0.0.1 (a dns identifier holding an IP address) is refused" \
	timeout "$T" "${lego[@]}" -d 127.0.0.1 --http --http.port "127.0.0.1:$HTTP01_PORT" run
expect_match "  with an ACME problem" "$(cat "$CHECK_OUT")" 'urn:ietf:params:acme:error:(rejectedIdentifier|malformed)'

# ======================================================================
# uacme: http-01 through its hook, the file served by python3 http.server
if ! unshare -m true 2>/dev/null; then
	skip "uacme against signetd" "unshare -m is not permitted here (uacme's libcurl trusts only the system bundle)"
else
	mkdir -p uacme/www/.well-known/acme-challenge uacme/conf
	cat /etc/ssl/certs/ca-certificates.crt "$ROOTS" >uacme/bundle.pem
	cat >uacme/hook.sh <<HOOK
#!/bin/sh
# uacme hook: \$1 begin|done|failed, \$2 type, \$3 identifier, \$4 token, \$5 key authorization.
dir=$PWD/uacme/www/.well-known/acme-challenge
[ "\$2" = http-01 ] || exit 1 # decline the other types
case \$1 in
begin) printf '%s' "\$5" >"\$dir/\$4" ;;
done | failed) rm -f "\$dir/\$4" ;;
esac
HOOK
	chmod +x uacme/hook.sh
	# Only uacme sees the bundle with signet's root, in its own mount namespace.
	cat >uacme/run.sh <<'RUN'
#!/bin/sh
# run.sh BUNDLE CMD...: CMD with BUNDLE over the system trust store, in this
# process's private mount namespace only.
set -e
bundle=$1
shift
mount --bind "$bundle" /etc/ssl/certs/ca-certificates.crt
exec "$@"
RUN
	chmod +x uacme/run.sh
	start_bg uacme-www python3 -m http.server --bind 127.0.0.1 --directory "$PWD/uacme/www" "$HTTP01_PORT"
	check "the http-01 web root answers" wait_http "http://127.0.0.1:$HTTP01_PORT/" 20
	ua=(timeout "$T" unshare -m --propagation private "$PWD/uacme/run.sh" "$PWD/uacme/bundle.pem"
		uacme -v -a "$DIR" -c "$PWD/uacme/conf" -h "$PWD/uacme/hook.sh" -y)
	uc=$PWD/uacme/conf/u.acme.test/cert.pem
	check "uacme new (account)" "${ua[@]}" new ops@acme.test
	check "uacme issue u.acme.test (http-01 through the hook)" "${ua[@]}" issue u.acme.test
	check "the system bundle outside uacme's namespace is untouched" \
		bash -c "! grep -qF '$(sed -n 2p "$ROOTS")' /etc/ssl/certs/ca-certificates.crt"
	if [ -s "$uc" ]; then
		leaf_of "$uc" uacme-1.pem
		chain_of "$uc" uacme-chain.pem
		cert_checks "uacme" uacme-1.pem uacme-chain.pem u.acme.test
		check "uacme -f issue (renewal)" "${ua[@]}" -f issue u.acme.test
		leaf_of "$uc" uacme-2.pem
		chain_of "$uc" uacme-chain.pem
		s1=$(serial_of uacme-1.pem)
		s2=$(serial_of uacme-2.pem)
		check "uacme: the renewed certificate has a new serial ($s1 -> $s2)" test "$s1" != "$s2"
		cert_checks "uacme renewed" uacme-2.pem uacme-chain.pem u.acme.test
		leaf_of uacme-chain.pem uacme-issuer.pem
		# The renewed-away certificate, revoked by its own key (a JWS with
		# the certificate's jwk, not the account's kid; RFC 8555 7.6).
		# uacme renames the file it revoked: give it a copy.
		cp uacme-1.pem uacme/revoke-1.pem
		check "uacme -r 4 revoke CERT CERTKEY (signed with the certificate's key)" "${ua[@]}" \
			-r 4 revoke "$PWD/uacme/revoke-1.pem" "$PWD/uacme/conf/private/u.acme.test/key.pem"
		check "uacme: OCSP says revoked for the first certificate" ocsp_revoked uacme-1.pem uacme-issuer.pem
		expect_eq "uacme: OCSP gives the reason asked for" \
			"$(ocsp_reason uacme-issuer.pem uacme-1.pem)" superseded
		ocsp_good_check "uacme" uacme-2.pem uacme-issuer.pem
		check "uacme revoke (signed with the account key)" "${ua[@]}" revoke "$uc"
		check "uacme: OCSP says revoked" ocsp_revoked uacme-2.pem uacme-issuer.pem
	else
		fail "uacme saved a certificate" "no $uc"
	fi
	# An IP identifier (RFC 8738): signetd connects to the address itself.
	ui=$PWD/uacme/conf/127.0.0.1/cert.pem
	check "uacme issue 127.0.0.1 (an ip identifier, http-01)" "${ua[@]}" issue 127.0.0.1
	if [ -s "$ui" ]; then
		leaf_of "$ui" uacme-ip.pem
		chain_of "$ui" uacme-ip-chain.pem
		cert_checks "uacme ip" uacme-ip.pem uacme-ip-chain.pem 127.0.0.1
	fi
	stop_bg uacme-www
fi

check "signetd logged no sanitizer report" \
	bash -c "! grep -q 'runtime error\|AddressSanitizer\|LeakSanitizer' signetd.log"
stop_bg signetd
stop_bg challtestsrv
