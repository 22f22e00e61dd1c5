/*
 * crl: RFC 5280 CRLs.  Reason names, building a full v2 CRL (issuer name,
 * thisUpdate, nextUpdate, CRL number, authorityKeyIdentifier; per entry
 * the serial, revocationDate and a reasonCode unless the reason is
 * unspecified), signing it through the HSM, and the whole cycle against
 * the database: allocate the number, list the entries, sign, store, in
 * one transaction.
 */
#ifndef SIGNET_CRL_H
#define SIGNET_CRL_H

#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/x509.h>

#include "ca/x509util.h"
#include "common/err.h"
#include "hsm/hsm.h"

#define CRL_REASON_UNSPECIFIED 0
#define CRL_REASON_KEY_COMPROMISE 1

/* An RFC 5280 reason name (case-insensitive) to its CRLReason code.
 * certificateHold and removeFromCRL are refused (ERR_INVALID): signet
 * revocations are final.  Unknown names: ERR_INVALID listing the known. */
int crl_reason_parse(const char *name, int *code, struct err *e);
/* 1 if code is a reason signet records (RFC 5280 5.3.1 but
 * certificateHold and removeFromCRL). */
int crl_reason_allowed(long long code);
/* The RFC 5280 name of a code, "unknown" for others. */
const char *crl_reason_name(int code);

/* A serial as given by a user (hex, any case, leading zeros) to the form
 * signet stores: lowercase without leading zeros.  ERR_INVALID unless it
 * is 1..40 hex digits. */
int crl_serial_normalize(const char *in, char out[SERIAL_HEX_MAX],
    struct err *e);

/* Who signs a CRL: a key on the HSM, or (tests) a software key. */
struct crl_key {
	struct hsm_key *hsm;
	EVP_PKEY *pkey;            /* used when hsm is NULL */
};

/* A new v2 CRL of issuer with the given number and times, its signature
 * algorithm set for key (this signs the empty list once).  The result
 * must be passed to X509_CRL_free. */
int crl_new(X509 *issuer, long long number, time_t this_update,
    time_t next_update, const struct crl_key *key, X509_CRL **out,
    struct err *e);
/* Adds entries to a CRL.  Each entry is encoded (by OpenSSL) as it comes
 * and only its encoding kept, about 45 bytes of it and a 12-byte index
 * (an X509_REVOKED would take some 340): a CRL may list a million.  crl
 * is borrowed and must outlive the builder.  Free with crl_builder_free
 * (safe with NULL). */
struct crl_builder;
int crl_builder_new(X509_CRL *crl, struct crl_builder **out, struct err *e);
void crl_builder_free(struct crl_builder *b);
/* Add one entry (serial in hex, as signet stores it).  On failure nothing
 * is added and the builder stays usable. */
int crl_builder_add(struct crl_builder *b, const char *serial_hex,
    time_t revoked_at, int reason, struct err *e);
/* The CRL of b's X509_CRL with b's entries in serial order, signed with
 * key (the digest x509_sign_md picks, the algorithm crl_new set): *der
 * (OPENSSL_malloc'ed, *len bytes) is the signed CRL, the bytes OpenSSL
 * would encode for that X509_CRL with those entries X509_CRL_sort'ed.
 * The entries are freed as they are used, success or not: b is empty
 * afterwards and still has to be freed, as has the X509_CRL. */
int crl_finish(struct crl_builder *b, const struct crl_key *key,
    unsigned char **der, size_t *len, struct err *e);

struct crl_result {
	long long number;
	time_t this_update, next_update;
	int entries;
	unsigned char *der;          /* OPENSSL_malloc'ed */
	size_t der_len;
	/* Where the time went, in seconds: listing the entries from the
	 * database while building them; sorting, encoding and signing;
	 * storing and committing. */
	double t_list, t_sign, t_store;
};

/* Generate, sign and store the issuer's next CRL in one transaction on c
 * (which must be idle).  validity: nextUpdate - thisUpdate in seconds.
 * scheduled: a regularly scheduled CRL (RFC 5280 3.3), after which
 * expired certificates it lists are left off.  out->der must be freed
 * with crl_result_free. */
int crl_generate(PGconn *c, X509 *issuer, int issuer_id, struct hsm_key *key,
    long long validity, int scheduled, struct crl_result *out,
    struct err *e);
void crl_result_free(struct crl_result *r);

/* Write der atomically to dir/name.crl (mode 0644), creating dir (one
 * level) if missing.  path (PATH_MAX) receives the file's path if not
 * NULL. */
int crl_write(const char *dir, const char *name, const unsigned char *der,
    size_t len, char *path, size_t pathlen, struct err *e);

#endif
