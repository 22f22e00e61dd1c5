/* pop: proof-of-possession JWS, signed by a certificate's own key. */
#include "ca/pop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "ca/token.h"

/* cjose's header type is jansson's json_t (cjose/header.h). */
static json_t *jws_header(cjose_jws_t *jws)
{
	return (json_t *)cjose_jws_get_protected(jws);
}

int pop_present(const char *jws, size_t len)
{
	cjose_err ce;
	cjose_jws_t *j;
	int pop;

	if (jws == NULL || len == 0 || len > POP_MAX_LEN)
		return 0;
	if ((j = cjose_jws_import(jws, len, &ce)) == NULL)
		return 0;
	pop = json_object_get(jws_header(j), "x5c") != NULL;
	cjose_jws_release(j);
	return pop;
}

/* The first n BIGNUM parameters names[] of pkey as big-endian bytes,
 * each left-padded to pad bytes when pad > 0 (EC coordinates and scalars
 * have a fixed width in JOSE, RFC 7518 6.2.1), into v[i] with length
 * len[i].  -1 when one is missing or memory ran out; the caller frees
 * every v[i] with OPENSSL_clear_free either way (some are private). */
static int bn_params(EVP_PKEY *pkey, const char *const *names, int n,
    size_t pad, unsigned char **v, size_t *len)
{
	BIGNUM *bn = NULL;
	int i;

	for (i = 0; i < n; i++) {
		if (EVP_PKEY_get_bn_param(pkey, names[i], &bn) != 1)
			return -1;
		len[i] = pad > 0 ? pad : (size_t)BN_num_bytes(bn);
		if (len[i] == 0)
			len[i] = 1;
		if ((v[i] = OPENSSL_malloc(len[i])) != NULL &&
		    BN_bn2binpad(bn, v[i], (int)len[i]) < 0) {
			OPENSSL_clear_free(v[i], len[i]);
			v[i] = NULL;
		}
		BN_clear_free(bn);
		bn = NULL;
		if (v[i] == NULL)
			return -1;
	}
	return 0;
}

/* key as a cjose JWK, from the key's own parameters (no JOSE encoding by
 * hand), for one of the two ends of a proof of possession.  Both map the
 * key to its JWS alg the same way (ES256/384/512 by curve; RSA signs
 * PS256 and is checked under any RS/PS alg); they differ in which
 * parameters go in and in whose fault a misfit is:
 *  - sign == 0 (the CA, pop_verify): key is the certificate's public
 *    key; *alg is the JWS header's alg and must fit the key, so that the
 *    header cannot pick an algorithm the key was not made for.  Refusals
 *    are the client's: ERR_AUTH.
 *  - sign == 1 (the client, pop_sign): key is the private key; *alg
 *    receives the alg to sign with.  A key that cannot sign one is the
 *    operator's choice: ERR_CONFIG.
 * NULL (e set) on failure; release with cjose_jwk_release. */
