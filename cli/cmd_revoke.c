/* signet revoke, signet crl, signet root crl. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ca/crl.h"
#include "ca/x509util.h"
#include "cli/cli.h"
#include "common/util.h"

#define ROOT_CRL_DEFAULT_VALIDITY (365LL * 86400)

int cli_crl_make(PGconn *c, int issuer_id, const char *name,
    const unsigned char *issuer_der, size_t issuer_len, struct hsm_key *key,
    long long validity, int scheduled, const char *dir, char *path,
    size_t pathlen, struct crl_result *res, struct err *e)
{
	X509 *issuer = x509_from_der(issuer_der, issuer_len, e);
	int rc = -1;

	if (issuer == NULL)
		return -1;
	if (crl_generate(c, issuer, issuer_id, key, validity, scheduled, res,
	    e) != 0) {
		err_prefix(e, "CRL of %s: ", name);
		goto out;
	}
	if (crl_write(dir, name, res->der, res->der_len, path, pathlen, e) != 0)
		goto out;
	rc = 0;
out:
	X509_free(issuer);
	return rc;
}

int cmd_revoke(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_REASON = 256 };
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, O_REASON },
		{ NULL, 0, NULL, 0 },
	};
	struct err e = { 0 };
	struct db_revoke rv;
	struct db_revoke_result res;
	char serial[SERIAL_HEX_MAX];
	int ch, reason = CRL_REASON_UNSPECIFIED;
	PGconn *c;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_REASON:
			if (crl_reason_parse(optarg, &reason, &e) != 0)
				return cli_report(&e);
			break;
		default:
			return cli_usage("revoke", "usage: signet revoke SERIAL "
			    "--reason REASON");
		}
	}
	if (optind + 1 != argc)
		return cli_usage("revoke", "usage: signet revoke SERIAL --reason "
		    "REASON");
	if (crl_serial_normalize(argv[optind], serial, &e) != 0)
		return cli_report(&e);
	memset(&rv, 0, sizeof(rv));
	rv.serial = serial;
	rv.reason = reason;
	rv.actor = "admin";
	rv.via = "cli";
	if (cli_db(ctx, &c, &e) != 0 || db_cert_revoke(c, &rv, &res, &e) != 0)
		return cli_report(&e);
	if (res.already)
		printf("%s already revoked at %s (reason %s)%s\n", serial,
		    res.revoked_at, crl_reason_name(res.reason),
		    reason == CRL_REASON_KEY_COMPROMISE ? "; its key is now blocked" : "");
	else
		printf("revoked %s at %s (reason %s)%s\n", serial, res.revoked_at,
		    crl_reason_name(res.reason),
		    reason == CRL_REASON_KEY_COMPROMISE ? "; its key is blocked" : "");
	return 0;
}

int cmd_crl(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_ISSUER = 256 };
	static const struct option opts[] = {
		{ "issuer", required_argument, NULL, O_ISSUER },
		{ NULL, 0, NULL, 0 },
	};
	const char *only = NULL;
	struct err e = { 0 };
	struct config *cfg;
	struct db_issuer *v = NULL;
	struct hsm *h;
	struct hsm_key *key;
	char path[PATH_MAX];
	int ch, n = 0, done = 0, rc = 3;
	PGconn *c;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_ISSUER: only = optarg; break;
		default:
			return cli_usage("crl", "usage: signet crl [--issuer NAME]");
		}
	}
	if (optind != argc)
		return cli_usage("crl", "usage: signet crl [--issuer NAME]");
	if (cli_config(ctx, &cfg, &e) != 0 || cli_db(ctx, &c, &e) != 0 ||
	    cli_hsm(ctx, &h, &e) != 0 ||
	    db_issuers_load(c, "intermediate", &v, &n, &e) != 0)
		return cli_report(&e);
	for (int i = 0; i < n; i++) {
		struct crl_result res;

		if (only != NULL && strcmp(only, v[i].name) != 0)
			continue;
		memset(&res, 0, sizeof(res));
		if (hsm_find_key(h, v[i].key_label, &key, &e) != 0 ||
		    cli_crl_make(c, v[i].id, v[i].name, v[i].der, v[i].der_len, key,
		    cfg->crl_validity, 0, cfg->crl_publish_dir, path, sizeof(path),
		    &res, &e) != 0) {
			crl_result_free(&res);
			rc = cli_report(&e);
			goto out;
		}
		printf("%s number %lld (%d revoked; list %.2fs, sign %.2fs, "
		    "store %.2fs)\n", path, res.number, res.entries, res.t_list,
		    res.t_sign, res.t_store);
		crl_result_free(&res);
		done++;
	}
	if (done == 0) {
		if (only != NULL)
			err_set(&e, ERR_NOTFOUND, "no active issuing CA named %.64s "
			    "(signet crl signs the intermediates' CRLs; the root's "
			    "is `signet root crl`)", only);
		else
			err_set(&e, ERR_NOTFOUND, "no active issuing CA");
		rc = cli_report(&e);
		goto out;
	}
	rc = 0;
out:
	db_issuers_free(v, n);
	return rc;
}

static int root_crl(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_PIN = 256, O_NEXT };
	static const struct option opts[] = {
		{ "root-pin-file", required_argument, NULL, O_PIN },
		{ "next-update", required_argument, NULL, O_NEXT },
		{ NULL, 0, NULL, 0 },
	};
	const char *pin_file = NULL, *env = getenv("SIGNET_ROOT_PIN");
	long long validity = ROOT_CRL_DEFAULT_VALIDITY;
	struct err e = { 0 };
	struct config *cfg;
	struct db_issuer *v = NULL;
	struct hsm *h = NULL;
	struct hsm_key *key;
	struct crl_result res;
	char pin[256], path[PATH_MAX];
	int ch, n = 0, rc = 3;
	PGconn *c;

	memset(&res, 0, sizeof(res));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_PIN: pin_file = optarg; break;
		case O_NEXT:
			if (util_parse_duration(optarg, 10LL * 366 * 86400, &validity,
			    &e) != 0 || validity < 3600)
				return cli_usage("root crl", "--next-update must be "
				    "1h..10y");
			break;
		default:
			return cli_usage("root", "usage: signet root crl "
			    "[--root-pin-file F] [--next-update D]");
		}
	}
	if (optind != argc)
		return cli_usage("root", "usage: signet root crl [--root-pin-file F] "
		    "[--next-update D]");
	if (pin_file != NULL) {
		if (util_read_secret(pin_file, pin, sizeof(pin), &e) != 0) {
			err_prefix(&e, "--root-pin-file: ");
			return cli_report(&e);
		}
	} else if (env != NULL && *env != '\0' && strlen(env) < sizeof(pin)) {
		strcpy(pin, env);
	} else {
		err_set(&e, ERR_CONFIG, "the root token's PIN: pass --root-pin-file "
		    "F or set SIGNET_ROOT_PIN");
		return cli_report(&e);
	}
	if (cli_config(ctx, &cfg, &e) != 0 || cli_db(ctx, &c, &e) != 0 ||
	    db_issuers_load(c, "root", &v, &n, &e) != 0)
		goto fail;
	if (n == 0) {
		err_set(&e, ERR_NOTFOUND, "no active root CA in the database");
		goto fail;
	}
	/* The root token is named in the issuers table, never in the
	 * config: signetd does not hold it. */
	if (hsm_open(cfg->pkcs11_module, v[0].token, pin, &h, &e) != 0 ||
	    hsm_find_key(h, v[0].key_label, &key, &e) != 0)
		goto fail;
	if (cli_crl_make(c, v[0].id, v[0].name, v[0].der, v[0].der_len, key,
	    validity, 1, cfg->crl_publish_dir, path, sizeof(path), &res, &e) != 0)
		goto fail;
	printf("%s number %lld (%d revoked)\n", path, res.number, res.entries);
	rc = 0;
	goto out;
fail:
	rc = cli_report(&e);
out:
	OPENSSL_cleanse(pin, sizeof(pin));
	crl_result_free(&res);
	hsm_free(h);
	db_issuers_free(v, n);
	return rc;
}

int cmd_root(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "crl") == 0)
		return root_crl(ctx, argc - 1, argv + 1);
	return cli_usage("root", "usage: signet root crl [--root-pin-file F] "
	    "[--next-update D]");
}

int cli_crl_first(struct db *db, int issuer_id, const char *name, X509 *cert,
    struct hsm_key *key, long long validity, const char *dir,
    struct err *e)
{
	struct crl_result res;
	unsigned char *der = NULL;
	size_t len;
	PGconn *c;
	int rc = -1;

	memset(&res, 0, sizeof(res));
	if (x509_to_der(cert, &der, &len, e) != 0)
		return -1;
	if ((c = db_acquire(db, e)) != NULL) {
		rc = cli_crl_make(c, issuer_id, name, der, len, key, validity, 1,
		    dir, NULL, 0, &res, e);
		db_release(db, c);
	}
	crl_result_free(&res);
	OPENSSL_free(der);
	return rc;
}
