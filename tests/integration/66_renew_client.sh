#!/usr/bin/env bash
# signet renew, the client of POST /v1/renew: usage errors (exit 2);
# one-shot mode (not due: nothing changes; --force; --keep-key; --pop with
# EC and RSA keys; Ed25519 over mTLS); files replaced by rename with their
# modes kept; a mismatched pair refused and an interrupted replacement
# recovered; revoked and expired certificates (exit 1); the CA
# unreachable (exit 3); the daemon renewing a 60-second certificate again
# and again with its hook, without a gap in validity, retrying while
# signetd is down and renewing once it is back, and stopping on SIGTERM;
# the examples in docs/examples parse (systemd-analyze verify, YAML).
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=SCRIPTDIR/ca_lib.sh
. "$(dirname "$0")/ca_lib.sh"

ca_init
ca_start
ca_provisioner svc --allow-dns '*.svc.test' --profiles server,client --default-lifetime 1h \
	--max-lifetime 2h
ROOTS=$CA_DIR/roots.pem

spki_of() {
	openssl x509 -in "$1" -noout -pubkey | openssl sha256 | awk '{print $NF}'
}
keyspki_of() {
	openssl pkey -in "$1" -pubout | openssl sha256 | awk '{print $NF}'
}
epoch_of() { # FILE startdate|enddate
	date -d "$(openssl x509 -in "$1" -noout "-$2" | cut -d= -f2)" +%s
}
predecessor_of() {
	psql_val "SELECT predecessor FROM certificates WHERE serial = '$1'"
}

# enroll NAME SAN [enroll flags...]: NAME.pem, NAME.key (token flags from
# TOKEN_FLAGS).
TOKEN_FLAGS=()
enroll() {
	local name=$1 san=$2 tok
	shift 2
	tok=$(ca_token svc "$san")
	check "enrolled $name ($san)" "$SIGNET" enroll --ca-url "$CA_URL" --root "$ROOTS" \
		--token "$tok" --cert-out "$PWD/$name.pem" --key-out "$PWD/$name.key" "$@"
}

# rc_of CMD...: its exit status; its stderr in ./err.txt, stdout in ./out.txt.
rc_of() {
	local rc=0
	"$@" >out.txt 2>err.txt || rc=$?
	echo "$rc"
}

# renew NAME [flags...]: signet renew of NAME.pem/NAME.key against the CA.
renew() {
	local name=$1
	shift
	"$SIGNET" renew --cert "$PWD/$name.pem" --key "$PWD/$name.key" --ca-url "$CA_URL" \
		--root "$ROOTS" "$@"
}

# --- usage errors: exit 2, one line on stderr ---
enroll o o.svc.test
usage_case() { # DESC EXPECTED-REGEX ARGS...
	local desc=$1 re=$2
	shift 2
	expect_eq "$desc: exit 2" "$(rc_of "$SIGNET" renew "$@")" 2
	expect_eq "  one line on stderr" "$(wc -l <err.txt)" 1
	expect_match "  saying why" "$(cat err.txt)" "$re"
}
usage_case "no arguments" "need --cert and --key"
usage_case "no --key" "need --cert and --key" --cert o.pem
usage_case "no --ca-url" "need --ca-url and --root" --cert o.pem --key o.key --root "$ROOTS"
usage_case "plain http" "https://" --cert o.pem --key o.key --root "$ROOTS" \
	--ca-url "http://127.0.0.1:$HTTPS_PORT"
usage_case "--renew-at 1.5" "fraction" --cert o.pem --key o.key --root "$ROOTS" \
	--ca-url "$CA_URL" --renew-at 1.5
usage_case "--renew-at abc" "fraction" --cert o.pem --key o.key --root "$ROOTS" \
	--ca-url "$CA_URL" --renew-at abc
usage_case "an unknown option" "usage" --cert o.pem --key o.key --bogus
usage_case "a stray argument" "unexpected argument" --cert o.pem --key o.key extra
usage_case "the same file for cert and key" "different files" --cert o.pem --key o.pem \
	--root "$ROOTS" --ca-url "$CA_URL"
