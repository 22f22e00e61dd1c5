/* ACME nonces and accounts (migrations 006, 007). */
#include "db/acme_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db/db.h"

int db_acme_nonce_add(PGconn *c, const char *nonce, long ttl, struct err *e)
{
	char ttl_s[32];
	const char *p[2] = { nonce, ttl_s };

	snprintf(ttl_s, sizeof(ttl_s), "%ld", ttl);
	return db_exec(c, "INSERT INTO acme_nonces (nonce, expires_at)"
	    " VALUES ($1, now() + make_interval(secs => $2::bigint))",
	    2, p, NULL, e);
}

int db_acme_nonce_consume(PGconn *c, const char *nonce, int *ok,
    struct err *e)
{
	const char *p[1] = { nonce };
	PGresult *r = NULL;

	*ok = 0;
	/* An expired nonce is deleted too: it is no good to anyone. */
	if (db_exec(c, "DELETE FROM acme_nonces WHERE nonce = $1"
	    " RETURNING expires_at > now()", 1, p, &r, e) != 0)
		return -1;
	*ok = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return 0;
}

int db_acme_nonce_purge(PGconn *c, long *n, struct err *e)
{
	PGresult *r = NULL;

	if (db_exec(c, "DELETE FROM acme_nonces WHERE expires_at < now()",
	    0, NULL, &r, e) != 0)
		return -1;
	if (n != NULL)
		*n = strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

void db_acme_account_clear(struct db_acme_account *a)
{
	if (a == NULL)
		return;
	free(a->jwk_json);
	free(a->contacts_json);
	memset(a, 0, sizeof(*a));
}

/* The columns account_row reads, in its order: every query that
 * returns an account selects these. */
#define ACCOUNT_COLS "id, status, jwk::text AS jwk, " \
	"contacts::text AS contacts, eab_kid IS NOT NULL AS eab"

/* Row 0 of r (ACCOUNT_COLS) into out. */
static int account_row(PGresult *r, struct db_acme_account *out,
    struct err *e)
{
	memset(out, 0, sizeof(*out));
	out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	snprintf(out->status, sizeof(out->status), "%s", PQgetvalue(r, 0, 1));
	out->jwk_json = strdup(PQgetvalue(r, 0, 2));
	out->contacts_json = strdup(PQgetvalue(r, 0, 3));
	out->eab_bound = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
	if (out->jwk_json == NULL || out->contacts_json == NULL) {
		db_acme_account_clear(out);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	return 0;
}

int db_acme_account_create(PGconn *c, const char *provisioner,
    const char *thumbprint, const char *jwk_json, const char *contacts_json,
    struct db_acme_account *out, int *created, struct err *e)
{
	const char *p[4] = { provisioner, thumbprint, jwk_json, contacts_json };
	PGresult *r = NULL;
	int rc;

	*created = 0;
	/* ON CONFLICT DO NOTHING waits for a concurrent insert of the same
	 * key to commit; the lookup below then finds its row. */
	if (db_exec(c,
	    "WITH ins AS (INSERT INTO acme_accounts"
	    "  (provisioner, jwk_thumbprint, jwk, contacts)"
	    "  VALUES ($1, $2, $3::jsonb, $4::jsonb)"
	    "  ON CONFLICT (provisioner, jwk_thumbprint) DO NOTHING"
	    "  RETURNING " ACCOUNT_COLS "),"
	    " aud AS (INSERT INTO audit_log (actor, action, subject, detail)"
	    "  SELECT 'acme:' || $1::text, 'acme.account.create', id::text,"
	    "  jsonb_build_object('provisioner', $1::text, 'thumbprint', $2::text,"
	    "  'contacts', $4::jsonb) FROM ins)"
	    " SELECT * FROM ins", 4, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) == 1) {
		rc = account_row(r, out, e);
		PQclear(r);
		if (rc == 0)
			*created = 1;
		return rc;
	}
	PQclear(r);
	return db_acme_account_by_key(c, provisioner, thumbprint, out, e);
}

int db_acme_account_by_key(PGconn *c, const char *provisioner,
    const char *thumbprint, struct db_acme_account *out, struct err *e)
{
	const char *p[2] = { provisioner, thumbprint };
	PGresult *r = NULL;
	int rc;

	if (db_exec(c, "SELECT " ACCOUNT_COLS
	    " FROM acme_accounts WHERE provisioner = $1 AND jwk_thumbprint = $2",
	    2, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) != 1)
		rc = err_set(e, ERR_NOTFOUND, "no account for this key");
	else
		rc = account_row(r, out, e);
	PQclear(r);
	return rc;
}

int db_acme_account_get(PGconn *c, const char *provisioner, long long id,
    struct db_acme_account *out, struct err *e)
{
	char id_s[32];
	const char *p[2] = { provisioner, id_s };
	PGresult *r = NULL;
	int rc;

	snprintf(id_s, sizeof(id_s), "%lld", id);
	if (db_exec(c, "SELECT " ACCOUNT_COLS
	    " FROM acme_accounts WHERE provisioner = $1 AND id = $2::bigint",
	    2, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) != 1)
		rc = err_set(e, ERR_NOTFOUND, "no account %lld", id);
	else
		rc = account_row(r, out, e);
	PQclear(r);
	return rc;
}

int db_acme_account_update(PGconn *c, const char *provisioner, long long id,
    const char *contacts_json, int deactivate, struct db_acme_account *out,
    struct err *e)
{
	char id_s[32];
	const char *p[4] = { provisioner, id_s, contacts_json,
	    deactivate ? "deactivated" : NULL };
	PGresult *r = NULL;
	int rc;

	snprintf(id_s, sizeof(id_s), "%lld", id);
	/* Only a valid account changes; the audit entry records what did.
	 * (acme_orders and acme_authzs are migration 007's.) */
	if (db_exec(c,
	    "WITH upd AS (UPDATE acme_accounts SET"
	    "  contacts = COALESCE($3::jsonb, contacts),"
	    "  status = COALESCE($4::text, status)"
	    "  WHERE provisioner = $1 AND id = $2::bigint AND status = 'valid'"
	    "  RETURNING " ACCOUNT_COLS "),"
	    " aud AS (INSERT INTO audit_log (actor, action, subject, detail)"
	    "  SELECT 'acme:' || $1::text, CASE WHEN $4::text IS NULL"
	    "  THEN 'acme.account.update' ELSE 'acme.account.deactivate' END,"
	    "  id::text, jsonb_build_object('provisioner', $1::text,"
	    "  'contacts', contacts::jsonb) FROM upd),"
	    /* RFC 8555 7.3.6: a deactivated account's pending work ends. */
	    " ord AS (UPDATE acme_orders SET status = 'invalid'"
	    "  WHERE $4::text IS NOT NULL AND account_id IN (SELECT id FROM upd)"
	    "  AND status IN ('pending', 'ready') RETURNING id),"
	    " az AS (UPDATE acme_authzs SET status = 'deactivated'"
	    "  WHERE $4::text IS NOT NULL AND account_id IN (SELECT id FROM upd)"
	    "  AND status = 'pending' RETURNING id)"
	    " SELECT * FROM upd", 4, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) == 1) {
		rc = account_row(r, out, e);
		PQclear(r);
		return rc;
	}
	PQclear(r);
	if (db_acme_account_get(c, provisioner, id, out, e) != 0)
		return -1;
	db_acme_account_clear(out);
	return err_set(e, ERR_AUTH, "account %lld is not valid", id);
}

/* Why eab_kid could not be claimed for a new account of thumbprint
 * (outside the failed transaction): see db_acme_account_create_eab. */
static int eab_unclaimable(PGconn *c, const char *provisioner,
    const char *thumbprint, const char *eab_kid, struct db_acme_account *out,
    int *created, struct err *e)
{
	struct db_acme_eab k;
	int rc = -1;

	memset(&k, 0, sizeof(k));
	if (db_acme_eab_get(c, eab_kid, &k, e) != 0) {
		if (e->kind != ERR_NOTFOUND)   /* the database's own failure */
			goto out;
	}
	if (k.hmac_key == NULL || strcmp(k.provisioner, provisioner) != 0) {
		err_set(e, ERR_NOTFOUND, "no EAB key %.64s for provisioner \"%s\"",
		    eab_kid, provisioner);
		goto out;
	}
	if (k.used) {
		/* A twin of this request (same account key, same EAB key)
		 * won the race: its account is this key's. */
		if (k.account_id > 0 && db_acme_account_by_key(c, provisioner,
		    thumbprint, out, e) == 0) {
			if (out->id == k.account_id) {
				*created = 0;
				rc = 0;
				goto out;
			}
			db_acme_account_clear(out);
		}
		err_set(e, ERR_AUTH, "EAB key %.64s is bound to an account already: "
		    "a key binds one account", eab_kid);
	} else if (k.expired) {
		err_set(e, ERR_AUTH, "EAB key %.64s has expired", eab_kid);
	} else {
		err_set(e, ERR_AUTH, "EAB key %.64s could not be claimed", eab_kid);
	}
out:
	db_acme_eab_clear(&k);
	return rc;
}

int db_acme_account_create_eab(PGconn *c, const char *provisioner,
    const char *thumbprint, const char *jwk_json, const char *contacts_json,
    const char *eab_kid, struct db_acme_account *out, int *created,
    struct err *e)
{
	const char *p[5] = { provisioner, thumbprint, jwk_json, contacts_json,
	    eab_kid };
	const char *q[2] = { eab_kid, provisioner };
	char id_s[32];
	PGresult *r = NULL;
	int have = 0;

	*created = 0;
	memset(out, 0, sizeof(*out));
	if (db_begin(c, e) != 0)
		return -1;
	/* Claim the key first.  Its row lock serializes racing bindings:
	 * the second waits, and READ COMMITTED re-checks the row, which then
	 * has used_at set, so it claims nothing. */
	if (db_exec(c, "UPDATE acme_eab_keys SET used_at = now()"
	    " WHERE kid = $1 AND provisioner = $2 AND used_at IS NULL"
	    " AND (expires_at IS NULL OR expires_at > now()) RETURNING kid",
	    2, q, &r, e) != 0)
		goto fail;
	if (PQntuples(r) == 0) {
		PQclear(r);
		db_rollback(c);
		return eab_unclaimable(c, provisioner, thumbprint, eab_kid, out,
		    created, e);
	}
	PQclear(r);
	r = NULL;
	/* ON CONFLICT DO NOTHING waits for a concurrent insert of the same
	 * account key to commit. */
	if (db_exec(c,
	    "WITH ins AS (INSERT INTO acme_accounts"
	    "  (provisioner, jwk_thumbprint, jwk, contacts, eab_kid)"
	    "  VALUES ($1, $2, $3::jsonb, $4::jsonb, $5)"
	    "  ON CONFLICT (provisioner, jwk_thumbprint) DO NOTHING"
	    "  RETURNING " ACCOUNT_COLS "),"
	    " aud AS (INSERT INTO audit_log (actor, action, subject, detail)"
	    "  SELECT 'acme:' || $1::text, 'acme.account.create', id::text,"
	    "  jsonb_build_object('provisioner', $1::text, 'thumbprint', $2::text,"
	    "  'contacts', $4::jsonb, 'eab_kid', $5::text) FROM ins)"
	    " SELECT * FROM ins", 5, p, &r, e) != 0)
		goto fail;
	if (PQntuples(r) == 0) {
		/* The key has an account already (made meanwhile): it stays
		 * as it is, and the EAB key unused. */
		PQclear(r);
		db_rollback(c);
		return db_acme_account_by_key(c, provisioner, thumbprint, out, e);
	}
	if (account_row(r, out, e) != 0)
		goto fail;
	have = 1;
	PQclear(r);
	r = NULL;
	snprintf(id_s, sizeof(id_s), "%lld", out->id);
	q[1] = id_s;
	if (db_exec(c, "UPDATE acme_eab_keys SET account_id = $2::bigint"
	    " WHERE kid = $1", 2, q, NULL, e) != 0 || db_commit(c, e) != 0)
		goto fail;
	*created = 1;
	return 0;
fail:
	PQclear(r);
	db_rollback(c);
	if (have)
		db_acme_account_clear(out);
	return -1;
}

int db_acme_account_set_key(PGconn *c, const char *provisioner, long long id,
    const char *thumbprint, const char *jwk_json,
    struct db_acme_account *out, struct err *e)
{
	char id_s[32], actor[96], *detail = NULL;
	const char *p[4] = { provisioner, id_s, thumbprint, jwk_json };
	PGresult *r = NULL;
	json_t *dj = NULL;
	int have = 0;

	memset(out, 0, sizeof(*out));
	snprintf(id_s, sizeof(id_s), "%lld", id);
	if (db_begin(c, e) != 0)
		return -1;
	/* The old thumbprint for the audit entry, under the row's lock so
	 * that two key changes of one account follow each other. */
	if (db_exec(c, "SELECT status, jwk_thumbprint FROM acme_accounts"
	    " WHERE provisioner = $1 AND id = $2::bigint FOR UPDATE", 2, p, &r,
	    e) != 0)
		goto fail;
	if (PQntuples(r) != 1) {
		err_set(e, ERR_NOTFOUND, "no account %lld", id);
		goto fail;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "valid") != 0) {
		err_set(e, ERR_AUTH, "account %lld is not valid", id);
		goto fail;
	}
	dj = json_pack("{s:s, s:s, s:s}", "provisioner", provisioner,
	    "old_thumbprint", PQgetvalue(r, 0, 1), "thumbprint", thumbprint);
	if (dj == NULL || (detail = json_dumps(dj, JSON_COMPACT)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto fail;
	}
	PQclear(r);
	r = NULL;
	/* The unique (provisioner, jwk_thumbprint) index refuses a key of
	 * another account: ERR_CONFLICT from db_exec. */
	if (db_exec(c, "UPDATE acme_accounts SET jwk_thumbprint = $3,"
	    " jwk = $4::jsonb WHERE provisioner = $1 AND id = $2::bigint"
	    " RETURNING " ACCOUNT_COLS, 4, p, &r, e) != 0)
		goto fail;
	if (account_row(r, out, e) != 0)
		goto fail;
	have = 1;
	snprintf(actor, sizeof(actor), "acme:%s", provisioner);
	if (db_audit_add(c, actor, "acme.account.key_change", id_s, detail,
	    e) != 0 || db_commit(c, e) != 0)
		goto fail;
	PQclear(r);
	json_decref(dj);
	free(detail);
	return 0;
fail:
	if (e->kind == ERR_CONFLICT)
		err_set(e, ERR_CONFLICT, "another account of provisioner \"%s\" "
		    "has this key", provisioner);
	PQclear(r);
	db_rollback(c);
	if (have)
		db_acme_account_clear(out);
	json_decref(dj);
	free(detail);
	return -1;
}

int db_acme_cert_ordered_by(PGconn *c, const char *provisioner,
    const char *serial, long long account_id, int *yes, struct err *e)
{
	char id_s[32];
	const char *p[3] = { provisioner, serial, id_s };
	PGresult *r = NULL;

	*yes = 0;
	snprintf(id_s, sizeof(id_s), "%lld", account_id);
	if (db_exec(c, "SELECT 1 FROM acme_orders WHERE provisioner = $1"
	    " AND cert_serial = $2 AND account_id = $3::bigint LIMIT 1", 3, p,
	    &r, e) != 0)
		return -1;
	*yes = PQntuples(r) == 1;
	PQclear(r);
	return 0;
}

int db_acme_authz_cover(PGconn *c, long long account_id,
    const char *idents_json, int *yes, struct err *e)
{
	char id_s[32];
	const char *p[2] = { id_s, idents_json };
	PGresult *r = NULL;

	*yes = 0;
	snprintf(id_s, sizeof(id_s), "%lld", account_id);
	/* bool_and over no identifiers is NULL: nothing is covered then. */
	if (db_exec(c, "SELECT coalesce(bool_and(EXISTS (SELECT 1 FROM"
	    " acme_authzs a WHERE a.account_id = $1::bigint"
	    " AND a.ident_type = i->>'type' AND a.ident_value = i->>'value'"
	    " AND a.status = 'valid' AND a.expires > now())), false)"
	    " FROM jsonb_array_elements($2::jsonb) i", 2, p, &r, e) != 0)
		return -1;
	*yes = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return 0;
}
