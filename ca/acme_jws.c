/* acme_jws: flattened JWS requests and RFC 7638 thumbprints for ACME. */
#include "ca/acme_jws.h"

#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

const char *const acme_jws_algs[] = { "ES256", "ES384", "RS256", "PS256",
    NULL };
const char *const acme_eab_algs[] = { "HS256", "HS384", "HS512", NULL };

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

/* 1 if alg is one of list (NULL-terminated). */
static int alg_in(const char *alg, const char *const *list)
{
	for (int i = 0; list[i] != NULL; i++)
		if (strcmp(alg, list[i]) == 0)
			return 1;
	return 0;
}

int acme_jws_parse(const char *body, size_t len, struct acme_jws **out,
    const char **atype, struct err *e)
{
	json_t *doc;
	json_error_t je;
	int rc;

	*out = NULL;
	*atype = "malformed";
	if (body == NULL || len == 0 || len > ACME_JWS_MAX_BODY)
		return err_set(e, ERR_INVALID, "RFC 8555 6.2: the body must be a "
		    "JWS of 1..%d bytes", ACME_JWS_MAX_BODY);
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	rc = acme_jws_parse_json(doc, ACME_JWS_REQUEST, out, atype, e);
	json_decref(doc);
	return rc;
}

int acme_jws_parse_json(const json_t *doc, enum acme_jws_kind kind,
    struct acme_jws **out, const char **atype, struct err *e)
{
	static const char *const parts[3] = { "protected", "payload",
	    "signature" };
	static const char *const what[3] = {
		"the JWS",
		"the inner JWS (RFC 8555 7.3.5)",
		"externalAccountBinding (RFC 8555 7.3.4)",
	};
	const char *name = what[kind];
	struct acme_jws *j = NULL;
	json_t *v, *alg;
	const char *s[3], *key;
	size_t sl[3], n;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	json_error_t je;
	cjose_err ce;
	int rc = -1, i;

