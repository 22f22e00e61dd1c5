/*
 * issue: the issuance core.  Builds a leaf from a checked request and the
 * profile, records the intent durably, has the HSM sign, stores the DER
 * and only then hands the certificate back.  The HTTP side gives it a
 * request, never an HSM handle.
 */
#ifndef SIGNET_ISSUE_H
#define SIGNET_ISSUE_H

#include <time.h>

#include <openssl/x509.h>

#include "ca/csr.h"
#include "ca/profile.h"
#include "ca/x509util.h"
#include "common/err.h"
#include "db/db.h"
#include "hsm/hsm.h"

struct ca;

struct ca_request {
	EVP_PKEY *pubkey;              /* the subject's key */
	X509_PUBKEY *spki;             /* the same as encoded in the CSR, or
	                                * NULL; copied without re-encoding */
	const char *cn;                /* subject CN, or NULL/"" for none */
	const struct san_list *sans;   /* checked already; at least one */
	enum profile profile;
	long long lifetime;            /* seconds */
	time_t not_before;             /* 0: now - 60 s */
	const char *provisioner;       /* NULL for an administrator */
	const char *requester;         /* for the record and the audit log */
	const char *jti;               /* token id to consume, or NULL */
	const char *jti_owner;         /* its namespace (NULL: provisioner) */
	time_t jti_expires;
	const char *predecessor;       /* serial this renews, or NULL */
};

/* Load the newest active issuing intermediate from the database and find
 * its key on the token.  The result must be passed to ca_free(). */
int ca_open(struct db *d, struct hsm *h, const char *public_url,
    struct ca **out, struct err *e);
void ca_free(struct ca *ca);

/* Record intents and certificates through g (group commit) instead of
 * one pool connection per request; g is borrowed.  signetd does this;
 * the CLI does not need to. */
void ca_set_group(struct ca *ca, struct db_group *g);

/* The issuing certificate, its name and key (borrowed). */
X509 *ca_issuer_cert(const struct ca *ca);
const char *ca_issuer_name(const struct ca *ca);
struct hsm_key *ca_issuer_key(const struct ca *ca);

/* Issue.  On success *out is the certificate (X509_free it) and serial its
 * serial; it is in the database as 'good' before this returns.  The
 * lifetime is capped by the issuer's notAfter. */
int ca_issue(struct ca *ca, const struct ca_request *req, X509 **out,
    char serial[SERIAL_HEX_MAX], struct err *e);

/* Count an issuance outcome in signet_certificates_issued_total
 * (ca_issue counts its own; callers count refusals made before it). */
void ca_count(const char *provisioner, const char *profile,
    const char *outcome);

/* Sign cert with key through the HSM (the callback hsm_sign wants). */
int ca_sign_cert(struct hsm_key *key, X509 *cert, struct err *e);

#endif
