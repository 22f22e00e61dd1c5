# shellcheck shell=bash
# Throwaway PostgreSQL clusters and SoftHSM tokens, as in
# shared/TESTING.md.  Source this file; every function is `set -eu` clean.
#
# PostgreSQL (run as the postgres user when we are root):
#   pg_start [DIR] [PORT]   create (if DIR/data is absent) and start a cluster
#                           in DIR (default: a new mktemp dir under /tmp) with
#                           its Unix socket in DIR, listen_addresses='' and
#                           PORT (default: a free one; an existing cluster
#                           keeps the port recorded in DIR/port).  A new
#                           cluster gets a superuser role `root` and a
#                           database `signet` owned by it.  Exports
#                           SIGNET_PG_DIR, SIGNET_PG_PORT, SIGNET_PG_BIN,
#                           SIGNET_PG_DATA and SIGNET_TEST_DB.
#   pg_attach DIR           point the functions below at the cluster in DIR
#                           (as left by pg_start) without starting it
#   pg_stop                 pg_ctl -D ... -m fast stop (never by process name)
#   pg_kill                 pg_ctl -D ... -m immediate stop ("the DB died")
#   pg_start_again          start the stopped cluster again, same port/socket
#   pg_running              exit 0 when the cluster answers pg_ctl status
#   pg_destroy              pg_stop, then remove SIGNET_PG_DIR
#   pg_conninfo [DBNAME]    libpq conninfo for DBNAME (default signet)
#   pg_createdb NAME        create database NAME owned by root
#
# SoftHSM:
#   softhsm_setup DIR       private SOFTHSM2_CONF in DIR with two fresh
#                           tokens, signet-online (PIN 1234, SO 5678) and
#                           signet-root (PIN 4321, SO 8765), PIN files
#                           DIR/online.pin and DIR/root.pin (0600).  Exports
#                           SOFTHSM2_CONF and SIGNET_TEST_PKCS11_MODULE,
#                           _TOKEN, _PIN, _PIN_FILE, _ROOT_TOKEN, _ROOT_PIN,
#                           _ROOT_PIN_FILE.
#   softhsm_init_tokens DIR ONLINE_PIN ONLINE_SO_PIN ROOT_PIN ROOT_SO_PIN
#                           the same with chosen PINs (quickstart)
#
#   signet_free_port        print a free loopback TCP port

SIGNET_PKCS11_MODULE_DEFAULT=/usr/lib/softhsm/libsofthsm2.so

# Newest installed PostgreSQL server binaries (Debian puts them off PATH).
signet_pg_bindir() {
	local d best=""
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/pg_ctl" ] || continue
		if [ -z "$best" ] || [ "$(printf '%s\n%s\n' "$best" "$d" | sort -V | tail -1)" = "$d" ]; then
			best=$d
		fi
	done
	if [ -z "$best" ]; then
		echo "no PostgreSQL server found under /usr/lib/postgresql (apt-get install postgresql)" >&2
		return 1
	fi
	printf '%s\n' "$best"
}

# Run a command as the cluster's owner: postgres when we are root (the
# server refuses to run as root), ourselves otherwise.  From / so that the
# postgres user never trips over a working directory it cannot enter.
_pg_as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

_port_is_free() {
	local port=$1
	if command -v python3 >/dev/null 2>&1; then
		python3 - "$port" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
	else
		# Nobody answers on it: good enough without python.
		! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
	fi
}

# A free loopback TCP port, below the kernel's ephemeral range so that an
# outgoing connection cannot take it meanwhile.  When SIGNET_PORTS_FILE is
# set, ports already handed out (listed there) are not handed out again.
signet_free_port() {
	local port i
	for i in $(seq 1 500); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		if [ -n "${SIGNET_PORTS_FILE:-}" ] && [ -f "$SIGNET_PORTS_FILE" ] &&
			grep -qx "$port" "$SIGNET_PORTS_FILE"; then
			continue
		fi
		if _port_is_free "$port"; then
			if [ -n "${SIGNET_PORTS_FILE:-}" ]; then
				printf '%s\n' "$port" >>"$SIGNET_PORTS_FILE"
			fi
			printf '%s\n' "$port"
			return 0
		fi
	done
	echo "signet_free_port: no free port found after $i tries" >&2
	return 1
}

pg_conninfo() {
	printf 'host=%s port=%s dbname=%s\n' "$SIGNET_PG_DIR" "$SIGNET_PG_PORT" "${1:-signet}"
}

_pg_ctl() {
	_pg_as_owner "$SIGNET_PG_BIN/pg_ctl" -D "$SIGNET_PG_DATA" "$@"
}

pg_running() {
	[ -n "${SIGNET_PG_DATA:-}" ] && [ -f "$SIGNET_PG_DATA/PG_VERSION" ] &&
		_pg_ctl status >/dev/null 2>&1
}

_pg_ctl_start() {
	# Quoted for the shell pg_ctl hands the options to.
	if ! _pg_ctl -l "$SIGNET_PG_DIR/log" -w -t 60 \
		-o "-k '$SIGNET_PG_DIR' -p $SIGNET_PG_PORT -c listen_addresses=''" \
		start >"$SIGNET_PG_DIR/pg_ctl.out" 2>&1; then
		echo "pg_start: PostgreSQL did not start; pg_ctl said:" >&2
		tail -n 20 "$SIGNET_PG_DIR/pg_ctl.out" >&2 || true
		echo "server log $SIGNET_PG_DIR/log:" >&2
		tail -n 20 "$SIGNET_PG_DIR/log" >&2 || true
		return 1
	fi
}

