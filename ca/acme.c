/* acme: the ACME server's (RFC 8555) routing, request verification,
 * nonces, directory and the ways to answer (ca/acme_call.h). */
#include "ca/acme.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ca/acme_call.h"
#include "ca/acme_validator.h"
#include "common/log.h"
#include "db/acme_db.h"

#define ERR_PREFIX "urn:ietf:params:acme:error:"

int acme_api_new(struct db *d, const struct config *cfg, struct ca *ca,
    struct acme_api **out, struct err *e)
{
	struct acme_api *a = calloc(1, sizeof(*a));
	size_t n = strlen(cfg->ca_url);

	if (a == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	a->db = d;
	a->cfg = cfg;
	a->ca = ca;
	if (ca != NULL && x509_to_pem(ca_issuer_cert(ca), &a->chain_pem, e) != 0) {
		free(a);
		return -1;
	}
	while (n > 0 && cfg->ca_url[n - 1] == '/')
		n--;
	if (n > ACME_MAX_BASE) {
		log_warn("msg=\"ACME is off: ca_url is longer than %d bytes\"",
		    ACME_MAX_BASE);
	} else {
		memcpy(a->base, cfg->ca_url, n);
		a->base[n] = '\0';
		a->enabled = 1;
	}
	*out = a;
	return 0;
}

void acme_api_set_validator(struct acme_api *a, struct acme_validator *v)
{
	a->validator = v;
}

void acme_api_free(struct acme_api *a)
{
	if (a == NULL)
		return;
	free(a->chain_pem);
	free(a);
}

int acme_nonce_purge(struct acme_api *a, long *n, struct err *e)
{
	PGconn *c = db_acquire(a->db, e);
	int rc;

	if (c == NULL)
		return -1;
	rc = db_acme_nonce_purge(c, n, e);
	db_release(a->db, c);
	return rc;
}

/* ---- answering ---- */

int acme_add_header(struct acme_call *k, const char *name, const char *value)
{
	size_t used = strlen(k->resp->extra_headers);

	if (used + strlen(name) + strlen(value) + 3 >=
	    sizeof(k->resp->extra_headers))
		return -1;
	http_add_header(k->resp, name, value);
	return 0;
}

void acme_reply_json(struct acme_call *k, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (text == NULL) {
		http_respond(k->resp, 500, "text/plain", "internal error\n", 15);
		return;
	}
	http_respond_owned(k->resp, status, "application/json", text,
	    strlen(text));
}

void acme_problem(struct acme_call *k, int status, const char *type,
    const char *detail)
{
	acme_problem_sub(k, status, type, detail, NULL);
}

json_t *acme_subproblem(const char *type, const char *detail,
    const char *ident_type, const char *ident_value)
{
	char urn[96];

	snprintf(urn, sizeof(urn), ERR_PREFIX "%s", type);
	return json_pack("{s:s, s:s, s:{s:s, s:s}}", "type", urn, "detail",
	    detail, "identifier", "type", ident_type, "value", ident_value);
}

void acme_problem_sub(struct acme_call *k, int status, const char *type,
    const char *detail, json_t *subproblems)
{
	char urn[96], *text;
	json_t *j, *algs;

	snprintf(urn, sizeof(urn), ERR_PREFIX "%s", type);
	j = json_pack("{s:s, s:s, s:i}", "type", urn, "detail", detail,
	    "status", status);
	if (subproblems != NULL && j != NULL)
		json_object_set(j, "subproblems", subproblems);
	json_decref(subproblems);
	/* badSignatureAlgorithm lists the accepted algorithms (6.7.1). */
	if (j != NULL && strcmp(type, "badSignatureAlgorithm") == 0 &&
	    (algs = json_array()) != NULL) {
		for (int i = 0; acme_jws_algs[i] != NULL; i++)
			json_array_append_new(algs, json_string(acme_jws_algs[i]));
		json_object_set_new(j, "algorithms", algs);
	}
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text == NULL)
		http_respond(k->resp, 500, "text/plain", "internal error\n", 15);
	else
		http_respond_owned(k->resp, status, "application/problem+json",
		    text, strlen(text));
	snprintf(k->resp->log_detail, sizeof(k->resp->log_detail),
	    "acme_problem=%s detail=\"%.160s\"", type, detail);
}