usage_case "an empty --exec" "--exec" --cert o.pem --key o.key --root "$ROOTS" \
	--ca-url "$CA_URL" --exec ''
usage_case "a --root that does not exist" "--root" --cert o.pem --key o.key \
	--root "$PWD/nope.pem" --ca-url "$CA_URL"
check "signet renew --help exits 0" "$SIGNET" renew --help
expect_match "  and lists --daemon" "$(cat "$CHECK_OUT")" "--daemon"

# --- one-shot, not due: exit 0, nothing changes ---
chmod 0640 o.pem
cp -p o.pem o-before.pem
cp -p o.key o-before.key
expect_eq "one-shot, not due: exit 0" "$(rc_of renew o)" 0
expect_match "  says when it will renew" "$(cat err.txt)" 'msg="not due".*renew_at=[0-9T:-]+Z'
check "  the certificate is unchanged" cmp o.pem o-before.pem
check "  the key is unchanged" cmp o.key o-before.key

# --- --force: a new certificate and a new key, files replaced by rename ---
o0=$(serial_of o.pem)
ino_cert=$(stat -c %i o.pem)
ino_key=$(stat -c %i o.key)
expect_eq "--force renews: exit 0" "$(rc_of renew o --force --chain-out "$PWD/o-chain.pem")" 0
expect_match "  logging the new serial" "$(cat err.txt)" 'msg="renewed".*predecessor='"$o0"
o1=$(serial_of o.pem)
check "  the serial changed" test "$o1" != "$o0"
expect_eq "  the database records the predecessor" "$(predecessor_of "$o1")" "$o0"
check "  the key is new" test "$(keyspki_of o.key)" != "$(keyspki_of o-before.key)"
expect_eq "  the new certificate is for the new key" "$(spki_of o.pem)" "$(keyspki_of o.key)"
expect_eq "  the key keeps mode 0600" "$(stat -c %a o.key)" 600
expect_eq "  the certificate keeps mode 0640" "$(stat -c %a o.pem)" 640
check "  the certificate was replaced by rename (a new inode)" \
	test "$(stat -c %i o.pem)" != "$ino_cert"
check "  the key was replaced by rename" test "$(stat -c %i o.key)" != "$ino_key"
check "  no .signet-new file is left" bash -c '! ls ./*.signet-new 2>/dev/null | grep -q .'
check "  the chain was written and the certificate verifies with it" openssl verify \
	-CAfile "$ROOTS" -untrusted o-chain.pem o.pem
expect_match "  it keeps the name" "$(openssl x509 -in o.pem -noout -ext subjectAltName)" \
	"DNS:o.svc.test"
expect_eq "  it is a one-hour certificate again" \
	"$(($(epoch_of o.pem enddate) - $(epoch_of o.pem startdate)))" 3660

# --- --keep-key ---
cp o.key o-k1.key
expect_eq "--force --keep-key renews: exit 0" "$(rc_of renew o --force --keep-key)" 0
o2=$(serial_of o.pem)
check "  the serial changed" test "$o2" != "$o1"
check "  the key file is the same" cmp o.key o-k1.key
expect_eq "  the certificate still certifies it" "$(spki_of o.pem)" "$(keyspki_of o.key)"

# --- --pop: a proof of possession instead of mTLS (EC, then RSA: PS256) ---
expect_eq "--force --pop renews: exit 0" "$(rc_of renew o --force --pop)" 0
o3=$(serial_of o.pem)
expect_eq "  the CA saw a proof of possession" \
	"$(psql_val "SELECT requester FROM certificates WHERE serial = '$o3'")" "renewal:$o2 via:pop"
expect_eq "  for the new key" "$(spki_of o.pem)" "$(keyspki_of o.key)"
enroll rsa rsa.svc.test --key-type rsa-2048
rsa0=$(serial_of rsa.pem)
expect_eq "an RSA certificate renews with --pop" "$(rc_of renew rsa --force --pop)" 0
rsa1=$(serial_of rsa.pem)
expect_eq "  via a proof of possession" \
	"$(psql_val "SELECT requester FROM certificates WHERE serial = '$rsa1'")" "renewal:$rsa0 via:pop"
