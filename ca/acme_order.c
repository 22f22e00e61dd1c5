/* acme_order: orders, authorizations, challenges, finalize, certificate
 * download and the account's orders list (RFC 8555 7.1.3-7.1.6, 7.4,
 * 7.5); the provisioner's policy decides what may be ordered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "ca/acme_call.h"
#include "ca/acme_validator.h"
#include "ca/csr.h"
#include "common/log.h"
#include "common/util.h"
#include "db/acme_order_db.h"

/* How long an order asks clients to wait before polling again. */
#define POLL_SECONDS 1
/* Orders per page of an account's orders list. */
#define ORDERS_PAGE 100
/* Largest CSR accepted at finalize (DER bytes). */
#define CSR_MAX 16384
/* How far notBefore may lie in the past and in the future. */
#define NOT_BEFORE_PAST 3600
#define NOT_BEFORE_AHEAD (30L * 86400)

/* ---- objects ---- */

static json_t *chall_json(struct acme_call *k, const struct db_acme_chall *ch)
{
	char url[ACME_URL_MAX];
	json_t *j, *err;
	json_error_t je;

	acme_url(k, url, sizeof(url), "chall/%lld", ch->id);
	j = json_pack("{s:s, s:s, s:s, s:s}", "type", ch->type, "url", url,
	    "status", ch->status, "token", ch->token);
	if (j == NULL)
		return NULL;
	if (ch->validated[0] != '\0')
		json_object_set_new(j, "validated", json_string(ch->validated));
	if (ch->error_json != NULL &&
	    (err = json_loads(ch->error_json, 0, &je)) != NULL)
		json_object_set_new(j, "error", err);
	return j;
}

static json_t *authz_json(struct acme_call *k, const struct db_acme_authz *a)
{
	json_t *j, *chs = json_array();
	/* RFC 8555 7.1.4: a valid authorization lists the challenge that
	 * was validated, an invalid one the challenge that failed (none, for
	 * a name the policy trusts); other states list them all. */
	const char *only = strcmp(a->status, "valid") == 0 ? "valid" :
	    strcmp(a->status, "invalid") == 0 ? "invalid" : NULL;

	for (int i = 0; chs != NULL && i < a->nchall; i++)
		if (only == NULL || strcmp(a->chall[i].status, only) == 0)
			json_array_append_new(chs, chall_json(k, &a->chall[i]));
	j = json_pack("{s:{s:s, s:s}, s:s, s:s, s:o}", "identifier", "type",
	    a->type, "value", a->value, "status", a->status, "expires",
	    a->expires, "challenges", chs);
	if (j != NULL && a->wildcard)
		json_object_set_new(j, "wildcard", json_true());
	return j;
}

static json_t *order_json(struct acme_call *k, const struct db_acme_order *o)
{
	char url[ACME_URL_MAX];
	json_t *j, *az = json_array(), *v;
	json_error_t je;

	for (int i = 0; az != NULL && i < o->nauthz; i++) {
		acme_url(k, url, sizeof(url), "authz/%lld", o->authz[i]);
		json_array_append_new(az, json_string(url));
	}
	acme_url(k, url, sizeof(url), "order/%lld/finalize", o->id);
	j = json_pack("{s:s, s:s, s:o, s:s}", "status", o->status, "expires",
	    o->expires, "authorizations", az, "finalize", url);
	if (j == NULL)
		return NULL;
	if ((v = json_loads(o->identifiers_json, 0, &je)) != NULL)
		json_object_set_new(j, "identifiers", v);
	if (o->not_before[0] != '\0')
		json_object_set_new(j, "notBefore", json_string(o->not_before));
	if (o->not_after[0] != '\0')
		json_object_set_new(j, "notAfter", json_string(o->not_after));
	if (o->error_json != NULL &&
	    (v = json_loads(o->error_json, 0, &je)) != NULL)
		json_object_set_new(j, "error", v);
	/* RFC 9773 5: the order echoes replaces. */
	if (o->replaces_id[0] != '\0')
		json_object_set_new(j, "replaces", json_string(o->replaces_id));
	if (o->cert_serial[0] != '\0' && strcmp(o->status, "valid") == 0) {
		acme_url(k, url, sizeof(url), "cert/%s", o->cert_serial);
		json_object_set_new(j, "certificate", json_string(url));
	}
	return j;
}

/* Answer the order (with Location at creation and finalize, and
 * Retry-After while the client should poll). */
