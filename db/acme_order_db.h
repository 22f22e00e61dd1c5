/*
 * db/acme_order_db: ACME orders, authorizations and challenges
 * (migration 007) and the validation work queue.  Like the rest of db/,
 * no HTTP or JOSE here: it stores and returns what it is given.
 *
 * Expiry is applied when rows are read: a pending or ready order past its
 * expiry reads as invalid, a pending or valid authorization as expired.
 * Times are returned as RFC 3339 UTC text ("" when absent).
 */
#ifndef SIGNET_DB_ACME_ORDER_H
#define SIGNET_DB_ACME_ORDER_H

#include <libpq-fe.h>

#include "common/err.h"

#define DB_ACME_TIME 32
#define DB_ACME_TOKEN 48
#define DB_ACME_VALUE 256
#define DB_ACME_SERIAL 48
#define DB_ACME_CERT_ID 128
#define DB_ACME_MAX_CHALL 3

/* ---- creating an order ---- */

struct db_acme_new_authz {
	const char *type;            /* "dns", "ip" */
	const char *value;           /* without "*." */
	int wildcard;
	int valid;                   /* authorized by policy: no challenge */
	const char *chall_type[DB_ACME_MAX_CHALL];
	const char *chall_token[DB_ACME_MAX_CHALL];
	int nchall;
};

/* Create an order of account under provisioner with its authorizations
 * and their challenges, in one transaction.  identifiers_json: the
 * order's identifiers as a JSON array; not_before/not_after: RFC 3339 or
 * NULL; lifetime: seconds until the order and its authorizations expire;
 * replaces: a serial or NULL, replaces_id the certID that named it.  The order is ready at once when every
 * authorization is valid.  *id receives the order's id. */
int db_acme_order_create(PGconn *c, const char *provisioner,
    long long account, const char *identifiers_json, const char *not_before,
    const char *not_after, long lifetime, const char *replaces,
    const char *replaces_id, const struct db_acme_new_authz *az, int naz,
    long long *id, struct err *e);

/* ---- reading ---- */

struct db_acme_order {
	long long id, account_id;
	char status[16];
	char expires[DB_ACME_TIME];
	char not_before[DB_ACME_TIME], not_after[DB_ACME_TIME];
	char *identifiers_json;      /* malloc'ed */
	char *error_json;            /* malloc'ed, NULL if none */
	char cert_serial[DB_ACME_SERIAL];
	char replaces[DB_ACME_SERIAL];
	char replaces_id[DB_ACME_CERT_ID];
	long long *authz;            /* malloc'ed ids */
	int nauthz;
};
void db_acme_order_clear(struct db_acme_order *o);

/* Order id of provisioner (ERR_NOTFOUND if none). */
int db_acme_order_get(PGconn *c, const char *provisioner, long long id,
    struct db_acme_order *out, struct err *e);

struct db_acme_chall {
	long long id;
	char type[16];
	char token[DB_ACME_TOKEN];
	char status[16];
	char validated[DB_ACME_TIME];
	char *error_json;            /* malloc'ed, NULL if none */
};

struct db_acme_authz {
	long long id, order_id, account_id;
	char type[8];
	char value[DB_ACME_VALUE];
	int wildcard;
	char status[16];
	char expires[DB_ACME_TIME];
	struct db_acme_chall chall[DB_ACME_MAX_CHALL];
	int nchall;
};
void db_acme_authz_clear(struct db_acme_authz *a);

/* Authorization id of provisioner with its challenges (ERR_NOTFOUND). */
int db_acme_authz_get(PGconn *c, const char *provisioner, long long id,
    struct db_acme_authz *out, struct err *e);
/* The authorization a challenge belongs to (ERR_NOTFOUND). */
int db_acme_chall_authz(PGconn *c, long long chall, long long *authz,
    struct err *e);

/* ---- changing ---- */

/* The client answered challenge chall: pending -> processing, due now
 * (only while its authorization is pending and unexpired).  *started 1
 * if it changed. */
int db_acme_chall_start(PGconn *c, long long chall, int *started,
    struct err *e);

/* Deactivate an authorization (RFC 8555 7.5.2): pending or valid ->
 * deactivated, and its pending or ready orders become invalid.  *ok 0 if
 * it was in neither state. */
int db_acme_authz_deactivate(PGconn *c, long long authz, int *ok,
    struct err *e);

/* Finalization: ready -> processing (*ok 0 if the order was not ready
 * and unexpired; an order left processing for two minutes by a signetd
 * that died reads as ready and may be finalized again), then processing -> valid with the certificate's serial,
 * or back to ready (serial NULL) when issuance failed. */
int db_acme_order_begin_finalize(PGconn *c, long long order, int *ok,
    struct err *e);
int db_acme_order_end_finalize(PGconn *c, long long order,
    const char *serial, struct err *e);

/* ---- the account's orders, ownership, rate limits ---- */

/* Order ids of account that are not invalid, newest first, from offset; at most limit into
 * ids; *more 1 if there are further ones. */
int db_acme_orders_page(PGconn *c, long long account, long offset, int limit,
    long long *ids, int *n, int *more, struct err *e);

/* The account whose order issued serial under provisioner (*account -1:
 * none). */
int db_acme_cert_account(PGconn *c, const char *provisioner,
    const char *serial, long long *account, struct err *e);

/* Whether a valid or in-flight order already replaces serial. */
int db_acme_cert_replaced(PGconn *c, const char *serial, int *replaced,
    struct err *e);

/* Whether certificate serial names one of names_json (a JSON array of
 * SANs as the certificates table keeps them: "DNS:x", "IP:x"). */
int db_acme_cert_shares_name(PGconn *c, const char *serial,
    const char *names_json, int *shares, struct err *e);

/* Orders created within the last window seconds by account (account > 0)
 * or under provisioner (account <= 0): *count, and *wait the seconds
 * until the oldest of them leaves the window. */
int db_acme_orders_recent(PGconn *c, const char *provisioner,
    long long account, long window, long *count, long *wait, struct err *e);

/* ---- validation work (ca/acme_validator) ---- */

struct db_acme_work {
	long long chall;
	char type[16];
	char token[DB_ACME_TOKEN];
	char ident_type[8];
	char ident_value[DB_ACME_VALUE];
	char thumbprint[DB_ACME_TOKEN];   /* the account key's, now */
	int attempts;                     /* counting this one */
};

/* Claim one due challenge for lease seconds: *found 0 if none. */
int db_acme_work_claim(PGconn *c, long lease, struct db_acme_work *out,
    int *found, struct err *e);

/* Record a validation's outcome.  valid: the challenge and its
 * authorization are valid, and the order ready once all its
 * authorizations are.  Otherwise error_json (an ACME problem) is kept and,
 * with final, the challenge, its authorization and order are invalid;
 * without, the challenge is due again in retry seconds. */
int db_acme_work_done(PGconn *c, long long chall, int valid,
    const char *error_json, int final, long retry, struct err *e);

#endif
