/* acme_jws: RFC 7638's thumbprint example; flattened JWS requests made
 * with cjose verify, and what RFC 8555 6.2 refuses is refused: the
 * compact and general forms, unprotected headers, both or neither of jwk
 * and kid, algorithms outside ES256/ES384/RS256/PS256, keys outside
 * P-256/P-384/RSA 2048..4096, keys that do not fit alg, tampering;
 * external account bindings (HS256/384/512 through cjose) and keyChange's
 * inner JWS; canonical key comparison, JWKs of OpenSSL keys, base64url
 * bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "ca/acme_jws.h"

/* RFC 7638 3.1. */
static const char rfc7638_key[] =
    "{\"kty\":\"RSA\","
    "\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK"
    "7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93"
    "lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6"
    "qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-"
    "G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\","
    "\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";

static void test_rfc7638_thumbprint(void **state)
{
	json_error_t je;
	json_t *k = json_loads(rfc7638_key, 0, &je);
	char tp[ACME_THUMBPRINT_LEN + 1], *canon = NULL;
	const char *kty, *crv, *atype;
	struct err e;

	(void)state;
	assert_non_null(k);
	assert_int_equal(acme_jwk_thumbprint(k, tp, &e), 0);
	assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	/* Only the required members, in order, no whitespace (RFC 7638 3.3). */
	assert_int_equal(acme_jwk_canonical(k, &canon, &e), 0);
	assert_true(strncmp(canon, "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"0vx7",
	    32) == 0);
	assert_null(strstr(canon, "kid"));
	assert_null(strchr(canon, ' '));
	free(canon);
	/* A 2048-bit public RSA key: acceptable. */
	assert_int_equal(acme_jwk_check(k, &kty, &crv, &atype, &e), 0);
	assert_string_equal(kty, "RSA");
	json_decref(k);
}

/* A flattened JWS with the given header members (JSON text without
 * braces), payload and signer, from cjose's compact output. */
static char *flattened(cjose_jwk_t *key, const char *alg,
    const char *extra_hdr, const char *payload)
{
	char hdr_text[4096], *compact_copy, *dot1, *dot2, *out;
	const char *compact = NULL;
	json_error_t je;
	json_t *hdr, *doc;
	cjose_jws_t *jws;
	cjose_err ce;

	snprintf(hdr_text, sizeof(hdr_text), "{\"alg\":\"%s\"%s%s}", alg,
	    *extra_hdr ? "," : "", extra_hdr);
	hdr = json_loads(hdr_text, 0, &je);
	assert_non_null(hdr);
	jws = cjose_jws_sign(key, (cjose_header_t *)hdr,
	    (const uint8_t *)payload, strlen(payload), &ce);
	assert_non_null(jws);
	assert_true(cjose_jws_export(jws, &compact, &ce));
	compact_copy = strdup(compact);
	dot1 = strchr(compact_copy, '.');
	dot2 = strchr(dot1 + 1, '.');
	*dot1 = *dot2 = '\0';
	doc = json_pack("{s:s, s:s, s:s}", "protected", compact_copy,
	    "payload", dot1 + 1, "signature", dot2 + 1);
	out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	free(compact_copy);
	cjose_jws_release(jws);
	json_decref(hdr);
	return out;
}

/* The header "jwk" member of key's public part. */
static char *jwk_member(cjose_jwk_t *key)
{
	cjose_err ce;
	char *pub = cjose_jwk_to_json(key, false, &ce);
	char *out;

	assert_non_null(pub);
	assert_true(asprintf(&out, "\"jwk\":%s", pub) > 0);
	free(pub);
	return out;
}

#define HDR_REST ",\"nonce\":\"abcdefghijklmnopqrstuv\",\"url\":\"https://ca/acme/p/new-account\""

