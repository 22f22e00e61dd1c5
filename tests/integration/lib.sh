# shellcheck shell=bash
# Helpers for integration tests.  Each tests/integration/NN_name.sh starts
#
#     . "$(dirname "$0")/lib.sh"
#
# and is run by scripts/test with bash, in its own fresh working directory,
# under `timeout`.  The runner exports:
#   SIGNET SIGNETD                 the binaries under test
#   SIGNET_SRC SIGNET_BUILD_DIR    source and build trees
#   SIGNET_TEST_DB                 conninfo of a fresh, empty database for this file
#   SOFTHSM2_CONF                  a fresh private SoftHSM with two empty tokens:
#   SIGNET_TEST_PKCS11_MODULE SIGNET_TEST_TOKEN (signet-online) SIGNET_TEST_PIN
#   SIGNET_TEST_PIN_FILE SIGNET_TEST_ROOT_TOKEN (signet-root) SIGNET_TEST_ROOT_PIN
#   SIGNET_TEST_ROOT_PIN_FILE
#   SIGNET_TEST_TMP SIGNET_TEST_PIDS SIGNET_TEST_RESULTS SIGNET_TEST_NAME
#   SIGNET_TEST_SANITIZERS (0|1)   and ASAN_OPTIONS/UBSAN_OPTIONS when 1
#   SIGNET_PG_DIR SIGNET_PG_PORT SIGNET_PG_BIN SIGNET_PG_DATA  the shared cluster
#
# Results (one line each: PASS|FAIL|SKIP <file>: <description>) are appended
# to $SIGNET_TEST_RESULTS; the runner totals them.  Helpers:
#
#   check "desc" CMD ARGS...        pass when CMD exits 0 (stdin: check's own, so
#                                   `check "d" grep -q X <<<"$s"` works); on failure prints the
#                                   description, the status and the last lines
#                                   of CMD's output.  The output of the last
#                                   check is in the file $CHECK_OUT.
#   check_fails "desc" CMD ARGS...  pass when CMD exits non-zero (a crash, i.e.
#                                   death by a signal or a sanitizer abort, is
#                                   still a failure)
#   expect_eq "desc" ACTUAL EXPECTED
#   expect_match "desc" STRING REGEX   (bash =~, extended regex)
#   pass "desc" | fail "desc" [why] | skip "desc" REASON
#   start_bg NAME CMD ARGS...       start CMD (an executable, not a shell function)
#                                   in the background in its own session, log to
#                                   ./NAME.log, pid under $SIGNET_TEST_PIDS
#   kill_bg NAME                    SIGKILL it on purpose; records nothing
#   stop_bg NAME                    SIGTERM, wait up to 10 s, then SIGKILL; records
#                                   a FAIL if it had to SIGKILL or NAME exited
#                                   abnormally (non-zero status, other than by
#                                   our SIGTERM): crashes and sanitizer reports
#                                   at shutdown do not go unnoticed
#   bg_pid NAME                     the pid of a start_bg process
#   wait_http URL [TIMEOUT_S] [CURL_ARGS...]  poll until URL answers (any HTTP
#                                   status), at most TIMEOUT_S (default 30) s
#   free_port                       a free loopback TCP port, not handed out before
#   fresh_db NAME                   create a new empty database; echoes its conninfo
#   fresh_tokens DIR                fresh SoftHSM config + tokens in DIR (exported)
#   pg_kill | pg_start_again        stop the shared cluster hard / start it again
#   on_exit "SHELL CODE"            run at exit (lib.sh owns the EXIT trap; do not
#                                   set your own)
#
# Files run one at a time, each with its own database and tokens; a
# process of yours that outlives the file is killed by the runner if its pid
# is in a file under $SIGNET_TEST_PIDS (start_bg does that; for e.g. nginx,
# point its `pid` directive there).  One file alone, without rebuilding:
#   SIGNET_TEST_SKIP_BUILD=1 SIGNET_TEST_ONLY=10_name scripts/test
#
# lib.sh sets `set -eEu -o pipefail`: a failing command outside check & co.
# ends the file, which the runner counts as one failure (the failing line
# and command are printed).

set -eEu -o pipefail

_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
: "${SIGNET_SRC:=$(cd "$_lib_dir/../.." && pwd -P)}"
# shellcheck source=SCRIPTDIR/../../scripts/lib/services.sh
. "$SIGNET_SRC/scripts/lib/services.sh"

: "${SIGNET_TEST_NAME:=$(basename "$0" .sh)}"
if [ -z "${SIGNET_PG_DIR:-}" ] || [ -z "${SOFTHSM2_CONF:-}" ]; then
	echo "$SIGNET_TEST_NAME: run integration tests through scripts/test, which starts" >&2
	echo "PostgreSQL and SoftHSM for them; one file, without rebuilding:" >&2
	echo "  SIGNET_TEST_SKIP_BUILD=1 SIGNET_TEST_ONLY=$SIGNET_TEST_NAME scripts/test" >&2
	exit 2
