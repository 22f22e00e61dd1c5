#!/usr/bin/env bash
# The fuzz targets (OCSP request and response, the ACME JWS request path),
# for a bounded time: a fuzzing build (clang with libFuzzer, ASan, UBSan)
# of the three targets in a temp dir, then tests/fuzz/run.sh for 20 s per
# target.  Skipped, not failed, when clang
# or libFuzzer is missing.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

if ! command -v clang >/dev/null; then
	skip "fuzzing" "clang is not installed"
	exit 0
fi
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >probe.c
if ! clang -fsanitize=fuzzer,address probe.c -o probe >/dev/null 2>&1; then
	skip "fuzzing" "clang has no libFuzzer (apt-get install libclang-rt-dev)"
	exit 0
fi
mkdir -p fuzz-build
check "configure --enable-fuzzing" bash -c "cd fuzz-build && CC=clang '$SIGNET_SRC/configure' --enable-fuzzing"
check "build the three fuzz targets" bash -c \
	"cd fuzz-build && make -j2 tests/fuzz/fuzz_ocsp_request tests/fuzz/fuzz_ocsp_response tests/fuzz/fuzz_acme_jws"
check "each target runs 20 s without a finding" timeout 180 \
	"$SIGNET_SRC/tests/fuzz/run.sh" 20 "$PWD/fuzz-build"
rm -rf fuzz-build
