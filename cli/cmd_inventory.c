/* signet list, signet show, signet expiring: what the CA has issued. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "common/util.h"

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

static void sans_text(json_t *o, char *out, size_t len)
{
	size_t i;
	json_t *v;

	out[0] = '\0';
	json_array_foreach(json_object_get(o, "sans"), i, v)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "," : "",
		    json_string_value(v));
}

/* --json: the database's answer as it came, indented; none when there
 * is nothing to print (the answer did not parse). */
static void print_json(json_t *j, const char *none)
{
	char *out = json_dumps(j, JSON_INDENT(2));

	printf("%s\n", out ? out : none);
	free(out);
}

/* Time left as its two largest units ("6d23h", "3h05m", "42s"). */
static void left_text(long long secs, char *out, size_t len)
{
	if (secs >= 86400)
		snprintf(out, len, "%lldd%02lldh", secs / 86400, secs % 86400 / 3600);
	else if (secs >= 3600)
		snprintf(out, len, "%lldh%02lldm", secs / 3600, secs % 3600 / 60);
	else if (secs >= 60)
		snprintf(out, len, "%lldm%02llds", secs / 60, secs % 60);
	else
		snprintf(out, len, "%llds", secs > 0 ? secs : 0);
}

/* The LEFT column of signet list: time to notAfter of a good
 * certificate, "expired" past it, "-" for a revoked one. */
static void list_left(json_t *o, time_t now, char *out, size_t len)
{
	const char *na = json_string_value(json_object_get(o, "not_after"));
	const char *st = json_string_value(json_object_get(o, "status"));
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (na == NULL || st == NULL || strcmp(st, "revoked") == 0 ||
	    (end = strptime(na, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL || *end) {
		snprintf(out, len, "-");
		return;
	}
	if (strcmp(st, "expired") == 0 || timegm(&tm) <= now)
		snprintf(out, len, "expired");
	else
		left_text((long long)(timegm(&tm) - now), out, len);
}

int cmd_list(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_EXP = 256, O_STATUS, O_PROV, O_JSON, O_LIMIT };
	static const struct option opts[] = {
		{ "expiring", required_argument, NULL, O_EXP },
		{ "status", required_argument, NULL, O_STATUS },
		{ "provisioner", required_argument, NULL, O_PROV },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "json", no_argument, NULL, O_JSON },
		{ NULL, 0, NULL, 0 },
	};
	long long within = -1, limit = 10000;
	const char *status = NULL, *prov = NULL;
	struct err e = { 0 };
	char *text = NULL, sans[1024], left[24];
	json_t *arr, *v;
	PGconn *c;
	size_t i;
	int ch, json = 0;
	time_t now = time(NULL);

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_EXP:
			if (util_parse_duration(optarg, 3650LL * 86400, &within, &e) != 0) {
				e.kind = ERR_CONFIG;
				return cli_report(&e);
			}
			break;
		case O_LIMIT:
			if (util_parse_duration(optarg, 1000000, &limit, &e) != 0 || limit < 1)
				return cli_usage("list", "--limit must be 1..1000000");
			break;
		case O_STATUS:
			status = optarg;
			if (strcmp(status, "good") && strcmp(status, "revoked") &&
			    strcmp(status, "expired"))
				return cli_usage("list", "--status must be good, revoked "
				    "or expired");
			break;
		case O_PROV: prov = optarg; break;
		case O_JSON: json = 1; break;
		default:
			return cli_usage("list", "usage: signet list [--expiring D] "
			    "[--status good|revoked|expired] [--provisioner NAME] [--json]");
		}
	}
	if (optind != argc)
		return cli_usage("list", "unexpected argument \"%s\"", argv[optind]);
	if (cli_db(ctx, &c, &e) != 0 ||
	    db_cert_list_json(c, within, status, prov, (long)limit, &text, &e) != 0)
		return cli_report(&e);
	arr = json_loads(text, 0, NULL);
	free(text);
	if (json) {
		print_json(arr, "[]");
	} else {
		printf("%-34s %-8s %-20s %-8s %-7s %-16s %s\n", "SERIAL",
		    "STATUS", "NOT AFTER", "LEFT", "PROFILE", "PROVISIONER",
		    "NAMES");
		json_array_foreach(arr, i, v) {
			sans_text(v, sans, sizeof(sans));
			list_left(v, now, left, sizeof(left));
			printf("%-34s %-8s %-20s %-8s %-7s %-16s %s\n",
			    str(v, "serial"), str(v, "status"), str(v, "not_after"),
			    left, str(v, "profile"), str(v, "provisioner"), sans);
		}
	}
	/* --expiring looks for a condition: exit 1 when something is. */
	i = json_array_size(arr);
	json_decref(arr);
	return within >= 0 && i > 0 ? 1 : 0;
}

