#!/usr/bin/env bash
# The OCSP fuzz targets, for a bounded time: a fuzzing build (clang with
# libFuzzer, ASan, UBSan) of the two targets in a temp dir, then
# tests/fuzz/run.sh for 20 s per target.  Skipped, not failed, when clang
# or libFuzzer is missing.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

if ! command -v clang >/dev/null; then
	skip "OCSP fuzzing" "clang is not installed"
	exit 0
fi
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >probe.c
if ! clang -fsanitize=fuzzer,address probe.c -o probe >/dev/null 2>&1; then
	skip "OCSP fuzzing" "clang has no libFuzzer (apt-get install libclang-rt-dev)"
	exit 0
fi
mkdir -p fuzz-build
check "configure --enable-fuzzing" bash -c "cd fuzz-build && CC=clang '$SIGNET_SRC/configure' --enable-fuzzing"
check "build the two OCSP fuzz targets" bash -c \
	"cd fuzz-build && make -j2 tests/fuzz/fuzz_ocsp_request tests/fuzz/fuzz_ocsp_response"
check "each target runs 20 s without a finding" timeout 120 \
	"$SIGNET_SRC/tests/fuzz/run.sh" 20 "$PWD/fuzz-build"
rm -rf fuzz-build
