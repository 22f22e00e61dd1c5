# shellcheck shell=bash
# Out-of-tree autotools build, shared by scripts/test and scripts/quickstart.
#
#   signet_build SRC BUILDDIR SANITIZERS(0|1)
#
# autoreconf -fi in SRC when configure or Makefile.in is missing or older
# than configure.ac / Makefile.am; configure in BUILDDIR (gcc, or clang with
# --enable-sanitizers) when not configured yet or configured differently;
# then make -j2 -k of the programs and the check programs (the unit tests)
# without running anything.  The whole log is in BUILDDIR/build.log; on
# failure the errors and the tail are printed.  Returns non-zero when
# anything failed to build; whatever did build is left in place.

_signet_build_log_failure() {
	local log=$1
	echo "---- build errors (from $log) ----" >&2
	grep -E '(error|Error)[: ]|undefined reference|No rule to make' "$log" | head -n 60 >&2 || true
	echo "---- last lines of the build log ----" >&2
	tail -n 40 "$log" >&2 || true
	echo "----" >&2
}

# Two builds of the same tree at once (people share machines) would trip
# over each other in autoreconf and make: the second waits for the first.
signet_build() {
	local src lock lockfd rc=0
	src=$(cd "$1" && pwd -P)
	lock=/tmp/signet-build.$(printf '%s' "$src" | md5sum | cut -c1-12).lock
	exec {lockfd}>>"$lock"
	if ! flock -n "$lockfd"; then
		echo "waiting for another build of $src to finish..."
		flock "$lockfd"
	fi
	_signet_build_locked "$src" "$2" "$3" || rc=$?
	exec {lockfd}>&-
	return "$rc"
}

_signet_build_locked() {
	local src=$1 bdir=$2 san=$3 log stamp want cc checkprogs=() rc=0
	local -a confargs=()
	if [ -f "$src/config.status" ]; then
		echo "signet_build: $src is configured in-tree; out-of-tree builds need it clean (run 'make distclean' there)" >&2
		return 1
	fi
	# (Makefile.in too: a failed automake leaves a fresh configure behind.)
	if [ ! -x "$src/configure" ] || [ ! -f "$src/Makefile.in" ] ||
		[ "$src/configure.ac" -nt "$src/configure" ] ||
		[ "$src/Makefile.am" -nt "$src/configure" ] ||
		[ "$src/Makefile.am" -nt "$src/Makefile.in" ] ||
		[ "$src/configure.ac" -nt "$src/Makefile.in" ]; then
		echo "autoreconf -fi in $src"
		# configure.ac names m4/ as its macro dir; it is not in git.
		mkdir -p "$src/m4"
		if ! (cd "$src" && autoreconf -fi) >"$src/autoreconf.log" 2>&1; then
			echo "signet_build: autoreconf failed:" >&2
			tail -n 40 "$src/autoreconf.log" >&2
			return 1
		fi
		rm -f "$src/autoreconf.log"
	fi
	mkdir -p "$bdir"
	bdir=$(cd "$bdir" && pwd -P)
	log=$bdir/build.log
	: >"$log"
	if [ "$san" = 1 ]; then
		cc=clang
		confargs=(--enable-sanitizers)
	else
		cc=gcc
	fi
	want="CC=$cc${confargs[*]:+ ${confargs[*]}}"
	stamp=$bdir/.signet-configure-args
	if [ ! -f "$bdir/Makefile" ] || [ ! -f "$bdir/config.status" ] ||
		[ "$src/configure" -nt "$bdir/config.status" ] ||
		[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
		echo "configure ($want) in $bdir"
		if ! (cd "$bdir" && CC=$cc "$src/configure" "${confargs[@]}") >>"$log" 2>&1; then
			echo "signet_build: configure failed" >&2
			_signet_build_log_failure "$log"
			return 1
		fi
		printf '%s\n' "$want" >"$stamp"
	fi
	echo "make -j2 in $bdir"
	if ! make -C "$bdir" -j2 -k all >>"$log" 2>&1; then
		rc=1
	fi
	# The unit tests are check_PROGRAMS: build them without `make check`
	# running anything (the runner runs them itself).
	read -r -a checkprogs < <(make -s --no-print-directory -C "$bdir" -f Makefile -f - \
		signet-print-check-programs 2>/dev/null <<'EOF' || true
signet-print-check-programs:
	@echo $(check_PROGRAMS)
EOF
	)
	if [ "${#checkprogs[@]}" -gt 0 ]; then
		if ! make -C "$bdir" -j2 -k "${checkprogs[@]}" >>"$log" 2>&1; then
			rc=1
		fi
	fi
	if [ "$rc" -ne 0 ]; then
		echo "signet_build: make failed" >&2
		_signet_build_log_failure "$log"
	fi
	return "$rc"
}