expect_match "  with a new RSA-2048 key" "$(openssl pkey -in rsa.key -noout -text)" "2048 bit"
expect_eq "  that the certificate certifies" "$(spki_of rsa.pem)" "$(keyspki_of rsa.key)"

# --- Ed25519: mTLS renews, --pop is a usage error ---
enroll ed ed.svc.test --key-type ed25519
cp ed.pem ed-before.pem
expect_eq "an Ed25519 certificate cannot use --pop: exit 2" "$(rc_of renew ed --force --pop)" 2
expect_match "  saying why" "$(cat err.txt)" "Ed25519.*leave out --pop"
check "  nothing changed" cmp ed.pem ed-before.pem
expect_eq "an Ed25519 certificate renews over mTLS" "$(rc_of renew ed --force)" 0
expect_match "  with a new Ed25519 key" "$(openssl pkey -in ed.key -noout -text)" "ED25519"
expect_eq "  that the certificate certifies" "$(spki_of ed.pem)" "$(keyspki_of ed.key)"

# --- two renewals in one directory never interleave: the second waits ---
mkdir -p lockdir
cp -p o.pem lockdir/l.pem
cp -p o.key lockdir/l.key
start_bg holder flock "$PWD/lockdir" sleep 300
deadline=$((SECONDS + 20))
while flock -n lockdir true && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
expect_eq "while another process holds the directory it waits (until timeout stops it)" \
	"$(rc_of timeout 3 "$SIGNET" renew --cert "$PWD/lockdir/l.pem" --key "$PWD/lockdir/l.key" \
	--ca-url "$CA_URL" --root "$ROOTS" --force)" 124
expect_match "  and says why on SIGTERM" "$(cat err.txt)" "another signet renew"
check "  nothing changed" cmp lockdir/l.pem o.pem
stop_bg holder
expect_eq "once it is free, the renewal goes through" "$(rc_of "$SIGNET" renew --cert \
	"$PWD/lockdir/l.pem" --key "$PWD/lockdir/l.key" --ca-url "$CA_URL" --root "$ROOTS" \
	--force)" 0

# --- a mismatched pair is refused, nothing touched ---
cp o.pem mm.pem
cp ed.key mm.key
expect_eq "a certificate with another key: exit 2" "$(rc_of renew mm --force)" 2
expect_match "  saying they do not match" "$(cat err.txt)" "do not match"
check "  the certificate is untouched" cmp mm.pem o.pem

# --- recovery of a replacement a crash interrupted ---
# After the key's rename, before the certificate's: new key, old
# certificate, the new certificate still in CERT.signet-new.
enroll x x.svc.test
cp x.pem x-old.pem
expect_eq "x renewed" "$(rc_of renew x --force)" 0
cp x.pem x-new.pem
cp x.pem x.pem.signet-new
cp x-old.pem x.pem
expect_eq "after a crash between the renames: exit 0" "$(rc_of renew x)" 0
expect_match "  it says it finished the renewal" "$(cat err.txt)" 'msg="recovered".*finished'
check "  the certificate is the new one" cmp x.pem x-new.pem
check "  no .signet-new file is left" test ! -e x.pem.signet-new
# Before the first rename: the old pair stands, the staged files go.
cp x.pem x-now.pem
echo garbage >x.pem.signet-new
echo garbage >x.key.signet-new
expect_eq "after a crash before any rename: exit 0" "$(rc_of renew x)" 0
expect_match "  it says it removed the leftovers" "$(cat err.txt)" 'msg="recovered".*removed'
check "  the certificate is unchanged" cmp x.pem x-now.pem
check "  the staged files are gone" bash -c '! test -e x.pem.signet-new && ! test -e x.key.signet-new'