fi
_lib_standalone=0
if [ -z "${SIGNET_TEST_RESULTS:-}" ]; then
	# Run by hand, outside scripts/test: keep results here, total at exit.
	_lib_standalone=1
	SIGNET_TEST_RESULTS=$PWD/results.txt
	: >"$SIGNET_TEST_RESULTS"
fi
: "${SIGNET_TEST_TMP:=$PWD}"
: "${SIGNET_TEST_PIDS:=$SIGNET_TEST_TMP/pids}"
: "${SIGNET_BUILD_DIR:=$SIGNET_SRC/build}"
: "${SIGNET:=$SIGNET_BUILD_DIR/signet}"
: "${SIGNETD:=$SIGNET_BUILD_DIR/signetd}"
: "${SIGNET_PORTS_FILE:=$SIGNET_TEST_TMP/ports}"
export SIGNET_SRC SIGNET_TEST_NAME SIGNET_TEST_RESULTS SIGNET_TEST_TMP \
	SIGNET_TEST_PIDS SIGNET_BUILD_DIR SIGNET SIGNETD SIGNET_PORTS_FILE
mkdir -p "$SIGNET_TEST_PIDS"

_lib_logdir=$PWD/.checks
mkdir -p "$_lib_logdir"
_lib_n=0
CHECK_OUT=/dev/null
_lib_exit_hooks=()
declare -A _lib_bg_pids=()

_lib_record() {
	# $1 = PASS|FAIL|SKIP, $2 = description.  One line, no newlines in it.
	local desc=${2//$'\n'/ }
	printf '%s %s: %s\n' "$1" "$SIGNET_TEST_NAME" "$desc" >>"$SIGNET_TEST_RESULTS"
}

pass() {
	_lib_record PASS "$1"
	printf '  ok    %s\n' "$1"
}

fail() {
	_lib_record FAIL "$1"
	printf '  FAIL  %s%s\n' "$1" "${2:+ ($2)}"
}

skip() {
	_lib_record SKIP "$1"
	printf '  skip  %s (%s)\n' "$1" "${2:-no reason given}"
}

# Describe an exit status: "exit 3", or "killed by SIGSEGV" for 128+N.
_lib_status() {
	local rc=$1 sig
	if [ "$rc" -gt 128 ] && sig=$(kill -l "$((rc - 128))" 2>/dev/null); then
		printf 'exit %s, killed by SIG%s' "$rc" "$sig"
	else
		printf 'exit %s' "$rc"
	fi
}

_lib_show_output() {
	local lines=${2:-25}
	if [ -s "$1" ]; then
		printf '        | %s\n' "last output lines:"
		tail -n "$lines" "$1" | sed 's/^/        | /'
	else
		printf '        | (no output)\n'
	fi
}

_lib_run() {
	_lib_n=$((_lib_n + 1))
	CHECK_OUT=$_lib_logdir/$_lib_n.out
	printf '$ %s\n' "$*" >"$CHECK_OUT.cmd"
	# stdin is the caller's (the runner gives each file /dev/null), so that
	# `check "desc" grep -q X <<<"$text"` reads "$text".
	"$@" >"$CHECK_OUT" 2>&1
}

check() {
	local desc=$1 rc=0
	shift
	_lib_run "$@" || rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "$desc"
	else
		fail "$desc" "$(_lib_status "$rc"): $*"
		_lib_show_output "$CHECK_OUT"
	fi
	return 0
}

check_fails() {
	local desc=$1 rc=0
	shift
	_lib_run "$@" || rc=$?
	if [ "$rc" -eq 0 ]; then
		fail "$desc" "expected failure, but it exited 0: $*"
		_lib_show_output "$CHECK_OUT"
	elif [ "$rc" -gt 128 ] && [ "$rc" -ne 255 ]; then
		# A crash or sanitizer abort is not the refusal we were after.
		fail "$desc" "expected a clean failure, got $(_lib_status "$rc"): $*"
		_lib_show_output "$CHECK_OUT"
	else
		pass "$desc"
	fi
	return 0
}

expect_eq() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1"
		printf '        | expected: %s\n        | actual:   %s\n' "$3" "$2"
	fi
	return 0
}

expect_match() {
	if [[ $2 =~ $3 ]]; then
		pass "$1"
	else
		fail "$1"
		printf '        | regex:  %s\n' "$3"
		printf '%s\n' "$2" | tail -n 20 | sed 's/^/        | string: /'
	fi
	return 0
}

free_port() {
	signet_free_port
}

# Start time of a process (field 22 of /proc/PID/stat), to tell a reused
# pid from ours.
_lib_starttime() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	# shellcheck disable=SC2086
	set -- $stat
	printf '%s\n' "${20}"
}