static void test_ec_roundtrip(void **state)
{
	cjose_err ce;
	cjose_jwk_t *key = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &ce);
	char *jwk = jwk_member(key), hdr[2048], *body;
	struct acme_jws *j = NULL;
	const char *atype, *payload;
	size_t plen;
	struct err e;

	(void)state;
	snprintf(hdr, sizeof(hdr), "%s" HDR_REST, jwk);
	body = flattened(key, "ES256", hdr, "{\"contact\":[]}");
	assert_int_equal(acme_jws_parse(body, strlen(body), &j, &atype, &e), 0);
	assert_string_equal(acme_jws_nonce(j), "abcdefghijklmnopqrstuv");
	assert_string_equal(acme_jws_url(j), "https://ca/acme/p/new-account");
	assert_null(acme_jws_kid(j));
	assert_non_null(acme_jws_jwk(j));
	assert_int_equal(acme_jws_verify(j, acme_jws_jwk(j), &atype, &e), 0);
	payload = acme_jws_payload(j, &plen);
	assert_int_equal(plen, strlen("{\"contact\":[]}"));
	assert_string_equal(payload, "{\"contact\":[]}");
	acme_jws_free(j);
	j = NULL;

	/* Tampered: one signature character changed. */
	{
		char *sig = strstr(body, "\"signature\":\"") + 13;

		sig[3] = sig[3] == 'A' ? 'B' : 'A';
		assert_int_equal(acme_jws_parse(body, strlen(body), &j, &atype,
		    &e), 0);
		assert_int_equal(acme_jws_verify(j, acme_jws_jwk(j), &atype, &e),
		    -1);
		assert_int_equal(e.kind, ERR_AUTH);
		acme_jws_free(j);
		j = NULL;
	}
	free(body);

	/* POST-as-GET: an empty payload. */
	body = flattened(key, "ES256", hdr, "");
	assert_int_equal(acme_jws_parse(body, strlen(body), &j, &atype, &e), 0);
	assert_int_equal(acme_jws_payload(j, &plen)[0], '\0');
	assert_int_equal(plen, 0);
	acme_jws_free(j);
	j = NULL;
	free(body);

	/* Both jwk and kid; neither. */
	snprintf(hdr, sizeof(hdr), "%s,\"kid\":\"https://ca/acme/p/acct/1\""
	    HDR_REST, jwk);
	body = flattened(key, "ES256", hdr, "");
	assert_int_equal(acme_jws_parse(body, strlen(body), &j, &atype, &e), -1);
	assert_string_equal(atype, "malformed");
	assert_null(j);
	free(body);
	body = flattened(key, "ES256", &HDR_REST[1], "");
	assert_int_equal(acme_jws_parse(body, strlen(body), &j, &atype, &e), -1);
	assert_string_equal(atype, "malformed");
	free(body);
	free(jwk);
	cjose_jwk_release(key);
}

static void test_refusals(void **state)
{
	static const char *const bodies[] = {
		/* compact */
		"eyJhbGciOiJFUzI1NiJ9.e30.c2ln",
		"\"eyJhbGciOiJFUzI1NiJ9.e30.c2ln\"",
		/* general */
		"{\"payload\":\"e30\",\"signatures\":[{\"protected\":\"eyJhbGciOiJFUzI1NiJ9\",\"signature\":\"c2ln\"}]}",
		/* unprotected header */
		"{\"protected\":\"eyJhbGciOiJFUzI1NiJ9\",\"header\":{},\"payload\":\"e30\",\"signature\":\"c2ln\"}",
		/* a '.' smuggled into a part */
		"{\"protected\":\"eyJhbGciOiJFUzI1NiJ9.e30\",\"payload\":\"e30\",\"signature\":\"c2ln\"}",
		/* padding */
		"{\"protected\":\"eyJhbGciOiJFUzI1NiJ9=\",\"payload\":\"e30\",\"signature\":\"c2ln\"}",
		/* duplicate members */
		"{\"protected\":\"eyJhbGciOiJFUzI1NiJ9\",\"protected\":\"eyJhbGciOiJFUzI1NiJ9\",\"payload\":\"e30\",\"signature\":\"c2ln\"}",
		"",
	};
	struct acme_jws *j = NULL;
	const char *atype;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		assert_int_equal(acme_jws_parse(bodies[i], strlen(bodies[i]), &j,
		    &atype, &e), -1);
		assert_null(j);
		assert_string_equal(atype, "malformed");
	}
}

static void test_algs(void **state)
{
	/* {"alg":"EdDSA",...}, {"alg":"none"}, {"alg":"HS256"} */
	static const char *const algs[] = { "EdDSA", "none", "HS256", "ES512",
	    "RS384" };
	char hdr[256], *b64 = NULL, body[512];
	struct acme_jws *j = NULL;
	const char *atype;
	size_t len;
	cjose_err ce;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"x\","
		    "\"nonce\":\"n\",\"url\":\"u\"}", algs[i]);
		assert_true(cjose_base64url_encode((const uint8_t *)hdr,
		    strlen(hdr), &b64, &len, &ce));
		snprintf(body, sizeof(body), "{\"protected\":\"%s\",\"payload\":"
		    "\"\",\"signature\":\"c2ln\"}", b64);
		free(b64);
		assert_int_equal(acme_jws_parse(body, strlen(body), &j, &atype,
		    &e), -1);
		assert_string_equal(atype, "badSignatureAlgorithm");
	}
}

