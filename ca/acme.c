/* acme: directory, nonces and accounts of the ACME server (RFC 8555). */
#include "ca/acme.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "ca/acme_jws.h"
#include "common/log.h"
#include "db/acme_db.h"

#define ERR_PREFIX "urn:ietf:params:acme:error:"
/* Longest ca_url the ACME responses' headers (Location, Link) hold. */
#define ACME_MAX_BASE 160
#define ACME_MAX_PROV 64

struct acme_api {
	struct db *db;
	const struct config *cfg;
	char base[ACME_MAX_BASE + 1];  /* ca_url without a trailing '/' */
	int enabled;
};

int acme_api_new(struct db *d, const struct config *cfg,
    struct acme_api **out, struct err *e)
{
	struct acme_api *a = calloc(1, sizeof(*a));
	size_t n = strlen(cfg->ca_url);

	if (a == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	a->db = d;
	a->cfg = cfg;
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

void acme_api_free(struct acme_api *a)
{
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

/* One request's state. */
struct call {
	struct acme_api *a;
	const struct http_request *req;
	struct http_response *resp;
	PGconn *c;
	char prov[ACME_MAX_PROV + 1];
	const char *rest;             /* the path after /acme/{prov}/ */
	char dir_url[ACME_MAX_BASE + ACME_MAX_PROV + 32];
};

/* Add a header if the response has room for it whole. */
static int add_header(struct http_response *resp, const char *name,
    const char *value)
{
	size_t used = strlen(resp->extra_headers);

	if (used + strlen(name) + strlen(value) + 3 >= sizeof(resp->extra_headers))
		return -1;
	http_add_header(resp, name, value);
	return 0;
}

/* A JSON body; takes the reference to j. */
static void respond_json(struct http_response *resp, int status,
    const char *ctype, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (text == NULL) {
		http_respond(resp, 500, "text/plain", "internal error\n", 15);
		return;
	}
	http_respond_owned(resp, status, ctype, text, strlen(text));
}

/* problem+json of ACME error type (RFC 8555 6.7); badSignatureAlgorithm
 * lists the accepted algorithms (6.7.1). */
static void problem(struct call *k, int status, const char *type,
    const char *detail)
{
	char urn[96];
	json_t *j, *algs;

	snprintf(urn, sizeof(urn), ERR_PREFIX "%s", type);
	j = json_pack("{s:s, s:s, s:i}", "type", urn, "detail", detail,
	    "status", status);
	if (j != NULL && strcmp(type, "badSignatureAlgorithm") == 0 &&
	    (algs = json_array()) != NULL) {
		for (int i = 0; acme_jws_algs[i] != NULL; i++)
			json_array_append_new(algs, json_string(acme_jws_algs[i]));
		json_object_set_new(j, "algorithms", algs);
	}
	respond_json(k->resp, status, "application/problem+json", j);
	snprintf(k->resp->log_detail, sizeof(k->resp->log_detail),
	    "acme_problem=%s", type);
}

/* A problem for a failure of the db or of signet itself (e->kind says
 * which); ERR_UNAVAILABLE is 503, the rest 500. */
static void problem_internal(struct call *k, const struct err *e)
{
	log_warn("msg=\"acme request failed\" id=%s error=\"%s\"",
	    k->req->request_id, e->msg);
	problem(k, e->kind == ERR_UNAVAILABLE ? 503 : 500, "serverInternal",
	    e->kind == ERR_UNAVAILABLE ? "the database is unavailable" :
	    "internal error");
}

/* A fresh nonce: 16 random bytes, base64url (RFC 8555 6.5.1), recorded. */
static int new_nonce(struct call *k, char out[32], struct err *e)
{
	unsigned char raw[16];
	char *b64 = NULL;
	size_t len = 0;
	cjose_err ce;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return err_ossl(e, ERR_INTERNAL, "RAND_bytes");
	if (!cjose_base64url_encode(raw, sizeof(raw), &b64, &len, &ce) ||
	    len >= 32) {
		free(b64);
		return err_set(e, ERR_INTERNAL, "nonce encoding failed");
	}
	memcpy(out, b64, len);
	out[len] = '\0';
	free(b64);
	return db_acme_nonce_add(k->c, out, ACME_NONCE_TTL, e);
}

/* Every ACME response carries a fresh Replay-Nonce (RFC 8555 6.5) and
 * the directory's Link rel="index" (7.1); a response that cannot get a
 * nonce becomes a serverInternal problem. */
static void finish(struct call *k)
{
	char nonce[32], link[sizeof(k->dir_url) + 20];
	struct err e;

	if (k->c == NULL)
		return;
	if (new_nonce(k, nonce, &e) != 0) {
		k->resp->extra_headers[0] = '\0';
		problem_internal(k, &e);
		return;
	}
	if (add_header(k->resp, "Replay-Nonce", nonce) != 0) {
		k->resp->extra_headers[0] = '\0';
		add_header(k->resp, "Replay-Nonce", nonce);
	}
	add_header(k->resp, "Cache-Control", "no-store");
	if (strcmp(k->rest, "directory") == 0)
		return;
	snprintf(link, sizeof(link), "<%s>;rel=\"index\"", k->dir_url);
	add_header(k->resp, "Link", link);
}

static void directory(struct call *k)
{
	char u[5][sizeof(k->dir_url)];
	static const char *const names[5] = { "new-nonce", "new-account",
	    "new-order", "revoke-cert", "key-change" };

	for (int i = 0; i < 5; i++)
		snprintf(u[i], sizeof(u[i]), "%s/acme/%s/%s", k->a->base, k->prov,
		    names[i]);
	respond_json(k->resp, 200, "application/json",
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:b}}",
	    "newNonce", u[0], "newAccount", u[1], "newOrder", u[2],
	    "revokeCert", u[3], "keyChange", u[4],
	    "meta", "externalAccountRequired", 0));
}

