/*
 * libFuzzer target: the ACME request path before the database, on every
 * input, as ca/acme.c's post() and the account handlers run it.
 *
 * Reaches: acme_jws_parse (jansson with duplicate refusal, the flattened
 * form, b64url_ok, cjose_base64url_decode, header rules), acme_jws_verify
 * with the header's jwk (acme_jwk_check, acme_jwk_canonical,
 * cjose_jwk_import, cjose_jws_import/verify), acme_jwk_thumbprint, the
 * payload's JSON parse, then, from the payload: acme_eab_parse
 * (acme_jws_parse_json in ACME_JWS_EAB mode, acme_jwk_same) and
 * acme_jws_verify_hmac with a fixed key; acme_jws_parse_json in
 * ACME_JWS_INNER mode (keyChange) with acme_jws_verify and the inner
 * payload's parse; acme_b64url_decode of a revokeCert "certificate".
 *
 * Besides ASan/UBSan it checks the promises: a parsed request has alg,
 * url and nonce and exactly one of kid and jwk; a failure sets an error
 * kind and an ACME type; a payload is NUL-terminated at its length.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ca/acme_jws.h"

static const unsigned char eab_key[32] = { 0x5e, 0x11, 0x9a, 0x42 };

static void check_failure(const char *atype, const struct err *e)
{
	if (e->kind == ERR_NONE || atype == NULL || *atype == '\0')
		abort();
}

static void check_payload(const struct acme_jws *j)
{
	size_t len;
	const char *p = acme_jws_payload(j, &len);

	if (p == NULL || p[len] != '\0')
		abort();
}

/* keyChange's inner JWS, as acme_key_change reads it. */
static void inner(const json_t *doc)
{
	struct acme_jws *j = NULL;
	const char *atype = NULL;
	struct err e;
	json_error_t je;
	json_t *kc;
	size_t len;
	const char *p;

	memset(&e, 0, sizeof(e));
	if (acme_jws_parse_json(doc, ACME_JWS_INNER, &j, &atype, &e) != 0) {
		check_failure(atype, &e);
		if (j != NULL)
			abort();
		return;
	}
	if (acme_jws_jwk(j) == NULL || acme_jws_kid(j) != NULL ||
	    acme_jws_url(j) == NULL)
		abort();
	check_payload(j);
	(void)acme_jws_verify(j, acme_jws_jwk(j), &atype, &e);
	p = acme_jws_payload(j, &len);
	kc = json_loadb(p, len, JSON_REJECT_DUPLICATES, &je);
	(void)acme_jwk_same(json_object_get(kc, "oldKey"), acme_jws_jwk(j));
	json_decref(kc);
	acme_jws_free(j);
}

/* newAccount's externalAccountBinding, as eab_check reads it. */
static void binding(const json_t *b, const char *url, const json_t *jwk)
{
	struct acme_jws *j = NULL;
	const char *atype = NULL;
	struct err e;

	memset(&e, 0, sizeof(e));
	if (acme_eab_parse(b, url, jwk, &j, &atype, &e) != 0) {
		check_failure(atype, &e);
		if (j != NULL)
			abort();
		return;
	}
	if (acme_jws_kid(j) == NULL || acme_jws_jwk(j) != NULL ||
	    !acme_jwk_same(jwk, jwk))
		abort();
	check_payload(j);
	(void)acme_jws_verify_hmac(j, eab_key, sizeof(eab_key), &e);
	acme_jws_free(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acme_jws *j = NULL;
	const char *atype = NULL, *p;
	char tp[ACME_THUMBPRINT_LEN + 1];
	struct err e;
	json_error_t je;
	json_t *payload = NULL, *jwk, *v;
	uint8_t *der = NULL;
	size_t len = 0, der_len = 0;

	memset(&e, 0, sizeof(e));
	if (acme_jws_parse((const char *)data, size, &j, &atype, &e) != 0) {
		check_failure(atype, &e);
		if (j != NULL)
			abort();
		return 0;
	}
	if (acme_jws_alg(j) == NULL || acme_jws_url(j) == NULL ||
	    acme_jws_nonce(j) == NULL ||
	    (acme_jws_kid(j) == NULL) == (acme_jws_jwk(j) == NULL))
		abort();
	check_payload(j);
	jwk = acme_jws_jwk(j);
	if (jwk != NULL) {
		memset(&e, 0, sizeof(e));
		if (acme_jws_verify(j, jwk, &atype, &e) != 0)
			check_failure(atype, &e);
		if (acme_jwk_check(jwk, &p, &p, &atype, &e) == 0 &&
		    acme_jwk_thumbprint(jwk, tp, &e) == 0 &&
		    strlen(tp) != ACME_THUMBPRINT_LEN)
			abort();
	}
	/* The payload is parsed whether or not the signature verified: the
	 * fuzzer cannot sign, and these parsers see attacker bytes only
	 * after verification in signetd, but must hold on any. */
	p = acme_jws_payload(j, &len);
	payload = json_loadb(p, len, JSON_REJECT_DUPLICATES, &je);
	if (json_is_object(payload)) {
		if ((v = json_object_get(payload, "externalAccountBinding")) != NULL &&
		    jwk != NULL)
			binding(v, acme_jws_url(j), jwk);
		if (json_object_get(payload, "protected") != NULL)
			inner(payload);
		v = json_object_get(payload, "certificate");
		if (json_is_string(v) && acme_b64url_decode(json_string_value(v),
		    json_string_length(v), 16384, &der, &der_len, &e) == 0 &&
		    (der_len == 0 || der_len > 16384))
			abort();
		free(der);
	}
	json_decref(payload);
	acme_jws_free(j);
	return 0;
}
