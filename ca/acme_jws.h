/*
 * acme_jws: the JWS that carries every ACME POST (RFC 8555 6.2-6.5), and
 * JWK thumbprints (RFC 7638).  A request is the flattened JSON
 * serialization {"protected", "payload", "signature"} (RFC 7515 7.2.2),
 * nothing else: the compact and general forms, and unprotected headers,
 * are refused.  cjose verifies the signature: it imports compact JWS only,
 * so the three base64url parts (each checked to hold only base64url
 * characters) are joined with '.' into the compact form, which is the
 * same signing input.
 *
 * Failures set e and *atype, the ACME error type without its
 * "urn:ietf:params:acme:error:" prefix ("malformed",
 * "badSignatureAlgorithm", "badPublicKey"); e->kind is ERR_INVALID, or
 * ERR_AUTH for a signature that does not verify.
 */
#ifndef SIGNET_ACME_JWS_H
#define SIGNET_ACME_JWS_H

#include <stddef.h>

#include <jansson.h>

#include "common/err.h"

/* Largest request body, protected header and account key accepted. */
#define ACME_JWS_MAX_BODY   65536
#define ACME_JWS_MAX_HEADER 8192
/* An RFC 7638 thumbprint: base64url of a SHA-256, 43 characters. */
#define ACME_THUMBPRINT_LEN 43

/* The JWS algorithms accepted, NULL-terminated: ES256, ES384, RS256,
 * PS256 (what badSignatureAlgorithm lists). */
extern const char *const acme_jws_algs[];

struct acme_jws;

/* Parse a request body (len bytes, at most ACME_JWS_MAX_BODY): the
 * flattened form, a protected header that is a JSON object without
 * duplicate members, with alg one of acme_jws_algs (else
 * badSignatureAlgorithm), a string nonce and url, and exactly one of jwk
 * (an object) and kid (a string).  Nothing is verified yet.  The result
 * must be passed to acme_jws_free (NULL is fine). */
int acme_jws_parse(const char *body, size_t len, struct acme_jws **out,
    const char **atype, struct err *e);
void acme_jws_free(struct acme_jws *j);

/* Header members, borrowed from j.  kid is NULL in the jwk form and jwk
 * NULL in the kid form. */
const char *acme_jws_alg(const struct acme_jws *j);
const char *acme_jws_nonce(const struct acme_jws *j);
const char *acme_jws_url(const struct acme_jws *j);
const char *acme_jws_kid(const struct acme_jws *j);
json_t *acme_jws_jwk(const struct acme_jws *j);

/* Verify the signature with the public key jwk (the header's own, or the
 * account's stored one): the key must be acceptable (acme_jwk_check) and
 * fit alg (ES256: P-256, ES384: P-384, RS256/PS256: RSA). */
int acme_jws_verify(const struct acme_jws *j, const json_t *jwk,
    const char **atype, struct err *e);

/* The decoded payload (borrowed; NUL-terminated; len 0 for POST-as-GET). */
const char *acme_jws_payload(const struct acme_jws *j, size_t *len);

/* An account key signet accepts: a public JWK (no "d" or other private
 * member) of kty EC with crv P-256 or P-384 and 32/48-byte x and y, or of
 * kty RSA with a 2048..4096-bit modulus and an odd exponent of at most 4
 * bytes (else badPublicKey).  On success *kty receives "EC" or
 * "RSA" and *crv the curve ("" for RSA). */
int acme_jwk_check(const json_t *jwk, const char **kty, const char **crv,
    const char **atype, struct err *e);

/* The key's RFC 7638 canonical JSON: the required members only (EC: crv,
 * kty, x, y; RSA: e, kty, n), in lexicographic order, no whitespace.
 * *out is malloc'ed.  The key must pass acme_jwk_check. */
int acme_jwk_canonical(const json_t *jwk, char **out, struct err *e);

/* base64url(SHA-256(canonical JSON)): RFC 7638 3. */
int acme_jwk_thumbprint(const json_t *jwk,
    char out[ACME_THUMBPRINT_LEN + 1], struct err *e);

#endif
