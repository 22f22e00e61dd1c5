/*
 * db/acme_db: what the ACME server (ca/acme) keeps in PostgreSQL
 * (migration 006): replay nonces and accounts.  Like the rest of db/, no
 * HTTP or JOSE here: it stores and returns what it is given.
 */
#ifndef SIGNET_DB_ACME_H
#define SIGNET_DB_ACME_H

#include <libpq-fe.h>

#include "common/err.h"

/* Record a fresh nonce valid for ttl seconds. */
int db_acme_nonce_add(PGconn *c, const char *nonce, long ttl, struct err *e);

/* Consume a nonce: *ok 1 if it existed, had not expired and is now gone
 * (a second call, from any process, finds nothing), 0 otherwise. */
int db_acme_nonce_consume(PGconn *c, const char *nonce, int *ok,
    struct err *e);

/* Delete expired nonces; *n (if not NULL) receives how many. */
int db_acme_nonce_purge(PGconn *c, long *n, struct err *e);

struct db_acme_account {
	long long id;
	char status[16];           /* valid, deactivated, revoked */
	char *jwk_json;            /* malloc'ed */
	char *contacts_json;       /* malloc'ed, a JSON array */
};
/* Free what a db_acme_account holds (not the struct).  NULL is fine. */
void db_acme_account_clear(struct db_acme_account *a);

/* Create the account of key thumbprint under provisioner, unless one
 * exists: *created 1 and *out the new account, or *created 0 and *out the
 * existing one (concurrent creations of one key make one account).  The
 * creation is audited. */
int db_acme_account_create(PGconn *c, const char *provisioner,
    const char *thumbprint, const char *jwk_json, const char *contacts_json,
    struct db_acme_account *out, int *created, struct err *e);

/* The account of key thumbprint under provisioner; ERR_NOTFOUND if none. */
int db_acme_account_by_key(PGconn *c, const char *provisioner,
    const char *thumbprint, struct db_acme_account *out, struct err *e);

/* Account id under provisioner; ERR_NOTFOUND if none. */
int db_acme_account_get(PGconn *c, const char *provisioner, long long id,
    struct db_acme_account *out, struct err *e);

/* Update a valid account: contacts_json (NULL: unchanged) and, with
 * deactivate, status deactivated (audited).  *out receives the account
 * as it is afterwards.  ERR_NOTFOUND if no such account, ERR_AUTH if it
 * is not valid (any more). */
int db_acme_account_update(PGconn *c, const char *provisioner, long long id,
    const char *contacts_json, int deactivate, struct db_acme_account *out,
    struct err *e);

#endif
