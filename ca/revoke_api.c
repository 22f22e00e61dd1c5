#include "ca/revoke_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ca/api.h"
#include "ca/crl.h"
#include "ca/pop.h"
#include "ca/policy.h"
#include "ca/token.h"

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
	rc = pop_verify(tok, len, der, der_len, a->audience,
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
	int reason = CRL_REASON_UNSPECIFIED;
	PGconn *c = NULL;

	memset(&rv, 0, sizeof(rv));
	switch (http_json_request(req, resp, (void **)&body, &e)) {
	case 1:
		goto out;
	case -1:
		goto fail;
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
	if ((pop_present(tok, toklen) ?
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
	api_respond_problem(req, resp, &e, "revoke");
out:
	if (c != NULL)
		db_release(a->db, c);
	json_decref(ans);
	json_decref(body);
}
