/*
 * db/acme_db: what the ACME server (ca/acme) keeps in PostgreSQL
 * (migrations 006, 007): replay nonces, accounts and External Account
 * Binding keys (db/acme_eab.c).  Like the rest of db/, no
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
	int eab_bound;             /* bound to an EAB key (RFC 8555 7.3.4) */
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

/* Create the account of key thumbprint under provisioner bound to the
 * EAB key eab_kid (RFC 8555 7.3.4), in one transaction: the key is
 * claimed (used_at, account_id) only if it is of this provisioner,
 * unused and unexpired, and the account records eab_kid; the creation
 * is audited with the kid.  If an account of this key exists (also one
 * made concurrently), *created is 0, *out is that account and the EAB
 * key stays unused -- unless it is the account that EAB key was bound
 * to, which a concurrent twin of this request made.  A key bound, or
 * expired, meanwhile is ERR_AUTH saying which; one of another
 * provisioner or none, ERR_NOTFOUND.  Two requests racing for one key
 * bind it to at most one account. */
int db_acme_account_create_eab(PGconn *c, const char *provisioner,
    const char *thumbprint, const char *jwk_json, const char *contacts_json,
    const char *eab_kid, struct db_acme_account *out, int *created,
    struct err *e);

/* Replace a valid account's key (RFC 8555 7.3.5) with the new
 * thumbprint and canonical JWK, audited (acme.account.key_change, old and
 * new thumbprints).  *out receives the account afterwards.  ERR_CONFLICT
 * if another account of the provisioner has that key, ERR_AUTH if the
 * account is not valid, ERR_NOTFOUND if there is none. */
int db_acme_account_set_key(PGconn *c, const char *provisioner, long long id,
    const char *thumbprint, const char *jwk_json,
    struct db_acme_account *out, struct err *e);

/* ---- revokeCert (RFC 8555 7.6) ---- */

/* *yes 1 if an order of account_id under provisioner issued the
 * certificate serial (acme_orders.cert_serial). */
int db_acme_cert_ordered_by(PGconn *c, const char *provisioner,
    const char *serial, long long account_id, int *yes, struct err *e);

/* *yes 1 if account_id holds a valid, unexpired authorization for every
 * identifier of idents_json, a JSON array of {"type": "dns"|"ip",
 * "value": ...} as acme_authzs stores them (a wildcard by its base
 * name); 0 for an empty array. */
int db_acme_authz_cover(PGconn *c, long long account_id,
    const char *idents_json, int *yes, struct err *e);

/* ---- External Account Binding keys (db/acme_eab.c) ---- */

/* Record an EAB key (kid, HMAC key of key_len bytes) of provisioner,
 * expiring ttl seconds from now (ttl <= 0: never), with an audit entry
 * by actor (acme.eab.create; never the key) in the same transaction.
 * expires receives RFC 3339 UTC, or "" for no expiry.  ERR_NOTFOUND if
 * the provisioner does not exist; ERR_CONFLICT if kid does. */
int db_acme_eab_add(PGconn *c, const char *kid, const char *provisioner,
    const unsigned char *key, size_t key_len, long long ttl,
    const char *actor, char expires[32], struct err *e);

struct db_acme_eab {
	char provisioner[65];
	unsigned char *hmac_key;   /* malloc'ed */
	size_t hmac_key_len;
	int used;                  /* bound to an account already */
	int expired;
	long long account_id;      /* the account it bound; 0 if none */
};
/* Wipe and free what a db_acme_eab holds (not the struct). NULL is fine. */
void db_acme_eab_clear(struct db_acme_eab *k);

/* The EAB key kid, whatever its provisioner or state; ERR_NOTFOUND if
 * none.  Clear *out with db_acme_eab_clear. */
int db_acme_eab_get(PGconn *c, const char *kid, struct db_acme_eab *out,
    struct err *e);

#endif
