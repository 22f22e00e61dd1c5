/* acme_account: new-account, the account resource and key-change
 * (RFC 8555 7.3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ca/acme_call.h"
#include "common/log.h"
#include "db/acme_db.h"

static void account_url(struct acme_call *k, long long id, char *out, size_t n)
{
	acme_url(k, out, n, "acct/%lld", id);
}

/* The account object (RFC 8555 7.1.2). */
static void account_reply(struct acme_call *k, int status,
    const struct db_acme_account *acct, int location)
{
	char url[ACME_URL_MAX], orders[ACME_URL_MAX + 8];
	json_error_t je;
	json_t *contacts = json_loads(acct->contacts_json, 0, &je);

	account_url(k, acct->id, url, sizeof(url));
	snprintf(orders, sizeof(orders), "%s/orders", url);
	if (location && acme_add_header(k, "Location", url) != 0) {
		acme_problem(k, 500, "serverInternal", "response headers too long");
		json_decref(contacts);
		return;
	}
	if (!json_is_array(contacts)) {
		json_decref(contacts);
		contacts = json_array();
	}
	acme_reply_json(k, status, json_pack("{s:s, s:o, s:s}", "status", acct->status,
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
static int contacts_json(struct acme_call *k, json_t *payload, char **out)
{
	json_t *v = json_object_get(payload, "contact"), *x;
	char detail[384];
	size_t i;

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_array(v)) {
		acme_problem(k, 400, "malformed", "contact must be an array of URIs");
		return -1;
	}
	if (json_array_size(v) > ACME_MAX_CONTACTS) {
		snprintf(detail, sizeof(detail), "at most %d contacts",
		    ACME_MAX_CONTACTS);
		acme_problem(k, 400, "invalidContact", detail);
		return -1;
	}
	json_array_foreach(v, i, x) {
		const char *s = json_string_value(x);

		if (s == NULL || json_string_length(x) > ACME_MAX_CONTACT_LEN ||
		    strlen(s) != json_string_length(x)) {
			snprintf(detail, sizeof(detail), "contact %zu must be a URI of "
			    "at most %d bytes", i, ACME_MAX_CONTACT_LEN);
			acme_problem(k, 400, "invalidContact", detail);
			return -1;
		}
		if (strncasecmp(s, "mailto:", 7) != 0) {
			snprintf(detail, sizeof(detail), "contact %zu: only mailto: "
			    "URIs are supported", i);
			acme_problem(k, 400, "unsupportedContact", detail);
			return -1;
		}
		if (!addr_ok(s + 7)) {
			snprintf(detail, sizeof(detail), "contact %zu: %.64s is not one "
			    "plain e-mail address (local@domain, no hfields)", i, s);
			acme_problem(k, 400, "invalidContact", detail);
			return -1;
		}
	}
	if ((*out = json_dumps(v, JSON_COMPACT)) == NULL) {
		acme_problem(k, 500, "serverInternal", "out of memory");
		return -1;
	}
	return 0;
}

/* A boolean member, if present; -1 (problem answered) if not a boolean. */
static int opt_bool(struct acme_call *k, json_t *payload, const char *name,
    int *out)
{
	json_t *v = json_object_get(payload, name);
	char detail[96];

	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(detail, sizeof(detail), "%s must be a boolean", name);
		acme_problem(k, 400, "malformed", detail);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* newAccount's externalAccountBinding (RFC 8555 7.3.4): well formed,
 * for this URL and key, of an EAB key of this provisioner whose MAC
 * verifies, unused and unexpired.  *kid (size ACME_EAB_KID_MAX) receives
 * its key id.  The database claims the key later, in the account's
 * transaction.  A problem has been answered on -1. */
#define ACME_EAB_KID_MAX 129
static int eab_check(struct acme_call *k, const json_t *binding, char *kid)
{
	struct acme_jws *eab = NULL;
	struct db_acme_eab key;
	const char *atype, *id;
	char detail[400];
	struct err e;
	int rc = -1;

	memset(&key, 0, sizeof(key));
	if (acme_eab_parse(binding, acme_jws_url(k->jws), acme_jws_jwk(k->jws),
	    &eab, &atype, &e) != 0) {
		acme_problem_err(k, e.kind == ERR_AUTH ? 401 : 400, atype, &e);
		goto out;
	}
	id = acme_jws_kid(eab);
	if (strlen(id) < ACME_EAB_KID_MAX &&
	    db_acme_eab_get(k->c, id, &key, &e) != 0 && e.kind != ERR_NOTFOUND) {
		acme_problem_internal(k, &e);
		goto out;
	}
	/* Unknown and another provisioner's are one answer. */
	if (key.hmac_key == NULL || strcmp(key.provisioner, k->prov) != 0) {
		/* The kid is echoed only if it could be one of ours: the
		 * detail also goes to the log line. */
		snprintf(detail, sizeof(detail), "RFC 8555 7.3.4: the "
		    "externalAccountBinding kid %.64s is not an EAB key of "
		    "provisioner %s (signet acme eab --provisioner %s)",
		    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-_") == strlen(id) ? id : "(not base64url)",
		    k->prov, k->prov);
		acme_problem(k, 401, "unauthorized", detail);
		goto out;
	}
	/* The MAC before the key's state: only its holder learns that it
	 * is used or expired. */
	if (acme_jws_verify_hmac(eab, key.hmac_key, key.hmac_key_len, &e) != 0) {
		acme_problem_err(k, 401, "unauthorized", &e);
		goto out;
	}
	if (key.used || key.expired) {
		snprintf(detail, sizeof(detail), "RFC 8555 7.3.4: EAB key %.64s %s",
		    id, key.used ? "is bound to an account already: a key binds "
		    "one account" : "has expired (signet acme eab makes another)");
		acme_problem(k, 401, "unauthorized", detail);
		goto out;
	}
	snprintf(kid, ACME_EAB_KID_MAX, "%s", id);
	rc = 0;
out:
	db_acme_eab_clear(&key);
	acme_jws_free(eab);
	return rc;
}

/* POST new-account (RFC 8555 7.3, 7.3.1), verified, jwk form. */
void acme_new_account(struct acme_call *k, json_t *payload)
{
	struct db_acme_account acct;
	char tp[ACME_THUMBPRINT_LEN + 1], *canon = NULL, *contacts = NULL;
	char eab_kid[ACME_EAB_KID_MAX] = "";
	const json_t *binding;
	int only_existing, tos, created = 0;
	struct err e;

	memset(&acct, 0, sizeof(acct));
	if (payload == NULL) {
		acme_problem(k, 400, "malformed", "newAccount needs a JSON object "
		    "payload");
		goto out;
	}
	binding = json_object_get(payload, "externalAccountBinding");
	if (opt_bool(k, payload, "onlyReturnExisting", &only_existing) != 0 ||
	    opt_bool(k, payload, "termsOfServiceAgreed", &tos) != 0)
		goto out;
	if (acme_jwk_thumbprint(acme_jws_jwk(k->jws), tp, &e) != 0 ||
	    acme_jwk_canonical(acme_jws_jwk(k->jws), &canon, &e) != 0) {
		acme_problem_internal(k, &e);
		goto out;
	}
	if (only_existing) {
		if (db_acme_account_by_key(k->c, k->prov, tp, &acct, &e) != 0) {
			if (e.kind == ERR_NOTFOUND)
				acme_problem(k, 400, "accountDoesNotExist", "no account exists "
				    "for this key (onlyReturnExisting)");
			else
				acme_problem_internal(k, &e);
			goto out;
		}
	} else {
		/* A key that has an account gets it back as before, whatever
		 * else the request carries: the server MUST ignore its fields
		 * (7.3.1), contacts and binding included. */
		if (db_acme_account_by_key(k->c, k->prov, tp, &acct, &e) == 0) {
			created = 0;
		} else if (e.kind != ERR_NOTFOUND) {
			acme_problem_internal(k, &e);
			goto out;
		} else if (contacts_json(k, payload, &contacts) != 0) {
			goto out;
		} else if (binding != NULL) {
			/* Verified and bound even where the policy does not
			 * require it: a bound account may use acme_trust. */
			if (eab_check(k, binding, eab_kid) != 0)
				goto out;
			if (db_acme_account_create_eab(k->c, k->prov, tp, canon,
			    contacts ? contacts : "[]", eab_kid, &acct, &created,
			    &e) != 0) {
				acme_problem_err(k, 401, "unauthorized", &e);
				goto out;
			}
		} else if (k->pol->acme_eab) {
			acme_problem(k, 400, "externalAccountRequired", "RFC 8555 "
			    "7.3.4: this directory requires an externalAccountBinding "
			    "(ask its operator for a key: signet acme eab)");
			goto out;
		} else if (db_acme_account_create(k->c, k->prov, tp, canon,
		    contacts ? contacts : "[]", &acct, &created, &e) != 0) {
			acme_problem_internal(k, &e);
			goto out;
		}
	}
	if (strcmp(acct.status, "valid") != 0) {
		acme_problem(k, 401, "unauthorized", "RFC 8555 7.3.6: the account of "
		    "this key is deactivated");
		goto out;
	}
	if (created)
		log_info("msg=\"acme account created\" id=%s provisioner=%s "
		    "account=%lld eab=%s", k->req->request_id, k->prov, acct.id,
		    acct.eab_bound ? eab_kid : "-");
	account_reply(k, created ? 201 : 200, &acct, 1);
out:
	db_acme_account_clear(&acct);
	free(canon);
	free(contacts);
}

/* POST acct/{id} (RFC 8555 7.3.2, 7.3.6), verified, kid form, acct the
 * kid's account. */
void acme_account(struct acme_call *k, long long id, json_t *payload)
{
	struct db_acme_account acct;
	const char *status = NULL;
	char *contacts = NULL;
	json_t *v;
	struct err e;

	memset(&acct, 0, sizeof(acct));
	if (k->acct.id != id) {
		acme_problem(k, 401, "unauthorized", "the JWS kid names another account "
		    "than the one requested");
		goto out;
	}
	if (payload == NULL) {   /* POST-as-GET */
		account_reply(k, 200, &k->acct, 0);
		goto out;
	}
	/* RFC 8555 7.3.2: fields a client may not change (orders,
	 * termsOfServiceAgreed, ones signet does not know) are ignored;
	 * status may only become "deactivated" (7.3.6), and naming the
	 * current one changes nothing. */
	v = json_object_get(payload, "status");
	if (v != NULL) {
		status = json_string_value(v);
		if (status != NULL && strcmp(status, k->acct.status) == 0) {
			status = NULL;
		} else if (status == NULL || strcmp(status, "deactivated") != 0) {
			acme_problem(k, 400, "malformed", "RFC 8555 7.3.6: a client may "
			    "only set status to \"deactivated\"");
			goto out;
		}
	}
	if (contacts_json(k, payload, &contacts) != 0)
		goto out;
	if (contacts == NULL && status == NULL) {   /* nothing to change */
		account_reply(k, 200, &k->acct, 0);
		goto out;
	}
	if (db_acme_account_update(k->c, k->prov, id, contacts, status != NULL,
	    &acct, &e) != 0) {
		if (e.kind == ERR_AUTH || e.kind == ERR_NOTFOUND)
			acme_problem(k, 401, "unauthorized", "the account is not valid");
		else
			acme_problem_internal(k, &e);
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


/* 409 for a new key that is another account's (RFC 8555 7.3.5), with
 * that account's Location. */
static void key_conflict(struct acme_call *k, long long other)
{
	char url[ACME_URL_MAX];

	/* other < 0: the key changed hands again while we looked. */
	if (other > 0) {
		account_url(k, other, url, sizeof(url));
		acme_add_header(k, "Location", url);
	}
	acme_problem(k, 409, "malformed", "RFC 8555 7.3.5: the new key is the "
	    "key of another account (its URL is in Location)");
}

/* POST key-change (RFC 8555 7.3.5), verified, kid form: the payload is
 * an inner JWS signed by the new key (jwk) for the same url, whose
 * payload is {"account": the kid, "oldKey": the account's key}. */
void acme_key_change(struct acme_call *k, json_t *payload)
{
	struct acme_jws *inner = NULL;
	struct db_acme_account acct, other;
	char tp[ACME_THUMBPRINT_LEN + 1], *canon = NULL, detail[ACME_URL_MAX + 96];
	const char *atype, *p, *account;
	json_t *kc = NULL, *stored = NULL, *jwk;
	json_error_t je;
	struct err e;
	size_t plen;

	memset(&acct, 0, sizeof(acct));
	memset(&other, 0, sizeof(other));
	if (payload == NULL) {
		acme_problem(k, 400, "malformed", "RFC 8555 7.3.5: keyChange's "
		    "payload is a JWS signed by the new key");
		goto out;
	}
	if (acme_jws_parse_json(payload, ACME_JWS_INNER, &inner, &atype,
	    &e) != 0) {
		acme_problem_err(k, 400, atype, &e);
		goto out;
	}
	if (strcmp(acme_jws_url(inner), acme_jws_url(k->jws)) != 0) {
		snprintf(detail, sizeof(detail), "RFC 8555 7.3.5: the inner JWS "
		    "url must be the outer one, %s", acme_jws_url(k->jws));
		acme_problem(k, 400, "malformed", detail);
		goto out;
	}
	jwk = acme_jws_jwk(inner);
	if (acme_jws_verify(inner, jwk, &atype, &e) != 0) {
		if (e.kind == ERR_AUTH)
			err_set(&e, ERR_INVALID, "RFC 8555 7.3.5: the inner JWS "
			    "signature does not verify with its jwk (the new key)");
		acme_problem_err(k, 400, atype, &e);
		goto out;
	}
	p = acme_jws_payload(inner, &plen);
	kc = json_loadb(p, plen, JSON_REJECT_DUPLICATES, &je);
	account = json_string_value(json_object_get(kc, "account"));
	if (!json_is_object(kc) || account == NULL ||
	    !json_is_object(json_object_get(kc, "oldKey"))) {
		acme_problem(k, 400, "malformed", "RFC 8555 7.3.5: the inner "
		    "payload is {\"account\": URL, \"oldKey\": JWK}");
		goto out;
	}
	if (strcmp(account, acme_jws_kid(k->jws)) != 0) {
		acme_problem(k, 400, "malformed", "RFC 8555 7.3.5: the inner "
		    "payload's account is not the account of the outer JWS's kid");
		goto out;
	}
	stored = json_loads(k->acct.jwk_json, 0, &je);
	if (!acme_jwk_same(json_object_get(kc, "oldKey"), stored)) {
		acme_problem(k, 400, "malformed", "RFC 8555 7.3.5: oldKey is not "
		    "the account's current key");
		goto out;
	}
	if (acme_jwk_thumbprint(jwk, tp, &e) != 0 ||
	    acme_jwk_canonical(jwk, &canon, &e) != 0) {
		acme_problem_internal(k, &e);
		goto out;
	}
	/* A key another account holds: the unique index refuses it. */
	if (db_acme_account_set_key(k->c, k->prov, k->acct.id, tp, canon,
	    &acct, &e) != 0) {
		if (e.kind == ERR_CONFLICT)
			key_conflict(k, db_acme_account_by_key(k->c, k->prov, tp, &other,
			    &e) == 0 ? other.id : -1);
		else if (e.kind == ERR_AUTH || e.kind == ERR_NOTFOUND)
			acme_problem(k, 401, "unauthorized", "the account is not valid");
		else
			acme_problem_internal(k, &e);
		goto out;
	}
	log_info("msg=\"acme account key changed\" id=%s provisioner=%s "
	    "account=%lld thumbprint=%s", k->req->request_id, k->prov, acct.id,
	    tp);
	account_reply(k, 200, &acct, 0);
out:
	db_acme_account_clear(&acct);
	db_acme_account_clear(&other);
	acme_jws_free(inner);
	json_decref(kc);
	json_decref(stored);
	free(canon);
}