void acme_problem_internal(struct acme_call *k, const struct err *e)
{
	log_warn("msg=\"acme request failed\" id=%s error=\"%s\"",
	    k->req->request_id, e->msg);
	acme_problem(k, e->kind == ERR_UNAVAILABLE ? 503 : 500, "serverInternal",
	    e->kind == ERR_UNAVAILABLE ? "the database or the HSM is "
	    "unavailable" : "internal error");
}

void acme_problem_err(struct acme_call *k, int status, const char *type,
    const struct err *e)
{
	if (e->kind == ERR_INTERNAL || e->kind == ERR_UNAVAILABLE)
		acme_problem_internal(k, e);
	else
		acme_problem(k, status, type, e->msg);
}

void acme_url(const struct acme_call *k, char *out, size_t n,
    const char *fmt, ...)
{
	int m = snprintf(out, n, "%s/acme/%s/", k->a->base, k->prov);
	va_list ap;

	if (m < 0 || (size_t)m >= n)
		return;
	va_start(ap, fmt);
	vsnprintf(out + m, n - (size_t)m, fmt, ap);
	va_end(ap);
}

void acme_retry_after(struct acme_call *k, long seconds)
{
	char v[24];

	snprintf(v, sizeof(v), "%ld", seconds < 1 ? 1 : seconds);
	acme_add_header(k, "Retry-After", v);
}

long long acme_parse_id(const char *s)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n > 18 || s[n] != '\0' || s[0] == '0')
		return -1;
	return strtoll(s, NULL, 10);
}

int acme_random_token(char out[48], struct err *e)
{
	unsigned char raw[32];

	return acme_random_b64(raw, sizeof(raw), out, 48, e);
}

/* ---- nonces, directory ---- */

/* A fresh nonce: 16 random bytes, base64url (RFC 8555 6.5.1), recorded. */
static int new_nonce(struct acme_call *k, char out[32], struct err *e)
{
	unsigned char raw[16];

	if (acme_random_b64(raw, sizeof(raw), out, 32, e) != 0)
		return -1;
	return db_acme_nonce_add(k->c, out, ACME_NONCE_TTL, e);
}

/* Every ACME response carries a fresh Replay-Nonce (RFC 8555 6.5) and
 * the directory's Link rel="index" (7.1); a response that cannot get a
 * nonce becomes a serverInternal problem. */
static void finish(struct acme_call *k)
{
	char nonce[32], link[sizeof(k->dir_url) + 20];
	struct err e;

	if (k->c == NULL)
		return;
	if (k->cacheable)
		return;
	if (new_nonce(k, nonce, &e) != 0) {
		k->resp->extra_headers[0] = '\0';
		acme_problem_internal(k, &e);
		return;
	}
	if (acme_add_header(k, "Replay-Nonce", nonce) != 0) {
		k->resp->extra_headers[0] = '\0';
		acme_add_header(k, "Replay-Nonce", nonce);
	}
	acme_add_header(k, "Cache-Control", "no-store");
	if (strcmp(k->rest, "directory") == 0)
		return;
	snprintf(link, sizeof(link), "<%s>;rel=\"index\"", k->dir_url);
	acme_add_header(k, "Link", link);
}

static void directory(struct acme_call *k)
{
	char u[6][ACME_URL_MAX];
	static const char *const names[6] = { "new-nonce", "new-account",
	    "new-order", "revoke-cert", "key-change", "renewal-info" };

	for (int i = 0; i < 6; i++)
		acme_url(k, u[i], sizeof(u[i]), "%s", names[i]);
	acme_reply_json(k, 200, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, "
	    "s:{s:b}}", "newNonce", u[0], "newAccount", u[1], "newOrder", u[2],
	    "revokeCert", u[3], "keyChange", u[4], "renewalInfo", u[5],
	    "meta", "externalAccountRequired", k->pol->acme_eab));
}

