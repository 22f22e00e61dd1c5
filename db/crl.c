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

/* The error a FETCH result carries, as db_exec would report it. */
static int fetch_error(PGconn *c, PGresult *r, struct err *e)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s", r != NULL ? PQresultErrorMessage(r) :
	    PQerrorMessage(c));
	msg[strcspn(msg, "\n")] = '\0';
	return err_set(e, PQstatus(c) == CONNECTION_OK ? ERR_INTERNAL :
	    ERR_UNAVAILABLE, "database: %s", msg);
}

/* The next FETCH's result (and the end of its command). */
static PGresult *fetch_result(PGconn *c)
{
	PGresult *r = PQgetResult(c), *extra;

	while ((extra = PQgetResult(c)) != NULL)
		PQclear(extra);
	return r;
}

/* A growing "{a,b,...}" array literal of hex serials (no quoting needed). */
struct serials {
	char *p;
	size_t len, cap;
};

static int serials_add(struct serials *s, const char *serial, struct err *e)
{
	size_t n = strlen(serial);

	if (s->len + n + 3 > s->cap) {
		size_t cap = (s->len + n + 3) * 2;
		char *np = realloc(s->p, cap);

		if (np == NULL)
			return err_set(e, ERR_INTERNAL, "out of memory");
		s->p = np;
		s->cap = cap;
	}
	s->p[s->len] = s->len == 0 ? '{' : ',';
	s->len++;
	memcpy(s->p + s->len, serial, n);
	s->len += n;
	s->p[s->len] = '}';
	s->p[s->len + 1] = '\0';
	return 0;
}

int db_crl_entries_each(PGconn *c, int issuer_id, time_t this_update,
    int scheduled, db_crl_entry_fn fn, void *arg, long *n, struct err *e)
{
	char id[16], tu[24];
	const char *p[2] = { id, tu };
	struct serials expired = { NULL, 0, 0 };
	PGresult *r = NULL;
	int rc = -1, sent = 0;

	*n = 0;
	snprintf(id, sizeof(id), "%d", issuer_id);
	snprintf(tu, sizeof(tu), "%lld", (long long)this_update);
	/* A cursor in the caller's transaction: one snapshot for the whole
	 * list, read in batches so that a CRL of a million entries never
	 * holds the whole result beside itself, and without the cost of a
	 * result per row. */
	if (db_exec(c, "DECLARE signet_crl NO SCROLL CURSOR FOR"
	    " SELECT serial, extract(epoch FROM revoked_at)::bigint,"
	    "  coalesce(revocation_reason, 0),"
	    "  not_after < to_timestamp($2::double precision)"
	    " FROM certificates WHERE issuer_id = $1::integer"
	    " AND status = 'revoked' AND NOT crl_done", 2, p, NULL, e) != 0)
		return -1;
#define CRL_FETCH "FETCH 5000 FROM signet_crl"
	if (PQsendQuery(c, CRL_FETCH) != 1) {
		fetch_error(c, NULL, e);
		goto out;
	}
	sent = 1;
	for (;;) {
		int rows;

		r = fetch_result(c);
		sent = 0;
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			fetch_error(c, r, e);
			goto out;
		}
		if ((rows = PQntuples(r)) == 0)
			break;
		/* Ask for the next batch before building this one: the server
		 * reads it while we work. */
		if (rows == 5000) {
			if (PQsendQuery(c, CRL_FETCH) != 1) {
				fetch_error(c, NULL, e);
				goto out;
			}
			sent = 1;
		}
		for (int i = 0; i < rows; i++) {
			const char *serial = PQgetvalue(r, i, 0);

			if (fn(arg, serial, strtoll(PQgetvalue(r, i, 1), NULL, 10),
			    atoi(PQgetvalue(r, i, 2)), e) != 0)
				goto out;
			if (scheduled && PQgetvalue(r, i, 3)[0] == 't' &&
			    serials_add(&expired, serial, e) != 0)
				goto out;
			(*n)++;
		}
		PQclear(r);
		r = NULL;
		if (!sent)
			break;
	}
#undef CRL_FETCH
	if (db_exec(c, "CLOSE signet_crl", 0, NULL, NULL, e) != 0)
		goto out;
	/* A scheduled CRL marks the expired certificates it lists: they have
	 * now appeared on a scheduled CRL issued after their notAfter (RFC
	 * 5280 3.3) and are left off the next ones.  Exactly the rows listed
	 * (a certificate revoked meanwhile is not); the marks roll back with
	 * the CRL if it is not stored. */
	if (expired.p != NULL) {
		const char *q[1] = { expired.p };

		if (db_exec(c, "UPDATE certificates SET crl_done = true"
		    " WHERE serial = ANY($1::text[])", 1, q, NULL, e) != 0)
			goto out;
	}
	rc = 0;
out:
	PQclear(r);
	/* A batch asked for must be read before the connection is usable. */
	if (sent)
		PQclear(fetch_result(c));
	free(expired.p);
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
