/* Issuer rows: the root and the issuing intermediates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

int db_issuer_add(PGconn *c, const char *name, const char *kind,
    int parent_id, const char *key_label, const char *token,
    const char *subject, const unsigned char *ski, size_t ski_len,
    const unsigned char spki_sha256[32], time_t not_before, time_t not_after,
    const unsigned char *der, size_t der_len, int *id, struct err *e)
{
	char parent[16], nb[24], na[24];
	const char *p[11];
	int lens[11] = { 0 };
	PGresult *r = NULL;

	snprintf(parent, sizeof(parent), "%d", parent_id);
	snprintf(nb, sizeof(nb), "%lld", (long long)not_before);
	snprintf(na, sizeof(na), "%lld", (long long)not_after);
	p[0] = name;
	p[1] = kind;
	p[2] = parent_id > 0 ? parent : NULL;
	p[3] = key_label;
	p[4] = token;
	p[5] = subject;
	p[6] = (const char *)ski;
	lens[6] = (int)ski_len;
	p[7] = (const char *)spki_sha256;
	lens[7] = 32;
	p[8] = nb;
	p[9] = na;
	p[10] = (const char *)der;
	lens[10] = (int)der_len;
	if (db_execb(c,
	    "WITH ins AS (INSERT INTO issuers (name, kind, parent_id, key_label,"
	    "  token, subject, ski, spki_sha256, not_before, not_after, der)"
	    "  VALUES ($1, $2, $3::integer, $4, $5, $6, $7, $8,"
	    "   to_timestamp($9::double precision),"
	    "   to_timestamp($10::double precision), $11) RETURNING id, name),"
	    " au AS (INSERT INTO audit_log (actor, action, subject, detail)"
	    "  SELECT 'admin', 'issuer.add', name,"
	    "   json_build_object('kind', $2::text, 'subject', $6::text,"
	    "    'key_label', $4::text) FROM ins)"
	    " SELECT id FROM ins",
	    11, p, lens, &r, e) != 0) {
		if (e != NULL && e->kind == ERR_CONFLICT)
			err_set(e, ERR_CONFLICT, "issuer \"%s\" exists already", name);
		return -1;
	}
	if (id != NULL)
		*id = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

static void copy_field(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src);
}

int db_issuers_load(PGconn *c, const char *kind, struct db_issuer **out,
    int *n, struct err *e)
{
	const char *p[1] = { kind };
	PGresult *r = NULL;
	struct db_issuer *v = NULL;
	int rows, rc = -1;

	if (db_exec(c, "SELECT id, name, kind, status, key_label, token, der"
	    " FROM issuers WHERE kind = $1 AND status = 'active'"
	    " ORDER BY id DESC", 1, p, &r, e) != 0)
		return -1;
	rows = PQntuples(r);
	if ((v = calloc((size_t)rows + 1, sizeof(*v))) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (int i = 0; i < rows; i++) {
		v[i].id = atoi(PQgetvalue(r, i, 0));
		copy_field(v[i].name, sizeof(v[i].name), PQgetvalue(r, i, 1));
		copy_field(v[i].kind, sizeof(v[i].kind), PQgetvalue(r, i, 2));
		copy_field(v[i].status, sizeof(v[i].status), PQgetvalue(r, i, 3));
		copy_field(v[i].key_label, sizeof(v[i].key_label),
		    PQgetvalue(r, i, 4));
		copy_field(v[i].token, sizeof(v[i].token), PQgetvalue(r, i, 5));
		if (db_get_bytea(r, i, 6, &v[i].der, &v[i].der_len, e) != 0) {
			db_issuers_free(v, i);
			v = NULL;
			goto out;
		}
	}
	*out = v;
	*n = rows;
	v = NULL;
	rc = 0;
out:
	PQclear(r);
	return rc;
}

void db_issuers_free(struct db_issuer *v, int n)
{
	if (v == NULL)
		return;
	for (int i = 0; i < n; i++)
		free(v[i].der);
	free(v);
}

int db_issuers_count(PGconn *c, long *count, struct err *e)
{
	PGresult *r = NULL;

	if (db_exec(c, "SELECT count(*) FROM issuers", 0, NULL, &r, e) != 0)
		return -1;
	*count = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}
