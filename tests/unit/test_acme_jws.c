/* acme_jws: RFC 7638's thumbprint example; flattened JWS requests made
 * with cjose verify, and what RFC 8555 6.2 refuses is refused: the
 * compact and general forms, unprotected headers, both or neither of jwk
 * and kid, algorithms outside ES256/ES384/RS256/PS256, keys outside
 * P-256/P-384/RSA 2048..4096, keys that do not fit alg, tampering. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7638_thumbprint),
		cmocka_unit_test(test_ec_roundtrip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_algs),
		cmocka_unit_test(test_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
