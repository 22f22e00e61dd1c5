/* signet audit verify: seal what is pending, then check the chain and the
 * checkpoint signatures (docs/audit.md). */
#include <stdio.h>
#include <string.h>

#include "ca/audit_sealer.h"
#include "cli/cli.h"

static const char usage[] = "usage: signet audit verify";

static int verify(struct cli_ctx *ctx)
{
	struct err e = { 0 }, seal_e = { 0 };
	struct config *cfg;
	struct hsm *h;
	struct hsm_key *key;
	PGconn *c;
	long sealed = 0;
	int sealed_ok, rc;

	if (cli_config(ctx, &cfg, &e) != 0 || cli_db(ctx, &c, &e) != 0 ||
	    cli_hsm(ctx, &h, &e) != 0)
		return cli_report(&e);
	if (hsm_find_key(h, cfg->audit_key_label, &key, &e) != 0) {
		err_prefix(&e, "audit key: ");
		return cli_report(&e);
	}
	/* Chain and checkpoint what the CLI (or anyone) just logged, so the
	 * report covers everything committed until now.  If that fails (a
	 * truncated chain makes the sealer refuse), verify all the same: the
	 * chain already sealed is what must be checked. */
	sealed_ok = audit_seal(c, key, 1, &sealed, &seal_e) == 0;
	rc = audit_verify(c, hsm_key_public(key), stdout, &e);
	if (rc < 0)
		return cli_report(&e);
	if (!sealed_ok) {
		err_prefix(&seal_e, "sealing before verifying: ");
		if (rc == 1) {
			/* Tampering is the finding; the seal error is why the
			 * newest entries stay unsealed. */
			fprintf(stderr, "signet: %s\n", seal_e.msg);
			return 1;
		}
		return cli_report(&seal_e);
	}
	return rc;
}

int cmd_audit(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage("audit", "missing subcommand (%s)", usage);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		printf("%s\n", usage);
		return 0;
	}
	if (strcmp(argv[1], "verify") != 0)
		return cli_usage("audit", "unknown subcommand \"%s\" (%s)",
		    argv[1], usage);
	if (argc > 2)
		return cli_usage("audit verify", "unexpected argument \"%s\"",
		    argv[2]);
	return verify(ctx);
}
