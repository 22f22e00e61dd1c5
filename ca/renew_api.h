/*
 * renew_api: POST /v1/renew on the HTTPS listener.  A certificate renews
 * itself, with no provisioner token: the caller proves it holds the key
 * of the current certificate, either
 *   - as the TLS client certificate of the request (mTLS), or
 *   - with a proof of possession in "token" (ca/pop.h) whose aud is
 *     ca_url/v1/renew, for clients behind a TLS-terminating proxy.
 * Body (JSON): {"csr": PEM (optional: a new key, which is encouraged;
 * without it the current key is kept), "token": JWS (optional with mTLS)}.
 * The certificate must be one of ours, exactly as stored, good (not
 * revoked) and unexpired, and issued through a provisioner that still
 * exists and whose current policy still allows its names, profile and
 * key type.  The new certificate keeps the names, subject, profile and
 * lifetime (capped by today's maximum) and records its predecessor.
 * Answers 201 like /v1/sign plus "predecessor", or problem+json.
 */
#ifndef SIGNET_RENEW_API_H
#define SIGNET_RENEW_API_H

#include "ca/api.h"
#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "db/db.h"

struct renew_api;

/* All borrowed; they must outlive the result (free with renew_api_free,
 * NULL is fine). */
int renew_api_new(struct api *api, struct ca *ca, struct db *d,
    const struct config *cfg, struct renew_api **out, struct err *e);
void renew_api_free(struct renew_api *a);

/* The route handler (arg: the renew_api). */
void renew_api_handle(void *arg, const struct http_request *req,
    struct http_response *resp);

#endif