start_bg() {
	local name=$1 pid
	shift
	if [ -n "${_lib_bg_pids[$name]:-}" ]; then
		echo "start_bg: $name is already running (pid ${_lib_bg_pids[$name]})" >&2
		return 1
	fi
	# Own session and process group: stop_bg takes its children down too.
	setsid "$@" >"$PWD/$name.log" 2>&1 </dev/null &
	pid=$!
	_lib_bg_pids[$name]=$pid
	printf '%s %s\n' "$pid" "$(_lib_starttime "$pid" || echo 0)" >"$SIGNET_TEST_PIDS/$SIGNET_TEST_NAME.$name.pid"
}

bg_pid() {
	printf '%s\n' "${_lib_bg_pids[$1]:?bg_pid: no such background process: $1}"
}

# Stop a start_bg process.  quiet=1 (used at exit) records nothing.
_lib_stop_bg() {
	local name=$1 quiet=${2:-0} pid rc=0 i killed=0
	pid=${_lib_bg_pids[$name]:-}
	if [ -z "$pid" ]; then
		echo "stop_bg: no such background process: $name" >&2
		return 1
	fi
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			# A zombie is dead already: `wait` reaps it below.
			[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
			killed=1
		fi
	fi
	wait "$pid" 2>/dev/null || rc=$?
	# Whatever else is left in its process group goes too.
	kill -KILL -- "-$pid" 2>/dev/null || true
	unset "_lib_bg_pids[$name]"
	rm -f "$SIGNET_TEST_PIDS/$SIGNET_TEST_NAME.$name.pid"
	[ "$quiet" = 1 ] && return 0
	if [ "$killed" = 1 ]; then
		fail "$name stopped within 10 s of SIGTERM" "needed SIGKILL"
		_lib_show_output "$PWD/$name.log"
	elif [ "$rc" -ne 0 ] && [ "$rc" -ne 143 ]; then
		fail "$name exited cleanly" "$(_lib_status "$rc")"
		_lib_show_output "$PWD/$name.log"
	fi
	return 0
}

# kill_bg NAME: SIGKILL it (a crash the test means to cause) and forget it
# without recording anything.
kill_bg() {
	local pid=${_lib_bg_pids[$1]:-}
	if [ -n "$pid" ]; then
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	fi
	_lib_stop_bg "$1" 1
}

stop_bg() {
	_lib_stop_bg "$1" 0
}

wait_http() {
	local url=$1 timeout=${2:-30} deadline code
	shift
	[ $# -gt 0 ] && shift
	deadline=$((SECONDS + timeout))
	while :; do
		code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" 2>/dev/null) || true
		if [ -n "$code" ] && [ "$code" != 000 ]; then
			return 0
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "wait_http: $url did not answer within ${timeout}s" >&2
			return 1
		fi
		sleep 0.2
	done
}

fresh_db() {
	local base name i
	base=$(printf '%s' "${1:-db}" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9_' '_' | cut -c1-40)
	case $base in [a-z_]*) ;; *) base=t_$base ;; esac
	for i in $(seq 1 50); do
		name=$base
		[ "$i" -gt 1 ] && name=${base}_$i
		if pg_createdb "$name" 2>/dev/null; then
			pg_conninfo "$name"
			return 0
		fi
	done
	echo "fresh_db: could not create a database named after $base" >&2
	pg_createdb "$name" # once more, to show why
	return 1
}

fresh_tokens() {
	softhsm_setup "$1"
}

on_exit() {
	_lib_exit_hooks+=("$1")
}

_lib_on_err() {
	# Only the top-level shell reports, not command substitutions.
	if [ "$BASH_SUBSHELL" -eq 0 ]; then
		printf '  ERROR %s: line %s: "%s" failed (%s); the rest of the file did not run\n' \
			"$SIGNET_TEST_NAME" "$1" "$2" "$(_lib_status "$3")" >&2
	fi
}

_lib_on_exit() {
	local rc=$? h name p f s
	set +e
	for h in "${_lib_exit_hooks[@]}"; do
		eval "$h"
	done
	for name in "${!_lib_bg_pids[@]}"; do
		_lib_stop_bg "$name" 1
	done
	if [ "$_lib_standalone" = 1 ]; then
		p=$(grep -c '^PASS ' "$SIGNET_TEST_RESULTS")
		f=$(grep -c '^FAIL ' "$SIGNET_TEST_RESULTS")
		s=$(grep -c '^SKIP ' "$SIGNET_TEST_RESULTS")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
		printf '%s passed, %s failed%s\n' "$p" "$f" "$([ "$s" -gt 0 ] && printf ', %s skipped' "$s")"
		[ "$f" -gt 0 ] && rc=1
	fi
	exit "$rc"
}

trap '_lib_on_err "$LINENO" "$BASH_COMMAND" "$?"' ERR
trap _lib_on_exit EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
