/*
 * client: what the client commands (`signet enroll`, `signet renew`)
 * share: keys made locally, CSRs, and JSON POSTs to the CA's HTTPS API
 * with libcurl (whose bounded reader of answers `signet monitor`'s OCSP
 * queries use too).  Nothing here needs a config or the database.
 */
#ifndef SIGNET_CLIENT_H
#define SIGNET_CLIENT_H

#include <jansson.h>
#include <openssl/evp.h>

#include "ca/csr.h"
#include "common/err.h"

/* A new key of a --key-type: ec-p256, ec-p384, rsa-2048, rsa-3072,
 * rsa-4096 or ed25519.  NULL with e set (ERR_CONFIG for an unknown type).
 * Free with EVP_PKEY_free. */
EVP_PKEY *client_make_key(const char *type, struct err *e);

/* A new key of the same kind as old: the same EC curve, the same RSA
 * size, or Ed25519.  NULL with e set. */
EVP_PKEY *client_key_like(EVP_PKEY *old, struct err *e);

/* A PEM CSR (malloc'ed) with subject CN cn ("" for none) and the names
 * sans as subjectAltName, signed with key.  NULL with e set. */
char *client_make_csr(EVP_PKEY *key, const char *cn,
    const struct san_list *sans, struct err *e);

/* How to reach the CA. */
struct client_req {
	const char *root;      /* PEM file of the CA roots to trust (required) */
	const char *cert_pem;  /* TLS client certificate (PEM text) or NULL */
	const char *key_pem;   /* its key (PEM text) when cert_pem is set */
	/* Called while waiting; nonzero aborts the request (a stop signal). */
	int (*cancel)(void);
};

/* A response body as libcurl hands it over: client_body_write is the
 * CURLOPT_WRITEFUNCTION, the struct its CURLOPT_WRITEDATA.  p (malloc'ed,
 * NULL until data comes) holds len bytes and a NUL after them; more than
 * max bytes in all fail the transfer (CURLE_WRITE_ERROR). */
struct client_body {
	char *p;
	size_t len;
	size_t max;
};
size_t client_body_write(char *data, size_t size, size_t n, void *arg);

/* POST body (a JSON object) to url (https:// only), trusting only
 * r->root.  A 200/201 answer that is a JSON object goes to *out (free with
 * json_decref).  Otherwise -1, *status is the HTTP status (0 when no
 * answer came: unreachable, TLS failure, timeout, cancelled) and e says
 * why with the CA's problem detail: ERR_UNAVAILABLE for no answer or 503,
 * ERR_AUTH for 401, ERR_LIMIT for 429, ERR_INTERNAL for other 5xx,
 * ERR_POLICY for any other refusal. */
int client_post_json(const char *url, const struct client_req *r,
    json_t *body, json_t **out, long *status, struct err *e);

/* The "chain" array of an issuance answer as one PEM text (malloc'ed;
 * "" when the answer has none).  NULL with e set. */
char *client_chain_pem(json_t *answer, struct err *e);

#endif
