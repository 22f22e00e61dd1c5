/*
 * acme_call: what the parts of the ACME server (ca/acme*.c) share inside
 * signet: the server's state, one request's state, and the ways to
 * answer.  Not a public interface: ca/acme.h is.
 *
 * Each request holds one pool connection (k->c) from routing to its
 * Replay-Nonce; handlers answer through acme_reply_json / acme_problem,
 * which set k->resp, exactly once.
 */
#ifndef SIGNET_ACME_CALL_H
#define SIGNET_ACME_CALL_H

#include <jansson.h>
#include <libpq-fe.h>

#include "ca/acme.h"
#include "ca/acme_jws.h"
#include "ca/issue.h"
#include "ca/policy.h"
#include "db/acme_db.h"

/* Longest ca_url the ACME responses' headers (Location, Link) hold. */
#define ACME_MAX_BASE 160
#define ACME_MAX_PROV 64
/* Room for any URL signet builds under a directory. */
#define ACME_URL_MAX (ACME_MAX_BASE + ACME_MAX_PROV + 160)

struct acme_validator;

struct acme_api {
	struct db *db;
	const struct config *cfg;
	struct ca *ca;                 /* NULL: no issuance (finalize 503) */
	char *chain_pem;               /* the issuing certificate, PEM */
	struct acme_validator *validator;   /* NULL: challenges wait for
	                                     * another signetd's workers */
	char base[ACME_MAX_BASE + 1];  /* ca_url without a trailing '/' */
	int enabled;
};

/* One request's state. */
struct acme_call {
	struct acme_api *a;
	const struct http_request *req;
	struct http_response *resp;
	PGconn *c;
	char prov[ACME_MAX_PROV + 1];
	struct policy *pol;            /* the provisioner's policy */
	const char *rest;              /* the path after /acme/{prov}/ */
	char dir_url[ACME_URL_MAX];
	/* A verified POST signed with a kid: its account. */
	struct db_acme_account acct;
	const struct acme_jws *jws;
	/* The answer may be cached: no Replay-Nonce, no no-store (set by
	 * the handler that says so). */
	int cacheable;
};

/* ACME problem (RFC 8555 6.7) of type (without the urn prefix). */
void acme_problem(struct acme_call *k, int status, const char *type,
    const char *detail);
/* The same with subproblems (RFC 8555 6.7.1; a JSON array, its
 * reference taken; NULL for none), each made by acme_subproblem. */
void acme_problem_sub(struct acme_call *k, int status, const char *type,
    const char *detail, json_t *subproblems);
json_t *acme_subproblem(const char *type, const char *detail,
    const char *ident_type, const char *ident_value);
/* A failure of the database or of signet itself: 503 for
 * ERR_UNAVAILABLE, 500 otherwise, logged. */
void acme_problem_internal(struct acme_call *k, const struct err *e);
/* Answer e: ERR_INTERNAL/ERR_UNAVAILABLE as acme_problem_internal, any
 * other kind as a problem of type with status. */
void acme_problem_err(struct acme_call *k, int status, const char *type,
    const struct err *e);
/* A JSON body (takes the reference to j; NULL answers 500). */
void acme_reply_json(struct acme_call *k, int status, json_t *j);
/* Add a response header if it fits whole; -1 if not. */
int acme_add_header(struct acme_call *k, const char *name,
    const char *value);
/* k's directory URL + "/" + the printf-formatted rest, into out. */
void acme_url(const struct acme_call *k, char *out, size_t n,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Retry-After: seconds (RFC 8555 8.2, 7.1.6). */
void acme_retry_after(struct acme_call *k, long seconds);
/* A decimal id of 1..18 digits, the whole of s; -1 if not. */
long long acme_parse_id(const char *s);
/* 32 random bytes, base64url (43 characters): tokens, EAB key ids. */
int acme_random_token(char out[48], struct err *e);

/* ---- endpoints (verified POSTs; payload NULL for POST-as-GET) ---- */

/* acme_account.c */
void acme_new_account(struct acme_call *k, json_t *payload);
void acme_account(struct acme_call *k, long long id, json_t *payload);
void acme_key_change(struct acme_call *k, json_t *payload);

/* acme_order.c */
void acme_new_order(struct acme_call *k, json_t *payload);
void acme_order(struct acme_call *k, long long id, json_t *payload);
void acme_orders_list(struct acme_call *k, long long acct, long page,
    json_t *payload);
void acme_finalize(struct acme_call *k, long long id, json_t *payload);
void acme_authz(struct acme_call *k, long long id, json_t *payload);
void acme_challenge(struct acme_call *k, long long id, json_t *payload);
void acme_certificate(struct acme_call *k, const char *serial,
    json_t *payload);

/* acme_ari.c: GET renewal-info/{certID} (RFC 9773), unauthenticated;
 * and the certID of an order's "replaces" into the serial it names
 * (ERR_INVALID/ERR_NOTFOUND with why). */
void acme_renewal_info(struct acme_call *k, const char *cert_id);
int acme_ari_serial(struct acme_call *k, const char *cert_id,
    char *serial, size_t n, struct err *e);

/* acme_revoke.c: revokeCert, signed by an account (kid) or by the
 * certificate's key (jwk). */
void acme_revoke_cert(struct acme_call *k, json_t *payload);

#endif
