/*
 * acme: the ACME server (RFC 8555) on the HTTPS listener, one directory per
 * provisioner that has ACME on (policy "acme"; docs/acme.md):
 *   GET  /acme/{p}/directory, HEAD/GET new-nonce, GET renewal-info/{id}
 *   POST new-account, acct/{id}, acct/{id}/orders[/{page}], key-change,
 *        new-order, order/{id}, order/{id}/finalize, authz/{id},
 *        chall/{id}, cert/{serial}, revoke-cert
 * Every POST is a flattened JWS (ca/acme_jws) whose url must be ca_url +
 * the request path and whose nonce, stored in PostgreSQL, is consumed
 * once, whichever signetd on the database handed it out.  Answered
 * challenges are validated by ca/acme_validator's workers.  Every ACME
 * response carries a fresh Replay-Nonce; errors are problem+json of type
 * urn:ietf:params:acme:error:*.  The handlers live in ca/acme_*.c and
 * share ca/acme_call.h.
 */
#ifndef SIGNET_ACME_H
#define SIGNET_ACME_H

#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "db/db.h"

/* How long a nonce stays good, seconds. */
#define ACME_NONCE_TTL 3600
/* Contacts an account may list, and the longest one (bytes). */
#define ACME_MAX_CONTACTS 4
#define ACME_MAX_CONTACT_LEN 254

struct acme_api;
struct acme_validator;
struct ca;

/* d, cfg and ca are borrowed and must outlive the api (ca NULL: orders
 * cannot be finalized).  Free with acme_api_free (NULL is fine). */
int acme_api_new(struct db *d, const struct config *cfg, struct ca *ca,
    struct acme_api **out, struct err *e);
/* Wake v's workers when a challenge is answered here (borrowed). */
void acme_api_set_validator(struct acme_api *a, struct acme_validator *v);
void acme_api_free(struct acme_api *a);

/* The route handler for GET (and HEAD) and POST /acme/ (arg: the
 * acme_api).  POST bodies are bounded by the route's max_body, which
 * should be ACME_JWS_MAX_BODY (ca/acme_jws.h). */
void acme_api_handle(void *arg, const struct http_request *req,
    struct http_response *resp);

/* Delete expired nonces (signetd's background job); *n how many. */
int acme_nonce_purge(struct acme_api *a, long *n, struct err *e);

#endif
