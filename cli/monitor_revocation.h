/*
 * monitor_revocation: is a certificate that signet issued revoked?  Which
 * certificates are signet's is decided by signature: the leaf must verify
 * with the key of one of the CA's issuing certificates (a name match
 * alone would let any CA that copies signet's issuer name pass).  The
 * status comes from the database when the caller has one, else from the
 * OCSP responder named in the certificate's AIA, as any relying party
 * would ask it (RFC 6960, response verified against the roots).
 */
#ifndef SIGNET_MONITOR_REVOCATION_H
#define SIGNET_MONITOR_REVOCATION_H

#include <time.h>

#include <libpq-fe.h>
#include <openssl/x509.h>

#include "common/err.h"

/* Most issuing certificates considered. */
#define MONITOR_ISSUERS_MAX 256

struct monitor_issuers;

/* Every issuing intermediate in the database (active, retiring and
 * retired: certificates they issued may still be served), with its id. */
int monitor_issuers_from_db(PGconn *c, struct monitor_issuers **out,
    struct err *e);
/* The certificates of a PEM file (the config's chain_file, or --issuers),
 * at most 16. */
int monitor_issuers_from_file(const char *path, struct monitor_issuers **out,
    struct err *e);
/* Safe with NULL. */
void monitor_issuers_free(struct monitor_issuers *s);
/* The index of the issuer whose key signed leaf (and whose name and key
 * identifier it names), or -1 when none did.  Safe with s == NULL (-1)
 * and from several threads. */
int monitor_issuers_match(const struct monitor_issuers *s, X509 *leaf);

enum monitor_rev_state {
	MONITOR_REV_NOT_CHECKED,  /* not signet's, or no way to ask */
	MONITOR_REV_GOOD,
	MONITOR_REV_REVOKED,
	MONITOR_REV_UNKNOWN,      /* the CA does not know the certificate */
	MONITOR_REV_ERROR,        /* the question could not be answered */
};

struct monitor_revocation {
	enum monitor_rev_state state;
	const char *source;       /* "database" or "ocsp"; NULL: not checked */
	time_t revoked_at;        /* MONITOR_REV_REVOKED */
	int reason;               /* RFC 5280 CRLReason, -1 when none given */
};

/* The status of leaf, signed by issuer idx of s (from the database), as
 * recorded in the certificates table.  A certificate the table does not
 * hold is MONITOR_REV_UNKNOWN.  A failed query is -1 with e set. */
int monitor_revocation_db(PGconn *c, const struct monitor_issuers *s,
    int idx, X509 *leaf, struct monitor_revocation *out, struct err *e);

/* The status of leaf, signed by issuer idx of s, from the OCSP URL of
 * its AIA: one POST (no nonce: signet answers from its pre-signed
 * responses, RFC 5019) over libcurl, finished before deadline_ms
 * (monitor_now_ms() time), answer at most 64 KiB, signature verified
 * against roots with the issuer as the intermediate, thisUpdate and
 * nextUpdate current (5 minutes of clock skew).  Anything else is -1 with
 * e saying what.  Thread-safe once curl_global_init() has run. */
int monitor_revocation_ocsp(const struct monitor_issuers *s, int idx,
    X509 *leaf, X509_STORE *roots, long long deadline_ms,
    struct monitor_revocation *out, struct err *e);

#endif
