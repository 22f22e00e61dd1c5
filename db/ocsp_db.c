/*
 * db/ocsp_db.c: delegated OCSP signers and certificate states for the
 * OCSP responder.  Every query parameterized.
 */
#include "db/ocsp_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

int db_ocsp_signer_add(PGconn *c, int issuer_id, const char *key_label,
    const char *serial, time_t not_before, time_t not_after,
    const unsigned char *der, size_t der_len, int *id, struct err *e)
{
	char iid[16], nb[32], na[32], detail[256];
	const char *p[6];
	int lens[6] = { 0, 0, 0, 0, 0, (int)der_len };
	PGresult *r = NULL;

	if (der_len == 0 || der_len > (1u << 20))
		return err_set(e, ERR_INTERNAL, "OCSP signer certificate size");
	snprintf(iid, sizeof(iid), "%d", issuer_id);
	snprintf(nb, sizeof(nb), "%lld", (long long)not_before);
	snprintf(na, sizeof(na), "%lld", (long long)not_after);
	p[0] = iid;
	p[1] = key_label;
	p[2] = serial;
	p[3] = nb;
	p[4] = na;
	p[5] = (const char *)der;
	if (db_execb(c, "INSERT INTO ocsp_signers (issuer_id, key_label, serial,"
	    " not_before, not_after, der) VALUES ($1::int, $2, $3,"
	    " to_timestamp($4::bigint), to_timestamp($5::bigint), $6)"
	    " RETURNING id", 6, p, lens, &r, e) != 0)
		return -1;
	*id = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	snprintf(detail, sizeof(detail), "{\"serial\": \"%.40s\", \"key\": \"%.64s\"}",
	    serial, key_label);
	return db_audit_add(c, "signet", "ocsp.signer", iid, detail, e);
}

int db_ocsp_signer_latest(PGconn *c, int issuer_id,
    struct db_ocsp_signer *out, struct err *e)
{
	char iid[16];
	const char *p[1] = { iid };
	PGresult *r = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	snprintf(iid, sizeof(iid), "%d", issuer_id);
	if (db_exec(c, "SELECT id, key_label, der,"
	    " extract(epoch FROM not_before)::bigint,"
	    " extract(epoch FROM not_after)::bigint FROM ocsp_signers"
	    " WHERE issuer_id = $1::int ORDER BY id DESC LIMIT 1", 1, p, &r,
	    e) != 0)
		return -1;
	if (PQntuples(r) != 1) {
		err_set(e, ERR_NOTFOUND, "no OCSP signer for issuer %d", issuer_id);
		goto out;
	}
	out->id = atoi(PQgetvalue(r, 0, 0));
	out->issuer_id = issuer_id;
	snprintf(out->key_label, sizeof(out->key_label), "%s", PQgetvalue(r, 0, 1));
	if (db_get_bytea(r, 0, 2, &out->der, &out->der_len, e) != 0)
		goto out;
	out->not_before = (time_t)strtoll(PQgetvalue(r, 0, 3), NULL, 10);
	out->not_after = (time_t)strtoll(PQgetvalue(r, 0, 4), NULL, 10);
	rc = 0;
out:
	PQclear(r);
	return rc;
}

void db_ocsp_signer_clear(struct db_ocsp_signer *s)
{
	if (s == NULL)
		return;
	free(s->der);
	memset(s, 0, sizeof(*s));
}

int db_ocsp_signer_next_number(PGconn *c, long *n, struct err *e)
{
	PGresult *r = NULL;

	if (db_exec(c, "SELECT coalesce(max(id), 0) + 1 FROM ocsp_signers", 0,
	    NULL, &r, e) != 0)
		return -1;
	*n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

#define STATE_COLS "serial, issuer_id, status = 'revoked'," \
	" coalesce(extract(epoch FROM revoked_at)::bigint, 0)," \
	" coalesce(revocation_reason, -1), extract(epoch FROM not_after)::bigint"

static void read_state(PGresult *r, int row, struct db_cert_state *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->serial, sizeof(s->serial), "%s", PQgetvalue(r, row, 0));
	s->issuer_id = atoi(PQgetvalue(r, row, 1));
	s->revoked = PQgetvalue(r, row, 2)[0] == 't';
	s->revoked_at = (time_t)strtoll(PQgetvalue(r, row, 3), NULL, 10);
	s->reason = atoi(PQgetvalue(r, row, 4));
	s->not_after = (time_t)strtoll(PQgetvalue(r, row, 5), NULL, 10);
}

int db_ocsp_cert_state(PGconn *c, int issuer_id, const char *serial,
    struct db_cert_state *out, struct err *e)
{
	char iid[16];
	const char *p[2] = { serial, iid };
	PGresult *r = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	snprintf(iid, sizeof(iid), "%d", issuer_id);
	if (db_exec(c, "SELECT " STATE_COLS " FROM certificates"
	    " WHERE serial = $1 AND issuer_id = $2::int"
	    " AND status IN ('good', 'revoked')", 2, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) != 1)
		err_set(e, ERR_NOTFOUND, "no certificate %.40s", serial);
	else {
		read_state(r, 0, out);
		rc = 0;
	}
	PQclear(r);
	return rc;
}

int db_ocsp_cert_list(PGconn *c, int issuer_id, time_t revoked_since,
    long max, struct db_cert_state **out, size_t *n, struct err *e)
{
	char iid[16], since[32], lim[32];
	const char *p[3] = { iid, since, lim };
	PGresult *r = NULL;
	int rows;

	*out = NULL;
	*n = 0;
	snprintf(iid, sizeof(iid), "%d", issuer_id);
	snprintf(since, sizeof(since), "%lld", (long long)revoked_since);
	snprintf(lim, sizeof(lim), "%ld", max);
	if (db_exec(c, revoked_since >= 0 ?
	    "SELECT " STATE_COLS " FROM certificates WHERE issuer_id = $1::int"
	    " AND status = 'revoked' AND revoked_at >= to_timestamp($2::bigint)"
	    " AND not_after > now() ORDER BY revoked_at DESC LIMIT $3::bigint" :
	    "SELECT " STATE_COLS " FROM certificates WHERE issuer_id = $1::int"
	    " AND status IN ('good', 'revoked') AND not_after > now()"
	    " AND $2::bigint < 0 ORDER BY not_after DESC LIMIT $3::bigint",
	    3, p, &r, e) != 0)
		return -1;
	rows = PQntuples(r);
	if (rows > 0 && (*out = calloc((size_t)rows, sizeof(**out))) == NULL) {
		PQclear(r);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	for (int i = 0; i < rows; i++)
		read_state(r, i, &(*out)[i]);
	*n = (size_t)rows;
	PQclear(r);
	return 0;
}