static cjose_jwk_t *key_jwk(EVP_PKEY *key, int sign, const char **alg,
    struct err *e)
{
	enum { X, Y, D, N_EC };
	enum { RN, RE, RD, RP, RQ, RDP, RDQ, RQI, N_RSA };
	static const char *const rsa_names[N_RSA] = {
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	static const char *const ec_names[N_EC] = {
		OSSL_PKEY_PARAM_EC_PUB_X, OSSL_PKEY_PARAM_EC_PUB_Y,
		OSSL_PKEY_PARAM_PRIV_KEY,
	};
	static const struct {
		const char *group;
		cjose_jwk_ec_curve crv;
		const char *alg;
	} curves[] = {
		{ "prime256v1", CJOSE_JWK_EC_P_256, "ES256" },
		{ "secp384r1", CJOSE_JWK_EC_P_384, "ES384" },
		{ "secp521r1", CJOSE_JWK_EC_P_521, "ES512" },
	};
	const int n_curves = (int)(sizeof(curves) / sizeof(curves[0]));
	/* The parameters left NULL (the private ones when verifying) stay
	 * out of the keyspec, which makes cjose build a public JWK. */
	unsigned char *v[N_RSA] = { NULL };
	size_t len[N_RSA] = { 0 };
	cjose_jwk_t *jwk = NULL;
	cjose_err ce;
	int id = EVP_PKEY_get_base_id(key), i;

	memset(&ce, 0, sizeof(ce));
	if (id == EVP_PKEY_EC) {
		cjose_jwk_ec_keyspec spec;
		char group[64];
		size_t w = (size_t)(EVP_PKEY_get_bits(key) + 7) / 8;

		memset(&spec, 0, sizeof(spec));
		if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
		    group, sizeof(group), NULL) != 1) {
			err_ossl(e, sign ? ERR_CONFIG : ERR_AUTH, "%s: no curve",
			    sign ? "key" : "certificate key");
			goto out;
		}
		for (i = 0; i < n_curves; i++)
			if (strcmp(group, curves[i].group) == 0)
				break;
		if (i == n_curves) {
			if (sign)
				err_set(e, ERR_CONFIG, "key curve %s cannot sign a proof "
				    "of possession (P-256, P-384, P-521 can)", group);
			else
				err_set(e, ERR_AUTH, "certificate key curve %s is not "
				    "usable for a proof of possession", group);
			goto out;
		}
		spec.crv = curves[i].crv;
		if (sign) {
			*alg = curves[i].alg;
		} else if (strcmp(*alg, curves[i].alg) != 0) {
			err_set(e, ERR_AUTH, "proof of possession alg %.16s does not fit "
			    "the certificate's key: want %s", *alg, curves[i].alg);
			goto out;
		}
		/* x and y, and d to sign */
		if (bn_params(key, ec_names, sign ? N_EC : D, w, v, len) != 0) {
			if (sign)
				err_ossl(e, ERR_CONFIG, "key: not a private EC key");
			else
				err_ossl(e, ERR_INTERNAL, "certificate key coordinates");
			goto out;
		}
		spec.x = v[X];
		spec.xlen = len[X];
		spec.y = v[Y];
		spec.ylen = len[Y];
		spec.d = v[D];
		spec.dlen = len[D];
		jwk = cjose_jwk_create_EC_spec(&spec, &ce);
	} else if (id == EVP_PKEY_RSA) {
		cjose_jwk_rsa_keyspec spec;

		if (sign) {
			*alg = CJOSE_HDR_ALG_PS256;
		} else if (strcmp(*alg, "RS256") && strcmp(*alg, "RS384") &&
		    strcmp(*alg, "RS512") && strcmp(*alg, "PS256") &&
		    strcmp(*alg, "PS384") && strcmp(*alg, "PS512")) {
			err_set(e, ERR_AUTH, "proof of possession alg %.16s does not fit "
			    "an RSA key: want RS256/384/512 or PS256/384/512", *alg);
			goto out;
		}
		/* n and e, and the CRT parameters to sign */
		if (bn_params(key, rsa_names, sign ? N_RSA : RD, 0, v, len) != 0) {
			if (sign)
				err_ossl(e, ERR_CONFIG, "key: not a private RSA key with "
				    "its CRT parameters");
			else
				err_ossl(e, ERR_INTERNAL, "certificate RSA key");
			goto out;
		}
		memset(&spec, 0, sizeof(spec));
		spec.n = v[RN];
		spec.nlen = len[RN];
		spec.e = v[RE];
		spec.elen = len[RE];
		spec.d = v[RD];
		spec.dlen = len[RD];
		spec.p = v[RP];
		spec.plen = len[RP];
		spec.q = v[RQ];
		spec.qlen = len[RQ];
		spec.dp = v[RDP];
		spec.dplen = len[RDP];
		spec.dq = v[RDQ];
		spec.dqlen = len[RDQ];
		spec.qi = v[RQI];
		spec.qilen = len[RQI];
		jwk = cjose_jwk_create_RSA_spec(&spec, &ce);
	} else {
		if (sign)
			err_set(e, ERR_CONFIG, "a %s key cannot sign a proof of "
			    "possession signet can check (cjose has no EdDSA): use its "
			    "certificate as the TLS client certificate instead",
			    id == EVP_PKEY_ED25519 ? "Ed25519" : "non-EC, non-RSA");
		else
			err_set(e, ERR_AUTH, "the certificate's key type cannot sign a "
			    "JWS that signet can check (cjose has no EdDSA): revoke "
			    "with a provisioner token or `signet revoke`");
		goto out;
	}
	if (jwk == NULL)
		err_set(e, ERR_INTERNAL, "%s as JWK: %s",
		    sign ? "key" : "certificate key",
		    ce.message ? ce.message : "failed");
