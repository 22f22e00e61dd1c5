/*
 * pop: proof of possession of a certificate's key, as a short compact JWS
 * signed by that key.  Header: alg + x5c (x5c[0] the certificate itself,
 * standard base64 DER).  Claims: aud (the endpoint's URL), iat, exp
 * (exp - iat at most POP_MAX_TTL) and jti.  Used by POST /v1/revoke and
 * POST /v1/renew; each endpoint consumes the jti once.
 */
#ifndef SIGNET_POP_H
#define SIGNET_POP_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/err.h"

#define POP_MAX_TTL 300
#define POP_MAX_LEN 16384

/* 1 if the compact JWS's protected header carries x5c (a proof of
 * possession), 0 if not or if it does not parse. */
int pop_present(const char *jws, size_t len);

/* The certificate in the header's x5c[0], as DER (*der malloc'ed), not
 * yet trusted: the caller looks it up and then calls pop_verify. */
int pop_x5c_der(const char *jws, size_t len, unsigned char **der,
    size_t *der_len, struct err *e);

/* Verify against the stored certificate cert_der: x5c[0] must be exactly
 * that certificate, the signature must verify with its public key
 * (ES256/384/512 for its EC curve, RS/PS256/384/512 for RSA), aud must be
 * audience, iat/exp within skew of now and exp - iat in 1..POP_MAX_TTL,
 * jti present.  jti (129 bytes) and *exp receive those claims.  Every
 * refusal is ERR_AUTH naming the rule. */
int pop_verify(const char *jws, size_t len, const unsigned char *cert_der,
    size_t cert_len, const char *audience, long skew, time_t now,
    char jti[129], long long *exp, struct err *e);

/* The client side: a proof of possession for the certificate cert_der,
 * signed by its key (ES256/ES384/ES512 for P-256/P-384/P-521, PS256 for
 * RSA), aud audience, iat now, exp now + ttl (1..POP_MAX_TTL), a random
 * jti.  *out (compact JWS) is malloc'ed.  ERR_CONFIG for a key that no
 * JWS signet checks can carry (Ed25519: cjose has no EdDSA). */
int pop_sign(EVP_PKEY *key, const unsigned char *cert_der, size_t cert_len,
    const char *audience, long ttl, time_t now, char **out, struct err *e);

#endif