static void print_pem(const char *b64)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t n = strlen(b64);
	char *clean = malloc(n + 1);
	int len, j = 0;
	X509 *x = NULL;

	if (clean == NULL)
		return;
	/* PostgreSQL's base64 wraps lines; OpenSSL's decoder wants none. */
	for (size_t i = 0; i < n; i++)
		if (b64[i] != '\n' && b64[i] != '\r')
			clean[j++] = b64[i];
	clean[j] = '\0';
	der = malloc((size_t)j);
	if (der != NULL && (len = EVP_DecodeBlock(der, (unsigned char *)clean, j)) > 0) {
		/* EVP_DecodeBlock counts padding as zero bytes; d2i stops at
		 * the end of the DER anyway. */
		p = der;
		if ((x = d2i_X509(NULL, &p, len)) != NULL)
			PEM_write_X509(stdout, x);
	}
	X509_free(x);
	free(der);
	free(clean);
}

int cmd_show(struct cli_ctx *ctx, int argc, char **argv)
{
	struct err e = { 0 };
	const char *serial = NULL;
	char *text = NULL, sans[2048];
	json_t *o;
	PGconn *c;
	int json = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (serial == NULL && argv[i][0] != '-')
			serial = argv[i];
		else
			return cli_usage("show", "usage: signet show SERIAL [--json]");
	}
	if (serial == NULL)
		return cli_usage("show", "usage: signet show SERIAL [--json]");
	if (!util_is_hex(serial, 40))
		return cli_usage("show", "serial \"%.64s\" is not 1..40 hex digits",
		    serial);
	{
		char low[41];
		size_t k;
		/* Serials are stored lowercase without leading zeros. */
		while (serial[0] == '0' && serial[1] != '\0')
			serial++;
		for (k = 0; serial[k]; k++)
			low[k] = (char)(serial[k] >= 'A' && serial[k] <= 'F' ?
			    serial[k] + 32 : serial[k]);
		low[k] = '\0';
		if (cli_db(ctx, &c, &e) != 0 || db_cert_show_json(c, low, &text, &e) != 0)
			return cli_report(&e);
	}
	o = json_loads(text, 0, NULL);
	free(text);
	if (json) {
		print_json(o, "{}");
	} else {
		sans_text(o, sans, sizeof(sans));
		printf("serial:       %s\nissuer:       %s\nstatus:       %s\n"
		    "subject:      %s\nnames:        %s\nprofile:      %s\n"
		    "provisioner:  %s\nrequester:    %s\nnot before:   %s\n"
		    "not after:    %s\nfingerprint:  sha256:%s\nkey:          sha256:%s\n",
		    str(o, "serial"), str(o, "issuer"), str(o, "status"),
		    str(o, "subject"), sans, str(o, "profile"), str(o, "provisioner"),
		    str(o, "requester"), str(o, "not_before"), str(o, "not_after"),
		    str(o, "fingerprint_sha256"), str(o, "spki_sha256"));
		if (json_is_string(json_object_get(o, "revoked_at")))
			printf("revoked at:   %s (reason %lld)\n", str(o, "revoked_at"),
			    json_integer_value(json_object_get(o, "revocation_reason")));
		if (json_is_string(json_object_get(o, "der_base64")))
			print_pem(str(o, "der_base64"));
	}
	json_decref(o);
	return 0;
}

