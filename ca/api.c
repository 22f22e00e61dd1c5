#include "ca/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/log.h"
#include "common/util.h"

struct api {
	struct ca *ca;
	struct db *db;
	const struct config *cfg;
	char audience[512];
	char *chain_pem;        /* the issuing CA certificate, PEM */
};

int api_new(struct ca *ca, struct db *d, const struct config *cfg,
    struct api **out, struct err *e)
{
	struct api *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	a->ca = ca;
	a->db = d;
	a->cfg = cfg;
	snprintf(a->audience, sizeof(a->audience), "%s/v1/sign", cfg->ca_url);
	if (x509_to_pem(ca_issuer_cert(ca), &a->chain_pem, e) != 0) {
		api_free(a);
		return -1;
	}
	*out = a;
	return 0;
}

void api_free(struct api *a)
{
	if (a == NULL)
		return;
	free(a->chain_pem);
	free(a);
}

int api_authorize(const struct csr *csr, const struct token_claims *tok,
    const struct policy *pol, const struct config *cfg,
    struct san_list *names, enum profile *profile, long long *lifetime,
    struct err *e)
{
	long long max;

	if (policy_check_key_type(pol, csr->key_type, e) != 0)
		return -1;
	/* Names: the CSR may ask for fewer than the token grants, never
	 * more; a CSR with no SANs gets the token's. */
	memset(names, 0, sizeof(*names));
	if (csr->sans.n == 0)
		*names = tok->sans;
	else
		for (int i = 0; i < csr->sans.n; i++) {
			if (!san_list_contains(&tok->sans, &csr->sans.v[i]))
				return err_set(e, ERR_POLICY, "CSR asks for %s name "
				    "\"%s\", which the token does not grant",
				    san_type_name(csr->sans.v[i].type),
				    csr->sans.v[i].value);
			names->v[names->n++] = csr->sans.v[i];
		}
	for (int i = 0; i < names->n; i++)
		if (policy_check_name(pol, &names->v[i], e) != 0)
			return -1;
	/* A CSR CN must be one of the names or the token's subject. */
	if (csr->cn[0] != '\0' && strcmp(csr->cn, tok->sub) != 0) {
		struct san s;
		struct err ignore;
		if (san_parse(csr->cn, &s, &ignore) != 0 ||
		    !san_list_contains(names, &s))
			return err_set(e, ERR_POLICY, "CSR subject CN \"%s\" is neither "
			    "the token's subject nor one of its names", csr->cn);
	}
	if (tok->profile[0] != '\0') {
		if (profile_parse(tok->profile, profile, e) != 0)
			return -1;
	} else {
		*profile = policy_default_profile(pol);
	}
	if (policy_check_profile(pol, *profile, e) != 0)
		return -1;
	*lifetime = tok->lifetime > 0 ? tok->lifetime :
	    policy_default_lifetime(pol, cfg->default_lifetime);
	max = policy_max_lifetime(pol, cfg->max_lifetime);
	if (*lifetime < 60 || *lifetime > max)
		return err_set(e, ERR_POLICY, "lifetime of %llds is outside what "
		    "this provisioner allows (60..%llds)", *lifetime, max);
	return 0;
}

void api_respond_cert(const struct api *a, X509 *x, const char *serial,
    const char *predecessor, struct http_response *resp)
{
	char *pem = NULL, *text = NULL, na[32];
	json_t *j;
	struct err e;

	if (x509_to_pem(x, &pem, &e) != 0) {
		http_problem(resp, &e);
		return;
	}
	util_rfc3339(x509_not_after(x), na, sizeof(na));
	j = json_pack("{s:s, s:[s], s:s, s:s, s:s*}", "certificate", pem,
	    "chain", a->chain_pem, "serial", serial, "not_after", na,
	    "predecessor", predecessor);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	free(pem);
	if (text == NULL) {
		err_set(&e, ERR_INTERNAL, "out of memory");
		http_problem(resp, &e);
		return;
	}
	http_respond_owned(resp, 201, "application/json", text, strlen(text));
	snprintf(resp->log_detail, sizeof(resp->log_detail), "serial=%s", serial);
}