# --- revoked: exit 1 with the CA's reason ---
enroll r r.svc.test
check "signet revoke r" "$SIGNET" revoke "$(serial_of r.pem)" --reason superseded
expect_eq "a revoked certificate: exit 1" "$(rc_of renew r --force)" 1
expect_match "  with the CA's reason" "$(cat err.txt)" "HTTP 401.*revoked"
expect_eq "  the daemon exits 1 too" "$(rc_of timeout 60 "$SIGNET" renew --daemon --force \
	--cert "$PWD/r.pem" --key "$PWD/r.key" --ca-url "$CA_URL" --root "$ROOTS")" 1

# --- the CA unreachable, one-shot: exit 3, nothing changes ---
cp o.pem o-before.pem
dead=https://127.0.0.1:$(free_port)
expect_eq "nothing listening: exit 3" "$(rc_of "$SIGNET" renew --cert "$PWD/o.pem" \
	--key "$PWD/o.key" --ca-url "$dead" --root "$ROOTS" --force)" 3
expect_match "  naming the URL" "$(cat err.txt)" "$dead/v1/renew"
check "  the certificate is unchanged" cmp o.pem o-before.pem

# --- the daemon: a 60-second certificate renewed again and again ---
TOKEN_FLAGS=(--lifetime 60s)
enroll d d.svc.test
TOKEN_FLAGS=()
chmod 0640 d.pem
cp d.pem d-first.pem
cp d.key d-first.key
mkdir -p seen
cp d.pem seen/0.pem
nseen=1
# shellcheck disable=SC2016 # expanded by the hook's shell
hook='cp "$SIGNET_CERT" "snap-$SIGNET_SERIAL.pem" && cp "$SIGNET_KEY" "snap-$SIGNET_SERIAL.key" && echo "renewed $SIGNET_SERIAL $SIGNET_NOT_AFTER" >>hook.log'
start_bg renewd "$SIGNET" renew --daemon --cert "$PWD/d.pem" --key "$PWD/d.key" \
	--chain-out "$PWD/d-chain.pem" --ca-url "$CA_URL" --root "$ROOTS" --exec "$hook"

# watch_until N DEADLINE_S: poll d.pem and keep each distinct certificate
# as seen/K.pem until N have been seen.
watch_until() {
	local want=$1 deadline=$((SECONDS + $2)) s last
	while [ "$nseen" -lt "$want" ] && [ "$SECONDS" -lt "$deadline" ]; do
		kill -0 "$(bg_pid renewd)" 2>/dev/null || break
		cp d.pem seen/tmp.pem 2>/dev/null || true
		s=$(serial_of seen/tmp.pem 2>/dev/null || true)
		last=$(serial_of "seen/$((nseen - 1)).pem")
		if [ -n "$s" ] && [ "$s" != "$last" ]; then
			mv seen/tmp.pem "seen/$nseen.pem"
			nseen=$((nseen + 1))
		fi
		sleep 0.2
	done
}
watch_until 3 110
expect_eq "the daemon renewed twice (three certificates seen)" "$nseen" 3

# no_gap FROM TO: certificates seen/FROM..TO follow one another.
no_gap() {
	local i prev cur
	for i in $(seq "$(($1 + 1))" "$2"); do
		prev=seen/$((i - 1)).pem cur=seen/$i.pem
		[ -f "$cur" ] || continue
		check "renewal $i: notBefore is not after the previous notAfter" \
			test "$(epoch_of "$cur" startdate)" -le "$(epoch_of "$prev" enddate)"
		expect_eq "renewal $i: its predecessor in the database is the previous one" \
			"$(predecessor_of "$(serial_of "$cur")")" "$(serial_of "$prev")"
		expect_eq "renewal $i: the hook ran for it, with the key beside it" \
			"$(spki_of "snap-$(serial_of "$cur").pem" 2>/dev/null || echo none)" \
			"$(keyspki_of "snap-$(serial_of "$cur").key" 2>/dev/null || echo none)"
	done
}
no_gap 0 2
check "the hook ran at least twice" test "$(grep -c '^renewed ' hook.log 2>/dev/null || echo 0)" -ge 2
expect_match "  and the daemon logged it" "$(cat renewd.log)" 'msg="hook ran" status=0'
expect_eq "the key keeps mode 0600" "$(stat -c %a d.key)" 600
expect_eq "the certificate keeps mode 0640" "$(stat -c %a d.pem)" 640
check "the certificate verifies with the chain the daemon wrote" openssl verify \
	-CAfile "$ROOTS" -untrusted d-chain.pem d.pem
