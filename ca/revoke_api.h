/*
 * revoke_api: POST /v1/revoke on the HTTPS listener.  Body (JSON):
 * {"serial": hex, "reason": RFC 5280 name (default unspecified), "token":
 * compact JWS}.  The token is either
 *   - a provisioner token (header kid = provisioner, ES256) whose
 *     provisioner's policy has may_revoke, with aud = ca_url/v1/revoke;
 *     it may revoke only certificates issued through that provisioner; or
 *   - proof of possession: a JWS signed by the certificate's own key,
 *     header alg + x5c (the certificate itself, which must be the one
 *     stored under that serial), claims aud = ca_url/v1/revoke, iat, exp
 *     (exp - iat at most POP_MAX_TTL) and jti; see ca/pop.h.
 * Either token is good once (its jti is consumed with the revocation).
 * Answers 200 {"serial", "status": "revoked", "revoked_at", "reason",
 * "already"} or problem+json.
 */
#ifndef SIGNET_REVOKE_API_H
#define SIGNET_REVOKE_API_H

#include <stddef.h>
#include <time.h>

#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "db/db.h"

struct revoke_api;

/* d and cfg are borrowed and must outlive the api.  Free with
 * revoke_api_free (NULL is fine). */
int revoke_api_new(struct db *d, const struct config *cfg,
    struct revoke_api **out, struct err *e);
void revoke_api_free(struct revoke_api *a);

/* The route handler (arg: the revoke_api). */
void revoke_api_handle(void *arg, const struct http_request *req,
    struct http_response *resp);

#endif