/* ---- verified POSTs ---- */

enum endpoint {
	EP_NONE, EP_NEW_ACCOUNT, EP_ACCOUNT, EP_ORDERS, EP_NEW_ORDER, EP_ORDER,
	EP_FINALIZE, EP_AUTHZ, EP_CHALL, EP_CERT, EP_REVOKE, EP_KEY_CHANGE
};

/* Which resource a POST path names; ids into *id (and *page). */
static enum endpoint route(const char *rest, long long *id, long *page,
    const char **serial)
{
	const char *slash;
	char num[24];
	size_t n;

	*id = -1;
	*page = 0;
	if (strcmp(rest, "new-account") == 0)
		return EP_NEW_ACCOUNT;
	if (strcmp(rest, "new-order") == 0)
		return EP_NEW_ORDER;
	if (strcmp(rest, "revoke-cert") == 0)
		return EP_REVOKE;
	if (strcmp(rest, "key-change") == 0)
		return EP_KEY_CHANGE;
	if (strncmp(rest, "cert/", 5) == 0) {
		n = strlen(rest + 5);
		if (n == 0 || n > 40 || strspn(rest + 5, "0123456789abcdef") != n)
			return EP_NONE;
		*serial = rest + 5;
		return EP_CERT;
	}
	if (strncmp(rest, "authz/", 6) == 0)
		return (*id = acme_parse_id(rest + 6)) > 0 ? EP_AUTHZ : EP_NONE;
	if (strncmp(rest, "chall/", 6) == 0)
		return (*id = acme_parse_id(rest + 6)) > 0 ? EP_CHALL : EP_NONE;
	if (strncmp(rest, "order/", 6) == 0 || strncmp(rest, "acct/", 5) == 0) {
		int acct = rest[0] == 'a';
		const char *p = rest + (acct ? 5 : 6);

		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || n >= sizeof(num))
			return EP_NONE;
		memcpy(num, p, n);
		num[n] = '\0';
		if ((*id = acme_parse_id(num)) < 0)
			return EP_NONE;
		if (slash == NULL)
			return acct ? EP_ACCOUNT : EP_ORDER;
		if (!acct)
			return strcmp(slash, "/finalize") == 0 ? EP_FINALIZE : EP_NONE;
		if (strcmp(slash, "/orders") == 0)
			return EP_ORDERS;
		if (strncmp(slash, "/orders/", 8) == 0) {
			long long pg = acme_parse_id(slash + 8);
			if (pg < 0 || pg > 1000000)
				return EP_NONE;
			*page = (long)pg;
			return EP_ORDERS;
		}
	}
	return EP_NONE;
}

/* The kid's account, verified to be of this directory and valid, into
 * k->acct; its stored key into *key.  A problem is answered on -1. */
static int kid_account(struct acme_call *k, const char *kid, json_t **key)
{
	char prefix[ACME_URL_MAX];
	long long id = -1;
	json_error_t je;
	struct err e;
	size_t n;

	acme_url(k, prefix, sizeof(prefix), "acct/");
	n = strlen(prefix);
	if (strncmp(kid, prefix, n) != 0 || (id = acme_parse_id(kid + n)) < 0 ||
	    db_acme_account_get(k->c, k->prov, id, &k->acct, &e) != 0) {
		if (id > 0 && e.kind != ERR_NOTFOUND)
			acme_problem_internal(k, &e);
		else
			acme_problem(k, 400, "accountDoesNotExist", "the JWS kid is "
			    "not an account of this directory");
		return -1;
	}
	if (strcmp(k->acct.status, "valid") != 0) {
		acme_problem(k, 401, "unauthorized", "RFC 8555 7.3.6: the account "
		    "is deactivated");
		return -1;
	}
	if ((*key = json_loads(k->acct.jwk_json, 0, &je)) == NULL) {
		acme_problem(k, 500, "serverInternal", "stored account key");
		return -1;
	}
	return 0;
}

