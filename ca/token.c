#include "ca/token.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "common/util.h"

/* Imported provisioner keys, by their JSON text: importing a JWK builds an
 * EC key, which costs more than the signature check.  The text is the
 * key: a provisioner whose key changes simply misses.  cjose's reference
 * counts are not atomic, so retain and release happen under the lock. */
#define JWK_CACHE_SIZE 32
static struct {
	char *json;
	cjose_jwk_t *jwk;
} jwk_cache[JWK_CACHE_SIZE];
static unsigned jwk_cache_next;
static pthread_mutex_t jwk_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static cjose_jwk_t *jwk_get(const char *json, cjose_err *ce)
{
	cjose_jwk_t *jwk = NULL;
	char *copy;
	unsigned slot;

	pthread_mutex_lock(&jwk_cache_lock);
	for (unsigned i = 0; i < JWK_CACHE_SIZE; i++)
		if (jwk_cache[i].json != NULL && strcmp(jwk_cache[i].json, json) == 0) {
			jwk = jwk_cache[i].jwk;
			cjose_jwk_retain(jwk, ce);
			break;
		}
	pthread_mutex_unlock(&jwk_cache_lock);
	if (jwk != NULL)
		return jwk;
	if ((jwk = cjose_jwk_import(json, strlen(json), ce)) == NULL)
		return NULL;
	if ((copy = strdup(json)) == NULL)
		return jwk;
	pthread_mutex_lock(&jwk_cache_lock);
	slot = jwk_cache_next++ % JWK_CACHE_SIZE;
	free(jwk_cache[slot].json);
	if (jwk_cache[slot].jwk != NULL)
		cjose_jwk_release(jwk_cache[slot].jwk);
	jwk_cache[slot].json = copy;
	jwk_cache[slot].jwk = jwk;
	cjose_jwk_retain(jwk, ce);   /* one for the cache, one for the caller */
	pthread_mutex_unlock(&jwk_cache_lock);
	return jwk;
}

static void jwk_put(cjose_jwk_t *jwk)
{
	if (jwk == NULL)
		return;
	pthread_mutex_lock(&jwk_cache_lock);
	cjose_jwk_release(jwk);
	pthread_mutex_unlock(&jwk_cache_lock);
}

struct token {
	cjose_jws_t *jws;
	char kid[65];
};

void token_free(struct token *t)
{
	if (t == NULL)
		return;
	cjose_jws_release(t->jws);
	free(t);
}

const char *token_kid(const struct token *t)
{
	return t->kid;
}

int token_parse(const char *compact, size_t len, struct token **out,
    struct err *e)
{
	struct token *t;
	cjose_err ce;
	cjose_header_t *hdr;
	const char *kid;

	if (compact == NULL || len == 0)
		return err_set(e, ERR_AUTH, "token missing");
	if (len > TOKEN_MAX_LEN)
		return err_set(e, ERR_AUTH, "token of %zu bytes: at most %d", len,
		    TOKEN_MAX_LEN);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	t->jws = cjose_jws_import(compact, len, &ce);
	if (t->jws == NULL) {
		token_free(t);
		return err_set(e, ERR_AUTH, "token is not a compact JWS: %s",
		    ce.message ? ce.message : "parse error");
	}
	hdr = cjose_jws_get_protected(t->jws);
	kid = hdr ? cjose_header_get(hdr, CJOSE_HDR_KID, &ce) : NULL;
	if (kid == NULL || *kid == '\0' || strlen(kid) >= sizeof(t->kid)) {
		token_free(t);
		return err_set(e, ERR_AUTH,
		    "token header has no kid naming its provisioner");
	}
	strcpy(t->kid, kid);
	*out = t;
	return 0;
}

static int copy_str(json_t *obj, const char *key, char *out, size_t outlen,
    int required, struct err *e)
{
	json_t *v = json_object_get(obj, key);

	out[0] = '\0';
	if (v == NULL && !required)
		return 0;
	if (!json_is_string(v))
		return err_set(e, ERR_AUTH, "token claim %s missing or not a string",
		    key);
	if (json_string_length(v) >= outlen)
		return err_set(e, ERR_AUTH, "token claim %s too long", key);
	strcpy(out, json_string_value(v));
	return 0;
}

static int get_time(json_t *obj, const char *key, long long *out,
    int required, struct err *e)
{
	json_t *v = json_object_get(obj, key);

	*out = 0;
	if (v == NULL && !required)
		return 0;
	if (!json_is_integer(v))
		return err_set(e, ERR_AUTH, "token claim %s missing or not an "
		    "integer", key);
	*out = json_integer_value(v);
	return 0;
}

