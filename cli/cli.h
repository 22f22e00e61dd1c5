/*
 * cli: the `signet` administrator and client commands.  Each command is a
 * function taking its own arguments (argv[0] is the command name) and
 * returning the process exit code: 0 success, 1 a condition the command
 * looks for was found, 2 usage or config error, 3 a failure while running.
 * Errors are reported once, as one line on stderr, by cli_report().
 */
#ifndef SIGNET_CLI_H
#define SIGNET_CLI_H

#include <libpq-fe.h>
#include <openssl/x509.h>

#include "common/config.h"
#include "common/err.h"
#include "db/db.h"
#include "hsm/hsm.h"

struct cli_ctx {
	const char *config_path;   /* -c, else $SIGNET_CONFIG */
	struct config *cfg;        /* loaded on first use */
	struct db *db;             /* opened on first use */
	struct hsm *hsm;           /* opened on first use (online token) */
};

/* Load the config named by -c / $SIGNET_CONFIG (once). */
int cli_config(struct cli_ctx *ctx, struct config **out, struct err *e);
/* Connect (once) and check the schema is current; the connection belongs
 * to ctx. */
int cli_db(struct cli_ctx *ctx, PGconn **out, struct err *e);
/* Open the online token (once) with the config's PIN. */
int cli_hsm(struct cli_ctx *ctx, struct hsm **out, struct err *e);
void cli_ctx_close(struct cli_ctx *ctx);

/* Print "signet: <msg>" and return the exit code for e's kind. */
int cli_report(const struct err *e);
/* Print "signet CMD: <msg>" for a usage error and return 2. */
int cli_usage(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Commands. */
int cmd_init(struct cli_ctx *ctx, int argc, char **argv);
int cmd_db(struct cli_ctx *ctx, int argc, char **argv);
int cmd_provisioner(struct cli_ctx *ctx, int argc, char **argv);
int cmd_token(struct cli_ctx *ctx, int argc, char **argv);
int cmd_enroll(struct cli_ctx *ctx, int argc, char **argv);
int cmd_renew(struct cli_ctx *ctx, int argc, char **argv);
int cmd_issue(struct cli_ctx *ctx, int argc, char **argv);
int cmd_list(struct cli_ctx *ctx, int argc, char **argv);
int cmd_show(struct cli_ctx *ctx, int argc, char **argv);
int cmd_expiring(struct cli_ctx *ctx, int argc, char **argv);
int cmd_audit(struct cli_ctx *ctx, int argc, char **argv);
int cmd_revoke(struct cli_ctx *ctx, int argc, char **argv);
int cmd_crl(struct cli_ctx *ctx, int argc, char **argv);
int cmd_root(struct cli_ctx *ctx, int argc, char **argv);
int cmd_monitor(struct cli_ctx *ctx, int argc, char **argv);
int cmd_acme(struct cli_ctx *ctx, int argc, char **argv);

/* Generate, sign (with key, on its token) and store the next CRL of the
 * issuer (its id, name and certificate DER) on c, and write it to
 * dir/name.crl; path receives the file's path.  res->der must be freed
 * with crl_result_free, also on failure. */
struct crl_result;
int cli_crl_make(PGconn *c, int issuer_id, const char *name,
    const unsigned char *issuer_der, size_t issuer_len, struct hsm_key *key,
    long long validity, int scheduled, const char *dir, char *path,
    size_t pathlen, struct crl_result *res, struct err *e);
/* The first CRL of a new CA (signet init): scheduled, written to
 * dir/name.crl. */
int cli_crl_first(struct db *db, int issuer_id, const char *name, X509 *cert,
    struct hsm_key *key, long long validity, const char *dir,
    struct err *e);

#endif
