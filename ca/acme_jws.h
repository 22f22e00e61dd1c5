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
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/err.h"

/* Largest request body, protected header and account key accepted. */
#define ACME_JWS_MAX_BODY   65536
#define ACME_JWS_MAX_HEADER 8192
/* An RFC 7638 thumbprint: base64url of a SHA-256, 43 characters. */
#define ACME_THUMBPRINT_LEN 43

/* The JWS algorithms accepted, NULL-terminated: ES256, ES384, RS256,
 * PS256 (what badSignatureAlgorithm lists). */
extern const char *const acme_jws_algs[];
/* The MACs an external account binding may use: HS256, HS384, HS512. */
extern const char *const acme_eab_algs[];

/* What a JWS is for, which decides its header's rules. */
enum acme_jws_kind {
	/* An ACME request (6.2): alg of acme_jws_algs, a nonce, a url,
	 * exactly one of jwk and kid. */
	ACME_JWS_REQUEST,
	/* keyChange's inner JWS (7.3.5): alg of acme_jws_algs, a url, the
	 * new key as jwk, no kid, no nonce. */
	ACME_JWS_INNER,
	/* newAccount's externalAccountBinding (7.3.4): alg of acme_eab_algs,
	 * a url, the EAB key id as kid, no jwk, no nonce. */
	ACME_JWS_EAB,
};

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

/* The same for a JWS already parsed as JSON (a member of a request's
 * payload, or the whole of it): doc must be a flattened JWS (an object
 * with exactly protected, payload and signature) following kind's
 * rules.  Parts are bounded by ACME_JWS_MAX_BODY, the header by
 * ACME_JWS_MAX_HEADER.  doc is not kept. */
int acme_jws_parse_json(const json_t *doc, enum acme_jws_kind kind,
    struct acme_jws **out, const char **atype, struct err *e);

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

/* Verify an ACME_JWS_EAB JWS's MAC with the EAB key (key_len bytes),
 * through cjose (an "oct" JWK).  A MAC that does not verify is ERR_AUTH. */
int acme_jws_verify_hmac(const struct acme_jws *j, const unsigned char *key,
    size_t key_len, struct err *e);

/* Parse newAccount's externalAccountBinding (RFC 8555 7.3.4), signed
 * for the account key jwk at url (the newAccount URL): an ACME_JWS_EAB
 * JWS whose url is url and whose payload is jwk (the same key, compared
 * as acme_jwk_same does).  The MAC is not verified here: look up the
 * key of acme_jws_kid(*out) and call acme_jws_verify_hmac.  *atype is
 * "malformed" (ERR_INVALID) for a binding that is not one, or
 * "unauthorized" (ERR_AUTH) for one made for another URL or key.  Free
 * *out with acme_jws_free. */
int acme_eab_parse(const json_t *binding, const char *url, const json_t *jwk,
    struct acme_jws **out, const char **atype, struct err *e);

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

/* 1 if a and b are JWKs of the same public key: their RFC 7638
 * canonical forms are equal (members other than the required ones, and
 * their order, do not matter); 0 otherwise, also when either is not an
 * EC or RSA JWK. */
int acme_jwk_same(const json_t *a, const json_t *b);

/* The public JWK (EC P-256/P-384: kty, crv, x, y; RSA: kty, n, e) of an
 * OpenSSL key, e.g. a certificate's, into *out (a new reference).
 * ERR_INVALID for another kind of key. */
int acme_jwk_from_pkey(EVP_PKEY *pk, json_t **out, struct err *e);

/* n (at most 64) random bytes from RAND_bytes into raw, and their
 * base64url into out (outn bytes with the NUL): nonces, tokens, EAB key
 * ids and keys.  The text never begins with '-': people paste EAB values
 * on command lines (certbot --eab-kid, lego --hmac), where a leading '-'
 * reads as an option; drawing again costs well under a bit.  The
 * encoding's own copy is cleansed; raw and out are the caller's. */
int acme_random_b64(unsigned char *raw, size_t n, char *out, size_t outn,
    struct err *e);

/* Decode base64url (no padding, only the URL-safe alphabet) of 1..max
 * bytes into *out (malloc'ed, *out_len bytes); ERR_INVALID otherwise. */
int acme_b64url_decode(const char *s, size_t len, size_t max, uint8_t **out,
    size_t *out_len, struct err *e);

#endif
