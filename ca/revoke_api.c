#include "ca/revoke_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/x509.h>

#include "ca/crl.h"
#include "ca/policy.h"
#include "ca/token.h"
#include "common/log.h"

struct revoke_api {
	struct db *db;
	const struct config *cfg;
	char audience[512];
};

int revoke_api_new(struct db *d, const struct config *cfg,
    struct revoke_api **out, struct err *e)
{
	struct revoke_api *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	a->db = d;
	a->cfg = cfg;
	snprintf(a->audience, sizeof(a->audience), "%s/v1/revoke", cfg->ca_url);
	*out = a;
	return 0;
}

void revoke_api_free(struct revoke_api *a)
{
	free(a);
}

/* cjose's header type is jansson's json_t (cjose/header.h). */
static json_t *jws_header(cjose_jws_t *jws)
{
	return (json_t *)cjose_jws_get_protected(jws);
}

int revoke_is_pop(const char *jws, size_t len)
{
	cjose_err ce;
	cjose_jws_t *j;
	int pop;

	if (jws == NULL || len == 0 || len > REVOKE_TOKEN_MAX_LEN)
		return 0;
	if ((j = cjose_jws_import(jws, len, &ce)) == NULL)
		return 0;
	pop = json_object_get(jws_header(j), "x5c") != NULL;
	cjose_jws_release(j);
	return pop;
}

/* The certificate's public key as a cjose JWK, from the key's own
 * parameters (no JOSE encoding by hand), if alg (from the JWS header)
 * fits the key: the header must not pick an algorithm the key was not
 * made for.  NULL (e set) otherwise. */
static cjose_jwk_t *cert_jwk(EVP_PKEY *pkey, const char *alg, struct err *e)
{
	cjose_err ce;
	cjose_jwk_t *jwk = NULL;
	BIGNUM *a = NULL, *b = NULL;
	unsigned char *ab = NULL, *bb = NULL;
	size_t alen, blen;
	int id = EVP_PKEY_get_base_id(pkey);

	if (id == EVP_PKEY_EC) {
		char group[64];
		cjose_jwk_ec_keyspec spec;
		const char *want;
		int bits = EVP_PKEY_get_bits(pkey);

		memset(&spec, 0, sizeof(spec));
		if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
		    group, sizeof(group), NULL) != 1) {
			err_ossl(e, ERR_AUTH, "certificate key: no curve");
			goto out;
		}
		if (strcmp(group, "prime256v1") == 0) {
			spec.crv = CJOSE_JWK_EC_P_256;
			want = "ES256";
		} else if (strcmp(group, "secp384r1") == 0) {
			spec.crv = CJOSE_JWK_EC_P_384;
			want = "ES384";
		} else if (strcmp(group, "secp521r1") == 0) {
			spec.crv = CJOSE_JWK_EC_P_521;
			want = "ES512";
		} else {
			err_set(e, ERR_AUTH, "certificate key curve %s is not usable "
			    "for a proof of possession", group);
			goto out;
		}
		if (strcmp(alg, want) != 0) {
			err_set(e, ERR_AUTH, "proof of possession alg %.16s does not fit "
			    "the certificate's key: want %s", alg, want);
			goto out;
		}
		alen = blen = (size_t)(bits + 7) / 8;
		if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &a) != 1 ||
		    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &b) != 1 ||
		    (ab = malloc(alen)) == NULL || (bb = malloc(blen)) == NULL ||
		    BN_bn2binpad(a, ab, (int)alen) < 0 ||
		    BN_bn2binpad(b, bb, (int)blen) < 0) {
			err_ossl(e, ERR_INTERNAL, "certificate key coordinates");
			goto out;
		}
		spec.x = ab;
		spec.xlen = alen;
		spec.y = bb;
		spec.ylen = blen;
		jwk = cjose_jwk_create_EC_spec(&spec, &ce);
	} else if (id == EVP_PKEY_RSA) {
		cjose_jwk_rsa_keyspec spec;

		memset(&spec, 0, sizeof(spec));
		if (strcmp(alg, "RS256") && strcmp(alg, "RS384") &&
		    strcmp(alg, "RS512") && strcmp(alg, "PS256") &&
		    strcmp(alg, "PS384") && strcmp(alg, "PS512")) {
			err_set(e, ERR_AUTH, "proof of possession alg %.16s does not fit "
			    "an RSA key: want RS256/384/512 or PS256/384/512", alg);
			goto out;
		}
		if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &a) != 1 ||
		    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &b) != 1) {
			err_ossl(e, ERR_INTERNAL, "certificate RSA key");
			goto out;
		}
		alen = (size_t)BN_num_bytes(a);
		blen = (size_t)BN_num_bytes(b);
		if ((ab = malloc(alen ? alen : 1)) == NULL ||
		    (bb = malloc(blen ? blen : 1)) == NULL) {
			err_set(e, ERR_INTERNAL, "out of memory");
			goto out;
		}
		BN_bn2bin(a, ab);
		BN_bn2bin(b, bb);
		spec.n = ab;
		spec.nlen = alen;
		spec.e = bb;
		spec.elen = blen;
		jwk = cjose_jwk_create_RSA_spec(&spec, &ce);
	} else {
		err_set(e, ERR_AUTH, "the certificate's key type cannot sign a JWS "
		    "that signet can check (cjose has no EdDSA): revoke with a "
		    "provisioner token or `signet revoke`");
		goto out;
	}
	if (jwk == NULL)
		err_set(e, ERR_INTERNAL, "certificate key as JWK: %s",
		    ce.message ? ce.message : "failed");