static void account_url(struct call *k, long long id, char *out, size_t n)
{
	snprintf(out, n, "%s/acme/%s/acct/%lld", k->a->base, k->prov, id);
}

/* The account object (RFC 8555 7.1.2). */
static void account_reply(struct call *k, int status,
    const struct db_acme_account *acct, int location)
{
	char url[sizeof(k->dir_url) + 32], orders[sizeof(url) + 8];
	json_error_t je;
	json_t *contacts = json_loads(acct->contacts_json, 0, &je);

	account_url(k, acct->id, url, sizeof(url));
	snprintf(orders, sizeof(orders), "%s/orders", url);
	if (location && add_header(k->resp, "Location", url) != 0) {
		problem(k, 500, "serverInternal", "response headers too long");
		json_decref(contacts);
		return;
	}
	if (!json_is_array(contacts)) {
		json_decref(contacts);
		contacts = json_array();
	}
	respond_json(k->resp, status, "application/json",
	    json_pack("{s:s, s:o, s:s}", "status", acct->status,
	    "contact", contacts, "orders", orders));
}

/* 1 if s is an addr-spec signet will keep: printable ASCII, one '@' with
 * something on both sides, a domain of letters, digits, '-' and '.', and
 * nothing that would make the mailto: URI more than one address (',', '?'
 * hfields, '%' escapes, spaces, '<', '>'). */
static int addr_ok(const char *s)
{
	const char *at = strchr(s, '@');

	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@'))
		return 0;
	for (const char *p = s; p < at; p++)
		if (*p <= 0x20 || *p >= 0x7f || strchr(",?%<>\"()[]\\;:", *p))
			return 0;
	for (const char *p = at + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return 0;
	return at[1] != '.' && s[strlen(s) - 1] != '.' &&
	    strstr(at, "..") == NULL;
}

/* The payload's contact member (RFC 8555 7.3): an array of at most
 * ACME_MAX_CONTACTS mailto: URIs; *out (malloc'ed JSON array text) is
 * NULL when the member is absent.  A problem has been answered on -1. */
static int contacts_json(struct call *k, json_t *payload, char **out)
{
	json_t *v = json_object_get(payload, "contact"), *x;
	char detail[384];
	size_t i;

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_array(v)) {
		problem(k, 400, "malformed", "contact must be an array of URIs");
		return -1;
	}
	if (json_array_size(v) > ACME_MAX_CONTACTS) {
		snprintf(detail, sizeof(detail), "at most %d contacts",
		    ACME_MAX_CONTACTS);
		problem(k, 400, "invalidContact", detail);
		return -1;
	}
	json_array_foreach(v, i, x) {
		const char *s = json_string_value(x);

		if (s == NULL || json_string_length(x) > ACME_MAX_CONTACT_LEN ||
		    strlen(s) != json_string_length(x)) {
			snprintf(detail, sizeof(detail), "contact %zu must be a URI of "
			    "at most %d bytes", i, ACME_MAX_CONTACT_LEN);
			problem(k, 400, "invalidContact", detail);
			return -1;
		}
		if (strncasecmp(s, "mailto:", 7) != 0) {
			snprintf(detail, sizeof(detail), "contact %zu: only mailto: "
			    "URIs are supported", i);
			problem(k, 400, "unsupportedContact", detail);
			return -1;
		}
		if (!addr_ok(s + 7)) {
			snprintf(detail, sizeof(detail), "contact %zu: %.64s is not one "
			    "plain e-mail address (local@domain, no hfields)", i, s);
			problem(k, 400, "invalidContact", detail);
			return -1;
		}
	}
	if ((*out = json_dumps(v, JSON_COMPACT)) == NULL) {
		problem(k, 500, "serverInternal", "out of memory");
		return -1;
	}
	return 0;
}

