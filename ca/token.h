/*
 * token: one-time enrollment tokens.  A token is a compact JWS (ES256)
 * signed by a provisioner's key: header {alg: ES256, kid: provisioner,
 * typ: JWT}; claims iss (the provisioner), sub, sans (names, typed as
 * "DNS:x", "IP:x", "URI:x" or bare), aud (the sign URL), iat, nbf, exp,
 * jti, and optional profile and lifetime (seconds).
 */
#ifndef SIGNET_TOKEN_H
#define SIGNET_TOKEN_H

#include <stddef.h>
#include <time.h>

#include <cjose/cjose.h>

#include "ca/csr.h"
#include "common/err.h"

#define TOKEN_MAX_LEN 8192
/* A token may live at most this long (exp - iat). */
#define TOKEN_MAX_TTL (24 * 3600)

struct token;

struct token_claims {
	char iss[65];
	char sub[SAN_VALUE_MAX];
	struct san_list sans;
	char profile[16];          /* "" if the token does not say */
	long long lifetime;        /* 0 if the token does not say */
	char jti[129];
	long long iat, nbf, exp;
};

/* Parse (not verify) a compact JWS of at most TOKEN_MAX_LEN bytes and read
 * its kid.  ERR_AUTH when it is not a token.  Free with token_free. */
int token_parse(const char *compact, size_t len, struct token **out,
    struct err *e);
const char *token_kid(const struct token *t);
void token_free(struct token *t);

/* Verify t with the provisioner's public JWK (JSON): alg ES256 only, the
 * signature, iss == kid, aud == audience, iat/nbf/exp within skew of now,
 * exp - iat <= TOKEN_MAX_TTL, jti present.  Every failure is ERR_AUTH
 * with the reason. */
int token_verify(struct token *t, const char *jwk_json, const char *audience,
    long skew, time_t now, struct token_claims *out, struct err *e);

/* Make a provisioner key: EC P-256, kid = name.  *priv_json (with "d",
 * for the key file) and *pub_json (for the database) are malloc'ed. */
int token_new_key(const char *name, char **priv_json, char **pub_json,
    struct err *e);

/* Mint a token with the provisioner's private JWK.  sub may be NULL (the
 * first SAN); profile NULL and lifetime 0 leave those claims out.  *out is
 * malloc'ed. */
int token_mint(const char *priv_jwk_json, const char *provisioner,
    const char *sub, const struct san_list *sans, const char *profile,
    long long lifetime, const char *audience, long ttl, time_t now,
    char **out, struct err *e);

/* Shared by every JWS that signet signs: tokens here, proofs of
 * possession in ca/pop.c. */

/* A fresh jti: 16 random bytes as 32 hex digits and a NUL. */
int token_new_jti(char jti[33], struct err *e);

/* Sign payload (a NUL-terminated JSON text) with jwk under the protected
 * header hdr (both borrowed) and put the compact serialization in *out
 * (malloc'ed).  ERR_INTERNAL "<what>: <cjose's reason>" when cjose
 * fails. */
int token_sign_compact(cjose_jwk_t *jwk, cjose_header_t *hdr,
    const char *payload, const char *what, char **out, struct err *e);

/* Read the claims of a token WITHOUT verifying it (signet enroll uses this
 * to learn which names to put in its CSR; the CA verifies). */
int token_peek_claims(const char *compact, size_t len,
    struct token_claims *out, struct err *e);

#endif