	*out = NULL;
	*atype = "malformed";
	if (!json_is_object(doc)) {
		err_set(e, ERR_INVALID, "RFC 8555 6.2: %s must be in the flattened "
		    "JSON serialization (a JSON object)", name);
		goto out;
	}
	/* Exactly the three members: no "signatures" (general form), no
	 * unprotected "header" (RFC 8555 6.2). */
	json_object_foreach((json_t *)doc, key, v) {
		if (strcmp(key, "protected") != 0 && strcmp(key, "payload") != 0 &&
		    strcmp(key, "signature") != 0) {
			err_set(e, ERR_INVALID, "RFC 8555 6.2: %s must be the "
			    "flattened JSON serialization with only protected, "
			    "payload and signature; found \"%.32s\"", name, key);
			goto out;
		}
	}
	for (i = 0; i < 3; i++) {
		v = json_object_get(doc, parts[i]);
		if (!json_is_string(v) ||
		    !b64url_ok(json_string_value(v), json_string_length(v), i == 1) ||
		    json_string_length(v) > ACME_JWS_MAX_BODY) {
			err_set(e, ERR_INVALID, "RFC 8555 6.2: member %s of %s must "
			    "be a base64url string", parts[i], name);
			goto out;
		}
		s[i] = json_string_value(v);
		sl[i] = json_string_length(v);
	}
	if (sl[0] > ACME_JWS_MAX_HEADER) {
		err_set(e, ERR_INVALID, "protected header of %s longer than %d "
		    "bytes", name, ACME_JWS_MAX_HEADER);
		goto out;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (!cjose_base64url_decode(s[0], sl[0], &raw, &raw_len, &ce)) {
		err_set(e, ERR_INVALID, "protected header of %s is not base64url",
		    name);
		goto out;
	}
	j->hdr = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES,
	    &je);
	free(raw);
	raw = NULL;
	if (!json_is_object(j->hdr)) {
		err_set(e, ERR_INVALID, "protected header of %s is not a JSON "
		    "object (without duplicate members)", name);
		goto out;
	}
	alg = json_object_get(j->hdr, "alg");
	if (!json_is_string(alg)) {
		err_set(e, ERR_INVALID, "protected header of %s has no alg", name);
		goto out;
	}
	j->alg = json_string_value(alg);
	if (kind == ACME_JWS_EAB ? !alg_in(j->alg, acme_eab_algs) :
	    !alg_in(j->alg, acme_jws_algs)) {
		/* badSignatureAlgorithm lists the request algorithms: for a
		 * binding it would mislead, so that one is malformed. */
		if (kind != ACME_JWS_EAB)
			*atype = "badSignatureAlgorithm";
		err_set(e, ERR_INVALID, "RFC 8555 %s: alg %.32s of %s is not "
		    "accepted; accepted: %s", kind == ACME_JWS_EAB ? "7.3.4" : "6.2",
		    j->alg, name, kind == ACME_JWS_EAB ? "HS256, HS384, HS512" :
		    "ES256, ES384, RS256, PS256");
		goto out;
	}
	/* RFC 7515 4.1.11: a JWS naming critical extensions the recipient
	 * does not understand is invalid; signet understands none (b64
	 * included, RFC 7797, which would change the signing input). */
	if (json_object_get(j->hdr, "crit") != NULL ||
	    json_object_get(j->hdr, "b64") != NULL) {
		err_set(e, ERR_INVALID, "RFC 7515 4.1.11: protected header of %s "
		    "names extensions (crit, b64) signet does not support", name);
		goto out;
	}
	j->nonce = json_string_value(json_object_get(j->hdr, "nonce"));
	j->url = json_string_value(json_object_get(j->hdr, "url"));
	j->kid = json_string_value(json_object_get(j->hdr, "kid"));
	j->jwk = json_object_get(j->hdr, "jwk");
	if (j->url == NULL) {
		err_set(e, ERR_INVALID, "RFC 8555 6.4: protected header of %s needs "
		    "a url string", name);
		goto out;
	}
	switch (kind) {
	case ACME_JWS_REQUEST:
		if (j->nonce == NULL) {
			*atype = "badNonce";
			err_set(e, ERR_INVALID, "RFC 8555 6.5: protected header needs "
			    "a nonce string");
			goto out;
		}
		if ((j->kid != NULL || json_object_get(j->hdr, "kid") != NULL) ==
		    (j->jwk != NULL)) {
			err_set(e, ERR_INVALID, "RFC 8555 6.2: the protected header "
			    "must hold exactly one of jwk and kid");
			goto out;
		}
		break;
	case ACME_JWS_INNER:
		/* 7.3.5: the new key as jwk, and the inner JWS MUST omit the
		 * nonce (the outer JWS carries the request's). */
		if (json_object_get(j->hdr, "nonce") != NULL) {
			err_set(e, ERR_INVALID, "RFC 8555 7.3.5: the inner JWS must "
			    "omit the nonce");
			goto out;
		}
		if (j->jwk == NULL || json_object_get(j->hdr, "kid") != NULL) {
			err_set(e, ERR_INVALID, "RFC 8555 7.3.5: the inner JWS is "
			    "signed by the new key given as jwk, without a kid");
			goto out;
		}
		break;
	case ACME_JWS_EAB:
		if (json_object_get(j->hdr, "nonce") != NULL) {
			err_set(e, ERR_INVALID, "RFC 8555 7.3.4: externalAccountBinding "
			    "must not have a nonce");
			goto out;
		}
		if (j->kid == NULL || j->jwk != NULL) {
			err_set(e, ERR_INVALID, "RFC 8555 7.3.4: externalAccountBinding "
			    "needs the EAB key id as kid, and no jwk");
			goto out;
		}
		break;
	}
	if (j->kid == NULL && !json_is_object(j->jwk)) {
		err_set(e, ERR_INVALID, "jwk of %s must be a JSON object", name);
		goto out;
	}
	if (j->kid != NULL && json_string_length(json_object_get(j->hdr, "kid"))
	    > 1024) {
		err_set(e, ERR_INVALID, "kid of %s longer than 1024 bytes", name);
		goto out;
	}
	if (!cjose_base64url_decode(s[1], sl[1], &raw, &raw_len, &ce) ||
	    (j->payload = malloc(raw_len + 1)) == NULL) {
		err_set(e, ERR_INVALID, "payload of %s is not base64url", name);
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

int acme_jws_verify_hmac(const struct acme_jws *j, const unsigned char *key,
    size_t key_len, struct err *e)
{
	cjose_jwk_t *k = NULL;
	cjose_jws_t *s = NULL;
	cjose_err ce;
	int rc = -1;

	memset(&ce, 0, sizeof(ce));
	if (!alg_in(j->alg, acme_eab_algs))
		return err_set(e, ERR_INVALID, "alg %s is not a MAC", j->alg);
	if ((k = cjose_jwk_create_oct_spec(key, key_len, &ce)) == NULL) {
		err_set(e, ERR_INTERNAL, "EAB key: %s", ce.message ? ce.message :
		    "does not import");
		goto out;
	}
	if ((s = cjose_jws_import(j->compact, strlen(j->compact), &ce)) == NULL) {
		err_set(e, ERR_INVALID, "externalAccountBinding: %s", ce.message ?
		    ce.message : "does not parse");
		goto out;
	}
	/* cjose picks the MAC from the header's alg (HS256/384/512, checked
	 * above) and compares in constant time. */
	if (!cjose_jws_verify(s, k, &ce)) {
		err_set(e, ERR_AUTH, "RFC 8555 7.3.4: the externalAccountBinding "
		    "MAC does not verify with the EAB key");
		goto out;
	}
	rc = 0;
out:
	cjose_jws_release(s);
	cjose_jwk_release(k);
	return rc;
}

int acme_jwk_same(const json_t *a, const json_t *b)
{
	char *ca = NULL, *cb = NULL;
	int same;

	same = json_is_object(a) && json_is_object(b) &&
	    acme_jwk_canonical(a, &ca, NULL) == 0 &&
	    acme_jwk_canonical(b, &cb, NULL) == 0 && strcmp(ca, cb) == 0;
	free(ca);
	free(cb);
	return same;
}

int acme_random_b64(unsigned char *raw, size_t n, char *out, size_t outn,
    struct err *e)
{
	char *b64 = NULL;
	size_t len = 0;
	cjose_err ce;
	int rc = -1;

	do {
		if (b64 != NULL)
			OPENSSL_cleanse(b64, len);
		free(b64);
		b64 = NULL;
		if (n > 64 || RAND_bytes(raw, (int)n) != 1)
			return err_ossl(e, ERR_INTERNAL, "RAND_bytes");
		if (!cjose_base64url_encode(raw, n, &b64, &len, &ce) ||
		    len >= outn) {
			err_set(e, ERR_INTERNAL, "base64url encoding failed");
			goto out;
		}
	} while (len > 0 && b64[0] == '-');
	memcpy(out, b64, len);
	out[len] = '\0';
	rc = 0;
out:
	if (b64 != NULL)
		OPENSSL_cleanse(b64, len);
	free(b64);
	return rc;
}

int acme_b64url_decode(const char *s, size_t len, size_t max, uint8_t **out,
    size_t *out_len, struct err *e)
{
	cjose_err ce;

	*out = NULL;
	*out_len = 0;
	if (s == NULL || len > (max * 4 + 2) / 3 || !b64url_ok(s, len, 0) ||
	    !cjose_base64url_decode(s, len, out, out_len, &ce))
		return err_set(e, ERR_INVALID, "not base64url (RFC 4648 5, no "
		    "padding) of 1..%zu bytes", max);
	if (*out_len == 0 || *out_len > max) {
		free(*out);
		*out = NULL;
		return err_set(e, ERR_INVALID, "not base64url of 1..%zu bytes", max);
	}
	return 0;
}

/* A JSON string of base64url(buf). */
static json_t *b64_json(const unsigned char *buf, size_t len)
{
	char *b64 = NULL;
	size_t n = 0;
	cjose_err ce;
	json_t *s = NULL;

	if (cjose_base64url_encode(buf, len, &b64, &n, &ce))
		s = json_stringn(b64, n);
	free(b64);
	return s;
}

int acme_jwk_from_pkey(EVP_PKEY *pk, json_t **out, struct err *e)
{
	unsigned char a_buf[512], b_buf[512];
	BIGNUM *a = NULL, *b = NULL;
	char grp[64];
	const char *crv;
	size_t gl = 0;
	int w, al, bl, rc = -1;

	*out = NULL;
	if (EVP_PKEY_is_a(pk, "EC")) {
		if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
		    grp, sizeof(grp), &gl)) {
			err_ossl(e, ERR_INVALID, "EC key without a named curve");
			goto out;
		}
		if (strcmp(grp, "prime256v1") == 0) {
			crv = "P-256";
			w = 32;
		} else if (strcmp(grp, "secp384r1") == 0) {
			crv = "P-384";
			w = 48;
		} else {
			err_set(e, ERR_INVALID, "EC key on %.32s: ACME keys are P-256 "
			    "or P-384", grp);
			goto out;
		}
		if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &a) ||
		    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &b) ||
		    BN_bn2binpad(a, a_buf, w) != w || BN_bn2binpad(b, b_buf, w) != w) {
			err_ossl(e, ERR_INVALID, "EC public point");
			goto out;
		}
		*out = json_pack("{s:s, s:s, s:o, s:o}", "kty", "EC", "crv", crv,
		    "x", b64_json(a_buf, (size_t)w), "y", b64_json(b_buf, (size_t)w));
	} else if (EVP_PKEY_is_a(pk, "RSA")) {
		if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &a) ||
		    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &b) ||
		    BN_num_bytes(a) > (int)sizeof(a_buf) ||
		    BN_num_bytes(b) > (int)sizeof(b_buf) || BN_is_zero(a) ||
		    BN_is_zero(b)) {
			err_ossl(e, ERR_INVALID, "RSA public key");
			goto out;
		}
		/* Minimal big-endian, as RFC 7518 6.3.1 wants. */
		al = BN_bn2bin(a, a_buf);
		bl = BN_bn2bin(b, b_buf);
		*out = json_pack("{s:s, s:o, s:o}", "kty", "RSA",
		    "n", b64_json(a_buf, (size_t)al), "e", b64_json(b_buf, (size_t)bl));
	} else {
		err_set(e, ERR_INVALID, "the key is neither EC nor RSA (no ACME "
		    "JWS can be signed with it here)");
		goto out;
	}
	if (*out == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	BN_free(a);
	BN_free(b);
	return rc;
}