static void order_reply(struct acme_call *k, int status,
    const struct db_acme_order *o, int location)
{
	char url[ACME_URL_MAX];

	if (location) {
		acme_url(k, url, sizeof(url), "order/%lld", o->id);
		acme_add_header(k, "Location", url);
	}
	if (strcmp(o->status, "pending") == 0 ||
	    strcmp(o->status, "processing") == 0)
		acme_retry_after(k, POLL_SECONDS);
	acme_reply_json(k, status, order_json(k, o));
}

/* The resource belongs to the requesting account; a problem otherwise. */
static int owned(struct acme_call *k, long long account, const char *what)
{
	char detail[96];

	if (account == k->acct.id)
		return 0;
	snprintf(detail, sizeof(detail), "this %s belongs to another account",
	    what);
	acme_problem(k, 403, "unauthorized", detail);
	return -1;
}

/* ---- new-order ---- */

/* One identifier of a new order, checked and normalized. */
struct ident {
	struct san san;          /* DNS (with "*." for a wildcard) or IP */
	int wildcard;
};

/* The payload's identifiers: 1..SAN_MAX of {"type": "dns"|"ip",
 * "value"}, normalized, duplicates dropped, each allowed by the policy.
 * Identifiers that are refused are all named, as subproblems (RFC 8555
 * 6.7.1).  A problem has been answered on -1. */
static int read_identifiers(struct acme_call *k, json_t *payload,
    struct ident *out, int *n)
{
	json_t *v = json_object_get(payload, "identifiers"), *x;
	json_t *subs = NULL;
	char detail[SAN_VALUE_MAX + 160];
	int nsubs = 0;
	struct err e;
	size_t i;

	*n = 0;
	if (!json_is_array(v) || json_array_size(v) == 0) {
		acme_problem(k, 400, "malformed", "RFC 8555 7.4: identifiers must "
		    "be a non-empty array");
		return -1;
	}
	if (json_array_size(v) > SAN_MAX) {
		snprintf(detail, sizeof(detail), "at most %d identifiers in one "
		    "order", SAN_MAX);
		acme_problem(k, 400, "rejectedIdentifier", detail);
		return -1;
	}
	if ((subs = json_array()) == NULL) {
		acme_problem(k, 500, "serverInternal", "out of memory");
		return -1;
	}
	json_array_foreach(v, i, x) {
		const char *type = json_string_value(json_object_get(x, "type"));
		json_t *jv = json_object_get(x, "value");
		const char *value = json_string_value(jv), *base;
		struct ident id;
		int dup = 0;

		memset(&id, 0, sizeof(id));
		if (type == NULL || value == NULL || json_object_size(x) != 2 ||
		    strlen(value) != json_string_length(jv) ||
		    strlen(value) >= SAN_VALUE_MAX) {
			snprintf(detail, sizeof(detail), "identifier %zu must be "
			    "{\"type\", \"value\"} strings", i);
			acme_problem(k, 400, "malformed", detail);
			goto fail;
		}
		if (strcmp(type, "dns") != 0 && strcmp(type, "ip") != 0) {
			snprintf(detail, sizeof(detail), "identifier %zu: type %.32s is "
			    "not supported (dns, ip)", i, type);
			acme_problem(k, 400, "unsupportedIdentifier", detail);
			goto fail;
		}
		id.san.type = type[0] == 'd' ? SAN_DNS : SAN_IP;
		id.wildcard = id.san.type == SAN_DNS && strncmp(value, "*.", 2) == 0;
		base = id.san.value + (id.wildcard ? 2 : 0);
		detail[0] = '\0';
		/* Clients older than RFC 8738 send addresses as dns. */
		if (id.san.type == SAN_DNS &&
		    san_normalize(SAN_IP, value, id.san.value, &e) == 0)
			snprintf(detail, sizeof(detail), "%.64s is an IP address: use "
			    "type \"ip\" (RFC 8738)", value);
		else if (san_normalize(id.san.type, value, id.san.value, &e) != 0 ||
		    (id.san.type == SAN_DNS &&
		    !util_dns_name_ok(base, strlen(base))))
			snprintf(detail, sizeof(detail), "%.64s is not a valid %s "
			    "identifier (host names of letters, digits and '-'; a "
			    "wildcard only as a whole first label)", value, type);
		else if (policy_check_name(k->pol, &id.san, &e) != 0)
			snprintf(detail, sizeof(detail), "the provisioner's policy "
			    "does not allow %s", id.san.value);
		if (detail[0] != '\0') {
			json_array_append_new(subs, acme_subproblem("rejectedIdentifier",
			    detail, type, value));
			nsubs++;
			continue;
		}
		for (int j = 0; j < *n; j++)
			dup |= out[j].san.type == id.san.type &&
			    strcmp(out[j].san.value, id.san.value) == 0;
		if (!dup)
			out[(*n)++] = id;
	}
	if (nsubs > 0) {
		if (nsubs == 1)
			snprintf(detail, sizeof(detail), "%s", json_string_value(
			    json_object_get(json_array_get(subs, 0), "detail")));
		else
			snprintf(detail, sizeof(detail), "%d identifiers are refused "
			    "(see subproblems)", nsubs);
		acme_problem_sub(k, 400, "rejectedIdentifier", detail, subs);
		return -1;
	}
	json_decref(subs);
	return 0;
fail:
	json_decref(subs);
	return -1;
}