pg_attach() {
	local dir
	dir=$(cd "$1" && pwd -P)
	SIGNET_PG_BIN=$(signet_pg_bindir)
	SIGNET_PG_PORT=$(cat "$dir/port")
	export SIGNET_PG_DIR=$dir SIGNET_PG_DATA=$dir/data SIGNET_PG_BIN SIGNET_PG_PORT
	SIGNET_TEST_DB=$(pg_conninfo signet)
	export SIGNET_TEST_DB
}

pg_start() {
	local dir=${1:-} port=${2:-} created=0 sock
	SIGNET_PG_BIN=$(signet_pg_bindir)
	if [ -z "$dir" ]; then
		dir=$(mktemp -d /tmp/signet-pg.XXXXXX)
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd -P)
	if [ -z "$port" ] && [ -f "$dir/port" ]; then
		port=$(cat "$dir/port")
	fi
	if [ -z "$port" ]; then
		port=$(signet_free_port)
	fi
	# A Unix socket path has at most 107 bytes.
	sock="$dir/.s.PGSQL.$port"
	if [ "${#sock}" -gt 107 ]; then
		echo "pg_start: socket path $sock is too long for a Unix socket; use a shorter DIR" >&2
		return 1
	fi
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
		chmod 0755 "$dir"
		if ! runuser -u postgres -- test -x "$dir"; then
			echo "pg_start: the postgres user cannot reach $dir (a parent directory is closed to it)" >&2
			return 1
		fi
	fi
	export SIGNET_PG_DIR=$dir SIGNET_PG_PORT=$port SIGNET_PG_BIN
	export SIGNET_PG_DATA=$dir/data
	if [ ! -f "$SIGNET_PG_DATA/PG_VERSION" ]; then
		if ! _pg_as_owner "$SIGNET_PG_BIN/initdb" -D "$SIGNET_PG_DATA" -A trust -E UTF8 \
			--locale=C.UTF-8 >"$dir/initdb.out" 2>&1; then
			echo "pg_start: initdb failed:" >&2
			tail -n 20 "$dir/initdb.out" >&2 || true
			return 1
		fi
		created=1
	fi
	printf '%s\n' "$port" >"$dir/port"
	if ! pg_running; then
		_pg_ctl_start
	fi
	if [ "$created" -eq 1 ]; then
		if [ "$(id -u)" -eq 0 ]; then
			# Superuser: tests disable triggers to simulate tampering.
			_pg_as_owner "$SIGNET_PG_BIN/createuser" -h "$dir" -p "$port" -s root
		fi
		_pg_as_owner "$SIGNET_PG_BIN/createdb" -h "$dir" -p "$port" -O "$(id -un)" signet
	fi
	SIGNET_TEST_DB=$(pg_conninfo signet)
	export SIGNET_TEST_DB
}

# Create database NAME (owned by the calling role, root when we are root).
pg_createdb() {
	"$SIGNET_PG_BIN/createdb" -h "$SIGNET_PG_DIR" -p "$SIGNET_PG_PORT" "$1"
}

pg_stop() {
	if ! pg_running; then
		return 0
	fi
	if ! _pg_ctl -m fast -w -t 60 stop >>"$SIGNET_PG_DIR/pg_ctl.out" 2>&1; then
		_pg_ctl -m immediate -w -t 60 stop >>"$SIGNET_PG_DIR/pg_ctl.out" 2>&1
	fi
}

pg_kill() {
	if pg_running; then
		_pg_ctl -m immediate -w -t 60 stop >>"$SIGNET_PG_DIR/pg_ctl.out" 2>&1
	fi
}

pg_start_again() {
	if pg_running; then
		return 0
	fi
	_pg_ctl_start
}

pg_destroy() {
	[ -n "${SIGNET_PG_DIR:-}" ] || return 0
	pg_stop || true
	case $SIGNET_PG_DIR in
	/tmp/?*) rm -rf "$SIGNET_PG_DIR" ;;
	*) echo "pg_destroy: not removing $SIGNET_PG_DIR (outside /tmp)" >&2 ;;
	esac
}

softhsm_init_tokens() {
	local dir=$1 online_pin=$2 online_so=$3 root_pin=$4 root_so=$5
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd -P)
	rm -rf "$dir/tokens"
	mkdir -m 0700 "$dir/tokens"
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
		"$dir" >"$dir/softhsm2.conf"
	export SOFTHSM2_CONF=$dir/softhsm2.conf
	softhsm2-util --init-token --free --label signet-online \
		--pin "$online_pin" --so-pin "$online_so" >"$dir/init.out" 2>&1 ||
		{ cat "$dir/init.out" >&2; return 1; }
	softhsm2-util --init-token --free --label signet-root \
		--pin "$root_pin" --so-pin "$root_so" >>"$dir/init.out" 2>&1 ||
		{ cat "$dir/init.out" >&2; return 1; }
	# PIN files end with a newline, as `echo PIN > file` writes them.
	(umask 077 && printf '%s\n' "$online_pin" >"$dir/online.pin" &&
		printf '%s\n' "$root_pin" >"$dir/root.pin")
	chmod 0600 "$dir/online.pin" "$dir/root.pin"
}

softhsm_setup() {
	local dir=$1
	softhsm_init_tokens "$dir" 1234 5678 4321 8765
	dir=$(cd "$dir" && pwd -P)
	export SIGNET_TEST_PKCS11_MODULE=$SIGNET_PKCS11_MODULE_DEFAULT
	export SIGNET_TEST_TOKEN=signet-online SIGNET_TEST_PIN=1234
	export SIGNET_TEST_PIN_FILE=$dir/online.pin
	export SIGNET_TEST_ROOT_TOKEN=signet-root SIGNET_TEST_ROOT_PIN=4321
	export SIGNET_TEST_ROOT_PIN_FILE=$dir/root.pin
}