check "d.pem and d.key match" test "$(spki_of d.pem)" = "$(keyspki_of d.key)"

# --- signetd down: the daemon retries with backoff, renews once it is back ---
# Down until it has failed three times (1 s, 1-2 s, 2-4 s apart): the
# certificate still has half a minute then.
stop_bg signetd
retries() { grep -o 'msg="renewal failed".*retry_in=[0-9]*' renewd.log | sed 's/.*retry_in=//'; }
deadline=$((SECONDS + 60))
until [ "$(retries | wc -l)" -ge 3 ] || [ "$SECONDS" -ge "$deadline" ]; do
	sleep 0.2
done
check "with signetd down the daemon fails and plans a retry, three times" \
	test "$(retries | wc -l)" -ge 3
expect_match "  saying why" "$(grep 'msg="renewal failed"' renewd.log | head -n 1)" \
	"Couldn't connect|Connection refused"
delays=$(retries | tr '\n' ' ')
check "  waiting longer each time (backoff: $delays)" \
	test "$(retries | sed -n 1p)" -lt "$(retries | sed -n 3p)"
check "  and keeps running" kill -0 "$(bg_pid renewd)"
ca_start
watch_until 4 60
expect_eq "once signetd is back the daemon renews" "$nseen" 4
no_gap 2 3

# --- SIGTERM: a prompt, clean stop ---
stop_bg renewd
expect_match "the daemon stopped on SIGTERM, cleanly" "$(tail -n 3 renewd.log)" 'msg="stopping" reason=signal'

# --- expired: exit 1 (the first 60-second certificate lapsed by now) ---
deadline=$((SECONDS + 90))
while openssl x509 -in d-first.pem -noout -checkend 0 >/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
	sleep 1
done
cp d-first.pem dx.pem
cp d-first.key dx.key
expect_eq "an expired certificate: exit 1" "$(rc_of renew dx)" 1
expect_match "  saying it expired and what to do" "$(cat err.txt)" "expired at .*enroll again"
check "  nothing changed" cmp dx.pem d-first.pem

# --- the examples ---
ex=$SIGNET_SRC/docs/examples
mkdir -p units
for f in "$ex"/systemd/*; do
	sed "s#/usr/local/bin/signet#$SIGNET#g" "$f" >"units/$(basename "$f")"
done
check "systemd-analyze verify accepts the example units" systemd-analyze verify --man=no \
	units/signet-renew@web.service units/signet-renew@web.timer units/signet-renewd@web.service
expect_eq "  without a warning" "$(cat "$CHECK_OUT")" ""
check "the Kubernetes CronJob parses as a batch/v1 CronJob" python3 -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
assert len(docs) == 1, "one document"
d = docs[0]
assert d["apiVersion"] == "batch/v1" and d["kind"] == "CronJob", "kind"
assert d["metadata"]["name"], "name"
assert len(d["spec"]["schedule"].split()) == 5, "a five-field schedule"
assert d["spec"]["concurrencyPolicy"] == "Forbid", "no overlapping runs"
pod = d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
assert pod["restartPolicy"] in ("Never", "OnFailure"), "restartPolicy"
c = pod["containers"][0]
assert c["args"][0] == "renew", "runs signet renew"
mounts = {m["name"] for m in c["volumeMounts"]}
assert mounts <= {v["name"] for v in pod["volumes"]}, "every mount has a volume"
print(" ".join(c["args"]))' "$ex/kubernetes/signet-renew-cronjob.yaml"
k8s_args=$(cat "$CHECK_OUT")
"$SIGNET" renew --help >renew-help.txt
for opt in $( (grep -h -A4 'signet renew' "$ex"/systemd/*.service; echo "$k8s_args") |
	grep -o -- '--[a-z][a-z-]*' | sort -u); do
	check "the examples' option $opt is one signet renew takes" grep -q -- "$opt" renew-help.txt
done

stop_bg signetd