/* notBefore / notAfter of the payload (RFC 8555 7.4), within policy:
 * *nb and *na 0 when absent.  A problem has been answered on -1. */
static int read_validity(struct acme_call *k, json_t *payload, time_t *nb,
    time_t *na)
{
	const char *snb = json_string_value(json_object_get(payload, "notBefore"));
	const char *sna = json_string_value(json_object_get(payload, "notAfter"));
	time_t now = time(NULL), from;
	long long max = policy_max_lifetime(k->pol, k->a->cfg->max_lifetime);
	char detail[160];

	*nb = *na = 0;
	if ((json_object_get(payload, "notBefore") && snb == NULL) ||
	    (json_object_get(payload, "notAfter") && sna == NULL) ||
	    (snb && util_parse_rfc3339(snb, nb) != 0) ||
	    (sna && util_parse_rfc3339(sna, na) != 0)) {
		acme_problem(k, 400, "malformed", "notBefore and notAfter must be "
		    "RFC 3339 date-times");
		return -1;
	}
	if (snb && (*nb < now - NOT_BEFORE_PAST || *nb > now + NOT_BEFORE_AHEAD)) {
		acme_problem(k, 400, "malformed", "notBefore may lie at most an hour "
		    "in the past and 30 days ahead");
		return -1;
	}
	from = snb ? *nb : now;
	if (sna && (*na < from + 60 || *na - from > max)) {
		snprintf(detail, sizeof(detail), "notAfter must lie 60 s to %lld s "
		    "after notBefore (the provisioner's maximum lifetime)", max);
		acme_problem(k, 400, "malformed", detail);
		return -1;
	}
	return 0;
}

/* Rate limits: new orders per account and per provisioner within
 * acme_rate_window.  A rateLimited problem with Retry-After on -1. */
static int rate_limited(struct acme_call *k)
{
	const struct config *cfg = k->a->cfg;
	long count, wait, limit[2] = { cfg->acme_rate_orders_per_account,
	    cfg->acme_rate_orders_per_provisioner };
	char detail[160];
	struct err e;

	for (int i = 0; i < 2; i++) {
		if (limit[i] <= 0)
			continue;
		if (db_acme_orders_recent(k->c, k->prov, i == 0 ? k->acct.id : 0,
		    cfg->acme_rate_window, &count, &wait, &e) != 0) {
			acme_problem_internal(k, &e);
			return -1;
		}
		if (count >= limit[i]) {
			snprintf(detail, sizeof(detail), "at most %ld new orders per %s "
			    "within %lld s; retry in %ld s", limit[i], i == 0 ?
			    "account" : "provisioner", (long long)cfg->acme_rate_window,
			    wait);
			acme_retry_after(k, wait);
			acme_problem(k, 429, "rateLimited", detail);
			return -1;
		}
	}
	return 0;
}

/* "replaces" (RFC 9773 5): a certificate of this account, not replaced
 * yet, sharing a name with the order's n identifiers ids, into serial
 * (empty if absent).  A problem on -1. */