/* A POST to resource ep (route()'s answer, with its id, page, serial). */
static void post(struct acme_call *k, enum endpoint ep, long long id,
    long page, const char *serial)
{
	const char *ct = k->req->content_type, *atype, *kid, *p;
	char url[ACME_URL_MAX + 64], detail[ACME_URL_MAX + 128];
	struct acme_jws *jws = NULL;
	json_t *payload = NULL, *stored = NULL;
	const json_t *key;
	size_t plen;
	json_error_t je;
	struct err e;
	int ok;

	if (!http_content_type_is(ct, "application/jose+json")) {
		acme_problem(k, 415, "malformed", "RFC 8555 6.2: Content-Type must "
		    "be application/jose+json");
		goto out;
	}
	if (acme_jws_parse(k->req->body, k->req->body_len, &jws, &atype,
	    &e) != 0) {
		acme_problem_err(k, 400, atype, &e);
		goto out;
	}
	k->jws = jws;
	/* RFC 8555 6.4: the url header is the request's URL. */
	snprintf(url, sizeof(url), "%s%s", k->a->base, k->req->path);
	if (strcmp(acme_jws_url(jws), url) != 0) {
		snprintf(detail, sizeof(detail), "RFC 8555 6.4: the JWS url header "
		    "must be %s", url);
		acme_problem(k, 401, "unauthorized", detail);
		goto out;
	}
	/* RFC 8555 6.2: jwk for newAccount, kid for the rest but revokeCert,
	 * which the certificate's own key may sign (7.6). */
	kid = acme_jws_kid(jws);
	if (ep == EP_NEW_ACCOUNT && kid != NULL) {
		acme_problem(k, 400, "malformed", "RFC 8555 6.2: newAccount is "
		    "signed with a jwk, not a kid");
		goto out;
	}
	if (ep != EP_NEW_ACCOUNT && ep != EP_REVOKE && kid == NULL) {
		acme_problem(k, 400, "malformed", "RFC 8555 6.2: this request is "
		    "signed with the account's kid, not a jwk");
		goto out;
	}
	key = acme_jws_jwk(jws);
	if (kid != NULL) {
		if (kid_account(k, kid, &stored) != 0)
			goto out;
		key = stored;
	}
	if (acme_jws_verify(jws, key, &atype, &e) != 0) {
		acme_problem_err(k, 400, atype, &e);
		goto out;
	}
	/* RFC 8555 6.5: the nonce last, so that a request refused for
	 * another reason does not spend it. */
	p = acme_jws_nonce(jws);
	ok = 0;
	if (strlen(p) <= 64 && db_acme_nonce_consume(k->c, p, &ok, &e) != 0) {
		acme_problem_internal(k, &e);
		goto out;
	}
	if (!ok) {
		acme_problem(k, 400, "badNonce", "RFC 8555 6.5: the nonce is "
		    "unknown, expired or used; retry with the Replay-Nonce of this "
		    "response");
		goto out;
	}
	p = acme_jws_payload(jws, &plen);
	if (plen > 0) {
		payload = json_loadb(p, plen, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(payload)) {
			acme_problem(k, 400, "malformed", "the JWS payload must be a "
			    "JSON object (or empty, for POST-as-GET)");
			goto out;
		}
	}
	switch (ep) {
	case EP_NEW_ACCOUNT: acme_new_account(k, payload); break;
	case EP_ACCOUNT: acme_account(k, id, payload); break;
	case EP_ORDERS: acme_orders_list(k, id, page, payload); break;
	case EP_NEW_ORDER: acme_new_order(k, payload); break;
	case EP_ORDER: acme_order(k, id, payload); break;
	case EP_FINALIZE: acme_finalize(k, id, payload); break;
	case EP_AUTHZ: acme_authz(k, id, payload); break;
	case EP_CHALL: acme_challenge(k, id, payload); break;
	case EP_CERT: acme_certificate(k, serial, payload); break;
	case EP_REVOKE: acme_revoke_cert(k, payload); break;
	case EP_KEY_CHANGE: acme_key_change(k, payload); break;
	case EP_NONE: break;
	}
out:
	k->jws = NULL;
	json_decref(payload);
	json_decref(stored);
	acme_jws_free(jws);
}

