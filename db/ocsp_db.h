/*
 * db/ocsp_db: what the OCSP responder reads and writes: delegated OCSP
 * signing certificates (table ocsp_signers, migration 003) and the status
 * of certificates by serial.  Like the rest of db/, no X.509 or OCSP here:
 * it stores and returns what it is given.
 */
#ifndef SIGNET_DB_OCSP_H
#define SIGNET_DB_OCSP_H

#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/err.h"

struct db_ocsp_signer {
	int id;                      /* 0: none */
	int issuer_id;
	char key_label[128];
	unsigned char *der;          /* malloc'ed */
	size_t der_len;
	time_t not_before, not_after;
};

/* Record a delegated OCSP signing certificate (with an audit entry);
 * *id receives its id. */
int db_ocsp_signer_add(PGconn *c, int issuer_id, const char *key_label,
    const char *serial, time_t not_before, time_t not_after,
    const unsigned char *der, size_t der_len, int *id, struct err *e);

/* The newest signer of an issuer; ERR_NOTFOUND if none.  Free der with
 * db_ocsp_signer_clear. */
int db_ocsp_signer_latest(PGconn *c, int issuer_id,
    struct db_ocsp_signer *out, struct err *e);
void db_ocsp_signer_clear(struct db_ocsp_signer *s);

/* A number for the next signer's key label (max id + 1). */
int db_ocsp_signer_next_number(PGconn *c, long *n, struct err *e);

/* The OCSP-relevant state of one certificate. */
struct db_cert_state {
	char serial[41];
	int issuer_id;
	int revoked;                 /* 0: good */
	time_t revoked_at;
	int reason;                  /* -1 when none is recorded */
	time_t not_after;
};

/* The state of the certificate with serial, issued by issuer_id.
 * ERR_NOTFOUND when there is none that left the CA (pending and abandoned
 * intents never did). */
int db_ocsp_cert_state(PGconn *c, int issuer_id, const char *serial,
    struct db_cert_state *out, struct err *e);

/* Unexpired certificates of issuer_id (good or revoked); with
 * revoked_since >= 0 only those revoked at or after it.  At most max rows
 * (the newest first).  *out is malloc'ed (free()), *n its length. */
int db_ocsp_cert_list(PGconn *c, int issuer_id, time_t revoked_since,
    long max, struct db_cert_state **out, size_t *n, struct err *e);

#endif