static int read_replaces(struct acme_call *k, json_t *payload,
    const struct ident *ids, int nids, char *serial, size_t n)
{
	json_t *v = json_object_get(payload, "replaces"), *names = NULL;
	long long owner = -1;
	int replaced = 0, shares = 0, rc = -1;
	char *names_text = NULL;
	struct err e;

	serial[0] = '\0';
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= DB_ACME_CERT_ID ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		acme_problem(k, 400, "malformed", "replaces must be an ARI "
		    "certificate identifier (RFC 9773)");
		return -1;
	}
	if (acme_ari_serial(k, json_string_value(v), serial, n, &e) != 0) {
		acme_problem_err(k, 400, "malformed", &e);
		return -1;
	}
	if (db_acme_cert_account(k->c, k->prov, serial, &owner, &e) != 0 ||
	    db_acme_cert_replaced(k->c, serial, &replaced, &e) != 0) {
		acme_problem_internal(k, &e);
		return -1;
	}
	if (owner != k->acct.id) {
		acme_problem(k, 403, "unauthorized", "replaces names a certificate "
		    "this account did not order");
		return -1;
	}
	if (replaced) {
		acme_problem(k, 409, "alreadyReplaced", "another order already "
		    "replaces this certificate (RFC 9773 5)");
		return -1;
	}
	/* RFC 9773 5: the order and the certificate it replaces share at
	 * least one identifier. */
	if ((names = json_array()) == NULL)
		goto oom;
	for (int i = 0; i < nids; i++) {
		char san[SAN_VALUE_MAX + 8];

		snprintf(san, sizeof(san), "%s:%s", san_type_name(ids[i].san.type),
		    ids[i].san.value);
		json_array_append_new(names, json_string(san));
	}
	if ((names_text = json_dumps(names, JSON_COMPACT)) == NULL)
		goto oom;
	if (db_acme_cert_shares_name(k->c, serial, names_text, &shares,
	    &e) != 0) {
		acme_problem_internal(k, &e);
		goto out;
	}
	if (!shares) {
		acme_problem(k, 400, "malformed", "replaces names a certificate "
		    "that shares no identifier with this order (RFC 9773 5)");
		goto out;
	}
	rc = 0;
	goto out;
oom:
	acme_problem(k, 500, "serverInternal", "out of memory");
out:
	json_decref(names);
	free(names_text);
	return rc;
}

void acme_new_order(struct acme_call *k, json_t *payload)
{
	struct ident *ids = NULL;
	struct db_acme_new_authz *az = NULL;
	char (*tokens)[48] = NULL, nb_s[32], na_s[32], replaces[DB_ACME_SERIAL];
	char *ident_text = NULL;
	struct db_acme_order o;
	json_t *arr = NULL;
	long long id;
	time_t nb, na;
	int n = 0, t = 0;
	struct err e;

	memset(&o, 0, sizeof(o));
	if (payload == NULL) {
		acme_problem(k, 400, "malformed", "newOrder needs a JSON object "
		    "payload");
		goto out;
	}
	ids = calloc(SAN_MAX, sizeof(*ids));
	az = calloc(SAN_MAX, sizeof(*az));
	tokens = calloc(SAN_MAX * DB_ACME_MAX_CHALL, sizeof(*tokens));
	if (ids == NULL || az == NULL || tokens == NULL) {
		acme_problem(k, 500, "serverInternal", "out of memory");
		goto out;
	}
	if (read_identifiers(k, payload, ids, &n) != 0 ||
	    read_validity(k, payload, &nb, &na) != 0 ||
	    read_replaces(k, payload, ids, n, replaces, sizeof(replaces)) != 0 ||
	    rate_limited(k) != 0)
		goto out;
	if ((arr = json_array()) == NULL)
		goto oom;
	for (int i = 0; i < n; i++) {
		const struct ident *id_i = &ids[i];
		static const char *const dns_types[] = { "http-01", "dns-01",
		    "tls-alpn-01" };
		static const char *const ip_types[] = { "http-01", "tls-alpn-01" };
		static const char *const wild_types[] = { "dns-01" };
		const char *const *types = id_i->san.type == SAN_IP ? ip_types :
		    id_i->wildcard ? wild_types : dns_types;
		int ntypes = id_i->san.type == SAN_IP ? 2 : id_i->wildcard ? 1 : 3;

		json_array_append_new(arr, json_pack("{s:s, s:s}", "type",
		    id_i->san.type == SAN_IP ? "ip" : "dns", "value",
		    id_i->san.value));
		az[i].type = id_i->san.type == SAN_IP ? "ip" : "dns";
		az[i].value = id_i->san.value + (id_i->wildcard ? 2 : 0);
		az[i].wildcard = id_i->wildcard;
		/* A provisioner may trust its policy instead of challenges, for
		 * accounts bound to one of its EAB keys. */
		az[i].valid = k->acct.eab_bound && id_i->san.type == SAN_DNS &&
		    policy_acme_trusts(k->pol, id_i->san.value);
		for (int j = 0; j < ntypes; j++) {
			if (acme_random_token(tokens[t], &e) != 0) {
				acme_problem_internal(k, &e);
				goto out;
			}
			az[i].chall_type[j] = types[j];
			az[i].chall_token[j] = tokens[t++];
		}
		az[i].nchall = ntypes;
	}
	if ((ident_text = json_dumps(arr, JSON_COMPACT)) == NULL)
		goto oom;
	if (nb)
		util_rfc3339(nb, nb_s, sizeof(nb_s));
	if (na)
		util_rfc3339(na, na_s, sizeof(na_s));
	if (db_acme_order_create(k->c, k->prov, k->acct.id, ident_text,
	    nb ? nb_s : NULL, na ? na_s : NULL, k->a->cfg->acme_order_lifetime,
	    replaces[0] ? replaces : NULL, replaces[0] ? json_string_value(
	    json_object_get(payload, "replaces")) : NULL, az, n, &id, &e) != 0 ||
	    db_acme_order_get(k->c, k->prov, id, &o, &e) != 0) {
		acme_problem_internal(k, &e);
		goto out;
	}
	log_info("msg=\"acme order created\" id=%s provisioner=%s account=%lld "
	    "order=%lld identifiers=%d status=%s", k->req->request_id, k->prov,
	    k->acct.id, id, n, o.status);
	order_reply(k, 201, &o, 1);
	goto out;
oom:
	acme_problem(k, 500, "serverInternal", "out of memory");
out:
	db_acme_order_clear(&o);
	json_decref(arr);
	free(ident_text);
	free(tokens);
	free(az);
	free(ids);
}