out:
	for (i = 0; i < N_RSA; i++)
		OPENSSL_clear_free(v[i], len[i]);
	return jwk;
}

static int aud_matches(json_t *aud, const char *audience)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), audience) == 0;
	if (json_is_array(aud))
		json_array_foreach(aud, i, v)
			if (json_is_string(v) && strcmp(json_string_value(v),
			    audience) == 0)
				return 1;
	return 0;
}

/* x5c (RFC 7515 4.1.6): standard base64 DER, the signer's first. */
static int x5c_first(json_t *hdr, uint8_t **der, size_t *der_len,
    struct err *e)
{
	json_t *x5c = json_object_get(hdr, "x5c");
	const char *b64;
	cjose_err ce;

	if (!json_is_array(x5c) || json_array_size(x5c) < 1 ||
	    (b64 = json_string_value(json_array_get(x5c, 0))) == NULL ||
	    strlen(b64) > POP_MAX_LEN ||
	    !cjose_base64_decode(b64, strlen(b64), der, der_len, &ce))
		return err_set(e, ERR_AUTH, "proof of possession header x5c must "
		    "hold the certificate (base64 DER)");
	return 0;
}

int pop_x5c_der(const char *jws, size_t len, unsigned char **der,
    size_t *der_len, struct err *e)
{
	cjose_err ce;
	cjose_jws_t *j;
	uint8_t *d = NULL;
	int rc;

	if (jws == NULL || len == 0 || len > POP_MAX_LEN)
		return err_set(e, ERR_AUTH, "proof of possession missing or longer "
		    "than %d bytes", POP_MAX_LEN);
	if ((j = cjose_jws_import(jws, len, &ce)) == NULL)
		return err_set(e, ERR_AUTH, "proof of possession is not a compact "
		    "JWS: %s", ce.message ? ce.message : "parse error");
	rc = x5c_first(jws_header(j), &d, der_len, e);
	cjose_jws_release(j);
	*der = d;
	return rc;
}

int pop_verify(const char *jws, size_t len,
    const unsigned char *cert_der, size_t cert_len, const char *audience,
    long skew, time_t now, char jti[129], long long *exp, struct err *e)
{
	cjose_err ce;
	cjose_jws_t *j = NULL;
	cjose_jwk_t *jwk = NULL;
	json_t *hdr, *claims = NULL, *v;
	const char *alg;
	uint8_t *der = NULL, *payload = NULL;
	size_t der_len = 0, plen = 0;
	const unsigned char *p;
	X509 *x = NULL;
	json_error_t je;
	long long iat;
	int rc = -1;

	if (jws == NULL || len == 0 || len > POP_MAX_LEN)
		return err_set(e, ERR_AUTH, "proof of possession missing or longer "
		    "than %d bytes", POP_MAX_LEN);
	if ((j = cjose_jws_import(jws, len, &ce)) == NULL)
		return err_set(e, ERR_AUTH, "proof of possession is not a compact "
		    "JWS: %s", ce.message ? ce.message : "parse error");
	hdr = jws_header(j);
	alg = json_string_value(json_object_get(hdr, "alg"));
	if (alg == NULL) {
		err_set(e, ERR_AUTH, "proof of possession header has no alg");
		goto out;
	}
	if (x5c_first(hdr, &der, &der_len, e) != 0)
		goto out;
	if (der_len != cert_len || memcmp(der, cert_der, cert_len) != 0) {
		err_set(e, ERR_AUTH, "proof of possession x5c is not the "
		    "certificate stored under this serial");
		goto out;
	}
	p = cert_der;
	if ((x = d2i_X509(NULL, &p, (long)cert_len)) == NULL ||
	    p != cert_der + cert_len) {
		err_ossl(e, ERR_INTERNAL, "stored certificate does not parse");
		goto out;
	}
	if ((jwk = key_jwk(X509_get0_pubkey(x), 0, &alg, e)) == NULL)
		goto out;
	if (!cjose_jws_verify(j, jwk, &ce)) {
		err_set(e, ERR_AUTH, "proof of possession signature does not verify "
		    "with the certificate's key");
		goto out;
	}
	/* (json_is_object evaluates its argument twice: load first.) */
	if (cjose_jws_get_plaintext(j, &payload, &plen, &ce))
		claims = json_loadb((const char *)payload, plen,
		    JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(claims)) {
		err_set(e, ERR_AUTH, "proof of possession payload is not a JSON "
		    "object");
		goto out;
	}
	if (!aud_matches(json_object_get(claims, "aud"), audience)) {
		err_set(e, ERR_AUTH, "proof of possession audience is not %s",
		    audience);
		goto out;
	}
	if (!json_is_integer(json_object_get(claims, "iat")) ||
	    !json_is_integer(json_object_get(claims, "exp"))) {
		err_set(e, ERR_AUTH, "proof of possession needs integer iat and exp");
		goto out;
	}
	iat = json_integer_value(json_object_get(claims, "iat"));
	*exp = json_integer_value(json_object_get(claims, "exp"));
	if (*exp <= iat || *exp - iat > POP_MAX_TTL) {
		err_set(e, ERR_AUTH, "proof of possession lifetime (exp - iat) must "
		    "be 1..%ds", POP_MAX_TTL);
		goto out;
	}
	if (*exp + skew < (long long)now) {
		err_set(e, ERR_AUTH, "proof of possession expired %llds ago",
		    (long long)now - *exp);
		goto out;
	}
	if (iat - skew > (long long)now) {
		err_set(e, ERR_AUTH, "proof of possession iat is in the future");
		goto out;
	}
	v = json_object_get(claims, "jti");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > 128) {
		err_set(e, ERR_AUTH, "proof of possession needs a jti of 1..128 "
		    "characters");
		goto out;
	}
	memcpy(jti, json_string_value(v), json_string_length(v) + 1);
	rc = 0;
