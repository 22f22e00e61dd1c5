/* signet db migrate */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cmd_db(struct cli_ctx *ctx, int argc, char **argv)
{
	struct config *cfg;
	struct db *d = NULL;
	PGconn *c = NULL;
	struct err e = { 0 };
	int applied = 0, rc;

	if (argc != 2 || strcmp(argv[1], "migrate") != 0)
		return cli_usage("db", "usage: signet db migrate");
	if (cli_config(ctx, &cfg, &e) != 0 || db_open(cfg->db, 1, &d, &e) != 0 ||
	    (c = db_acquire(d, &e)) == NULL || db_migrate(c, &applied, &e) != 0) {
		rc = cli_report(&e);
		goto out;
	}
	printf("%d migration%s applied; schema at version %d\n", applied,
	    applied == 1 ? "" : "s",
	    db_migrations[db_migrations_count - 1].version);
	rc = 0;
out:
	db_release(d, c);
	db_free(d);
	return rc;
}