static void test_keys(void **state)
{
	static const struct {
		const char *jwk;
		int ok;
	} keys[] = {
		/* P-521 */
		{ "{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}", 0 },
		/* short coordinates */
		{ "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}", 0 },
		/* private */
		{ "{\"kty\":\"EC\",\"crv\":\"P-256\",\"d\":\"AA\"}", 0 },
		/* 1024-bit RSA (the modulus' first 128 bytes of RFC 7638's) */
		{ "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQ\"}", 0 },
		/* not EC or RSA */
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}", 0 },
		{ "{\"kty\":\"oct\",\"k\":\"AA\"}", 0 },
	};
	json_error_t je;
	const char *kty, *crv, *atype;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *k = json_loads(keys[i].jwk, 0, &je);

		assert_non_null(k);
		assert_int_equal(acme_jwk_check(k, &kty, &crv, &atype, &e),
		    keys[i].ok ? 0 : -1);
		assert_string_equal(atype, "badPublicKey");
		json_decref(k);
	}
}

/* The flattened JWS text of flattened() as a JSON value. */
static json_t *as_json(char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);

	assert_non_null(j);
	free(text);
	return j;
}

#define NEW_ACCOUNT "https://ca/acme/p/new-account"

/* External account binding (RFC 8555 7.3.4): HS256/384/512 over the
 * account key, verified with the right key only; what the RFC refuses
 * is refused, with malformed or unauthorized. */