/* signet expiring --within D: what expires soon and has not been
 * renewed.  Exit 1 when something expiring has no successor (the
 * condition monitoring scripts look for), 0 when nothing does. */
int cmd_expiring(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_WITHIN = 256, O_PROV, O_ALL, O_JSON, O_LIMIT, O_HELP };
	static const struct option opts[] = {
		{ "within", required_argument, NULL, O_WITHIN },
		{ "provisioner", required_argument, NULL, O_PROV },
		{ "all", no_argument, NULL, O_ALL },
		{ "limit", required_argument, NULL, O_LIMIT },
		{ "json", no_argument, NULL, O_JSON },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] = "usage: signet expiring --within D "
	    "[--provisioner NAME] [--all] [--limit N] [--json]";
	long long within = -1, limit = 10000;
	const char *prov = NULL;
	struct err e = { 0 };
	char *text = NULL, sans[1024], left[24];
	json_t *arr, *v;
	PGconn *c;
	size_t i;
	long bare = 0;
	int ch, json = 0, all = 0;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_WITHIN:
			if (util_parse_duration(optarg, 3650LL * 86400, &within, &e) != 0)
				return cli_usage("expiring", "--within: %s (e.g. 7d, 12h; "
				    "at most 3650d)", e.msg);
			if (within < 1)
				return cli_usage("expiring", "--within must be at least 1s");
			break;
		case O_LIMIT:
			if (util_parse_duration(optarg, 1000000, &limit, &e) != 0 ||
			    limit < 1)
				return cli_usage("expiring", "--limit must be 1..1000000");
			break;
		case O_PROV: prov = optarg; break;
		case O_ALL: all = 1; break;
		case O_JSON: json = 1; break;
		case O_HELP:
			printf("%s\n  good, unexpired certificates whose notAfter is "
			    "within D, soonest first;\n  --all also those with a "
			    "successor (renewed).\n  exit 1 if one without a "
			    "successor expires within D, 0 if none\n", usage);
			return 0;
		default:
			return cli_usage("expiring", "%s", usage);
		}
	}
	if (optind != argc)
		return cli_usage("expiring", "unexpected argument \"%s\"", argv[optind]);
	if (within < 0)
		return cli_usage("expiring", "--within is required (%s)", usage);
	if (cli_db(ctx, &c, &e) != 0 ||
	    db_expiring_json(c, within, prov, all, (long)limit, &text, &bare,
	    &e) != 0)
		return cli_report(&e);
	arr = json_loads(text, 0, NULL);
	free(text);
	if (arr == NULL) {
		err_set(&e, ERR_INTERNAL, "unreadable answer from the database");
		return cli_report(&e);
	}
	if (json) {
		print_json(arr, "[]");
	} else {
		printf("%-34s %-20s %-8s %-16s %-34s %-24s %s\n", "SERIAL",
		    "NOT AFTER", "LEFT", "PROVISIONER", "SUCCESSOR", "SUBJECT",
		    "NAMES");
		json_array_foreach(arr, i, v) {
			sans_text(v, sans, sizeof(sans));
			left_text((long long)json_integer_value(json_object_get(v,
			    "seconds_left")), left, sizeof(left));
			printf("%-34s %-20s %-8s %-16s %-34s %-24s %s\n",
			    str(v, "serial"), str(v, "not_after"), left,
			    str(v, "provisioner"), str(v, "successor"),
			    str(v, "subject"), sans);
		}
	}
	json_decref(arr);
	return bare > 0 ? 1 : 0;
}
