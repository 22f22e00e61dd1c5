/* client: keys, CSRs and HTTPS JSON requests for enroll and renew. */
#include "cli/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define RESPONSE_MAX (1 << 20)

EVP_PKEY *client_make_key(const char *type, struct err *e)
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

EVP_PKEY *client_key_like(EVP_PKEY *old, struct err *e)
{
	EVP_PKEY *k = NULL;
	char group[64];
	int id = EVP_PKEY_get_base_id(old), bits = EVP_PKEY_get_bits(old);

	if (id == EVP_PKEY_EC) {
		if (EVP_PKEY_get_utf8_string_param(old, OSSL_PKEY_PARAM_GROUP_NAME,
		    group, sizeof(group), NULL) != 1) {
			err_ossl(e, ERR_INTERNAL, "the current key's curve");
			return NULL;
		}
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
	} else if (id == EVP_PKEY_RSA && bits >= 2048 && bits <= 8192) {
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	} else if (id == EVP_PKEY_ED25519) {
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	} else {
		err_set(e, ERR_CONFIG, "cannot make a new key like the current "
		    "one (%s, %d bits): keep it with --keep-key",
		    OBJ_nid2sn(id), bits);
		return NULL;
	}
	if (k == NULL)
		err_ossl(e, ERR_INTERNAL, "key generation");
	return k;
}

char *client_make_csr(EVP_PKEY *key, const char *cn,
    const struct san_list *sans, struct err *e)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ext = NULL;
	GENERAL_NAMES *gens = NULL;
	BIO *b = NULL;
	char *pem = NULL, *data;
	long n;
	int ed = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;

	if (!req || !name || !exts)
		goto oom;
	if (cn[0] && X509_NAME_add_entry_by_NID(name, NID_commonName,
	    MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1) {
		err_ossl(e, ERR_INVALID, "subject");
		goto out;
	}
	if (sans->n > 0) {
		if ((gens = san_list_to_general_names(sans, e)) == NULL)
			goto out;
		if ((ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) == NULL ||
		    sk_X509_EXTENSION_push(exts, ext) == 0)
			goto oom;
		ext = NULL;
	}
	if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    (sk_X509_EXTENSION_num(exts) > 0 &&
	    X509_REQ_add_extensions(req, exts) != 1) ||
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

size_t client_body_write(char *data, size_t size, size_t n, void *arg)
{
	struct client_body *b = arg;
	size_t add = size * n;
	char *np;

	/* Returning less than given makes curl fail the transfer. */
	if (b->len + add > b->max)
		return 0;
	if ((np = realloc(b->p, b->len + add + 1)) == NULL)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, data, add);
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	const struct client_req *r = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return r->cancel != NULL && r->cancel() ? 1 : 0;
}

int client_post_json(const char *url, const struct client_req *r,
    json_t *body, json_t **out, long *status, struct err *e)
{
	CURL *cu = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct curl_blob cert, key;
	struct client_body b = { NULL, 0, RESPONSE_MAX };
	char *req = json_dumps(body, JSON_COMPACT), cerr[CURL_ERROR_SIZE] = "";
	json_t *j = NULL;
	const char *detail;
	CURLcode rc;
	int ret = -1;

	*status = 0;
	if (cu == NULL || req == NULL ||
	    (hdr = curl_slist_append(NULL, "Content-Type: application/json")) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_CAINFO, r->root);
	curl_easy_setopt(cu, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDS, req);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, client_body_write);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "https");
	if (r->cancel != NULL) {
		curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(cu, CURLOPT_XFERINFODATA, (void *)r);
		curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
	}
	if (r->cert_pem != NULL && r->key_pem != NULL) {
		/* From memory: exactly the pair the caller checked, not whatever
		 * the files hold by the time curl would read them. */
		cert.data = (void *)r->cert_pem;
		cert.len = strlen(r->cert_pem);
		cert.flags = CURL_BLOB_COPY;
		key.data = (void *)r->key_pem;
		key.len = strlen(r->key_pem);
		key.flags = CURL_BLOB_COPY;
		if (curl_easy_setopt(cu, CURLOPT_SSLCERT_BLOB, &cert) != CURLE_OK ||
		    curl_easy_setopt(cu, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK ||
		    curl_easy_setopt(cu, CURLOPT_SSLKEY_BLOB, &key) != CURLE_OK ||
		    curl_easy_setopt(cu, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK) {
			err_set(e, ERR_INTERNAL, "this libcurl cannot take a client "
			    "certificate from memory");
			goto out;
		}
	}
	if ((rc = curl_easy_perform(cu)) != CURLE_OK) {
		err_set(e, ERR_UNAVAILABLE, "%s: %s", url,
		    rc == CURLE_ABORTED_BY_CALLBACK ? "interrupted" :
		    cerr[0] ? cerr : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, status);
	j = b.p ? json_loadb(b.p, b.len, 0, NULL) : NULL;
	if (*status != 201 && *status != 200) {
		detail = json_string_value(json_object_get(j, "detail"));
		err_set(e, *status == 503 ? ERR_UNAVAILABLE :
		    *status == 401 ? ERR_AUTH :
		    *status == 429 ? ERR_LIMIT :
		    *status >= 500 ? ERR_INTERNAL : ERR_POLICY,
		    "the CA refused (HTTP %ld): %s", *status,
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

char *client_chain_pem(json_t *answer, struct err *e)
{
	json_t *v;
	size_t i, len = 0, n;
	char *chain = strdup(""), *p;
	const char *s;

	if (chain == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	json_array_foreach(json_object_get(answer, "chain"), i, v) {
		if ((s = json_string_value(v)) == NULL)
			continue;
		n = strlen(s);
		if ((p = realloc(chain, len + n + 1)) == NULL) {
			free(chain);
			err_set(e, ERR_INTERNAL, "out of memory");
			return NULL;
		}
		chain = p;
		memcpy(chain + len, s, n + 1);
		len += n;
	}
	return chain;
}
