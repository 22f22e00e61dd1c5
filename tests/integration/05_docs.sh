#!/usr/bin/env bash
# The configuration reference in docs/ is the one the binary prints.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

"$SIGNETD" --config-reference >printed.md
sed -n '/^| setting |/,$p' "$SIGNET_SRC/docs/configuration.md" >documented.md
check "docs/configuration.md matches signetd --config-reference" diff -u printed.md documented.md
check "signet --help lists every command" "$SIGNET" --help
for c in init db provisioner token enroll renew issue list show expiring audit revoke crl root acme; do
	expect_match "  $c" "$(cat "$CHECK_OUT")" "  $c "
done