static void test_eab(void **state)
{
	static const char *const macs[] = { "HS256", "HS384", "HS512" };
	unsigned char mac_key[32], other_key[32];
	cjose_err ce;
	cjose_jwk_t *acct = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &ce);
	cjose_jwk_t *acct2 = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &ce);
	cjose_jwk_t *hk, *ec384;
	char *pub = cjose_jwk_to_json(acct, false, &ce);
	char *pub2 = cjose_jwk_to_json(acct2, false, &ce);
	char *jwk_member_text, hdr[4096];
	json_error_t je;
	json_t *jwk, *b;
	struct acme_jws *j = NULL;
	const char *atype;
	struct err e;

	(void)state;
	memset(mac_key, 7, sizeof(mac_key));
	memset(other_key, 8, sizeof(other_key));
	hk = cjose_jwk_create_oct_spec(mac_key, sizeof(mac_key), &ce);
	assert_non_null(hk);
	jwk = json_loads(pub, 0, &je);
	assert_non_null(jwk);
	for (size_t i = 0; i < 3; i++) {
		b = as_json(flattened(hk, macs[i], "\"kid\":\"k1\",\"url\":\""
		    NEW_ACCOUNT "\"", pub));
		assert_int_equal(acme_eab_parse(b, NEW_ACCOUNT, jwk, &j, &atype,
		    &e), 0);
		assert_string_equal(acme_jws_kid(j), "k1");
		assert_null(acme_jws_jwk(j));
		assert_int_equal(acme_jws_verify_hmac(j, mac_key, sizeof(mac_key),
		    &e), 0);
		assert_int_equal(acme_jws_verify_hmac(j, other_key,
		    sizeof(other_key), &e), -1);
		assert_int_equal(e.kind, ERR_AUTH);
		acme_jws_free(j);
		j = NULL;
		json_decref(b);
	}

	/* Another URL; another account key in the payload: unauthorized. */
	b = as_json(flattened(hk, "HS256", "\"kid\":\"k1\",\"url\":"
	    "\"https://ca/acme/q/new-account\"", pub));
	assert_int_equal(acme_eab_parse(b, NEW_ACCOUNT, jwk, &j, &atype, &e), -1);
	assert_string_equal(atype, "unauthorized");
	assert_null(j);
	json_decref(b);
	b = as_json(flattened(hk, "HS256", "\"kid\":\"k1\",\"url\":\""
	    NEW_ACCOUNT "\"", pub2));
	assert_int_equal(acme_eab_parse(b, NEW_ACCOUNT, jwk, &j, &atype, &e), -1);
	assert_string_equal(atype, "unauthorized");
	json_decref(b);

	/* Structurally wrong: malformed. */
	{
		static const char *const bad_hdrs[] = {
			/* a nonce */
			"\"kid\":\"k1\",\"nonce\":\"abc\",\"url\":\"" NEW_ACCOUNT "\"",
			/* no kid */
			"\"url\":\"" NEW_ACCOUNT "\"",
			/* no url */
			"\"kid\":\"k1\"",
		};
		for (size_t i = 0; i < 3; i++) {
			b = as_json(flattened(hk, "HS256", bad_hdrs[i], pub));
			assert_int_equal(acme_eab_parse(b, NEW_ACCOUNT, jwk, &j, &atype,
			    &e), -1);
			assert_string_equal(atype, "malformed");
			json_decref(b);
		}
		/* a jwk in the header */
		jwk_member_text = jwk_member(acct);
		snprintf(hdr, sizeof(hdr), "\"kid\":\"k1\",%s,\"url\":\""
		    NEW_ACCOUNT "\"", jwk_member_text);
		free(jwk_member_text);
		b = as_json(flattened(hk, "HS256", hdr, pub));
		assert_int_equal(acme_eab_parse(b, NEW_ACCOUNT, jwk, &j, &atype,
		    &e), -1);
		assert_string_equal(atype, "malformed");
		json_decref(b);
		/* a payload that is not a JSON object */
		b = as_json(flattened(hk, "HS256", "\"kid\":\"k1\",\"url\":\""
		    NEW_ACCOUNT "\"", "\"key\""));
		assert_int_equal(acme_eab_parse(b, NEW_ACCOUNT, jwk, &j, &atype,
		    &e), -1);
		assert_string_equal(atype, "malformed");
		json_decref(b);
		/* not a MAC: an ES384 signature */
		ec384 = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_384, &ce);
		b = as_json(flattened(ec384, "ES384", "\"kid\":\"k1\",\"url\":\""
		    NEW_ACCOUNT "\"", pub));
		assert_int_equal(acme_eab_parse(b, NEW_ACCOUNT, jwk, &j, &atype,
		    &e), -1);
		assert_string_equal(atype, "malformed");
		json_decref(b);
		cjose_jwk_release(ec384);
		/* not a flattened JWS */
		b = json_pack("{s:s}", "protected", "e30");
		assert_int_equal(acme_eab_parse(b, NEW_ACCOUNT, jwk, &j, &atype,
		    &e), -1);
		assert_string_equal(atype, "malformed");
		json_decref(b);
		b = json_string("a.b.c");
		assert_int_equal(acme_eab_parse(b, NEW_ACCOUNT, jwk, &j, &atype,
		    &e), -1);
		json_decref(b);
	}
	json_decref(jwk);
	free(pub);
	free(pub2);
	cjose_jwk_release(hk);
	cjose_jwk_release(acct);
	cjose_jwk_release(acct2);
}

/* keyChange's inner JWS (RFC 8555 7.3.5): jwk, url, no kid, and no
 * nonce. */
static void test_inner(void **state)
{
	cjose_err ce;
	cjose_jwk_t *key = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_384, &ce);
	char *jwk = jwk_member(key), hdr[2048];
	struct acme_jws *j = NULL;
	const char *atype;
	struct err e;
	json_t *b;

	(void)state;
	snprintf(hdr, sizeof(hdr), "%s,\"url\":\"https://ca/acme/p/key-change\"",
	    jwk);
	b = as_json(flattened(key, "ES384", hdr, "{\"account\":\"a\"}"));
	assert_int_equal(acme_jws_parse_json(b, ACME_JWS_INNER, &j, &atype, &e),
	    0);
	assert_null(acme_jws_nonce(j));
	assert_int_equal(acme_jws_verify(j, acme_jws_jwk(j), &atype, &e), 0);
	acme_jws_free(j);
	j = NULL;
	/* As a request it lacks its nonce. */
	assert_int_equal(acme_jws_parse_json(b, ACME_JWS_REQUEST, &j, &atype,
	    &e), -1);
	assert_string_equal(atype, "badNonce");
	json_decref(b);
	/* The inner JWS MUST omit the nonce. */
	snprintf(hdr, sizeof(hdr), "%s" HDR_REST, jwk);
	b = as_json(flattened(key, "ES384", hdr, "{}"));
	assert_int_equal(acme_jws_parse_json(b, ACME_JWS_INNER, &j, &atype, &e),
	    -1);
	json_decref(b);
	/* A kid instead of the new key. */
	b = as_json(flattened(key, "ES384", "\"kid\":\"https://ca/acme/p/acct/1\","
	    "\"url\":\"https://ca/acme/p/key-change\"", "{}"));
	assert_int_equal(acme_jws_parse_json(b, ACME_JWS_INNER, &j, &atype, &e),
	    -1);
	assert_string_equal(atype, "malformed");
	assert_null(j);
	json_decref(b);
	free(jwk);
	cjose_jwk_release(key);
}

