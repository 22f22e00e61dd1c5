/* ACME nonces and accounts (migration 006). */
#include "db/acme_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Row 0 of r (id, status, jwk, contacts) into out. */
static int account_row(PGresult *r, struct db_acme_account *out,
    struct err *e)
{
	memset(out, 0, sizeof(*out));
	out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	snprintf(out->status, sizeof(out->status), "%s", PQgetvalue(r, 0, 1));
	out->jwk_json = strdup(PQgetvalue(r, 0, 2));
	out->contacts_json = strdup(PQgetvalue(r, 0, 3));
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
	    "  RETURNING id, status, jwk::text AS jwk, contacts::text AS contacts),"
	    " aud AS (INSERT INTO audit_log (actor, action, subject, detail)"
	    "  SELECT 'acme:' || $1::text, 'acme.account.create', id::text,"
	    "  jsonb_build_object('provisioner', $1::text, 'thumbprint', $2::text,"
	    "  'contacts', $4::jsonb) FROM ins)"
	    " SELECT id, status, jwk, contacts FROM ins", 4, p, &r, e) != 0)
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

	if (db_exec(c, "SELECT id, status, jwk::text, contacts::text"
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
	if (db_exec(c, "SELECT id, status, jwk::text, contacts::text"
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
	/* Only a valid account changes; the audit entry records what did. */
	if (db_exec(c,
	    "WITH upd AS (UPDATE acme_accounts SET"
	    "  contacts = COALESCE($3::jsonb, contacts),"
	    "  status = COALESCE($4::text, status)"
	    "  WHERE provisioner = $1 AND id = $2::bigint AND status = 'valid'"
	    "  RETURNING id, status, jwk::text AS jwk, contacts::text AS contacts),"
	    " aud AS (INSERT INTO audit_log (actor, action, subject, detail)"
	    "  SELECT 'acme:' || $1::text, CASE WHEN $4::text IS NULL"
	    "  THEN 'acme.account.update' ELSE 'acme.account.deactivate' END,"
	    "  id::text, jsonb_build_object('provisioner', $1::text,"
	    "  'contacts', contacts::jsonb) FROM upd)"
	    " SELECT id, status, jwk, contacts FROM upd", 4, p, &r, e) != 0)
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
