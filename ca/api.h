/*
 * api: the enrollment HTTP handlers (POST /v1/sign) and the pieces of the
 * enrollment decision that the CLI's `signet issue` shares: what a token
 * and a policy allow a CSR to get.
 */
#ifndef SIGNET_API_H
#define SIGNET_API_H

#include "ca/csr.h"
#include "ca/issue.h"
#include "ca/policy.h"
#include "ca/token.h"
#include "common/config.h"
#include "common/http.h"
#include "db/db.h"

struct api;

/* The enrollment API over ca, db and cfg (all borrowed; they must outlive
 * the api).  The result must be passed to api_free(). */
int api_new(struct ca *ca, struct db *d, const struct config *cfg,
    struct api **out, struct err *e);
void api_free(struct api *a);

/* POST /v1/sign: {"csr": PEM, "token": JWS} -> {"certificate", "chain",
 * "serial", "not_after"}. */
void api_sign(void *arg, const struct http_request *req,
    struct http_response *resp);

/* Answer 201 with the certificate: {"certificate", "chain", "serial",
 * "not_after"} and "predecessor" when it renews one. */
void api_respond_cert(const struct api *a, X509 *x, const char *serial,
    const char *predecessor, struct http_response *resp);

/* The failure path of an API handler: answer e as problem+json, warn
 * ("msg=\"<what> failed\"") when the fault is the CA's (ERR_UNAVAILABLE,
 * ERR_INTERNAL), and add e's message to the request's log line. */
void api_respond_problem(const struct http_request *req,
    struct http_response *resp, const struct err *e, const char *what);

/* Decide what a verified token lets this CSR have: the names (the CSR's,
 * each granted by the token and allowed by the policy; the token's when
 * the CSR names none), the profile and the lifetime.  ERR_POLICY with the
 * rule broken. */
int api_authorize(const struct csr *csr, const struct token_claims *tok,
    const struct policy *pol, const struct config *cfg,
    struct san_list *names, enum profile *profile, long long *lifetime,
    struct err *e);

#endif
