/* acme_jws: flattened JWS requests and RFC 7638 thumbprints for ACME. */
#include "ca/acme_jws.h"

#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <openssl/bn.h>
#include <openssl/sha.h>

const char *const acme_jws_algs[] = { "ES256", "ES384", "RS256", "PS256",
    NULL };

struct acme_jws {
	json_t *hdr;               /* the protected header */
	char *compact;             /* protected.payload.signature */
	char *payload;             /* decoded, NUL-terminated */
	size_t payload_len;
	const char *alg, *nonce, *url, *kid;
	json_t *jwk;
};

/* 1 if s is non-empty (or empty when may_be_empty) and only base64url
 * characters (RFC 7515 2: no padding). */
static int b64url_ok(const char *s, size_t len, int may_be_empty)
{
	if (len == 0)
		return may_be_empty;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

void acme_jws_free(struct acme_jws *j)
{
	if (j == NULL)
		return;
	json_decref(j->hdr);
	free(j->compact);
	free(j->payload);
	free(j);
}

int acme_jws_parse(const char *body, size_t len, struct acme_jws **out,
    const char **atype, struct err *e)
{
	static const char *const parts[3] = { "protected", "payload",
	    "signature" };
	struct acme_jws *j = NULL;
	json_t *doc = NULL, *v, *alg;
	const char *s[3], *key;
	size_t sl[3], n;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	json_error_t je;
	cjose_err ce;
	int rc = -1, i;

	*out = NULL;
	*atype = "malformed";
	if (body == NULL || len == 0 || len > ACME_JWS_MAX_BODY)
		return err_set(e, ERR_INVALID, "RFC 8555 6.2: the body must be a "
		    "JWS of 1..%d bytes", ACME_JWS_MAX_BODY);
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(doc)) {
		err_set(e, ERR_INVALID, "RFC 8555 6.2: the body must be a JWS in "
		    "the flattened JSON serialization (a JSON object)");
		goto out;
	}
	/* Exactly the three members: no "signatures" (general form), no
	 * unprotected "header" (RFC 8555 6.2). */
	json_object_foreach(doc, key, v) {
		if (strcmp(key, "protected") != 0 && strcmp(key, "payload") != 0 &&
		    strcmp(key, "signature") != 0) {
			err_set(e, ERR_INVALID, "RFC 8555 6.2: the JWS must be the "
			    "flattened JSON serialization with only protected, "
			    "payload and signature; found \"%.32s\"", key);
			goto out;
		}
	}
	for (i = 0; i < 3; i++) {
		v = json_object_get(doc, parts[i]);
		if (!json_is_string(v) ||
		    !b64url_ok(json_string_value(v), json_string_length(v), i == 1)) {
			err_set(e, ERR_INVALID, "RFC 8555 6.2: JWS member %s must be "
			    "a base64url string", parts[i]);
			goto out;
		}
		s[i] = json_string_value(v);
		sl[i] = json_string_length(v);
	}
	if (sl[0] > ACME_JWS_MAX_HEADER) {
		err_set(e, ERR_INVALID, "protected header longer than %d bytes",
		    ACME_JWS_MAX_HEADER);
		goto out;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (!cjose_base64url_decode(s[0], sl[0], &raw, &raw_len, &ce)) {
		err_set(e, ERR_INVALID, "protected header is not base64url");
		goto out;
	}
	j->hdr = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES,
	    &je);
	free(raw);
	raw = NULL;
	if (!json_is_object(j->hdr)) {
		err_set(e, ERR_INVALID, "protected header is not a JSON object "
		    "(without duplicate members)");
		goto out;
	}
	alg = json_object_get(j->hdr, "alg");
	if (!json_is_string(alg)) {
		err_set(e, ERR_INVALID, "protected header has no alg");
		goto out;
	}
	j->alg = json_string_value(alg);
	for (i = 0; acme_jws_algs[i] != NULL; i++)
		if (strcmp(j->alg, acme_jws_algs[i]) == 0)
			break;
	if (acme_jws_algs[i] == NULL) {
		*atype = "badSignatureAlgorithm";
		err_set(e, ERR_INVALID, "RFC 8555 6.2: alg %.32s is not accepted; "
		    "accepted: ES256, ES384, RS256, PS256", j->alg);
		goto out;
	}
	j->nonce = json_string_value(json_object_get(j->hdr, "nonce"));
	j->url = json_string_value(json_object_get(j->hdr, "url"));
	j->kid = json_string_value(json_object_get(j->hdr, "kid"));
	j->jwk = json_object_get(j->hdr, "jwk");
	if (j->url == NULL) {
		err_set(e, ERR_INVALID, "RFC 8555 6.4: protected header needs a "
		    "url string");
		goto out;
	}
	if (j->nonce == NULL) {
		*atype = "badNonce";
		err_set(e, ERR_INVALID, "RFC 8555 6.5: protected header needs a "
		    "nonce string");
		goto out;
	}
	if ((j->kid != NULL || json_object_get(j->hdr, "kid") != NULL) ==
	    (j->jwk != NULL)) {
		err_set(e, ERR_INVALID, "RFC 8555 6.2: the protected header must "
		    "hold exactly one of jwk and kid");
		goto out;
	}
	if (j->kid == NULL && !json_is_object(j->jwk)) {
		err_set(e, ERR_INVALID, "jwk must be a JSON object");
		goto out;
	}
	if (j->kid != NULL && json_string_length(json_object_get(j->hdr, "kid"))
	    > 1024) {
		err_set(e, ERR_INVALID, "kid longer than 1024 bytes");
		goto out;
	}
	if (!cjose_base64url_decode(s[1], sl[1], &raw, &raw_len, &ce) ||
	    (j->payload = malloc(raw_len + 1)) == NULL) {
		err_set(e, ERR_INVALID, "payload is not base64url");
		goto out;
	}
	if (raw_len > 0)
		memcpy(j->payload, raw, raw_len);
	j->payload[raw_len] = '\0';
	j->payload_len = raw_len;
	n = sl[0] + sl[1] + sl[2] + 3;
	if ((j->compact = malloc(n)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(j->compact, s[0], sl[0]);
	j->compact[sl[0]] = '.';
	memcpy(j->compact + sl[0] + 1, s[1], sl[1]);
	j->compact[sl[0] + 1 + sl[1]] = '.';
	memcpy(j->compact + sl[0] + sl[1] + 2, s[2], sl[2]);
	j->compact[n - 1] = '\0';
	*out = j;
	j = NULL;
	rc = 0;
out:
	free(raw);
	acme_jws_free(j);
	json_decref(doc);
	return rc;
}

const char *acme_jws_alg(const struct acme_jws *j) { return j->alg; }
const char *acme_jws_nonce(const struct acme_jws *j) { return j->nonce; }
const char *acme_jws_url(const struct acme_jws *j) { return j->url; }
const char *acme_jws_kid(const struct acme_jws *j) { return j->kid; }
json_t *acme_jws_jwk(const struct acme_jws *j) { return j->kid ? NULL : j->jwk; }

const char *acme_jws_payload(const struct acme_jws *j, size_t *len)
{
	*len = j->payload_len;
	return j->payload;
}

/* A base64url member of jwk decoded into *out (malloc'ed), 1..max bytes. */
static int b64_member(const json_t *jwk, const char *name, size_t max,
    uint8_t **out, size_t *len)
{
	json_t *v = json_object_get(jwk, name);
	cjose_err ce;

	*out = NULL;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > (max * 4 + 2) / 3 ||
	    !b64url_ok(json_string_value(v), json_string_length(v), 0) ||
	    !cjose_base64url_decode(json_string_value(v), json_string_length(v),
	    out, len, &ce))
		return -1;
	if (*len == 0 || *len > max) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int acme_jwk_check(const json_t *jwk, const char **kty_out,
    const char **crv_out, const char **atype, struct err *e)
{
	static const char *const private[] = { "d", "p", "q", "dp", "dq", "qi",
	    "oth", "k", NULL };
	const char *kty, *crv;
	uint8_t *a = NULL, *b = NULL;
	size_t al = 0, bl = 0;
	BIGNUM *bn = NULL;
	int rc = -1, bits;

	*atype = "badPublicKey";
	if (!json_is_object(jwk))
		return err_set(e, ERR_INVALID, "jwk must be a JSON object");
	for (int i = 0; private[i] != NULL; i++)
		if (json_object_get(jwk, private[i]) != NULL)
			return err_set(e, ERR_INVALID, "jwk must be a public key (it "
			    "holds \"%s\")", private[i]);
	kty = json_string_value(json_object_get(jwk, "kty"));
	if (kty != NULL && strcmp(kty, "EC") == 0) {
		size_t w;

		crv = json_string_value(json_object_get(jwk, "crv"));
		if (crv != NULL && strcmp(crv, "P-256") == 0)
			w = 32;
		else if (crv != NULL && strcmp(crv, "P-384") == 0)
			w = 48;
		else {
			err_set(e, ERR_INVALID, "EC account keys must be on P-256 or "
			    "P-384");
			goto out;
		}
		if (b64_member(jwk, "x", w, &a, &al) != 0 || al != w ||
		    b64_member(jwk, "y", w, &b, &bl) != 0 || bl != w) {
			err_set(e, ERR_INVALID, "EC jwk needs x and y of %zu bytes "
			    "(RFC 7518 6.2.1)", w);
			goto out;
		}
		*kty_out = "EC";
		*crv_out = crv;
	} else if (kty != NULL && strcmp(kty, "RSA") == 0) {
		if (b64_member(jwk, "n", 4096 / 8, &a, &al) != 0 ||
		    b64_member(jwk, "e", 4, &b, &bl) != 0 || a[0] == 0 ||
		    b[0] == 0 || (b[bl - 1] & 1) == 0) {
			err_set(e, ERR_INVALID, "RSA jwk needs n of at most 4096 bits "
			    "and an odd e of at most 4 bytes, without leading zeros "
			    "(RFC 7518 6.3.1)");
			goto out;
		}
		if ((bn = BN_bin2bn(a, (int)al, NULL)) == NULL) {
			err_ossl(e, ERR_INTERNAL, "RSA modulus");
			*atype = "serverInternal";
			goto out;
		}
		bits = BN_num_bits(bn);
		if (bits < 2048 || bits > 4096) {
			err_set(e, ERR_INVALID, "RSA account keys must have 2048..4096 "
			    "bits, not %d", bits);
			goto out;
		}
		*kty_out = "RSA";
		*crv_out = "";
	} else {
		err_set(e, ERR_INVALID, "account keys must be of kty EC (P-256, "
		    "P-384) or RSA (2048..4096 bits)");
		goto out;
	}
	rc = 0;
out:
	BN_free(bn);
	free(a);
	free(b);
	return rc;
}

int acme_jwk_canonical(const json_t *jwk, char **out, struct err *e)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	json_t *c;

	*out = NULL;
	/* JSON_SORT_KEYS gives RFC 7638 3.3's lexicographic order (the member
	 * names are ASCII); JSON_COMPACT leaves out every space. */
	if (kty != NULL && strcmp(kty, "EC") == 0)
		c = json_pack("{s:O, s:O, s:O, s:O}",
		    "crv", json_object_get(jwk, "crv"),
		    "kty", json_object_get(jwk, "kty"),
		    "x", json_object_get(jwk, "x"),
		    "y", json_object_get(jwk, "y"));
	else if (kty != NULL && strcmp(kty, "RSA") == 0)
		c = json_pack("{s:O, s:O, s:O}",
		    "e", json_object_get(jwk, "e"),
		    "kty", json_object_get(jwk, "kty"),
		    "n", json_object_get(jwk, "n"));
	else
		return err_set(e, ERR_INVALID, "jwk kty must be EC or RSA");
	if (c != NULL)
		*out = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(c);
	if (*out == NULL)
		return err_set(e, ERR_INVALID, "jwk lacks a required member");
	return 0;
}

int acme_jwk_thumbprint(const json_t *jwk, char out[ACME_THUMBPRINT_LEN + 1],
    struct err *e)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *canon = NULL, *b64 = NULL;
	size_t b64_len = 0;
	cjose_err ce;
	int rc = -1;

	if (acme_jwk_canonical(jwk, &canon, e) != 0)
		return -1;
	SHA256((const unsigned char *)canon, strlen(canon), md);
	if (!cjose_base64url_encode(md, sizeof(md), &b64, &b64_len, &ce) ||
	    b64_len != ACME_THUMBPRINT_LEN) {
		err_set(e, ERR_INTERNAL, "thumbprint encoding failed");
		goto out;
	}
	memcpy(out, b64, b64_len);
	out[b64_len] = '\0';
	rc = 0;
out:
	free(b64);
	free(canon);
	return rc;
}