/* A boolean member, if present; -1 (problem answered) if not a boolean. */
static int opt_bool(struct call *k, json_t *payload, const char *name,
    int *out)
{
	json_t *v = json_object_get(payload, name);
	char detail[96];

	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(detail, sizeof(detail), "%s must be a boolean", name);
		problem(k, 400, "malformed", detail);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* POST new-account (RFC 8555 7.3, 7.3.1), verified, jwk form. */
static void new_account(struct call *k, const struct acme_jws *jws,
    json_t *payload)
{
	struct db_acme_account acct;
	char tp[ACME_THUMBPRINT_LEN + 1], *canon = NULL, *contacts = NULL;
	int only_existing, tos, created = 0;
	struct err e;

	memset(&acct, 0, sizeof(acct));
	if (payload == NULL) {
		problem(k, 400, "malformed", "newAccount needs a JSON object "
		    "payload");
		goto out;
	}
	if (json_object_get(payload, "externalAccountBinding") != NULL) {
		problem(k, 400, "malformed", "externalAccountBinding is not "
		    "supported yet (the directory's meta says it is not required)");
		goto out;
	}
	if (opt_bool(k, payload, "onlyReturnExisting", &only_existing) != 0 ||
	    opt_bool(k, payload, "termsOfServiceAgreed", &tos) != 0)
		goto out;
	if (acme_jwk_thumbprint(acme_jws_jwk(jws), tp, &e) != 0 ||
	    acme_jwk_canonical(acme_jws_jwk(jws), &canon, &e) != 0) {
		problem_internal(k, &e);
		goto out;
	}
	if (only_existing) {
		if (db_acme_account_by_key(k->c, k->prov, tp, &acct, &e) != 0) {
			if (e.kind == ERR_NOTFOUND)
				problem(k, 400, "accountDoesNotExist", "no account exists "
				    "for this key (onlyReturnExisting)");
			else
				problem_internal(k, &e);
			goto out;
		}
	} else {
		if (contacts_json(k, payload, &contacts) != 0)
			goto out;
		if (db_acme_account_create(k->c, k->prov, tp, canon,
		    contacts ? contacts : "[]", &acct, &created, &e) != 0) {
			problem_internal(k, &e);
			goto out;
		}
	}
	if (strcmp(acct.status, "valid") != 0) {
		problem(k, 401, "unauthorized", "RFC 8555 7.3.6: the account of "
		    "this key is deactivated");
		goto out;
	}
	if (created)
		log_info("msg=\"acme account created\" id=%s provisioner=%s "
		    "account=%lld", k->req->request_id, k->prov, acct.id);
	account_reply(k, created ? 201 : 200, &acct, 1);
out:
	db_acme_account_clear(&acct);
	free(canon);
	free(contacts);
}

/* POST acct/{id} (RFC 8555 7.3.2, 7.3.6), verified, kid form, acct the
 * kid's account. */
static void account(struct call *k, long long id,
    const struct db_acme_account *kid_acct, json_t *payload)
{
	struct db_acme_account acct;
	const char *key, *status = NULL;
	char *contacts = NULL, detail[96];
	json_t *v;
	struct err e;

	memset(&acct, 0, sizeof(acct));
	if (kid_acct->id != id) {
		problem(k, 401, "unauthorized", "the JWS kid names another account "
		    "than the one requested");
		goto out;
	}
	if (payload == NULL) {   /* POST-as-GET */
		account_reply(k, 200, kid_acct, 0);
		goto out;
	}
	json_object_foreach(payload, key, v) {
		if (strcmp(key, "status") == 0) {
			status = json_string_value(v);
			if (status == NULL || strcmp(status, "deactivated") != 0) {
				problem(k, 400, "malformed", "RFC 8555 7.3.6: a client may "
				    "only set status to \"deactivated\"");
				goto out;
			}
		} else if (strcmp(key, "contact") != 0 &&
		    strcmp(key, "termsOfServiceAgreed") != 0 &&
		    strcmp(key, "orders") != 0) {
			snprintf(detail, sizeof(detail), "account field %.32s cannot "
			    "be updated", key);
			problem(k, 400, "malformed", detail);
			goto out;
		}
	}
	if (contacts_json(k, payload, &contacts) != 0)
		goto out;
	if (contacts == NULL && status == NULL) {   /* nothing to change */
		account_reply(k, 200, kid_acct, 0);
		goto out;
	}
	if (db_acme_account_update(k->c, k->prov, id, contacts, status != NULL,
	    &acct, &e) != 0) {
		if (e.kind == ERR_AUTH || e.kind == ERR_NOTFOUND)
			problem(k, 401, "unauthorized", "the account is not valid");
		else
			problem_internal(k, &e);
		goto out;
	}
	if (status != NULL)
		log_info("msg=\"acme account deactivated\" id=%s provisioner=%s "
		    "account=%lld", k->req->request_id, k->prov, id);
	account_reply(k, 200, &acct, 0);
out:
	db_acme_account_clear(&acct);
	free(contacts);
}

/* A decimal account id of 1..18 digits, the whole of s; -1 if not. */
static long long parse_id(const char *s)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n > 18 || s[n] != '\0' || s[0] == '0')
		return -1;
	return strtoll(s, NULL, 10);
}