/* ---- orders, authorizations, challenges ---- */

/* Order id of this provisioner and account into o; a problem on -1. */
static int load_order(struct acme_call *k, long long id,
    struct db_acme_order *o)
{
	struct err e;

	if (db_acme_order_get(k->c, k->prov, id, o, &e) != 0) {
		acme_problem_err(k, 404, "malformed", &e);
		return -1;
	}
	return owned(k, o->account_id, "order");
}

void acme_order(struct acme_call *k, long long id, json_t *payload)
{
	struct db_acme_order o;

	(void)payload;   /* POST-as-GET; an order has nothing to update */
	if (load_order(k, id, &o) == 0)
		order_reply(k, 200, &o, 0);
	db_acme_order_clear(&o);
}

void acme_orders_list(struct acme_call *k, long long acct, long page,
    json_t *payload)
{
	long long ids[ORDERS_PAGE];
	char url[ACME_URL_MAX], link[ACME_URL_MAX + 16];
	json_t *arr;
	int n = 0, more = 0;
	struct err e;

	(void)payload;
	if (owned(k, acct, "account") != 0)
		return;
	if (db_acme_orders_page(k->c, acct, page * ORDERS_PAGE, ORDERS_PAGE, ids,
	    &n, &more, &e) != 0) {
		acme_problem_internal(k, &e);
		return;
	}
	if ((arr = json_array()) == NULL) {
		acme_problem(k, 500, "serverInternal", "out of memory");
		return;
	}
	for (int i = 0; i < n; i++) {
		acme_url(k, url, sizeof(url), "order/%lld", ids[i]);
		json_array_append_new(arr, json_string(url));
	}
	/* RFC 8555 7.1.2.1: further pages by Link rel="next". */
	if (more) {
		acme_url(k, url, sizeof(url), "acct/%lld/orders/%ld", acct, page + 1);
		snprintf(link, sizeof(link), "<%s>;rel=\"next\"", url);
		acme_add_header(k, "Link", link);
	}
	acme_reply_json(k, 200, json_pack("{s:o}", "orders", arr));
}

static void authz_reply(struct acme_call *k, const struct db_acme_authz *a)
{
	if (strcmp(a->status, "pending") == 0)
		acme_retry_after(k, POLL_SECONDS);
	acme_reply_json(k, 200, authz_json(k, a));
}

/* Authorization id of this provisioner and account into a; a problem on
 * -1. */
static int load_authz(struct acme_call *k, long long id,
    struct db_acme_authz *a)
{
	struct err e;

	if (db_acme_authz_get(k->c, k->prov, id, a, &e) != 0) {
		acme_problem_err(k, 404, "malformed", &e);
		return -1;
	}
	return owned(k, a->account_id, "authorization");
}

