/* ACME External Account Binding keys (RFC 8555 7.3.4; migration 007). */
#include "db/acme_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db/db.h"

int db_acme_eab_add(PGconn *c, const char *kid, const char *provisioner,
    const unsigned char *key, size_t key_len, long long ttl,
    const char *actor, char expires[32], struct err *e)
{
	char ttl_s[32];
	const char *p[4] = { kid, provisioner, (const char *)key,
	    ttl > 0 ? ttl_s : NULL };
	int lens[4] = { 0, 0, (int)key_len, 0 };
	PGresult *r = NULL;
	char *detail = NULL;
	json_t *dj = NULL;
	int rc = -1;

	expires[0] = '\0';
	snprintf(ttl_s, sizeof(ttl_s), "%lld", ttl);
	if (key_len == 0 || key_len > 1024)
		return err_set(e, ERR_INTERNAL, "EAB key of %zu bytes", key_len);
	if (db_begin(c, e) != 0)
		return -1;
	/* Locked so that a concurrent `provisioner remove` waits (the
	 * foreign key would refuse the insert, less clearly). */
	if (db_exec(c, "SELECT 1 FROM provisioners WHERE name = $1 FOR SHARE",
	    1, &p[1], &r, e) != 0)
		goto fail;
	if (PQntuples(r) == 0) {
		err_set(e, ERR_NOTFOUND, "no provisioner \"%s\"", provisioner);
		goto fail;
	}
	PQclear(r);
	r = NULL;
	if (db_execb(c, "INSERT INTO acme_eab_keys (kid, provisioner, hmac_key,"
	    " expires_at) VALUES ($1, $2, $3,"
	    " now() + make_interval(secs => $4::bigint))"
	    " RETURNING coalesce(to_char(expires_at AT TIME ZONE 'UTC',"
	    "  'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')", 4, p, lens, &r, e) != 0)
		goto fail;
	snprintf(expires, 32, "%s", PQgetvalue(r, 0, 0));
	/* Never the key itself in the audit log: only who may use it. */
	dj = json_pack("{s:s, s:o}", "provisioner", provisioner, "expires",
	    expires[0] ? json_string(expires) : json_null());
	if (dj == NULL || (detail = json_dumps(dj, JSON_COMPACT)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto fail;
	}
	if (db_audit_add(c, actor, "acme.eab.create", kid, detail, e) != 0 ||
	    db_commit(c, e) != 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	db_rollback(c);
	expires[0] = '\0';
out:
	json_decref(dj);
	free(detail);
	PQclear(r);
	return rc;
}

void db_acme_eab_clear(struct db_acme_eab *k)
{
	if (k == NULL)
		return;
	if (k->hmac_key != NULL)
		memset(k->hmac_key, 0, k->hmac_key_len);
	free(k->hmac_key);
	memset(k, 0, sizeof(*k));
}

int db_acme_eab_get(PGconn *c, const char *kid, struct db_acme_eab *out,
    struct err *e)
{
	const char *p[1] = { kid };
	PGresult *r = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (db_exec(c, "SELECT provisioner, hmac_key, used_at IS NOT NULL,"
	    " coalesce(expires_at <= now(), false), coalesce(account_id, 0)"
	    " FROM acme_eab_keys WHERE kid = $1", 1, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) != 1) {
		err_set(e, ERR_NOTFOUND, "no EAB key %.64s", kid);
		goto out;
	}
	snprintf(out->provisioner, sizeof(out->provisioner), "%s",
	    PQgetvalue(r, 0, 0));
	if (db_get_bytea(r, 0, 1, &out->hmac_key, &out->hmac_key_len, e) != 0)
		goto out;
	out->used = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
	out->expired = strcmp(PQgetvalue(r, 0, 3), "t") == 0;
	out->account_id = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
	rc = 0;
out:
	PQclear(r);
	return rc;
}