enum endpoint { EP_NONE, EP_NEW_ACCOUNT, EP_ACCOUNT, EP_NOT_BUILT };

/* A verified POST. */
static void post(struct call *k)
{
	const char *ct = k->req->content_type, *atype, *kid, *p;
	char url[sizeof(k->dir_url) + 64], detail[1024];
	struct db_acme_account kid_acct;
	struct acme_jws *jws = NULL;
	json_t *payload = NULL, *stored = NULL;
	const json_t *key;
	enum endpoint ep = EP_NONE;
	long long id = -1;
	size_t plen, n;
	json_error_t je;
	struct err e;
	int ok;

	memset(&kid_acct, 0, sizeof(kid_acct));
	if (strcmp(k->rest, "new-account") == 0)
		ep = EP_NEW_ACCOUNT;
	else if (strncmp(k->rest, "acct/", 5) == 0 &&
	    (id = parse_id(k->rest + 5)) > 0)
		ep = EP_ACCOUNT;
	else if (strcmp(k->rest, "new-order") == 0 ||
	    strcmp(k->rest, "revoke-cert") == 0 ||
	    strcmp(k->rest, "key-change") == 0)
		ep = EP_NOT_BUILT;
	if (ep == EP_NONE) {
		problem(k, 404, "malformed", "no such ACME resource");
		goto out;
	}
	if (ep == EP_NOT_BUILT) {
		problem(k, 501, "serverInternal", "this ACME resource is not built "
		    "yet in signet (see docs/acme.md)");
		goto out;
	}
	n = strlen("application/jose+json");
	if (ct == NULL || strncasecmp(ct, "application/jose+json", n) != 0 ||
	    (ct[n] != '\0' && ct[n] != ';' && ct[n] != ' ')) {
		problem(k, 415, "malformed", "RFC 8555 6.2: Content-Type must be "
		    "application/jose+json");
		goto out;
	}
	if (acme_jws_parse(k->req->body, k->req->body_len, &jws, &atype,
	    &e) != 0) {
		if (e.kind == ERR_INTERNAL)
			problem_internal(k, &e);
		else
			problem(k, 400, atype, e.msg);
		goto out;
	}
	/* RFC 8555 6.4: the url header is the request's URL. */
	snprintf(url, sizeof(url), "%s%s", k->a->base, k->req->path);
	if (strcmp(acme_jws_url(jws), url) != 0) {
		snprintf(detail, sizeof(detail), "RFC 8555 6.4: the JWS url header "
		    "must be %s", url);
		problem(k, 401, "unauthorized", detail);
		goto out;
	}
	/* RFC 8555 6.2: jwk for newAccount, kid for the rest. */
	kid = acme_jws_kid(jws);
	if (ep == EP_NEW_ACCOUNT && kid != NULL) {
		problem(k, 400, "malformed", "RFC 8555 6.2: newAccount is signed "
		    "with a jwk, not a kid");
		goto out;
	}
	if (ep != EP_NEW_ACCOUNT && kid == NULL) {
		problem(k, 400, "malformed", "RFC 8555 6.2: this request is signed "
		    "with the account's kid, not a jwk");
		goto out;
	}
	key = acme_jws_jwk(jws);
	if (kid != NULL) {
		long long kid_id = -1;

		snprintf(url, sizeof(url), "%s/acme/%s/acct/", k->a->base, k->prov);
		n = strlen(url);
		if (strncmp(kid, url, n) != 0 || (kid_id = parse_id(kid + n)) < 0 ||
		    db_acme_account_get(k->c, k->prov, kid_id, &kid_acct, &e) != 0) {
			if (kid_id > 0 && e.kind != ERR_NOTFOUND)
				problem_internal(k, &e);
			else
				problem(k, 400, "accountDoesNotExist", "the JWS kid is not "
				    "an account of this directory");
			goto out;
		}
		if (strcmp(kid_acct.status, "valid") != 0) {
			problem(k, 401, "unauthorized", "RFC 8555 7.3.6: the account "
			    "is deactivated");
			goto out;
		}
		if ((stored = json_loads(kid_acct.jwk_json, 0, &je)) == NULL) {
			problem(k, 500, "serverInternal", "stored account key");
			goto out;
		}
		key = stored;
	}
	if (acme_jws_verify(jws, key, &atype, &e) != 0) {
		if (e.kind == ERR_INTERNAL)
			problem_internal(k, &e);
		else
			problem(k, 400, atype, e.msg);
		goto out;
	}
	/* RFC 8555 6.5: the nonce last, so that a request refused for
	 * another reason does not spend it. */
	p = acme_jws_nonce(jws);
	ok = 0;
	if (strlen(p) <= 64 && db_acme_nonce_consume(k->c, p, &ok, &e) != 0) {
		problem_internal(k, &e);
		goto out;
	}
	if (!ok) {
		problem(k, 400, "badNonce", "RFC 8555 6.5: the nonce is unknown, "
		    "expired or used; retry with the Replay-Nonce of this response");
		goto out;
	}
	p = acme_jws_payload(jws, &plen);
	if (plen > 0) {
		payload = json_loadb(p, plen, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(payload)) {
			problem(k, 400, "malformed", "the JWS payload must be a JSON "
			    "object (or empty, for POST-as-GET)");
			goto out;
		}
	}
	if (ep == EP_NEW_ACCOUNT)
		new_account(k, jws, payload);
	else
		account(k, id, &kid_acct, payload);
out:
	json_decref(payload);
	json_decref(stored);
	db_acme_account_clear(&kid_acct);
	acme_jws_free(jws);
}