/* Claims from the payload, checked for shape only. */
static int read_claims(const uint8_t *payload, size_t len,
    struct token_claims *c, struct err *e)
{
	json_error_t je;
	json_t *root = json_loadb((const char *)payload, len, 0, &je), *v;
	struct san s;
	size_t i;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(root)) {
		err_set(e, ERR_AUTH, "token payload is not a JSON object");
		goto out;
	}
	if (copy_str(root, "iss", c->iss, sizeof(c->iss), 1, e) ||
	    copy_str(root, "sub", c->sub, sizeof(c->sub), 0, e) ||
	    copy_str(root, "jti", c->jti, sizeof(c->jti), 1, e) ||
	    copy_str(root, "profile", c->profile, sizeof(c->profile), 0, e) ||
	    get_time(root, "iat", &c->iat, 1, e) ||
	    get_time(root, "nbf", &c->nbf, 0, e) ||
	    get_time(root, "exp", &c->exp, 1, e) ||
	    get_time(root, "lifetime", &c->lifetime, 0, e))
		goto out;
	if (c->jti[0] == '\0') {
		err_set(e, ERR_AUTH, "token claim jti is empty");
		goto out;
	}
	v = json_object_get(root, "sans");
	if (!json_is_array(v) || json_array_size(v) == 0) {
		err_set(e, ERR_AUTH, "token claim sans missing or empty");
		goto out;
	}
	if (json_array_size(v) > SAN_MAX) {
		err_set(e, ERR_AUTH, "token grants more than %d names", SAN_MAX);
		goto out;
	}
	json_t *item;
	json_array_foreach(v, i, item) {
		if (!json_is_string(item) || json_string_length(item) >= SAN_VALUE_MAX) {
			err_set(e, ERR_AUTH, "token claim sans holds a non-string or "
			    "over-long name");
			goto out;
		}
		if (san_parse(json_string_value(item), &s, e) != 0) {
			err_prefix(e, "token claim sans: ");
			e->kind = ERR_AUTH;
			goto out;
		}
		if (san_list_add(&c->sans, &s, e) != 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int token_verify(struct token *t, const char *jwk_json, const char *audience,
    long skew, time_t now, struct token_claims *c, struct err *e)
{
	cjose_err ce;
	cjose_jwk_t *jwk = NULL;
	cjose_header_t *hdr = cjose_jws_get_protected(t->jws);
	const char *alg = hdr ? cjose_header_get(hdr, CJOSE_HDR_ALG, &ce) : NULL;
	uint8_t *payload = NULL;
	size_t plen = 0;
	json_error_t je;
	json_t *root = NULL, *aud;
	int rc = -1;

	/* Only the algorithm provisioner keys have: never "none", never an
	 * algorithm picked by the token. */
	if (alg == NULL || strcmp(alg, CJOSE_HDR_ALG_ES256) != 0) {
		err_set(e, ERR_AUTH, "token alg %.16s: only ES256 is accepted",
		    alg ? alg : "(none)");
		goto out;
	}
	if ((jwk = jwk_get(jwk_json, &ce)) == NULL) {
		err_set(e, ERR_INTERNAL, "provisioner key: %s", ce.message);
		goto out;
	}
	if (!cjose_jws_verify(t->jws, jwk, &ce)) {
		err_set(e, ERR_AUTH, "token signature does not verify with "
		    "provisioner \"%s\"'s key", t->kid);
		goto out;
	}
	if (!cjose_jws_get_plaintext(t->jws, &payload, &plen, &ce)) {
		err_set(e, ERR_AUTH, "token payload unreadable");
		goto out;
	}
	if (read_claims(payload, plen, c, e) != 0)
		goto out;
	if (strcmp(c->iss, t->kid) != 0) {
		err_set(e, ERR_AUTH, "token iss \"%s\" differs from its kid", c->iss);
		goto out;
	}
	/* aud: a string or an array holding the sign URL. */
	root = json_loadb((const char *)payload, plen, 0, &je);
	aud = json_object_get(root, "aud");
	{
		int found = 0;
		if (json_is_string(aud))
			found = strcmp(json_string_value(aud), audience) == 0;
		else if (json_is_array(aud)) {
			size_t i;
			json_t *a;
			json_array_foreach(aud, i, a)
				if (json_is_string(a) &&
				    strcmp(json_string_value(a), audience) == 0)
					found = 1;
		}
		if (!found) {
			err_set(e, ERR_AUTH, "token audience is not %s: the token was "
			    "made for another CA or endpoint", audience);
			goto out;
		}
	}
	if (c->exp + skew < (long long)now) {
		err_set(e, ERR_AUTH, "token expired %llds ago",
		    (long long)now - c->exp);
		goto out;
	}
	if ((c->nbf ? c->nbf : c->iat) - skew > (long long)now) {
		err_set(e, ERR_AUTH, "token not valid yet (nbf/iat in the future)");
		goto out;
	}
	if (c->exp <= c->iat || c->exp - c->iat > TOKEN_MAX_TTL) {
		err_set(e, ERR_AUTH, "token lifetime (exp - iat) must be 1..%ds",
		    TOKEN_MAX_TTL);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	jwk_put(jwk);
	return rc;
}

int token_new_key(const char *name, char **priv_json, char **pub_json,
    struct err *e)
{
	cjose_err ce;
	cjose_jwk_t *jwk = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &ce);
	int rc = -1;

	*priv_json = *pub_json = NULL;
	if (jwk == NULL)
		return err_set(e, ERR_INTERNAL, "key generation: %s", ce.message);
	if (!cjose_jwk_set_kid(jwk, name, strlen(name), &ce) ||
	    (*priv_json = cjose_jwk_to_json(jwk, true, &ce)) == NULL ||
	    (*pub_json = cjose_jwk_to_json(jwk, false, &ce)) == NULL) {
		free(*priv_json);
		*priv_json = NULL;
		err_set(e, ERR_INTERNAL, "key export: %s", ce.message);
		goto out;
	}
	rc = 0;
out:
	cjose_jwk_release(jwk);
	return rc;
}

int token_new_jti(char jti[33], struct err *e)
{
	unsigned char rnd[16];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return err_ossl(e, ERR_INTERNAL, "random jti");
	util_hex(rnd, sizeof(rnd), jti);
	return 0;
}

int token_sign_compact(cjose_jwk_t *jwk, cjose_header_t *hdr,
    const char *payload, const char *what, char **out, struct err *e)
{
	cjose_err ce;
	cjose_jws_t *jws;
	const char *ser;
	int rc = -1;

	memset(&ce, 0, sizeof(ce));
	jws = cjose_jws_sign(jwk, hdr, (const uint8_t *)payload, strlen(payload),
	    &ce);
	if (jws == NULL || !cjose_jws_export(jws, &ser, &ce)) {
		err_set(e, ERR_INTERNAL, "%s: %s", what,
		    ce.message ? ce.message : "failed");
		goto out;
	}
	if ((*out = strdup(ser)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	cjose_jws_release(jws);
	return rc;
}

int token_mint(const char *priv_jwk_json, const char *provisioner,
    const char *sub, const struct san_list *sans, const char *profile,
    long long lifetime, const char *audience, long ttl, time_t now,
    char **out, struct err *e)
{
	cjose_err ce;
	cjose_jwk_t *jwk = NULL;
	cjose_header_t *hdr = NULL;
	json_t *claims = NULL, *arr = NULL;
	char *payload = NULL, jti[33], name[SAN_VALUE_MAX + 8];
	int rc = -1;

	if (sans->n == 0)
		return err_set(e, ERR_INVALID, "a token needs at least one --san");
	if ((jwk = cjose_jwk_import(priv_jwk_json, strlen(priv_jwk_json), &ce)) == NULL) {
		err_set(e, ERR_CONFIG, "provisioner key file is not a JWK: %s",
		    ce.message);
		goto out;
	}
	if (token_new_jti(jti, e) != 0)
		goto out;
	arr = json_array();
	for (int i = 0; i < sans->n; i++) {
		snprintf(name, sizeof(name), "%s:%s", san_type_name(sans->v[i].type),
		    sans->v[i].value);
		json_array_append_new(arr, json_string(name));
	}
	claims = json_pack("{s:s, s:s, s:s, s:O, s:I, s:I, s:I, s:s}",
	    "iss", provisioner, "sub", sub ? sub : sans->v[0].value,
	    "aud", audience, "sans", arr, "iat", (json_int_t)now,
	    "nbf", (json_int_t)now, "exp", (json_int_t)(now + ttl), "jti", jti);
	if (claims == NULL) {
		err_set(e, ERR_INVALID, "token claims are not valid UTF-8");
		goto out;
	}
	if (profile != NULL)
		json_object_set_new(claims, "profile", json_string(profile));
	if (lifetime > 0)
		json_object_set_new(claims, "lifetime", json_integer(lifetime));
	payload = json_dumps(claims, JSON_COMPACT);
	if ((hdr = cjose_header_new(&ce)) == NULL ||
	    !cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, &ce) ||
	    !cjose_header_set(hdr, CJOSE_HDR_KID, provisioner, &ce) ||
	    !cjose_header_set(hdr, "typ", "JWT", &ce)) {
		err_set(e, ERR_INTERNAL, "token header: %s", ce.message);
		goto out;
	}
	if (token_sign_compact(jwk, hdr, payload, "signing token", out, e) != 0)
		goto out;
	rc = 0;
out:
	free(payload);
	json_decref(arr);
	json_decref(claims);
	cjose_header_release(hdr);
	cjose_jwk_release(jwk);
	return rc;
}

int token_peek_claims(const char *compact, size_t len,
    struct token_claims *out, struct err *e)
{
	struct token *t = NULL;
	cjose_err ce;
	uint8_t *payload;
	size_t plen;
	int rc = -1;

	if (token_parse(compact, len, &t, e) != 0)
		return -1;
	if (!cjose_jws_get_plaintext(t->jws, &payload, &plen, &ce)) {
		err_set(e, ERR_INVALID, "token payload unreadable");
		goto out;
	}
	rc = read_claims(payload, plen, out, e);
out:
	token_free(t);
	return rc;
}