/* acme_jwk_same compares RFC 7638 canonical forms; acme_jwk_from_pkey
 * makes the JWK of an OpenSSL key (RFC 7638's example through its
 * thumbprint); acme_b64url_decode's bounds. */
static void test_jwk_helpers(void **state)
{
	json_error_t je;
	json_t *k = json_loads(rfc7638_key, 0, &je), *k2, *from = NULL;
	char tp[ACME_THUMBPRINT_LEN + 1];
	const char *kty, *crv, *atype;
	uint8_t *n = NULL, *raw = NULL;
	size_t nl = 0, rl = 0;
	OSSL_PARAM_BLD *bld;
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pk = NULL;
	BIGNUM *bn_n, *bn_e;
	struct err e;

	(void)state;
	assert_non_null(k);
	k2 = json_pack("{s:s, s:s, s:s, s:s}", "use", "sig", "n",
	    json_string_value(json_object_get(k, "n")), "kty", "RSA", "e", "AQAB");
	assert_true(acme_jwk_same(k, k2));
	json_object_set_new(k2, "e", json_string("AQAD"));
	assert_false(acme_jwk_same(k, k2));
	assert_false(acme_jwk_same(k, NULL));
	json_decref(k2);

	/* RFC 7638's key through OpenSSL and back. */
	assert_int_equal(acme_b64url_decode(json_string_value(json_object_get(k,
	    "n")), json_string_length(json_object_get(k, "n")), 512, &n, &nl,
	    &e), 0);
	assert_int_equal(nl, 256);
	bn_n = BN_bin2bn(n, (int)nl, NULL);
	bn_e = BN_new();
	BN_set_word(bn_e, 65537);
	bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params),
	    1);
	assert_int_equal(acme_jwk_from_pkey(pk, &from, &e), 0);
	assert_int_equal(acme_jwk_thumbprint(from, tp, &e), 0);
	assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	assert_true(acme_jwk_same(from, k));
	json_decref(from);
	from = NULL;
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	free(n);

	/* EC keys: P-256 and P-384 make acceptable JWKs, P-521 none. */
	pk = EVP_EC_gen("P-256");
	assert_int_equal(acme_jwk_from_pkey(pk, &from, &e), 0);
	assert_int_equal(acme_jwk_check(from, &kty, &crv, &atype, &e), 0);
	assert_string_equal(crv, "P-256");
	json_decref(from);
	from = NULL;
	EVP_PKEY_free(pk);
	pk = EVP_EC_gen("P-384");
	assert_int_equal(acme_jwk_from_pkey(pk, &from, &e), 0);
	assert_int_equal(acme_jwk_check(from, &kty, &crv, &atype, &e), 0);
	assert_string_equal(crv, "P-384");
	json_decref(from);
	from = NULL;
	EVP_PKEY_free(pk);
	pk = EVP_EC_gen("P-521");
	assert_int_equal(acme_jwk_from_pkey(pk, &from, &e), -1);
	assert_null(from);
	EVP_PKEY_free(pk);
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_int_equal(acme_jwk_from_pkey(pk, &from, &e), -1);
	EVP_PKEY_free(pk);

	/* base64url: no padding, no '+' or '/', 1..max bytes. */
	assert_int_equal(acme_b64url_decode("AQAB", 4, 3, &raw, &rl, &e), 0);
	assert_int_equal(rl, 3);
	free(raw);
	assert_int_equal(acme_b64url_decode("AQAB", 4, 2, &raw, &rl, &e), -1);
	assert_int_equal(acme_b64url_decode("AQ==", 4, 3, &raw, &rl, &e), -1);
	assert_int_equal(acme_b64url_decode("a+/b", 4, 3, &raw, &rl, &e), -1);
	assert_int_equal(acme_b64url_decode("", 0, 3, &raw, &rl, &e), -1);
	assert_null(raw);
	json_decref(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7638_thumbprint),
		cmocka_unit_test(test_ec_roundtrip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_algs),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_eab),
		cmocka_unit_test(test_inner),
		cmocka_unit_test(test_jwk_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