int acme_eab_parse(const json_t *binding, const char *url, const json_t *jwk,
    struct acme_jws **out, const char **atype, struct err *e)
{
	struct acme_jws *j = NULL;
	json_t *inner = NULL;
	json_error_t je;
	int rc = -1;

	*out = NULL;
	if (acme_jws_parse_json(binding, ACME_JWS_EAB, &j, atype, e) != 0)
		return -1;
	*atype = "unauthorized";
	if (strcmp(j->url, url) != 0) {
		err_set(e, ERR_AUTH, "RFC 8555 7.3.4: the externalAccountBinding "
		    "url must be the newAccount URL %.200s", url);
		goto out;
	}
	*atype = "malformed";
	inner = json_loadb(j->payload, j->payload_len, JSON_REJECT_DUPLICATES,
	    &je);
	if (!json_is_object(inner)) {
		err_set(e, ERR_INVALID, "RFC 8555 7.3.4: the externalAccountBinding "
		    "payload must be the account key as a JWK (a JSON object)");
		goto out;
	}
	if (!acme_jwk_same(inner, jwk)) {
		*atype = "unauthorized";
		err_set(e, ERR_AUTH, "RFC 8555 7.3.4: the externalAccountBinding "
		    "payload is not the key that signed this newAccount request");
		goto out;
	}
	*out = j;
	j = NULL;
	rc = 0;
out:
	json_decref(inner);
	acme_jws_free(j);
	return rc;
}