void acme_authz(struct acme_call *k, long long id, json_t *payload)
{
	struct db_acme_authz a;
	json_t *st = payload ? json_object_get(payload, "status") : NULL;
	int ok = 0;
	struct err e;

	if (load_authz(k, id, &a) != 0)
		goto out;
	if (payload != NULL && json_object_size(payload) > 0) {
		/* RFC 8555 7.5.2: the client may only deactivate. */
		if (json_object_size(payload) != 1 ||
		    !json_is_string(st) ||
		    strcmp(json_string_value(st), "deactivated") != 0) {
			acme_problem(k, 400, "malformed", "RFC 8555 7.5.2: a client may "
			    "only set an authorization's status to \"deactivated\"");
			goto out;
		}
		if (db_acme_authz_deactivate(k->c, id, &ok, &e) != 0) {
			acme_problem_internal(k, &e);
			goto out;
		}
		if (!ok) {
			acme_problem(k, 400, "malformed", "only a pending or valid "
			    "authorization can be deactivated");
			goto out;
		}
		db_acme_authz_clear(&a);
		if (load_authz(k, id, &a) != 0)
			goto out;
	}
	authz_reply(k, &a);
out:
	db_acme_authz_clear(&a);
}

void acme_challenge(struct acme_call *k, long long id, json_t *payload)
{
	struct db_acme_authz a;
	const struct db_acme_chall *ch = NULL;
	char url[ACME_URL_MAX], link[ACME_URL_MAX + 16], detail[96];
	long long authz = -1;
	int started = 0;
	struct err e;

	memset(&a, 0, sizeof(a));
	if (db_acme_chall_authz(k->c, id, &authz, &e) != 0) {
		acme_problem_err(k, 404, "malformed", &e);
		goto out;
	}
	if (load_authz(k, authz, &a) != 0)
		goto out;
	/* RFC 8555 7.5.1: the client answers with an object (usually {});
	 * POST-as-GET only reads. */
	if (payload != NULL) {
		for (int i = 0; i < a.nchall; i++)
			if (a.chall[i].id == id && strcmp(a.chall[i].status,
			    "pending") == 0) {
				if (strcmp(a.status, "pending") != 0) {
					snprintf(detail, sizeof(detail), "the authorization is "
					    "%s", a.status);
					acme_problem(k, 400, "malformed", detail);
					goto out;
				}
				if (db_acme_chall_start(k->c, id, &started, &e) != 0) {
					acme_problem_internal(k, &e);
					goto out;
				}
			}
		if (started) {
			acme_validator_wake(k->a->validator);
			db_acme_authz_clear(&a);
			if (load_authz(k, authz, &a) != 0)
				goto out;
		}
	}
	for (int i = 0; i < a.nchall; i++)
		if (a.chall[i].id == id)
			ch = &a.chall[i];
	if (ch == NULL) {
		acme_problem(k, 404, "malformed", "no such challenge");
		goto out;
	}
	acme_url(k, url, sizeof(url), "authz/%lld", authz);
	snprintf(link, sizeof(link), "<%s>;rel=\"up\"", url);
	acme_add_header(k, "Link", link);
	if (strcmp(ch->status, "processing") == 0)
		acme_retry_after(k, POLL_SECONDS);
	acme_reply_json(k, 200, chall_json(k, ch));
out:
	db_acme_authz_clear(&a);
}

/* ---- finalize ---- */

/* The CSR of a finalize payload, parsed and checked (signature, key);
 * a badCSR problem on -1. */
