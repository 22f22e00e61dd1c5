#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [BUILD_DIR]
#
# Runs each built libFuzzer target (tests/fuzz/fuzz_* in BUILD_DIR, default
# $SIGNET_BUILD_DIR or build-fuzz/ beside the source) for SECONDS
# (-max_total_time) on a small seed corpus made here with `openssl ocsp
# -reqout` (SHA-1 and SHA-256 CertIDs, with and without nonce, several
# CertIDs) plus their GET forms (standard base64, %-escaped, URL-safe).
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

# ------------------------------------------------------------------- run
failed=0
for t in "${targets[@]}"; do
	name=$(basename "$t")
	corpus=$work/corpus_$name
	mkdir -p "$corpus" "$work/artifacts_$name"
	echo "== $name for ${secs}s"
	if "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=12000 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts_$name/" \
		"$corpus" "$seeds" >"$work/$name.log" 2>&1; then
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
