/* signet provisioner add | list | remove */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ca/policy.h"
#include "ca/token.h"
#include "cli/cli.h"
#include "common/util.h"

static int prov_add(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_KEY = 256, O_DNS, O_IP, O_URI, O_PROF, O_DEF, O_MAX, O_REV, O_KT,
	    O_ACME, O_EAB, O_TRUST };
	static const struct option opts[] = {
		{ "key-out", required_argument, NULL, O_KEY },
		{ "allow-dns", required_argument, NULL, O_DNS },
		{ "allow-ip", required_argument, NULL, O_IP },
		{ "allow-uri", required_argument, NULL, O_URI },
		{ "profiles", required_argument, NULL, O_PROF },
		{ "default-lifetime", required_argument, NULL, O_DEF },
		{ "max-lifetime", required_argument, NULL, O_MAX },
		{ "key-types", required_argument, NULL, O_KT },
		{ "may-revoke", no_argument, NULL, O_REV },
		{ "acme", no_argument, NULL, O_ACME },
		{ "acme-eab", no_argument, NULL, O_EAB },
		{ "acme-trust", required_argument, NULL, O_TRUST },
		{ NULL, 0, NULL, 0 },
	};
	struct policy *p = policy_new();
	struct err e = { 0 };
	const char *key_out = NULL, *name;
	char *priv = NULL, *pub = NULL, *pol = NULL;
	PGconn *c;
	int ch, rc = 2;

	if (p == NULL)
		return 3;
	p->profiles = 1u << PROFILE_SERVER | 1u << PROFILE_CLIENT | 1u << PROFILE_BOTH;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int r = 0;
		switch (ch) {
		case O_KEY: key_out = optarg; break;
		case O_DNS: r = policy_add_dns(p, optarg, &e); break;
		case O_IP: r = policy_add_ip(p, optarg, &e); break;
		case O_URI: r = policy_add_uri(p, optarg, &e); break;
		case O_PROF: r = policy_set_profiles(p, optarg, &e); break;
		case O_KT: r = policy_set_key_types(p, optarg, &e); break;
		case O_DEF:
			r = util_parse_duration(optarg, 366LL * 86400, &p->default_lifetime, &e);
			break;
		case O_MAX:
			r = util_parse_duration(optarg, 366LL * 86400, &p->max_lifetime, &e);
			break;
		case O_REV: p->may_revoke = 1; break;
		case O_ACME: p->acme = 1; break;
		case O_EAB: p->acme = p->acme_eab = 1; break;
		case O_TRUST:
			p->acme = 1;
			r = policy_add_acme_trust(p, optarg, &e);
			break;
		default:
			rc = cli_usage("provisioner add", "usage: signet provisioner add "
			    "NAME --key-out FILE [--allow-dns P]... [--allow-ip CIDR]... "
			    "[--allow-uri PREFIX]... [--profiles LIST] "
			    "[--default-lifetime D] [--max-lifetime D] [--may-revoke] "
			    "[--acme] [--acme-eab] [--acme-trust PATTERN]...");
			goto out;
		}
		if (r != 0) {
			e.kind = ERR_CONFIG;
			rc = cli_report(&e);
			goto out;
		}
	}
	if (optind + 1 != argc || key_out == NULL) {
		rc = cli_usage("provisioner add", "need NAME and --key-out FILE");
		goto out;
	}
	name = argv[optind];
	if (p->ndns + p->nip + p->nuri == 0) {
		rc = cli_usage("provisioner add", "give at least one --allow-dns, "
		    "--allow-ip or --allow-uri: a provisioner with no names can "
		    "issue nothing");
		goto out;
	}
	if (p->default_lifetime && p->max_lifetime &&
	    p->default_lifetime > p->max_lifetime) {
		rc = cli_usage("provisioner add", "--default-lifetime is longer than "
		    "--max-lifetime");
		goto out;
	}
	if ((pol = policy_to_json(p)) == NULL ||
	    token_new_key(name, &priv, &pub, &e) != 0 || cli_db(ctx, &c, &e) != 0 ||
	    db_provisioner_add(c, name, pub, pol, &e) != 0) {
		rc = cli_report(&e);
		goto out;
	}
	/* The database has the public half; write the private half last, so
	 * a failure leaves no orphan key.  If the write fails, say so. */
	if (util_write_file(key_out, priv, strlen(priv), 0600, &e) != 0) {
		err_prefix(&e, "provisioner \"%s\" was added but its key could not "
		    "be written (remove and add it again): ", name);
		rc = cli_report(&e);
		goto out;
	}
	printf("provisioner %s added; its key is in %s (keep it secret)\n", name,
	    key_out);
	rc = 0;
out:
	if (priv != NULL) {
		memset(priv, 0, strlen(priv));
		free(priv);
	}
	free(pub);
	free(pol);
	policy_free(p);
	return rc;
}

static int prov_list(struct cli_ctx *ctx, int argc, char **argv)
{
	struct err e = { 0 };
	char *text = NULL;
	PGconn *c;
	json_t *arr;
	size_t i;
	json_t *v;
	int json = argc == 2 && strcmp(argv[1], "--json") == 0;

	if (argc > 2 || (argc == 2 && !json))
		return cli_usage("provisioner list", "usage: signet provisioner list [--json]");
	if (cli_db(ctx, &c, &e) != 0 || db_provisioner_list_json(c, &text, &e) != 0)
		return cli_report(&e);
	if (json) {
		printf("%s\n", text);
		free(text);
		return 0;
	}
	arr = json_loads(text, 0, NULL);
	free(text);
	printf("%-24s %-20s %s\n", "NAME", "PROFILES", "ALLOWS");
	json_array_foreach(arr, i, v) {
		json_t *pol = json_object_get(v, "policy"), *x;
		char profs[64] = "", allows[512] = "";
		size_t k;
		json_array_foreach(json_object_get(pol, "profiles"), k, x)
			snprintf(profs + strlen(profs), sizeof(profs) - strlen(profs),
			    "%s%s", k ? "," : "", json_string_value(x));
		const char *lists[3] = { "allow_dns", "allow_ip", "allow_uri" };
		for (int l = 0; l < 3; l++)
			json_array_foreach(json_object_get(pol, lists[l]), k, x)
				snprintf(allows + strlen(allows),
				    sizeof(allows) - strlen(allows), "%s%s",
				    allows[0] ? " " : "", json_string_value(x));
		printf("%-24s %-20s %s\n",
		    json_string_value(json_object_get(v, "name")), profs, allows);
	}
	json_decref(arr);
	return 0;
}

int cmd_provisioner(struct cli_ctx *ctx, int argc, char **argv)
{
	struct err e = { 0 };
	PGconn *c;

	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return prov_add(ctx, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return prov_list(ctx, argc - 1, argv + 1);
	if (argc == 3 && strcmp(argv[1], "remove") == 0) {
		if (cli_db(ctx, &c, &e) != 0 ||
		    db_provisioner_remove(c, argv[2], &e) != 0)
			return cli_report(&e);
		printf("provisioner %s removed; its tokens are no longer accepted\n",
		    argv[2]);
		return 0;
	}
	return cli_usage("provisioner", "usage: signet provisioner add|list|remove ...");
}
