/* What every command shares: config, database and token on first use,
 * and reporting errors once. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli/cli.h"

static PGconn *ctx_conn;

int cli_config(struct cli_ctx *ctx, struct config **out, struct err *e)
{
	const char *path = ctx->config_path;

	if (ctx->cfg == NULL) {
		if (path == NULL)
			path = getenv("SIGNET_CONFIG");
		if (path == NULL || *path == '\0')
			return err_set(e, ERR_CONFIG,
			    "no config: pass -c FILE or set SIGNET_CONFIG");
		if (config_load(path, &ctx->cfg, e) != 0)
			return -1;
	}
	*out = ctx->cfg;
	return 0;
}

int cli_db(struct cli_ctx *ctx, PGconn **out, struct err *e)
{
	struct config *cfg;

	if (ctx->db == NULL) {
		if (cli_config(ctx, &cfg, e) != 0)
			return -1;
		/* Two: one the command holds, one for ca_issue's own use. */
		if (db_open(cfg->db, 2, &ctx->db, e) != 0)
			return -1;
		if ((ctx_conn = db_acquire(ctx->db, e)) == NULL)
			return -1;
		if (db_check_schema(ctx_conn, e) != 0)
			return -1;
	}
	*out = ctx_conn;
	return 0;
}

int cli_hsm(struct cli_ctx *ctx, struct hsm **out, struct err *e)
{
	struct config *cfg;
	char pin[256];
	int rc;

	if (ctx->hsm == NULL) {
		if (cli_config(ctx, &cfg, e) != 0)
			return -1;
		if (config_read_pin(cfg, pin, sizeof(pin), e) != 0)
			return -1;
		rc = hsm_open(cfg->pkcs11_module, cfg->token, pin, &ctx->hsm, e);
		OPENSSL_cleanse(pin, sizeof(pin));
		if (rc != 0)
			return -1;
	}
	*out = ctx->hsm;
	return 0;
}

void cli_ctx_close(struct cli_ctx *ctx)
{
	if (ctx->db != NULL && ctx_conn != NULL)
		db_release(ctx->db, ctx_conn);
	ctx_conn = NULL;
	db_free(ctx->db);
	ctx->db = NULL;
	hsm_free(ctx->hsm);
	ctx->hsm = NULL;
	config_free(ctx->cfg);
	ctx->cfg = NULL;
}

int cli_report(const struct err *e)
{
	fprintf(stderr, "signet: %s\n", e->msg[0] ? e->msg : "failed");
	return err_exit_code(e->kind);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "signet %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}