out:
	BN_free(a);
	BN_free(b);
	free(ab);
	free(bb);
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

int revoke_pop_verify(const char *jws, size_t len,
    const unsigned char *cert_der, size_t cert_len, const char *audience,
    long skew, time_t now, char jti[129], long long *exp, struct err *e)
{
	cjose_err ce;
	cjose_jws_t *j = NULL;
	cjose_jwk_t *jwk = NULL;
	json_t *hdr, *x5c, *claims = NULL, *v;
	const char *alg, *b64;
	uint8_t *der = NULL, *payload = NULL;
	size_t der_len = 0, plen = 0;
	const unsigned char *p;
	X509 *x = NULL;
	json_error_t je;
	long long iat;
	int rc = -1;

	if (jws == NULL || len == 0 || len > REVOKE_TOKEN_MAX_LEN)
		return err_set(e, ERR_AUTH, "proof of possession missing or longer "
		    "than %d bytes", REVOKE_TOKEN_MAX_LEN);
	if ((j = cjose_jws_import(jws, len, &ce)) == NULL)
		return err_set(e, ERR_AUTH, "proof of possession is not a compact "
		    "JWS: %s", ce.message ? ce.message : "parse error");
	hdr = jws_header(j);
	alg = json_string_value(json_object_get(hdr, "alg"));
	x5c = json_object_get(hdr, "x5c");
	if (alg == NULL) {
		err_set(e, ERR_AUTH, "proof of possession header has no alg");
		goto out;
	}
	/* x5c (RFC 7515 4.1.6): standard base64 DER, the signer's first. */
	if (!json_is_array(x5c) || json_array_size(x5c) < 1 ||
	    (b64 = json_string_value(json_array_get(x5c, 0))) == NULL ||
	    strlen(b64) > REVOKE_TOKEN_MAX_LEN ||
	    !cjose_base64_decode(b64, strlen(b64), &der, &der_len, &ce)) {
		err_set(e, ERR_AUTH, "proof of possession header x5c must hold the "
		    "certificate (base64 DER)");
		goto out;
	}
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
	if ((jwk = cert_jwk(X509_get0_pubkey(x), alg, e)) == NULL)
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
	if (*exp <= iat || *exp - iat > REVOKE_POP_MAX_TTL) {
		err_set(e, ERR_AUTH, "proof of possession lifetime (exp - iat) must "
		    "be 1..%ds", REVOKE_POP_MAX_TTL);
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

/* A provisioner token: verified first (401), then the policy (403). */
static int auth_token(struct revoke_api *a, const char *tok, size_t len,
    struct db_revoke *rv, char *owner, size_t ownerlen, char *jti,
    struct err *e)
{
	struct token *t = NULL;
	struct token_claims claims;
	struct policy *pol = NULL;
	char *jwk = NULL, *poljson = NULL;
	PGconn *c = NULL;
	int rc = -1;

	if (token_parse(tok, len, &t, e) != 0)
		goto out;
	if ((c = db_acquire(a->db, e)) == NULL)
		goto out;
	if (db_provisioner_get(c, token_kid(t), &jwk, &poljson, e) != 0) {
		if (e->kind == ERR_NOTFOUND)
			err_set(e, ERR_AUTH, "token from unknown provisioner \"%s\" "
			    "(removed?)", token_kid(t));
		goto out;
	}
	db_release(a->db, c);
	c = NULL;
	if (token_verify(t, jwk, a->audience, a->cfg->token_skew, time(NULL),
	    &claims, e) != 0 || policy_from_json(poljson, &pol, e) != 0)
		goto out;
	if (!pol->may_revoke) {
		err_set(e, ERR_POLICY, "provisioner \"%s\" may not revoke: its "
		    "policy lacks may_revoke (signet provisioner add --may-revoke)",
		    claims.iss);
		goto out;
	}
	snprintf(owner, ownerlen, "%s", claims.iss);
	snprintf(jti, 129, "%s", claims.jti);
	rv->only_provisioner = owner;
	rv->jti_owner = owner;
	rv->jti = jti;
	rv->jti_expires = (time_t)(claims.exp + a->cfg->token_skew);
	rv->via = "token";
	rc = 0;
out:
	if (c != NULL)
		db_release(a->db, c);
	policy_free(pol);
	free(jwk);
	free(poljson);
	token_free(t);
	return rc;
}

static int auth_pop(struct revoke_api *a, const char *tok, size_t len,
    struct db_revoke *rv, char *owner, size_t ownerlen, char *jti,
    struct err *e)
{
	unsigned char *der = NULL;
	size_t der_len = 0;
	long long exp = 0;
	PGconn *c;
	int rc = -1;

	if ((c = db_acquire(a->db, e)) == NULL)
		return -1;
	rc = db_cert_der(c, rv->serial, &der, &der_len, e);
	db_release(a->db, c);
	if (rc != 0)
		return -1;
	rc = revoke_pop_verify(tok, len, der, der_len, a->audience,
	    a->cfg->token_skew, time(NULL), jti, &exp, e);
	free(der);
	if (rc != 0)
		return -1;
	/* Its own jti namespace per certificate: a proof is good once. */
	snprintf(owner, ownerlen, "pop:%s", rv->serial);
	rv->jti_owner = owner;
	rv->jti = jti;
	rv->jti_expires = (time_t)(exp + a->cfg->token_skew);
	rv->via = "pop";
	return 0;
}

void revoke_api_handle(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	struct revoke_api *a = arg;
	struct err e = { 0 };
	json_t *body = NULL, *js, *jr, *jt, *ans = NULL;
	struct db_revoke rv;
	struct db_revoke_result res;
	char serial[SERIAL_HEX_MAX], owner[128], jti[129], actor[160];
	char *text = NULL;
	const char *tok;
	size_t toklen;
	int reason = CRL_REASON_UNSPECIFIED, status;
	PGconn *c = NULL;

	memset(&rv, 0, sizeof(rv));
	if (http_json_body(req, (void **)&body, &status, &e) != 0) {
		if (status != 415)
			goto fail;
		http_problem(resp, &e);
		resp->status = 415;
		goto out;
	}
	js = json_object_get(body, "serial");
	jr = json_object_get(body, "reason");
	jt = json_object_get(body, "token");
	if (!json_is_string(js) ||
	    crl_serial_normalize(json_string_value(js), serial, &e) != 0) {
		if (e.kind == ERR_NONE)
			err_set(&e, ERR_INVALID, "\"serial\" missing or not a string "
			    "(hex)");
		goto fail;
	}
	if (jr != NULL && (!json_is_string(jr) ||
	    crl_reason_parse(json_string_value(jr), &reason, &e) != 0)) {
		if (e.kind == ERR_NONE)
			err_set(&e, ERR_INVALID, "\"reason\" must be a string");
		goto fail;
	}
	if (!json_is_string(jt)) {
		err_set(&e, ERR_AUTH, "\"token\" missing: a provisioner token with "
		    "may_revoke or a proof of possession signed by the "
		    "certificate's key is required");
		goto fail;
	}
	tok = json_string_value(jt);
	toklen = json_string_length(jt);
	rv.serial = serial;
	rv.reason = reason;
	if ((revoke_is_pop(tok, toklen) ?
	    auth_pop(a, tok, toklen, &rv, owner, sizeof(owner), jti, &e) :
	    auth_token(a, tok, toklen, &rv, owner, sizeof(owner), jti, &e)) != 0)
		goto fail;
	snprintf(actor, sizeof(actor), "%s%s", rv.only_provisioner ?
	    "provisioner:" : "", owner);
	rv.actor = actor;
	if ((c = db_acquire(a->db, &e)) == NULL ||
	    db_cert_revoke(c, &rv, &res, &e) != 0)
		goto fail;
	ans = json_pack("{s:s, s:s, s:s, s:s, s:b}", "serial", serial,
	    "status", "revoked", "revoked_at", res.revoked_at,
	    "reason", crl_reason_name(res.reason), "already", res.already);
	if (ans == NULL || (text = json_dumps(ans, JSON_COMPACT)) == NULL) {
		err_set(&e, ERR_INTERNAL, "out of memory");
		goto fail;
	}
	http_respond_owned(resp, 200, "application/json", text, strlen(text));
	snprintf(resp->log_detail, sizeof(resp->log_detail),
	    "serial=%s reason=%s via=%s%s", serial, crl_reason_name(reason),
	    rv.via, res.already ? " already=1" : "");
	goto out;
fail:
	http_problem(resp, &e);
	if (e.kind == ERR_UNAVAILABLE || e.kind == ERR_INTERNAL)
		log_warn("msg=\"revoke failed\" id=%s error=\"%s\"", req->request_id,
		    e.msg);
	snprintf(resp->log_detail, sizeof(resp->log_detail), "detail=\"%.160s\"",
	    e.msg);
out:
	if (c != NULL)
		db_release(a->db, c);
	json_decref(ans);
	json_decref(body);
}