int acme_jws_verify(const struct acme_jws *j, const json_t *jwk,
    const char **atype, struct err *e)
{
	const char *kty, *crv, *want;
	char *canon = NULL;
	cjose_jwk_t *k = NULL;
	cjose_jws_t *s = NULL;
	cjose_err ce;
	int rc = -1;

	memset(&ce, 0, sizeof(ce));
	if (acme_jwk_check(jwk, &kty, &crv, atype, e) != 0)
		return -1;
	*atype = "badSignatureAlgorithm";
	if (strcmp(kty, "RSA") == 0)
		want = strcmp(j->alg, "RS256") == 0 || strcmp(j->alg, "PS256") == 0 ?
		    j->alg : "RS256 or PS256";
	else
		want = strcmp(crv, "P-256") == 0 ? "ES256" : "ES384";
	if (strcmp(want, j->alg) != 0)
		return err_set(e, ERR_INVALID, "alg %s does not fit the account "
		    "key (%s%s%s): want %s", j->alg, kty, *crv ? " " : "", crv, want);
	*atype = "malformed";
	/* cjose imports only what we checked: the public members. */
	if (acme_jwk_canonical(jwk, &canon, e) != 0)
		goto out;
	if ((k = cjose_jwk_import(canon, strlen(canon), &ce)) == NULL) {
		*atype = "badPublicKey";
		err_set(e, ERR_INVALID, "jwk: %s", ce.message ? ce.message :
		    "does not import");
		goto out;
	}
	if ((s = cjose_jws_import(j->compact, strlen(j->compact), &ce)) == NULL) {
		err_set(e, ERR_INVALID, "JWS: %s", ce.message ? ce.message :
		    "does not parse");
		goto out;
	}
	if (!cjose_jws_verify(s, k, &ce)) {
		err_set(e, ERR_AUTH, "JWS signature does not verify with the "
		    "account key");
		goto out;
	}
	rc = 0;
out:
	cjose_jws_release(s);
	cjose_jwk_release(k);
	free(canon);
	return rc;
}
