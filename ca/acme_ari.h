/*
 * acme_ari: the pure parts of ACME Renewal Information (RFC 9773): the
 * certID (base64url(AKI keyIdentifier) "." base64url(serial INTEGER
 * content octets), RFC 9773 4.1) parsed and built, and the suggested
 * renewal window.  No database, no HTTP: ca/acme_ari.c answers
 * renewal-info and newOrder's "replaces" with these.
 */
#ifndef SIGNET_ACME_ARI_H
#define SIGNET_ACME_ARI_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "ca/x509util.h"
#include "common/err.h"

/* A keyIdentifier is a SHA-1 (20 bytes) or a truncated SHA-256 in
 * practice; 64 bytes leaves room and bounds the input. */
#define ACME_ARI_AKI_MAX 64
/* RFC 5280 4.1.2.2: a serial number is at most 20 octets. */
#define ACME_ARI_SERIAL_MAX 20
/* Base64url length of n bytes without padding. */
#define ACME_ARI_B64LEN(n) (((n) * 4 + 2) / 3)
/* The longest certID acme_ari_parse looks at (114 characters). */
#define ACME_ARI_CERT_ID_MAX (ACME_ARI_B64LEN(ACME_ARI_AKI_MAX) + 1 + \
	ACME_ARI_B64LEN(ACME_ARI_SERIAL_MAX))

struct acme_ari_id {
	unsigned char aki[ACME_ARI_AKI_MAX];   /* the keyIdentifier */
	size_t aki_len;
	char serial[SERIAL_HEX_MAX];           /* lowercase hex, no leading
	                                        * zeros, as certificates
	                                        * stores it */
};

/* Parse a certID strictly: exactly one ".", both parts non-empty
 * base64url without padding in canonical form (decoded and encoded again
 * by cjose, they must come out the same: no "=", no other alphabet, no
 * stray trailing bits), a keyIdentifier of 1..ACME_ARI_AKI_MAX bytes,
 * and a serial that is the DER content octets of a positive INTEGER of
 * 1..20 octets (no superfluous leading zero byte, and one where the
 * first byte's high bit is set: X.690 8.3.2).  Anything longer than
 * ACME_ARI_CERT_ID_MAX is refused before decoding.  ERR_INVALID with a
 * message naming the rule; *out is undefined then. */
int acme_ari_parse(const char *cert_id, struct acme_ari_id *out,
    struct err *e);

/* The certID of certificate x into out (n bytes; ACME_ARI_CERT_ID_MAX + 1
 * is always enough for what acme_ari_parse accepts).  ERR_INVALID if x
 * has no authorityKeyIdentifier keyIdentifier (RFC 9773 2) or the result
 * does not fit. */
int acme_ari_cert_id(const X509 *x, char *out, size_t n, struct err *e);

/* signet renew (cli/cmd_renew.c: DEFAULT_FRACTION, JITTER) renews at 2/3
 * of the lifetime moved by up to +-5% of it; the window is that range,
 * 2/3 -+ 1/20 = 37/60 .. 43/60 of the lifetime after notBefore. */
#define ACME_ARI_START_60THS 37
#define ACME_ARI_END_60THS 43
/* Retry-After: RFC 9773's example of six hours at most, and at most a
 * tenth of the lifetime, so that a revocation reaches the clients of
 * short-lived certificates in time; never below a minute (RFC 9773
 * 4.3.2: clients round shorter values up to one). */
#define ACME_ARI_RETRY_MAX 21600
#define ACME_ARI_RETRY_MIN 60
/* A revoked certificate's window: began an hour ago, ends a minute from
 * now, so that a client renews at once (the random time it picks in the
 * window is almost always past) and a client whose clock is a little
 * behind still sees a window that has begun. */
#define ACME_ARI_REVOKED_BEFORE 3600
#define ACME_ARI_REVOKED_AFTER 60

struct acme_ari_window {
	time_t start, end;     /* end > start, always (RFC 9773 4.2) */
	long retry_after;      /* seconds */
};

/* The suggested window of a certificate valid from not_before to
 * not_after, at now.  Good (revoked 0): 37/60 to 43/60 of the lifetime,
 * whether that is ahead or already past (an expired or overdue
 * certificate gets a window in the past: renew now).  Revoked: as
 * ACME_ARI_REVOKED_*.  retry_after is at most ACME_ARI_RETRY_MAX and a
 * tenth of the lifetime, at most the time until a window ahead begins,
 * and at least ACME_ARI_RETRY_MIN. */
void acme_ari_window(time_t not_before, time_t not_after, int revoked,
    time_t now, struct acme_ari_window *w);

#endif
