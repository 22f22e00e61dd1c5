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

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/csr.h"
#include "ca/token.h"
#include "ca/x509util.h"
#include "cli/cli.h"
#include "common/util.h"

#define RESPONSE_MAX (1 << 20)

struct body {
	char *p;
	size_t len;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	char *np;

	if (b->len + add > RESPONSE_MAX)
		return 0;
	if ((np = realloc(b->p, b->len + add + 1)) == NULL)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, data, add);
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

static EVP_PKEY *make_key(const char *type, struct err *e)
{
	EVP_PKEY *k = NULL;

	if (strcmp(type, "ec-p256") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(type, "ec-p384") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	else if (strcmp(type, "rsa-2048") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (strcmp(type, "rsa-3072") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	else if (strcmp(type, "rsa-4096") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
	else if (strcmp(type, "ed25519") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else {
		err_set(e, ERR_CONFIG, "--key-type %s: want ec-p256, ec-p384, "
		    "rsa-2048, rsa-3072, rsa-4096 or ed25519", type);
		return NULL;
	}
	if (k == NULL)
		err_ossl(e, ERR_INTERNAL, "key generation");
	return k;
}

/* A CSR for the token's names, signed with key. */
static char *make_csr(EVP_PKEY *key, const struct token_claims *c,
    struct err *e)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext = NULL;
	GENERAL_NAMES *gens = san_list_to_general_names(&c->sans, e);
	BIO *b = NULL;
	char *pem = NULL, *data;
	long n;
	int ed = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;

	if (gens == NULL)
		goto out;
	if (!req || !name || !exts) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (c->sub[0] && X509_NAME_add_entry_by_NID(name, NID_commonName,
	    MBSTRING_UTF8, (const unsigned char *)c->sub, -1, -1, 0) != 1) {
		err_ossl(e, ERR_INVALID, "subject");
		goto out;
	}
	if ((ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) == NULL ||
	    sk_X509_EXTENSION_push(exts, ext) == 0)
		goto oom;
	ext = NULL;
	if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_add_extensions(req, exts) != 1 ||
	    X509_REQ_sign(req, key, ed ? NULL : EVP_sha256()) <= 0) {
		err_ossl(e, ERR_INTERNAL, "making the CSR");
		goto out;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509_REQ(b, req) != 1)
		goto oom;
	n = BIO_get_mem_data(b, &data);
	if ((pem = malloc((size_t)n + 1)) == NULL)
		goto oom;
	memcpy(pem, data, (size_t)n);
	pem[n] = '\0';
	goto out;
oom:
	err_ossl(e, ERR_INTERNAL, "making the CSR");
out:
	BIO_free(b);
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return pem;
}

static int post_sign(const char *ca_url, const char *root, const char *csr,
    const char *token, json_t **out, struct err *e)
{
	CURL *cu = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct body b = { NULL, 0 };
	char url[1024], *req = NULL, cerr[CURL_ERROR_SIZE] = "";
	json_t *j = NULL;
	long status = 0;
	CURLcode rc;
	int ret = -1;

	snprintf(url, sizeof(url), "%s/v1/sign", ca_url);
	j = json_pack("{s:s, s:s}", "csr", csr, "token", token);
	req = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	j = NULL;
	if (cu == NULL || req == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_CAINFO, root);
	curl_easy_setopt(cu, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "https");
	if ((rc = curl_easy_perform(cu)) != CURLE_OK) {
		err_set(e, ERR_UNAVAILABLE, "%s: %s", url,
		    cerr[0] ? cerr : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
	j = b.p ? json_loadb(b.p, b.len, 0, NULL) : NULL;
	if (status != 201 && status != 200) {
		const char *detail = json_string_value(json_object_get(j, "detail"));
		err_set(e, status == 503 ? ERR_UNAVAILABLE :
		    status >= 500 ? ERR_INTERNAL : ERR_POLICY,
		    "the CA refused (HTTP %ld): %s", status,
		    detail ? detail : "no detail");
		goto out;
	}
	if (!json_is_object(j)) {
		err_set(e, ERR_INTERNAL, "the CA's answer is not JSON");
		goto out;
	}
	*out = j;
	j = NULL;
	ret = 0;
out:
	json_decref(j);
	free(b.p);
	free(req);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(cu);
	return ret;
}

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
	json_t *resp = NULL, *v;
	const char *cert;
	size_t i;
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
		if ((key = make_key(kt, &e)) == NULL ||
		    (csr = make_csr(key, &claims, &e)) == NULL)
			goto fail;
	}
	if (post_sign(ca_url, root, csr, token, &resp, &e) != 0)
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
		size_t len = 0;
		json_array_foreach(json_object_get(resp, "chain"), i, v) {
			const char *s = json_string_value(v);
			char *n = s ? realloc(chain, len + strlen(s) + 1) : NULL;
			if (n == NULL)
				continue;
			chain = n;
			memcpy(chain + len, s, strlen(s) + 1);
			len += strlen(s);
		}
		if (util_write_file(chain_out, chain ? chain : "", len, 0644, &e) != 0)
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
	json_decref(resp);
	EVP_PKEY_free(key);
	free(csr);
	free(chain);
	free(tokbuf);
	return rc;
}
