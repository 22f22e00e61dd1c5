/*
 * signet enroll: the client side of POST /v1/sign.  Makes a key and CSR
 * locally (or takes a CSR), asks the CA with a token, and writes the key
 * (mode 0600), certificate and chain.  Needs no config: only the CA URL
 * and the root to trust for the HTTPS connection.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ca/token.h"
#include "ca/x509util.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "common/util.h"

int cmd_enroll(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_URL = 256, O_ROOT, O_TOK, O_CSR, O_KT, O_CERT, O_KEY, O_CHAIN };
	static const struct option opts[] = {
		{ "ca-url", required_argument, NULL, O_URL },
		{ "root", required_argument, NULL, O_ROOT },
		{ "token", required_argument, NULL, O_TOK },
		{ "csr", required_argument, NULL, O_CSR },
		{ "key-type", required_argument, NULL, O_KT },
		{ "cert-out", required_argument, NULL, O_CERT },
		{ "key-out", required_argument, NULL, O_KEY },
		{ "chain-out", required_argument, NULL, O_CHAIN },
		{ NULL, 0, NULL, 0 },
	};
	const char *ca_url = NULL, *root = NULL, *token = NULL, *csr_file = NULL;
	const char *kt = "ec-p256", *cert_out = NULL, *key_out = NULL;
	const char *chain_out = NULL;
	struct token_claims claims;
	struct err e = { 0 };
	EVP_PKEY *key = NULL;
	char *csr = NULL, *tokbuf = NULL, *chain = NULL;
	json_t *resp = NULL, *body = NULL;
	struct client_req req;
	const char *cert;
	char url[1024];
	long status;
	int ch, rc = 2;

	(void)ctx;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_URL: ca_url = optarg; break;
		case O_ROOT: root = optarg; break;
		case O_TOK: token = optarg; break;
		case O_CSR: csr_file = optarg; break;
		case O_KT: kt = optarg; break;
		case O_CERT: cert_out = optarg; break;
		case O_KEY: key_out = optarg; break;
		case O_CHAIN: chain_out = optarg; break;
		default:
			return cli_usage("enroll", "usage: signet enroll --ca-url URL "
			    "--root FILE --token TOKEN|@FILE [--csr FILE | --key-type T] "
			    "--cert-out F --key-out F [--chain-out F]");
		}
	}
	if (optind != argc || !ca_url || !root || !token || !cert_out)
		return cli_usage("enroll", "need --ca-url, --root, --token and --cert-out");
	if (csr_file == NULL && key_out == NULL)
		return cli_usage("enroll", "need --key-out for the key it makes "
		    "(or --csr FILE)");
	if (strncmp(ca_url, "https://", 8) != 0)
		return cli_usage("enroll", "--ca-url must be https://");
	/* --token @FILE keeps the token out of the process list. */
	if (token[0] == '@') {
		if (util_read_file(token + 1, TOKEN_MAX_LEN, &tokbuf, NULL, &e) != 0)
			goto fail;
		tokbuf[strcspn(tokbuf, "\r\n")] = '\0';
		token = tokbuf;
	}
	if (csr_file != NULL) {
		if (util_read_file(csr_file, 65536, &csr, NULL, &e) != 0)
			goto fail;
	} else {
		if (token_peek_claims(token, strlen(token), &claims, &e) != 0)
			goto fail;
		if ((key = client_make_key(kt, &e)) == NULL ||
		    (csr = client_make_csr(key, claims.sub, &claims.sans,
		    &e)) == NULL)
			goto fail;
	}
	snprintf(url, sizeof(url), "%s/v1/sign", ca_url);
	memset(&req, 0, sizeof(req));
	req.root = root;
	if ((body = json_pack("{s:s, s:s}", "csr", csr, "token", token)) == NULL) {
		err_set(&e, ERR_INVALID, "the token is not valid UTF-8");
		goto fail;
	}
	if (client_post_json(url, &req, body, &resp, &status, &e) != 0)
		goto fail;
	cert = json_string_value(json_object_get(resp, "certificate"));
	if (cert == NULL) {
		err_set(&e, ERR_INTERNAL, "the CA's answer has no certificate");
		goto fail;
	}
	/* Key first: a certificate without its key is useless. */
	if (key != NULL && x509_write_key(key_out, key, &e) != 0)
		goto fail;
	if (util_write_file(cert_out, cert, strlen(cert), 0644, &e) != 0)
		goto fail;
	if (chain_out != NULL) {
		if ((chain = client_chain_pem(resp, &e)) == NULL ||
		    util_write_file(chain_out, chain, strlen(chain), 0644, &e) != 0)
			goto fail;
	}
	printf("certificate %s, valid until %s, written to %s\n",
	    json_string_value(json_object_get(resp, "serial")),
	    json_string_value(json_object_get(resp, "not_after")), cert_out);
	rc = 0;
	goto out;
fail:
	rc = cli_report(&e);
out:
	json_decref(body);
	json_decref(resp);
	EVP_PKEY_free(key);
	free(csr);
	free(chain);
	free(tokbuf);
	return rc;
}
