/*
 * ocsp_signer: delegated OCSP signing certificates (RFC 6960 4.2.2.2).
 * A fresh key on the online token, the same type as the issuing key, and
 * a short-lived certificate for it from the issuing CA with
 * id-kp-OCSPSigning and id-pkix-ocsp-nocheck, recorded in ocsp_signers.
 * `signet init` makes the first; signetd makes the next ones (rotation).
 */
#ifndef SIGNET_OCSP_SIGNER_H
#define SIGNET_OCSP_SIGNER_H

#include <libpq-fe.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "hsm/hsm.h"

/* Generate key "signet-ocsp-N" (N from the table, so never one in use),
 * issue its certificate from issuer (signed with issuer_key), valid
 * lifetime seconds capped at the issuer's notAfter, and record it.  c
 * must not be inside a transaction.  *id receives the ocsp_signers id. */
int ocsp_signer_create(struct hsm *h, PGconn *c, int issuer_id,
    X509 *issuer, struct hsm_key *issuer_key, long long lifetime, int *id,
    struct err *e);

#endif
