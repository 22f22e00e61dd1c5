/*
 * signet issue: an administrator issues from a CSR file directly, with the
 * issuing key on the online token.  Names come from the CSR (checked for
 * form, not against a provisioner: the administrator is the policy here);
 * every extension still comes from the profile.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/issue.h"
#include "cli/cli.h"
#include "common/util.h"

static int parse_time(const char *s, time_t *out, struct err *e)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return err_set(e, ERR_CONFIG, "--not-before %s: want RFC 3339 UTC, "
		    "e.g. 2026-01-02T03:04:05Z", s);
	*out = timegm(&tm);
	return 0;
}

int cmd_issue(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_CSR = 256, O_PROF, O_LIFE, O_NB, O_OUT };
	static const struct option opts[] = {
		{ "csr", required_argument, NULL, O_CSR },
		{ "profile", required_argument, NULL, O_PROF },
		{ "lifetime", required_argument, NULL, O_LIFE },
		{ "not-before", required_argument, NULL, O_NB },
		{ "cert-out", required_argument, NULL, O_OUT },
		{ NULL, 0, NULL, 0 },
	};
	const char *csr_file = NULL, *prof = NULL, *out_file = NULL;
	const char *life = NULL, *nb = NULL;
	struct err e = { 0 };
	struct config *cfg;
	struct hsm *h;
	struct csr *csr = NULL;
	struct ca *ca = NULL;
	struct ca_request r;
	enum profile p;
	char *pem = NULL, *text = NULL, serial[SERIAL_HEX_MAX];
	size_t len;
	X509 *x = NULL;
	PGconn *c;
	int ch, rc = 2;

	memset(&r, 0, sizeof(r));
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_CSR: csr_file = optarg; break;
		case O_PROF: prof = optarg; break;
		case O_LIFE: life = optarg; break;
		case O_NB: nb = optarg; break;
		case O_OUT: out_file = optarg; break;
		default:
			return cli_usage("issue", "usage: signet issue --csr FILE "
			    "--profile P [--lifetime D] [--not-before TIME] --cert-out F");
		}
	}
	if (optind != argc || !csr_file || !prof || !out_file)
		return cli_usage("issue", "need --csr, --profile and --cert-out");
	if (profile_parse(prof, &p, &e) != 0 || cli_config(ctx, &cfg, &e) != 0)
		goto fail;
	r.lifetime = cfg->default_lifetime;
	if (life != NULL &&
	    util_parse_duration(life, cfg->max_lifetime, &r.lifetime, &e) != 0) {
		err_prefix(&e, "--lifetime (max_lifetime caps it): ");
		goto fail;
	}
	if (r.lifetime < 60) {
		err_set(&e, ERR_CONFIG, "--lifetime must be at least 60s");
		goto fail;
	}
	if (nb != NULL && parse_time(nb, &r.not_before, &e) != 0)
		goto fail;
	if (util_read_file(csr_file, 65536, &text, &len, &e) != 0 ||
	    csr_parse_pem(text, len, &csr, &e) != 0)
		goto fail;
	if (csr->sans.n == 0) {
		/* A CN that is a valid name stands in for the missing SAN. */
		struct san s;
		if (csr->cn[0] == '\0' || san_parse(csr->cn, &s, &e) != 0 ||
		    san_list_add(&csr->sans, &s, &e) != 0) {
			err_set(&e, ERR_INVALID, "the CSR names nothing: it needs "
			    "subjectAltNames or a CN that is a DNS name or IP");
			goto fail;
		}
	}
	if (cli_db(ctx, &c, &e) != 0 || cli_hsm(ctx, &h, &e) != 0 ||
	    ca_open(ctx->db, h, cfg->public_url, &ca, &e) != 0)
		goto fail;
	(void)c;
	r.pubkey = csr->pubkey;
	r.spki = X509_REQ_get_X509_PUBKEY(csr->req);
	r.cn = csr->cn;
	r.sans = &csr->sans;
	r.profile = p;
	r.requester = "admin (signet issue)";
	if (ca_issue(ca, &r, &x, serial, &e) != 0)
		goto fail;
	if (x509_to_pem(x, &pem, &e) != 0 ||
	    util_write_file(out_file, pem, strlen(pem), 0644, &e) != 0)
		goto fail;
	printf("certificate %s written to %s\n", serial, out_file);
	rc = 0;
	goto out;
fail:
	rc = cli_report(&e);
out:
	free(pem);
	free(text);
	X509_free(x);
	ca_free(ca);
	csr_free(csr);
	return rc;
}
