/* signet token: mint a one-time enrollment token with a provisioner key. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/profile.h"
#include "ca/token.h"
#include "cli/cli.h"
#include "common/util.h"

int cmd_token(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_PROV = 256, O_KEY, O_SAN, O_SUB, O_PROF, O_LIFE, O_TTL, O_URL,
	    O_COUNT, O_REVOKE };
	static const struct option opts[] = {
		{ "provisioner", required_argument, NULL, O_PROV },
		{ "key", required_argument, NULL, O_KEY },
		{ "san", required_argument, NULL, O_SAN },
		{ "sub", required_argument, NULL, O_SUB },
		{ "profile", required_argument, NULL, O_PROF },
		{ "lifetime", required_argument, NULL, O_LIFE },
		{ "ttl", required_argument, NULL, O_TTL },
		{ "ca-url", required_argument, NULL, O_URL },
		{ "count", required_argument, NULL, O_COUNT },
		{ "revoke", no_argument, NULL, O_REVOKE },
		{ NULL, 0, NULL, 0 },
	};
	const char *prov = NULL, *keyfile = NULL, *sub = NULL, *profile = NULL;
	const char *ca_url = NULL;
	struct san_list sans;
	struct san s;
	struct err e = { 0 };
	struct config *cfg;
	long long lifetime = 0, ttl = 300, count = 1;
	enum profile p;
	char *key = NULL, *tok = NULL, aud[1024];
	int ch, rc = 2, revoke = 0;

	memset(&sans, 0, sizeof(sans));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int r = 0;
		switch (ch) {
		case O_PROV: prov = optarg; break;
		case O_KEY: keyfile = optarg; break;
		case O_SUB: sub = optarg; break;
		case O_URL: ca_url = optarg; break;
		/* A token for POST /v1/revoke (its provisioner needs
		 * may_revoke); the names are recorded, not checked. */
		case O_REVOKE: revoke = 1; break;
		case O_PROF: profile = optarg; r = profile_parse(optarg, &p, &e); break;
		case O_SAN:
			r = san_parse(optarg, &s, &e);
			if (r == 0)
				r = san_list_add(&sans, &s, &e);
			break;
		case O_LIFE:
			r = util_parse_duration(optarg, 366LL * 86400, &lifetime, &e);
			break;
		case O_TTL:
			r = util_parse_duration(optarg, TOKEN_MAX_TTL, &ttl, &e);
			break;
		case O_COUNT: {
			char *end;
			count = strtoll(optarg, &end, 10);
			if (*end != '\0' || count < 1 || count > 1000000)
				return cli_usage("token", "--count must be 1..1000000");
			break;
		}
		default:
			return cli_usage("token", "usage: signet token --provisioner NAME "
			    "--key FILE --san NAME... [--sub CN] [--profile P] "
			    "[--lifetime D] [--ttl D] [--ca-url URL] [--count N] "
			    "[--revoke]");
		}
		if (r != 0) {
			e.kind = ERR_CONFIG;
			return cli_report(&e);
		}
	}
	if (optind != argc || prov == NULL || keyfile == NULL || sans.n == 0)
		return cli_usage("token", "need --provisioner, --key and at least one --san");
	if (ttl < 1)
		return cli_usage("token", "--ttl must be at least 1s");
	if (ca_url == NULL) {
		if (cli_config(ctx, &cfg, &e) != 0) {
			err_prefix(&e, "no --ca-url, and ");
			return cli_report(&e);
		}
		ca_url = cfg->ca_url;
	}
	snprintf(aud, sizeof(aud), "%s/v1/%s", ca_url, revoke ? "revoke" : "sign");
	if (util_read_file(keyfile, 16384, &key, NULL, &e) != 0) {
		rc = cli_report(&e);
		goto out;
	}
	/* --count: a batch for an orchestrator that hands them out, one
	 * token per line, each with its own jti. */
	for (long long i = 0; i < count; i++) {
		if (token_mint(key, prov, sub, &sans, profile, lifetime, aud,
		    (long)ttl, time(NULL), &tok, &e) != 0) {
			rc = cli_report(&e);
			goto out;
		}
		printf("%s\n", tok);
		free(tok);
		tok = NULL;
	}
	rc = 0;
out:
	if (key != NULL) {
		memset(key, 0, strlen(key));
		free(key);
	}
	free(tok);
	return rc;
}