out:
	json_decref(claims);
	X509_free(x);
	free(der);
	cjose_jwk_release(jwk);
	cjose_jws_release(j);
	return rc;
}


int pop_sign(EVP_PKEY *key, const unsigned char *cert_der, size_t cert_len,
    const char *audience, long ttl, time_t now, char **out, struct err *e)
{
	cjose_err ce;
	cjose_jwk_t *jwk = NULL;
	cjose_header_t *hdr = NULL;
	json_t *claims = NULL, *x5c = NULL;
	char *payload = NULL, *b64 = NULL, *x5c_json = NULL, jti[33];
	const char *alg = NULL;
	size_t b64_len;
	int rc = -1;

	memset(&ce, 0, sizeof(ce));
	if (ttl < 1 || ttl > POP_MAX_TTL)
		return err_set(e, ERR_INVALID, "proof of possession lifetime must "
		    "be 1..%ds", POP_MAX_TTL);
	if ((jwk = key_jwk(key, 1, &alg, e)) == NULL)
		goto out;
	if (token_new_jti(jti, e) != 0)
		goto out;
	/* x5c is standard base64 (RFC 7515 4.1.6), not base64url. */
	if (!cjose_base64_encode(cert_der, cert_len, &b64, &b64_len, &ce) ||
	    (x5c = json_pack("[s#]", b64, (int)b64_len)) == NULL ||
	    (x5c_json = json_dumps(x5c, JSON_COMPACT)) == NULL) {
		err_set(e, ERR_INTERNAL, "proof of possession x5c: %s",
		    ce.message ? ce.message : "out of memory");
		goto out;
	}
	claims = json_pack("{s:s, s:I, s:I, s:s}", "aud", audience,
	    "iat", (json_int_t)now, "exp", (json_int_t)(now + ttl), "jti", jti);
	if (claims == NULL ||
	    (payload = json_dumps(claims, JSON_COMPACT)) == NULL) {
		err_set(e, ERR_INVALID, "proof of possession claims (audience "
		    "not UTF-8?)");
		goto out;
	}
	if ((hdr = cjose_header_new(&ce)) == NULL ||
	    !cjose_header_set(hdr, CJOSE_HDR_ALG, alg, &ce) ||
	    !cjose_header_set_raw(hdr, "x5c", x5c_json, &ce)) {
		err_set(e, ERR_INTERNAL, "proof of possession header: %s",
		    ce.message ? ce.message : "failed");
		goto out;
	}
	if (token_sign_compact(jwk, hdr, payload, "signing the proof of "
	    "possession", out, e) != 0)
		goto out;
	rc = 0;
out:
	free(payload);
	free(x5c_json);
	cjose_get_dealloc()(b64);
	json_decref(x5c);
	json_decref(claims);
	cjose_header_release(hdr);
	cjose_jwk_release(jwk);
	return rc;
}
