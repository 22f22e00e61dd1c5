/* Provisioner rows: public JWK and policy, each change audited. */
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

int db_provisioner_add(PGconn *c, const char *name, const char *jwk_json,
    const char *policy_json, struct err *e)
{
	const char *p[3] = { name, jwk_json, policy_json };

	if (db_exec(c,
	    "WITH ins AS (INSERT INTO provisioners (name, public_jwk, policy)"
	    "  VALUES ($1, $2::jsonb, $3::jsonb) RETURNING name)"
	    " INSERT INTO audit_log (actor, action, subject, detail)"
	    " SELECT 'admin', 'provisioner.add', name, $3::jsonb FROM ins",
	    3, p, NULL, e) != 0) {
		if (e != NULL && e->kind == ERR_CONFLICT)
			err_set(e, ERR_CONFLICT, "provisioner \"%s\" exists already",
			    name);
		return -1;
	}
	return 0;
}

int db_provisioner_remove(PGconn *c, const char *name, struct err *e)
{
	const char *p[1] = { name };
	PGresult *r = NULL;
	int n;

	if (db_exec(c,
	    "WITH del AS (DELETE FROM provisioners WHERE name = $1 RETURNING name)"
	    " INSERT INTO audit_log (actor, action, subject)"
	    " SELECT 'admin', 'provisioner.remove', name FROM del RETURNING id",
	    1, p, &r, e) != 0)
		return -1;
	n = PQntuples(r);
	PQclear(r);
	if (n == 0)
		return err_set(e, ERR_NOTFOUND, "no provisioner named \"%s\"", name);
	return 0;
}

int db_provisioner_get(PGconn *c, const char *name, char **jwk_json,
    char **policy_json, struct err *e)
{
	const char *p[1] = { name };
	PGresult *r = NULL;
	int rc = -1;

	if (db_exec(c, "SELECT public_jwk::text, policy::text FROM provisioners"
	    " WHERE name = $1", 1, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) == 0) {
		err_set(e, ERR_NOTFOUND, "no provisioner named \"%s\"", name);
		goto out;
	}
	*jwk_json = strdup(PQgetvalue(r, 0, 0));
	*policy_json = strdup(PQgetvalue(r, 0, 1));
	if (*jwk_json == NULL || *policy_json == NULL) {
		free(*jwk_json);
		free(*policy_json);
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	PQclear(r);
	return rc;
}

int db_provisioner_list_json(PGconn *c, char **out, struct err *e)
{
	PGresult *r = NULL;

	if (db_exec(c,
	    "SELECT coalesce(json_agg(json_build_object('name', name,"
	    " 'kind', kind, 'policy', policy, 'public_jwk', public_jwk,"
	    " 'created_at', to_char(created_at AT TIME ZONE 'UTC',"
	    "  'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) ORDER BY name), '[]')"
	    " FROM provisioners", 0, NULL, &r, e) != 0)
		return -1;
	*out = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return *out ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
}
