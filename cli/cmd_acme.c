/* signet acme eab: mint an External Account Binding key (RFC 8555 7.3.4)
 * for a provisioner's ACME directory. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "ca/acme_jws.h"
#include "ca/policy.h"
#include "cli/cli.h"
#include "common/util.h"
#include "db/acme_db.h"

/* A key unused for this long lapses: it is a credential handed to a
 * person, who registers an ACME client with it soon or never. */
#define EAB_DEFAULT_TTL (7LL * 86400)
#define EAB_MAX_TTL (366LL * 86400)
/* 16 random bytes name the key (22 base64url characters); the HMAC key
 * is 32 (RFC 7518 3.2: at least the hash's size for HS256). */
#define EAB_KID_BYTES 16
#define EAB_KEY_BYTES 32

static int eab_usage(void)
{
	return cli_usage("acme eab", "usage: signet acme eab --provisioner NAME "
	    "[--ttl D] [--json]");
}

static int acme_eab(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_PROV = 256, O_TTL, O_JSON };
	static const struct option opts[] = {
		{ "provisioner", required_argument, NULL, O_PROV },
		{ "ttl", required_argument, NULL, O_TTL },
		{ "json", no_argument, NULL, O_JSON },
		{ NULL, 0, NULL, 0 },
	};
	unsigned char kid_raw[EAB_KID_BYTES], key[EAB_KEY_BYTES];
	char kid[48], key_b64[64], expires[32];
	const char *prov = NULL;
	char *jwk = NULL, *poljson = NULL, *text = NULL;
	struct policy *pol = NULL;
	long long ttl = EAB_DEFAULT_TTL;
	int ch, json = 0, rc = 2;
	struct err e = { 0 };
	json_t *out = NULL;
	PGconn *c;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_PROV: prov = optarg; break;
		case O_JSON: json = 1; break;
		case O_TTL:
			if (util_parse_duration(optarg, EAB_MAX_TTL, &ttl, &e) != 0) {
				rc = cli_usage("acme eab", "--ttl: %s", e.msg);
				goto out;
			}
			if (ttl < 60) {
				rc = cli_usage("acme eab", "--ttl must be at least 60s");
				goto out;
			}
			break;
		default:
			rc = eab_usage();
			goto out;
		}
	}
	if (optind != argc || prov == NULL) {
		rc = eab_usage();
		goto out;
	}
	if (cli_db(ctx, &c, &e) != 0) {
		rc = cli_report(&e);
		goto out;
	}
	if (db_provisioner_get(c, prov, &jwk, &poljson, &e) != 0) {
		if (e.kind == ERR_NOTFOUND)
			err_set(&e, ERR_CONFIG, "no provisioner \"%s\" (signet "
			    "provisioner list)", prov);
		rc = cli_report(&e);
		goto out;
	}
	if (policy_from_json(poljson, &pol, &e) != 0) {
		rc = cli_report(&e);
		goto out;
	}
	if (!pol->acme) {
		err_set(&e, ERR_CONFIG, "provisioner \"%s\" does not speak ACME: an "
		    "EAB key would open nothing (add it with signet provisioner add "
		    "--acme or --acme-eab)", prov);
		rc = cli_report(&e);
		goto out;
	}
	if (acme_random_b64(kid_raw, sizeof(kid_raw), kid, sizeof(kid), &e) != 0 ||
	    acme_random_b64(key, sizeof(key), key_b64, sizeof(key_b64), &e) != 0 ||
	    db_acme_eab_add(c, kid, prov, key, sizeof(key), ttl, "admin",
	    expires, &e) != 0) {
		rc = cli_report(&e);
		goto out;
	}
	if (json) {
		out = json_pack("{s:s, s:s, s:s, s:o}", "kid", kid, "hmac_key",
		    key_b64, "provisioner", prov, "expires",
		    expires[0] ? json_string(expires) : json_null());
		if (out == NULL || (text = json_dumps(out, JSON_COMPACT)) == NULL) {
			err_set(&e, ERR_INTERNAL, "out of memory");
			rc = cli_report(&e);
			goto out;
		}
		printf("%s\n", text);
	} else {
		printf("kid: %s\nhmac_key: %s\n", kid, key_b64);
	}
	if (fflush(stdout) != 0) {
		err_set(&e, ERR_INTERNAL, "writing the key failed");
		rc = cli_report(&e);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(key_b64, sizeof(key_b64));
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	json_decref(out);
	policy_free(pol);
	free(jwk);
	free(poljson);
	return rc;
}

int cmd_acme(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "eab") == 0)
		return acme_eab(ctx, argc - 1, argv + 1);
	return cli_usage("acme", "usage: signet acme eab --provisioner NAME "
	    "[--ttl D] [--json]");
}
