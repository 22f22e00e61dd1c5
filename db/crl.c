/* CRL numbers, the entries a CRL lists, and the newest CRL per issuer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"


int db_crl_next_number(PGconn *c, int issuer_id, long long *number,
    struct err *e)
{
	char id[16];
	const char *p[1] = { id };
	PGresult *r = NULL;

	snprintf(id, sizeof(id), "%d", issuer_id);
	/* The row lock this takes is held to the end of the caller's
	 * transaction: a second signer waits, then gets the next number. */
	if (db_exec(c, "INSERT INTO crls (issuer_id, last_number)"
	    " VALUES ($1::integer, 1) ON CONFLICT (issuer_id) DO UPDATE"
	    " SET last_number = crls.last_number + 1 RETURNING last_number",
	    1, p, &r, e) != 0)
		return -1;
	*number = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

int db_crl_entries_each(PGconn *c, int issuer_id, time_t this_update,
    int scheduled, db_crl_entry_fn fn, void *arg, long *n, struct err *e)
{
	char id[16], tu[24];
	const char *p[3] = { id, tu, scheduled ? "t" : "f" };
	PGresult *r;
	int rc = 0, failed = 0;

	*n = 0;
	snprintf(id, sizeof(id), "%d", issuer_id);
	snprintf(tu, sizeof(tu), "%lld", (long long)this_update);
	/* One statement, one snapshot: what is listed and what is marked
	 * done are the same rows.  A scheduled CRL marks the expired
	 * certificates it lists: they have now appeared on a scheduled CRL
	 * issued after their notAfter (RFC 5280 3.3) and are left off the
	 * next ones.  The marks roll back with the CRL if it is not stored. */
	if (PQsendQueryParams(c,
	    "WITH listed AS ("
	    "  SELECT serial, revoked_at, revocation_reason, not_after"
	    "  FROM certificates WHERE issuer_id = $1::integer"
	    "  AND status = 'revoked' AND NOT crl_done),"
	    " done AS ("
	    "  UPDATE certificates c SET crl_done = true FROM listed l"
	    "  WHERE $3::boolean AND c.serial = l.serial"
	    "  AND l.not_after < to_timestamp($2::double precision)"
	    "  RETURNING 1)"
	    " SELECT serial, extract(epoch FROM revoked_at)::bigint,"
	    "  coalesce(revocation_reason, 0), (SELECT count(*) FROM done)"
	    " FROM listed",
	    3, NULL, p, NULL, NULL, 0) != 1 || PQsetSingleRowMode(c) != 1) {
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
		msg[strcspn(msg, "\n")] = '\0';
		/* Drain whatever was sent before saying so. */
		while ((r = PQgetResult(c)) != NULL)
			PQclear(r);
		return err_set(e, PQstatus(c) == CONNECTION_OK ? ERR_INTERNAL :
		    ERR_UNAVAILABLE, "database: %s", msg);
	}
	/* Every result must be read before the connection is usable again,
	 * so a failure only stops the calls to fn. */
	while ((r = PQgetResult(c)) != NULL) {
		ExecStatusType st = PQresultStatus(r);

		if (st == PGRES_SINGLE_TUPLE && !failed) {
			if (fn(arg, PQgetvalue(r, 0, 0),
			    strtoll(PQgetvalue(r, 0, 1), NULL, 10),
			    atoi(PQgetvalue(r, 0, 2)), e) != 0) {
				failed = 1;
				rc = -1;
			} else {
				(*n)++;
			}
		} else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK &&
		    !failed) {
			char msg[256];
			snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
			msg[strcspn(msg, "\n")] = '\0';
			err_set(e, PQstatus(c) == CONNECTION_OK ? ERR_INTERNAL :
			    ERR_UNAVAILABLE, "database: %s", msg);
			failed = 1;
			rc = -1;
		}
		PQclear(r);
	}
	return rc;
}

int db_crl_store(PGconn *c, int issuer_id, long long number,
    const unsigned char *der, size_t len, time_t this_update,
    time_t next_update, int scheduled, struct err *e)
{
	char id[16], num[24], tu[24], nu[24];
	const char *p[6] = { id, num, (const char *)der, tu, nu,
	    scheduled ? "t" : "f" };
	int lens[6] = { 0, 0, (int)len, 0, 0, 0 };

	snprintf(id, sizeof(id), "%d", issuer_id);
	snprintf(num, sizeof(num), "%lld", number);
	snprintf(tu, sizeof(tu), "%lld", (long long)this_update);
	snprintf(nu, sizeof(nu), "%lld", (long long)next_update);
	/* Only ever replace an older CRL with a newer one. */
	return db_execb(c, "UPDATE crls SET crl_number = $2::bigint, der = $3,"
	    " this_update = to_timestamp($4::double precision),"
	    " next_update = to_timestamp($5::double precision),"
	    " scheduled = $6::boolean, updated_at = now()"
	    " WHERE issuer_id = $1::integer"
	    " AND (crl_number IS NULL OR crl_number < $2::bigint)",
	    6, p, lens, NULL, e);
}

int db_crl_get(PGconn *c, const char *issuer_name, struct db_crl *out,
    struct err *e)
{
	const char *p[1] = { issuer_name };
	PGresult *r = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (db_exec(c, "SELECT k.crl_number,"
	    " extract(epoch FROM k.this_update)::bigint,"
	    " extract(epoch FROM k.next_update)::bigint, k.der"
	    " FROM crls k JOIN issuers i ON i.id = k.issuer_id"
	    " WHERE i.name = $1 AND k.der IS NOT NULL", 1, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) == 0) {
		err_set(e, ERR_NOTFOUND, "no CRL for issuer %.64s yet", issuer_name);
		goto out;
	}
	out->number = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	out->this_update = (time_t)strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	out->next_update = (time_t)strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	if (db_get_bytea(r, 0, 3, &out->der, &out->der_len, e) != 0)
		goto out;
	rc = 0;
out:
	PQclear(r);
	return rc;
}

int db_crl_this_update(PGconn *c, int issuer_id, time_t *this_update,
    struct err *e)
{
	char id[16];
	const char *p[1] = { id };
	PGresult *r = NULL;

	snprintf(id, sizeof(id), "%d", issuer_id);
	*this_update = 0;
	if (db_exec(c, "SELECT extract(epoch FROM this_update)::bigint"
	    " FROM crls WHERE issuer_id = $1::integer"
	    " AND der IS NOT NULL", 1, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) > 0)
		*this_update = (time_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}
