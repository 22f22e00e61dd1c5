#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [BUILD_DIR]
#
# Runs each built libFuzzer target (tests/fuzz/fuzz_* in BUILD_DIR, default
# $SIGNET_BUILD_DIR or build-fuzz/ beside the source) for SECONDS
# (-max_total_time) on a small seed corpus made here with `openssl ocsp
# -reqout` (SHA-1 and SHA-256 CertIDs, with and without nonce, several
# CertIDs) plus their GET forms (standard base64, %-escaped, URL-safe);
# fuzz_acme_* targets start from ACME request bodies made with
# tests/integration/acme_jws.py instead.
# Builds nothing: configure with CC=clang ../configure --enable-fuzzing and
# make first.  Corpus, logs and any crash artifacts go to a temp dir that
# is kept (and named) when a target fails.  Exit 1 if any target failed,
# 2 on usage errors.
set -eu

usage() {
	echo "usage: tests/fuzz/run.sh SECONDS [BUILD_DIR]" >&2
	exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
secs=$1
case $secs in '' | *[!0-9]*) usage ;; esac
[ "$secs" -ge 1 ] || usage
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
bdir=${2:-${SIGNET_BUILD_DIR:-$src/build-fuzz}}

targets=()
for t in "$bdir"/tests/fuzz/fuzz_*; do
	[ -x "$t" ] && [ -f "$t" ] && case $t in *.o | *.c) ;; *) targets+=("$t") ;; esac
done
if [ ${#targets[@]} -eq 0 ]; then
	echo "no fuzz targets in $bdir/tests/fuzz (configure --enable-fuzzing and make)" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/signet-fuzz.XXXXXX")
keep=0
cleanup() { [ "$keep" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT

# ------------------------------------------------------------ seed corpus
seeds=$work/seeds
mkdir -p "$seeds" "$work/pki"
(
	cd "$work/pki"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout ca.key -out ca.pem -subj /CN=seed-ca -days 1 2>/dev/null
	for n in 1 2; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout l$n.key -out l$n.csr -subj /CN=leaf$n 2>/dev/null
		openssl x509 -req -in l$n.csr -CA ca.pem -CAkey ca.key \
			-set_serial "0x$(openssl rand -hex 16 | sed 's/^./4/')" \
			-out l$n.pem -days 1 2>/dev/null
	done
	openssl ocsp -issuer ca.pem -cert l1.pem -no_nonce -reqout "$seeds/sha1.der"
	openssl ocsp -issuer ca.pem -cert l1.pem -reqout "$seeds/sha1_nonce.der"
	openssl ocsp -sha256 -issuer ca.pem -cert l1.pem -no_nonce -reqout "$seeds/sha256.der"
	openssl ocsp -sha256 -issuer ca.pem -cert l1.pem -cert l2.pem -serial 0x0a \
		-reqout "$seeds/sha256_three_nonce.der"
	openssl ocsp -issuer ca.pem -serial 0x00ff -no_nonce -reqout "$seeds/serial.der"
) >"$work/seeds.log" 2>&1 || {
	echo "making the seed corpus failed:" >&2
	cat "$work/seeds.log" >&2
	exit 1
}
for f in "$seeds"/*.der; do
	b=$(base64 -w0 <"$f")
	printf '%s' "$b" >"${f%.der}.get"
	printf '%s' "$b" | sed -e 's/+/%2B/g' -e 's|/|%2F|g' -e 's/=/%3D/g' >"${f%.der}.pct"
	printf '%s' "$b" | tr '+/' '-_' | tr -d '=' >"${f%.der}.url"
done

# ACME request bodies for fuzz_acme_jws (python3-cryptography through
# tests/integration/acme_jws.py; without it the target starts from
# nothing): new-account with an external account binding, keyChange with
# its inner JWS, revokeCert, a kid-form POST-as-GET.
jws_seeds=$work/seeds_jws
mkdir -p "$jws_seeds"
(
	cd "$work/pki"
	j=$src/tests/integration/acme_jws.py
	u=https://ca.test/acme/p
	python3 "$j" keygen ec256 a.key
	python3 "$j" keygen ec384 b.key
	python3 "$j" keygen rsa2048 r.key
	eab=$(python3 "$j" eab a.key kid1 c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I "$u/new-account")
	python3 "$j" sign a.key ES256 "$u/new-account" --nonce=bm9uY2U \
		--payload "{\"termsOfServiceAgreed\":true,\"externalAccountBinding\":$eab}" >"$jws_seeds/eab.json"
	python3 "$j" sign r.key RS256 "$u/new-account" --nonce=bm9uY2U \
		--payload '{"contact":["mailto:a@b.test"]}' >"$jws_seeds/rsa.json"
	inner=$(python3 "$j" keychange b.key ES384 "$u/key-change" "$u/acct/1" a.key)
	python3 "$j" sign a.key ES256 "$u/key-change" --nonce=bm9uY2U --kid "$u/acct/1" \
		--payload "$inner" >"$jws_seeds/keychange_kid.json"
	python3 "$j" sign a.key ES256 "$u/key-change" --nonce=bm9uY2U \
		--payload "$inner" >"$jws_seeds/keychange_jwk.json"
	python3 "$j" sign a.key ES256 "$u/revoke-cert" --nonce=bm9uY2U \
		--payload "{\"certificate\":\"$(openssl x509 -in l1.pem -outform DER | base64 -w0 | tr '+/' '-_' | tr -d '=')\",\"reason\":1}" \
		>"$jws_seeds/revoke.json"
	python3 "$j" sign a.key ES256 "$u/acct/1" --nonce=bm9uY2U --kid "$u/acct/1" \
		--post-as-get >"$jws_seeds/post_as_get.json"
) >"$work/seeds_jws.log" 2>&1 || echo "note: no ACME JWS seeds (python3-cryptography?); see $work/seeds_jws.log" >&2

# ------------------------------------------------------------------- run
failed=0
for t in "${targets[@]}"; do
	name=$(basename "$t")
	corpus=$work/corpus_$name
	mkdir -p "$corpus" "$work/artifacts_$name"
	case $name in
	fuzz_acme_*) seed_dir=$jws_seeds ;;
	*) seed_dir=$seeds ;;
	esac
	echo "== $name for ${secs}s"
	if "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=12000 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts_$name/" \
		"$corpus" "$seed_dir" >"$work/$name.log" 2>&1; then
		grep -E '^stat::number_of_executed_units|^Done' "$work/$name.log" || true
		echo "ok: $name"
	else
		failed=1
		keep=1
		tail -n 40 "$work/$name.log"
		echo "FAILED: $name (log and artifacts in $work)"
	fi
done
exit "$failed"
