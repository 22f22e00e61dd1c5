# shellcheck shell=bash
# Debian packages signet needs to build, test and run (DESIGN.md,
# "Dependencies").  Source this file and call signet_install_deps.

SIGNET_DEPS=(
	build-essential autoconf automake libtool pkg-config
	libssl-dev libp11-dev libp11-kit-dev softhsm2 opensc
	libpq-dev postgresql
	libmicrohttpd-dev libgnutls28-dev gnutls-bin
	libcurl4-openssl-dev libunbound-dev libevent-dev libjansson-dev libcjose-dev
	libcmocka-dev clang libclang-rt-14-dev
	curl nginx-light wrk golang-cfssl libnss3-tools python3-cryptography
	openssl procps
	python3-yaml systemd # the renewal examples: YAML parse, systemd-analyze verify
	prometheus # promtool: the tests check /metrics with `promtool check metrics`
	pebble # pebble-challtestsrv: DNS, http-01 and tls-alpn-01 peers of 91_acme_validate
	apache2-utils time # scripts/bench: ab (renew, mTLS load), /usr/bin/time -v
	certbot lego uacme # real ACME clients against signetd (93_acme_clients; pebble above: their DNS, the bench's ACME peer)
)

# Print the packages of SIGNET_DEPS that are not installed, one a line.
signet_missing_deps() {
	local p st
	for p in "${SIGNET_DEPS[@]}"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		case $st in
		*" ok installed") ;;
		*) printf '%s\n' "$p" ;;
		esac
	done
}

# Install, with apt-get as root, only what is missing; `apt-get update`
# runs once, and only when something is missing.  Non-interactive.
signet_install_deps() {
	local missing=() p sudo=()
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "signet_install_deps: dpkg-query not found; this expects Debian 12" >&2
		return 1
	fi
	while IFS= read -r p; do
		[ -n "$p" ] && missing+=("$p")
	done < <(signet_missing_deps)
	if [ "${#missing[@]}" -eq 0 ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo -n)
		else
			echo "signet_install_deps: missing ${missing[*]}; run as root to install them" >&2
			return 1
		fi
	fi
	echo "installing missing packages: ${missing[*]}"
	# Installing postgresql, nginx or prometheus may start the system's
	# own instance (port 5432 / 80 / 9090); nothing here depends on or
	# touches those.
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=300 -q update </dev/null
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=300 -q -y \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		install "${missing[@]}" </dev/null
	# Check that it worked: a package apt silently skipped is an error here,
	# not a confusing configure failure later.
	missing=()
	while IFS= read -r p; do
		[ -n "$p" ] && missing+=("$p")
	done < <(signet_missing_deps)
	if [ "${#missing[@]}" -ne 0 ]; then
		echo "signet_install_deps: still missing after install: ${missing[*]}" >&2
		return 1
	fi
}