void acme_api_handle(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	struct call k;
	const char *p = req->path + strlen("/acme/"), *slash;
	char *jwk = NULL, *policy = NULL;
	struct err e;
	size_t n;

	memset(&k, 0, sizeof(k));
	k.a = arg;
	k.req = req;
	k.resp = resp;
	if (strncmp(req->path, "/acme/", 6) != 0 || !k.a->enabled) {
		problem(&k, 404, "malformed", "no ACME directory here");
		return;
	}
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	/* The provisioner name's own rule (migration 001). */
	if (slash == NULL || n == 0 || n > ACME_MAX_PROV ||
	    strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") < n || p[0] == '.' || p[0] == '_' || p[0] == '-') {
		problem(&k, 404, "malformed", "no such ACME directory");
		return;
	}
	memcpy(k.prov, p, n);
	k.prov[n] = '\0';
	k.rest = slash + 1;
	snprintf(k.dir_url, sizeof(k.dir_url), "%s/acme/%s/directory",
	    k.a->base, k.prov);
	if ((k.c = db_acquire(k.a->db, &e)) == NULL) {
		problem_internal(&k, &e);
		return;
	}
	if (db_provisioner_get(k.c, k.prov, &jwk, &policy, &e) != 0) {
		if (e.kind == ERR_NOTFOUND)
			problem(&k, 404, "malformed", "no such ACME directory: "
			    "unknown provisioner");
		else
			problem_internal(&k, &e);
	} else if (strcmp(req->method, "POST") == 0) {
		if (strcmp(k.rest, "new-nonce") == 0 ||
		    strcmp(k.rest, "directory") == 0) {
			problem(&k, 405, "malformed", "use GET or HEAD here");
		} else {
			post(&k);
		}
	} else if (strcmp(k.rest, "directory") == 0) {
		directory(&k);
	} else if (strcmp(k.rest, "new-nonce") == 0) {
		/* RFC 8555 7.2: HEAD 200, GET 204. */
		http_respond(resp, strcmp(req->method, "HEAD") == 0 ? 200 : 204,
		    "text/plain", "", 0);
	} else {
		problem(&k, 405, "malformed", "ACME resources other than the "
		    "directory and new-nonce take POST (RFC 8555 6.3)");
	}
	finish(&k);
	db_release(k.a->db, k.c);
	free(jwk);
	free(policy);
}