static int read_csr(struct acme_call *k, json_t *payload, struct csr **out)
{
	json_t *v = payload ? json_object_get(payload, "csr") : NULL;
	uint8_t *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_REQ *req = NULL;
	char detail[300];
	struct err e;
	int rc = -1;

	*out = NULL;
	if (!json_is_string(v) || acme_b64url_decode(json_string_value(v),
	    json_string_length(v), CSR_MAX, &der, &len, &e) != 0) {
		acme_problem(k, 400, "malformed", "RFC 8555 7.4: csr must be the "
		    "base64url DER of a PKCS#10 request");
		goto out;
	}
	p = der;
	if ((req = d2i_X509_REQ(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		X509_REQ_free(req);
		acme_problem(k, 400, "badCSR", "the CSR is not one DER PKCS#10 "
		    "request");
		goto out;
	}
	if (csr_from_req(req, out, &e) != 0) {
		snprintf(detail, sizeof(detail), "the CSR was refused: %.250s",
		    e.msg);
		acme_problem(k, 400, "badCSR", detail);
		goto out;
	}
	rc = 0;
out:
	free(der);
	return rc;
}

/* The CSR must ask for exactly the order's identifiers (RFC 8555 7.4):
 * its SANs, or its CN when it has none, and a CN among them.  names
 * receives them.  A badCSR problem on -1. */
static int csr_matches(struct acme_call *k, const struct db_acme_order *o,
    const struct csr *csr, struct san_list *names)
{
	json_error_t je;
	json_t *ids = json_loads(o->identifiers_json, 0, &je), *x;
	struct san_list want;
	char detail[SAN_VALUE_MAX + 96];
	struct err e;
	size_t i;
	int rc = -1;

	memset(&want, 0, sizeof(want));
	memset(names, 0, sizeof(*names));
	json_array_foreach(ids, i, x) {
		struct san s;

		memset(&s, 0, sizeof(s));
		s.type = strcmp(json_string_value(json_object_get(x, "type")),
		    "ip") == 0 ? SAN_IP : SAN_DNS;
		snprintf(s.value, sizeof(s.value), "%s",
		    json_string_value(json_object_get(x, "value")));
		if (san_list_add(&want, &s, &e) != 0)
			goto internal;
	}
	if (csr->sans.n > 0) {
		*names = csr->sans;
	} else if (csr->cn[0] != '\0') {
		struct san s;

		if (san_parse(csr->cn, &s, &e) != 0 || s.type == SAN_URI) {
			acme_problem(k, 400, "badCSR", "the CSR's CN is not a DNS name "
			    "or IP address");
			goto out;
		}
		san_list_add(names, &s, &e);
	}
	for (int j = 0; j < names->n; j++)
		if (!san_list_contains(&want, &names->v[j])) {
			snprintf(detail, sizeof(detail), "the CSR asks for %s, which "
			    "is not an identifier of the order", names->v[j].value);
			acme_problem(k, 400, "badCSR", detail);
			goto out;
		}
	for (int j = 0; j < want.n; j++)
		if (!san_list_contains(names, &want.v[j])) {
			snprintf(detail, sizeof(detail), "the CSR does not ask for %s, "
			    "an identifier of the order", want.v[j].value);
			acme_problem(k, 400, "badCSR", detail);
			goto out;
		}
	if (csr->cn[0] != '\0') {
		struct san s;

		if (san_parse(csr->cn, &s, &e) != 0 ||
		    !san_list_contains(names, &s)) {
			acme_problem(k, 400, "badCSR", "the CSR's CN is not one of the "
			    "order's identifiers");
			goto out;
		}
	}
	rc = 0;
	goto out;
internal:
	acme_problem_internal(k, &e);
out:
	json_decref(ids);
	return rc;
}

void acme_finalize(struct acme_call *k, long long id, json_t *payload)
{
	struct db_acme_order o;
	struct csr *csr = NULL;
	struct san_list names;
	struct ca_request cr;
	char serial[SERIAL_HEX_MAX], requester[96], detail[300];
	time_t nb = 0, na = 0, now = time(NULL);
	long long max;
	int ok = 0, begun = 0;
	X509 *x = NULL;
	struct err e;

	memset(&o, 0, sizeof(o));
	if (load_order(k, id, &o) != 0)
		goto out;
	if (strcmp(o.status, "ready") != 0) {
		snprintf(detail, sizeof(detail), "RFC 8555 7.4: the order is %s, "
		    "not ready", o.status);
		acme_problem(k, 403, "orderNotReady", detail);
		goto out;
	}
	if (read_csr(k, payload, &csr) != 0 || csr_matches(k, &o, csr,
	    &names) != 0)
		goto out;
	/* Today's policy, as /v1/sign applies it. */
	for (int i = 0; i < names.n; i++)
		if (policy_check_name(k->pol, &names.v[i], &e) != 0) {
			acme_problem(k, 403, "rejectedIdentifier", e.msg);
			goto out;
		}
	if (policy_check_key_type(k->pol, csr->key_type, &e) != 0) {
		acme_problem(k, 400, "badCSR", e.msg);
		goto out;
	}
	if (k->a->ca == NULL) {
		acme_problem(k, 503, "serverInternal", "this signetd does not "
		    "issue");
		goto out;
	}
	if (db_acme_order_begin_finalize(k->c, id, &ok, &e) != 0) {
		acme_problem_internal(k, &e);
		goto out;
	}
	if (!ok) {
		acme_problem(k, 403, "orderNotReady", "the order is no longer "
		    "ready (finalized concurrently, or expired)");
		goto out;
	}
	begun = 1;
	if (o.not_before[0] != '\0')
		util_parse_rfc3339(o.not_before, &nb);
	if (o.not_after[0] != '\0')
		util_parse_rfc3339(o.not_after, &na);
	memset(&cr, 0, sizeof(cr));
	cr.pubkey = csr->pubkey;
	cr.spki = X509_REQ_get_X509_PUBKEY(csr->req);
	cr.cn = csr->cn[0] ? csr->cn : NULL;
	cr.sans = &names;
	/* ACME clients want server certificates: the policy's default. */
	cr.profile = policy_default_profile(k->pol);
	cr.not_before = nb;
	cr.lifetime = na ? (long long)(na - (nb ? nb : now)) :
	    policy_default_lifetime(k->pol, k->a->cfg->default_lifetime);
	max = policy_max_lifetime(k->pol, k->a->cfg->max_lifetime);
	if (cr.lifetime > max)
		cr.lifetime = max;
	if (cr.lifetime < 60)
		cr.lifetime = 60;
	cr.provisioner = k->prov;
	snprintf(requester, sizeof(requester), "acme:%s account:%lld",
	    k->prov, k->acct.id);
	cr.requester = requester;
	cr.predecessor = o.replaces[0] ? o.replaces : NULL;
	if (policy_check_profile(k->pol, cr.profile, &e) != 0 ||
	    ca_issue(k->a->ca, &cr, &x, serial, &e) != 0) {
		if (e.kind == ERR_POLICY)
			acme_problem(k, 400, "badCSR", e.msg);
		else
			acme_problem_err(k, 400, "malformed", &e);
		goto out;
	}
	if (db_acme_order_end_finalize(k->c, id, serial, &e) != 0) {
		/* The certificate is stored (ca_issue) but the order does not
		 * point at it: the client cannot download it.  Say so. */
		log_warn("msg=\"acme order not updated after issuance\" id=%s "
		    "order=%lld serial=%s error=\"%s\"", k->req->request_id, id,
		    serial, e.msg);
		acme_problem_internal(k, &e);
		begun = 0;
		goto out;
	}
	begun = 0;
	log_info("msg=\"acme order finalized\" id=%s provisioner=%s "
	    "account=%lld order=%lld serial=%s", k->req->request_id, k->prov,
	    k->acct.id, id, serial);
	db_acme_order_clear(&o);
	if (load_order(k, id, &o) == 0)
		order_reply(k, 200, &o, 1);
out:
	if (begun && db_acme_order_end_finalize(k->c, id, NULL, &e) != 0)
		log_warn("msg=\"acme order left processing\" id=%s order=%lld "
		    "error=\"%s\"", k->req->request_id, id, e.msg);
	X509_free(x);
	csr_free(csr);
	db_acme_order_clear(&o);
}

/* ---- certificate ---- */

void acme_certificate(struct acme_call *k, const char *serial,
    json_t *payload)
{
	long long owner = -1;
	unsigned char *der = NULL;
	size_t len = 0, plen, clen;
	char *pem = NULL, *body = NULL;
	X509 *x = NULL;
	struct err e;

	if (payload != NULL) {
		acme_problem(k, 400, "malformed", "fetch a certificate with "
		    "POST-as-GET (an empty payload)");
		goto out;
	}
	if (db_acme_cert_account(k->c, k->prov, serial, &owner, &e) != 0) {
		acme_problem_internal(k, &e);
		goto out;
	}
	if (owner < 0) {
		acme_problem(k, 404, "malformed", "no such certificate");
		goto out;
	}
	if (owned(k, owner, "certificate") != 0)
		goto out;
	if (db_cert_der(k->c, serial, &der, &len, &e) != 0) {
		acme_problem_err(k, 404, "malformed", &e);
		goto out;
	}
	if ((x = x509_from_der(der, len, &e)) == NULL ||
	    x509_to_pem(x, &pem, &e) != 0) {
		acme_problem(k, 500, "serverInternal", "stored certificate");
		goto out;
	}
	/* RFC 8555 9.1: the leaf, then its issuers (not the root). */
	plen = strlen(pem);
	clen = k->a->chain_pem ? strlen(k->a->chain_pem) : 0;
	if ((body = malloc(plen + clen + 1)) == NULL) {
		acme_problem(k, 500, "serverInternal", "out of memory");
		goto out;
	}
	memcpy(body, pem, plen);
	if (clen)
		memcpy(body + plen, k->a->chain_pem, clen);
	body[plen + clen] = '\0';
	http_respond_owned(k->resp, 200, "application/pem-certificate-chain",
	    body, plen + clen);
	body = NULL;
out:
	free(body);
	free(pem);
	free(der);
	X509_free(x);
}
