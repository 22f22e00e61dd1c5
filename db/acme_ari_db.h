/*
 * db/acme_ari_db: the one question ACME Renewal Information (RFC 9773,
 * ca/acme_ari.c) asks PostgreSQL: which issued certificate a certID
 * names.  Like the rest of db/, no HTTP or X.509 here: the caller has
 * already turned the certID into a serial and an issuer key identifier.
 */
#ifndef SIGNET_DB_ACME_ARI_H
#define SIGNET_DB_ACME_ARI_H

#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/err.h"

struct db_acme_ari_cert {
	char status[16];             /* good, revoked */
	time_t not_before, not_after;
};

/* The certificate with serial (lowercase hex, no leading zeros) that
 * signet issued (status good or revoked: never a pending or abandoned
 * intent) through provisioner, signed by the issuer whose stored
 * subjectKeyIdentifier is the ski_len bytes at ski.  ERR_NOTFOUND, one
 * message whichever condition failed, when there is none: a directory
 * tells nothing of another provisioner's certificates. */
int db_acme_ari_cert(PGconn *c, const char *provisioner, const char *serial,
    const unsigned char *ski, size_t ski_len, struct db_acme_ari_cert *out,
    struct err *e);

#endif
