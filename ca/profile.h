/*
 * profile: the extensions of an issued leaf.  Every extension comes from
 * here, none from the CSR: basicConstraints CA:FALSE (critical), keyUsage
 * (critical), extendedKeyUsage by profile, SKI, AKI, subjectAltName
 * (critical when the subject is empty), AIA (OCSP and caIssuers) and a CRL
 * distribution point, both from the public base URL.
 */
#ifndef SIGNET_PROFILE_H
#define SIGNET_PROFILE_H

#include <openssl/x509.h>

#include "common/err.h"

enum profile { PROFILE_SERVER, PROFILE_CLIENT, PROFILE_BOTH };
#define PROFILE_COUNT 3

struct san_list;

int profile_parse(const char *name, enum profile *out, struct err *e);
const char *profile_name(enum profile p);

/* Add the profile's extensions to leaf (whose public key, subject and
 * issuer name are set already).  issuer is the issuing CA certificate,
 * issuer_name its short name for the URLs (public_url/crl/NAME.crl,
 * public_url/ca/NAME.cer, public_url/ocsp). */
int profile_apply(X509 *leaf, X509 *issuer, enum profile p,
    const struct san_list *sans, int subject_empty, const char *public_url,
    const char *issuer_name, struct err *e);

#endif