/* The resources fetched with GET (and HEAD): the rest take POST. */
static int get_resource(const char *rest)
{
	return strcmp(rest, "directory") == 0 || strcmp(rest, "new-nonce") == 0 ||
	    strncmp(rest, "renewal-info/", 13) == 0;
}

/* 405 with Allow (RFC 9110 15.5.6). */
static void method_not_allowed(struct acme_call *k, const char *allow)
{
	char detail[96];

	snprintf(detail, sizeof(detail), "this ACME resource takes %s%s", allow,
	    strcmp(allow, "POST") == 0 ? " (POST-as-GET to read it, RFC 8555 "
	    "6.3)" : "");
	acme_problem(k, 405, "malformed", detail);
	acme_add_header(k, "Allow", allow);
}

void acme_api_handle(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	struct acme_call k;
	const char *serial = NULL;
	enum endpoint ep;
	long long id;
	long page;
	const char *p = req->path + strlen("/acme/"), *slash;
	char *jwk = NULL, *policy = NULL;
	struct err e;
	size_t n;

	memset(&k, 0, sizeof(k));
	k.a = arg;
	k.req = req;
	k.resp = resp;
	k.rest = "";
	if (strncmp(req->path, "/acme/", 6) != 0 || !k.a->enabled) {
		acme_problem(&k, 404, "malformed", "no ACME directory here");
		return;
	}
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	/* The provisioner name's own rule (migration 001). */
	if (slash == NULL || n == 0 || n > ACME_MAX_PROV ||
	    strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") < n || p[0] == '.' || p[0] == '_' || p[0] == '-') {
		acme_problem(&k, 404, "malformed", "no such ACME directory");
		return;
	}
	memcpy(k.prov, p, n);
	k.prov[n] = '\0';
	k.rest = slash + 1;
	acme_url(&k, k.dir_url, sizeof(k.dir_url), "directory");
	if ((k.c = db_acquire(k.a->db, &e)) == NULL) {
		acme_problem_internal(&k, &e);
		return;
	}
	if (db_provisioner_get(k.c, k.prov, &jwk, &policy, &e) != 0 ||
	    policy_from_json(policy, &k.pol, &e) != 0) {
		if (e.kind == ERR_NOTFOUND)
			acme_problem(&k, 404, "malformed", "no such ACME directory: "
			    "unknown provisioner");
		else
			acme_problem_internal(&k, &e);
	} else if (!k.pol->acme) {
		acme_problem(&k, 404, "malformed", "no such ACME directory: this "
		    "provisioner does not speak ACME (signet provisioner add "
		    "--acme)");
	} else if (get_resource(k.rest)) {
		if (strcmp(req->method, "GET") != 0 &&
		    strcmp(req->method, "HEAD") != 0)
			method_not_allowed(&k, "GET, HEAD");
		else if (strcmp(k.rest, "directory") == 0)
			directory(&k);
		else if (strcmp(k.rest, "new-nonce") == 0)
			/* RFC 8555 7.2: HEAD 200, GET 204. */
			http_respond(resp, strcmp(req->method, "HEAD") == 0 ? 200 :
			    204, "text/plain", "", 0);
		else
			acme_renewal_info(&k, k.rest + 13);
	} else if ((ep = route(k.rest, &id, &page, &serial)) == EP_NONE) {
		acme_problem(&k, 404, "malformed", "no such ACME resource");
	} else if (strcmp(req->method, "POST") == 0) {
		post(&k, ep, id, page, serial);
	} else {
		/* RFC 8555 6.3: resources are fetched with POST-as-GET. */
		method_not_allowed(&k, "POST");
	}
	finish(&k);
	db_release(k.a->db, k.c);
	db_acme_account_clear(&k.acct);
	policy_free(k.pol);
	free(jwk);
	free(policy);
}