void api_respond_problem(const struct http_request *req,
    struct http_response *resp, const struct err *e, const char *what)
{
	http_problem(resp, e);
	/* The caller's mistakes are answered, not warned about: only what
	 * the operator has to look at (database, HSM, bugs) is. */
	if (e->kind == ERR_UNAVAILABLE || e->kind == ERR_INTERNAL)
		log_warn("msg=\"%s failed\" id=%s error=\"%s\"", what,
		    req->request_id, e->msg);
	/* Appended to http_problem's "problem=...": the request's log line
	 * then says which rule refused it. */
	snprintf(resp->log_detail + strlen(resp->log_detail),
	    sizeof(resp->log_detail) - strlen(resp->log_detail),
	    " detail=\"%.160s\"", e->msg);
}

void api_sign(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	struct api *a = arg;
	struct err e = { 0 };
	json_t *body = NULL, *jcsr, *jtok;
	struct token *tok = NULL;
	struct token_claims claims;
	struct csr *csr = NULL;
	struct policy *pol = NULL;
	struct san_list names;
	struct ca_request cr;
	enum profile prof;
	long long lifetime;
	char *jwk = NULL, *poljson = NULL, serial[SERIAL_HEX_MAX];
	char requester[SAN_VALUE_MAX + 80];
	X509 *x = NULL;
	PGconn *c = NULL;
	time_t now = time(NULL);
	int counted = 0, verified = 0;

	switch (http_json_request(req, resp, (void **)&body, &e)) {
	case 1:
		goto out;
	case -1:
		goto fail;
	}
	jcsr = json_object_get(body, "csr");
	jtok = json_object_get(body, "token");
	if (!json_is_string(jtok)) {
		err_set(&e, ERR_AUTH, "\"token\" missing: a one-time token from "
		    "`signet token` is required");
		goto fail;
	}
	if (!json_is_string(jcsr)) {
		err_set(&e, ERR_INVALID, "\"csr\" missing or not a string (PEM)");
		goto fail;
	}
	if (token_parse(json_string_value(jtok), json_string_length(jtok), &tok,
	    &e) != 0)
		goto fail;
	if ((c = db_acquire(a->db, &e)) == NULL)
		goto fail;
	if (db_provisioner_get(c, token_kid(tok), &jwk, &poljson, &e) != 0) {
		if (e.kind == ERR_NOTFOUND)
			err_set(&e, ERR_AUTH, "token from unknown provisioner \"%s\" "
			    "(removed?)", token_kid(tok));
		goto fail;
	}
	db_release(a->db, c);
	c = NULL;
	if (token_verify(tok, jwk, a->audience, a->cfg->token_skew, now,
	    &claims, &e) != 0)
		goto fail;
	/* Only a verified token's provisioner may name a metric series:
	 * anything else would let strangers grow the label set. */
	verified = 1;
	if (policy_from_json(poljson, &pol, &e) != 0 ||
	    csr_parse_pem(json_string_value(jcsr), json_string_length(jcsr), &csr,
	    &e) != 0 ||
	    api_authorize(csr, &claims, pol, a->cfg, &names, &prof, &lifetime,
	    &e) != 0)
		goto fail;

	snprintf(requester, sizeof(requester), "provisioner:%.64s sub:%.200s",
	    claims.iss, claims.sub);
	memset(&cr, 0, sizeof(cr));
	cr.pubkey = csr->pubkey;
	cr.spki = X509_REQ_get_X509_PUBKEY(csr->req);
	cr.cn = claims.sub;
	cr.sans = &names;
	cr.profile = prof;
	cr.lifetime = lifetime;
	cr.provisioner = claims.iss;
	cr.requester = requester;
	cr.jti = claims.jti;
	cr.jti_expires = (time_t)claims.exp + a->cfg->token_skew;
	counted = 1;   /* ca_issue counts its own outcome */
	if (ca_issue(a->ca, &cr, &x, serial, &e) != 0)
		goto fail;
	api_respond_cert(a, x, serial, NULL, resp);
	goto out;
fail:
	if (!counted)
		ca_count(verified ? claims.iss : "unknown", "unknown",
		    err_type_slug(e.kind));
	api_respond_problem(req, resp, &e, "sign");
out:
	if (c != NULL)
		db_release(a->db, c);
	X509_free(x);
	policy_free(pol);
	csr_free(csr);
	token_free(tok);
	free(jwk);
	free(poljson);
	json_decref(body);
}
