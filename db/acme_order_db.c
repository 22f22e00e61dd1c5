/* ACME orders, authorizations, challenges and the validation queue
 * (migration 007). */
#include "db/acme_order_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

/* RFC 3339 UTC text of a timestamptz column. */
#define RFC3339(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* A finalization abandoned by a signetd that died while issuing (an
 * issuance takes well under a second; two minutes is abandoned). */
#define STALE_FINALIZE(t) \
	"(" t ".status = 'processing' AND " t ".finalizing_since <" \
	" now() - interval '2 minutes' AND " t ".expires > now())"

static void copy(char *dst, size_t n, PGresult *r, int row, int col)
{
	snprintf(dst, n, "%s", PQgetisnull(r, row, col) ? "" :
	    PQgetvalue(r, row, col));
}

/* A malloc'ed copy of a column, NULL for SQL NULL; -1 when out of
 * memory. */
static int dup_col(char **dst, PGresult *r, int row, int col, struct err *e)
{
	*dst = NULL;
	if (PQgetisnull(r, row, col))
		return 0;
	if ((*dst = strdup(PQgetvalue(r, row, col))) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	return 0;
}

/* {"a","b"} for a text[] parameter; the values hold only base64url and
 * challenge-type characters, none of which an array literal quotes. */
static void text_array(char *out, size_t n, const char *const *v, int count)
{
	size_t used = 0;

	out[used++] = '{';
	for (int i = 0; i < count && used + 2 < n; i++)
		used += (size_t)snprintf(out + used, n - used, "%s%s",
		    i ? "," : "", v[i]);
	snprintf(out + (used < n - 1 ? used : n - 2), 2, "}");
}

int db_acme_order_create(PGconn *c, const char *provisioner,
    long long account, const char *identifiers_json, const char *not_before,
    const char *not_after, long lifetime, const char *replaces,
    const char *replaces_id, const struct db_acme_new_authz *az, int naz,
    long long *id, struct err *e)
{
	char acct_s[24], life_s[24], order_s[24], types[128], tokens[256];
	int ready = 1;
	PGresult *r = NULL;

	for (int i = 0; i < naz; i++)
		ready &= az[i].valid;
	snprintf(acct_s, sizeof(acct_s), "%lld", account);
	snprintf(life_s, sizeof(life_s), "%ld", lifetime);
	if (db_begin(c, e) != 0)
		return -1;
	{
		const char *p[9] = { provisioner, acct_s, ready ? "ready" :
		    "pending", life_s, identifiers_json, not_before, not_after,
		    replaces, replaces_id };

		if (db_exec(c, "INSERT INTO acme_orders (provisioner, account_id,"
		    " status, expires, identifiers, not_before, not_after,"
		    " replaces, replaces_id) VALUES ($1, $2, $3,"
		    " now() + make_interval(secs => $4::bigint), $5::jsonb,"
		    " $6::timestamptz, $7::timestamptz, $8, $9) RETURNING id",
		    9, p, &r, e) != 0)
			goto fail;
		*id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		r = NULL;
	}
	snprintf(order_s, sizeof(order_s), "%lld", *id);
	for (int i = 0; i < naz; i++) {
		const char *p[8] = { order_s, acct_s, az[i].type, az[i].value,
		    az[i].wildcard ? "t" : "f", az[i].valid ? "valid" : "pending",
		    types, tokens };

		text_array(types, sizeof(types), az[i].chall_type, az[i].nchall);
		text_array(tokens, sizeof(tokens), az[i].chall_token, az[i].nchall);
		if (db_exec(c, "WITH a AS (INSERT INTO acme_authzs (order_id,"
		    " account_id, ident_type, ident_value, wildcard, status, expires)"
		    " SELECT $1, $2, $3, $4, $5::boolean, $6, expires"
		    " FROM acme_orders WHERE id = $1 RETURNING id)"
		    " INSERT INTO acme_challenges (authz_id, type, token, status)"
		    " SELECT a.id, t.type, t.token, 'pending'"
		    " FROM a, unnest($7::text[], $8::text[]) AS t(type, token)",
		    8, p, NULL, e) != 0)
			goto fail;
	}
	return db_commit(c, e);
fail:
	PQclear(r);
	db_rollback(c);
	return -1;
}

void db_acme_order_clear(struct db_acme_order *o)
{
	if (o == NULL)
		return;
	free(o->identifiers_json);
	free(o->error_json);
	free(o->authz);
	memset(o, 0, sizeof(*o));
}

int db_acme_order_get(PGconn *c, const char *provisioner, long long id,
    struct db_acme_order *out, struct err *e)
{
	char id_s[24];
	const char *p[2] = { id_s, provisioner }, *list;
	PGresult *r = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	snprintf(id_s, sizeof(id_s), "%lld", id);
	if (db_exec(c, "SELECT o.id, o.account_id,"
	    " CASE WHEN o.status IN ('pending', 'ready') AND o.expires < now()"
	    "  THEN 'invalid' WHEN " STALE_FINALIZE("o") " THEN 'ready'"
	    "  ELSE o.status END, "
	    RFC3339("o.expires") ", " RFC3339("o.not_before") ", "
	    RFC3339("o.not_after") ", o.identifiers::text, o.error::text,"
	    " o.cert_serial, o.replaces,"
	    " (SELECT string_agg(a.id::text, ',' ORDER BY a.id)"
	    "  FROM acme_authzs a WHERE a.order_id = o.id), o.replaces_id"
	    " FROM acme_orders o WHERE o.id = $1 AND o.provisioner = $2",
	    2, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) != 1) {
		err_set(e, ERR_NOTFOUND, "no such order");
		goto out;
	}
	out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	out->account_id = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	copy(out->status, sizeof(out->status), r, 0, 2);
	copy(out->expires, sizeof(out->expires), r, 0, 3);
	copy(out->not_before, sizeof(out->not_before), r, 0, 4);
	copy(out->not_after, sizeof(out->not_after), r, 0, 5);
	copy(out->cert_serial, sizeof(out->cert_serial), r, 0, 8);
	copy(out->replaces, sizeof(out->replaces), r, 0, 9);
	copy(out->replaces_id, sizeof(out->replaces_id), r, 0, 11);
	if (dup_col(&out->identifiers_json, r, 0, 6, e) != 0 ||
	    dup_col(&out->error_json, r, 0, 7, e) != 0)
		goto out;
	list = PQgetvalue(r, 0, 10);
	if (*list != '\0') {
		int n = 1;
		for (const char *q = list; *q; q++)
			n += *q == ',';
		if ((out->authz = calloc((size_t)n, sizeof(long long))) == NULL) {
			err_set(e, ERR_INTERNAL, "out of memory");
			goto out;
		}
		for (const char *q = list; *q && out->nauthz < n;) {
			char *end;
			out->authz[out->nauthz++] = strtoll(q, &end, 10);
			q = *end == ',' ? end + 1 : end;
		}
	}
	rc = 0;
out:
	PQclear(r);
	if (rc != 0)
		db_acme_order_clear(out);
	return rc;
}

void db_acme_authz_clear(struct db_acme_authz *a)
{
	if (a == NULL)
		return;
	for (int i = 0; i < a->nchall; i++)
		free(a->chall[i].error_json);
	memset(a, 0, sizeof(*a));
}

int db_acme_authz_get(PGconn *c, const char *provisioner, long long id,
    struct db_acme_authz *out, struct err *e)
{
	char id_s[24];
	const char *p[2] = { id_s, provisioner };
	PGresult *r = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	snprintf(id_s, sizeof(id_s), "%lld", id);
	if (db_exec(c, "SELECT a.id, a.order_id, a.account_id, a.ident_type,"
	    " a.ident_value, a.wildcard,"
	    " CASE WHEN a.status IN ('pending', 'valid') AND a.expires < now()"
	    "  THEN 'expired' ELSE a.status END, " RFC3339("a.expires")
	    " FROM acme_authzs a JOIN acme_orders o ON o.id = a.order_id"
	    " WHERE a.id = $1 AND o.provisioner = $2", 2, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) != 1) {
		err_set(e, ERR_NOTFOUND, "no such authorization");
		goto out;
	}
	out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	out->order_id = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	out->account_id = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	copy(out->type, sizeof(out->type), r, 0, 3);
	copy(out->value, sizeof(out->value), r, 0, 4);
	out->wildcard = strcmp(PQgetvalue(r, 0, 5), "t") == 0;
	copy(out->status, sizeof(out->status), r, 0, 6);
	copy(out->expires, sizeof(out->expires), r, 0, 7);
	PQclear(r);
	r = NULL;
	if (db_exec(c, "SELECT id, type, token, status, " RFC3339("validated")
	    ", error::text FROM acme_challenges WHERE authz_id = $1 ORDER BY id",
	    1, p, &r, e) != 0)
		goto out;
	for (int i = 0; i < PQntuples(r) && i < DB_ACME_MAX_CHALL; i++) {
		struct db_acme_chall *ch = &out->chall[out->nchall++];

		ch->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		copy(ch->type, sizeof(ch->type), r, i, 1);
		copy(ch->token, sizeof(ch->token), r, i, 2);
		copy(ch->status, sizeof(ch->status), r, i, 3);
		copy(ch->validated, sizeof(ch->validated), r, i, 4);
		if (dup_col(&ch->error_json, r, i, 5, e) != 0)
			goto out;
	}
	rc = 0;
out:
	PQclear(r);
	if (rc != 0)
		db_acme_authz_clear(out);
	return rc;
}

/* One bigint from a one-row, one-column query; ERR_NOTFOUND (what) if
 * there is no row. */
static int one_id(PGconn *c, const char *sql, int np, const char *const *p,
    long long *out, const char *what, struct err *e)
{
	PGresult *r = NULL;
	int rc = 0;

	if (db_exec(c, sql, np, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) < 1 || PQgetisnull(r, 0, 0))
		rc = err_set(e, ERR_NOTFOUND, "%s", what);
	else
		*out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return rc;
}

int db_acme_chall_authz(PGconn *c, long long chall, long long *authz,
    struct err *e)
{
	char id_s[24];
	const char *p[1] = { id_s };

	snprintf(id_s, sizeof(id_s), "%lld", chall);
	return one_id(c, "SELECT authz_id FROM acme_challenges WHERE id = $1",
	    1, p, authz, "no such challenge", e);
}

/* Run sql (one parameter: id) and set *ok to whether it returned rows. */
static int changed(PGconn *c, const char *sql, long long id, int *ok,
    struct err *e)
{
	char id_s[24];
	const char *p[1] = { id_s };
	PGresult *r = NULL;

	snprintf(id_s, sizeof(id_s), "%lld", id);
	if (db_exec(c, sql, 1, p, &r, e) != 0)
		return -1;
	*ok = PQntuples(r) > 0;
	PQclear(r);
	return 0;
}

int db_acme_chall_start(PGconn *c, long long chall, int *started,
    struct err *e)
{
	return changed(c, "UPDATE acme_challenges ch SET status = 'processing',"
	    " next_attempt = now(), attempts = 0, claimed_until = NULL,"
	    " error = NULL FROM acme_authzs a"
	    " WHERE ch.id = $1 AND ch.status = 'pending' AND a.id = ch.authz_id"
	    " AND a.status = 'pending' AND a.expires > now() RETURNING ch.id",
	    chall, started, e);
}

int db_acme_authz_deactivate(PGconn *c, long long authz, int *ok,
    struct err *e)
{
	return changed(c, "WITH a AS (UPDATE acme_authzs SET status ="
	    " 'deactivated' WHERE id = $1 AND status IN ('pending', 'valid')"
	    " AND expires > now() RETURNING order_id),"
	    " o AS (UPDATE acme_orders SET status = 'invalid'"
	    "  WHERE id IN (SELECT order_id FROM a)"
	    "  AND status IN ('pending', 'ready') RETURNING id)"
	    " SELECT order_id FROM a", authz, ok, e);
}

int db_acme_order_begin_finalize(PGconn *c, long long order, int *ok,
    struct err *e)
{
	return changed(c, "UPDATE acme_orders o SET status = 'processing',"
	    " finalizing_since = now() WHERE id = $1 AND ((status = 'ready'"
	    " AND expires > now()) OR " STALE_FINALIZE("o") ") RETURNING id",
	    order, ok, e);
}

int db_acme_order_end_finalize(PGconn *c, long long order,
    const char *serial, struct err *e)
{
	char id_s[24];
	const char *p[2] = { id_s, serial };

	snprintf(id_s, sizeof(id_s), "%lld", order);
	return db_exec(c, "UPDATE acme_orders SET status = CASE WHEN $2::text"
	    " IS NULL THEN 'ready' ELSE 'valid' END, cert_serial = $2"
	    " WHERE id = $1 AND status = 'processing'", 2, p, NULL, e);
}

int db_acme_orders_page(PGconn *c, long long account, long offset, int limit,
    long long *ids, int *n, int *more, struct err *e)
{
	char a_s[24], o_s[24], l_s[24];
	const char *p[3] = { a_s, o_s, l_s };
	PGresult *r = NULL;
	int rows;

	snprintf(a_s, sizeof(a_s), "%lld", account);
	snprintf(o_s, sizeof(o_s), "%ld", offset);
	snprintf(l_s, sizeof(l_s), "%d", limit + 1);
	/* RFC 8555 7.1.2.1: invalid orders (and expired ones, which read as
	 * invalid) are left out. */
	if (db_exec(c, "SELECT id FROM acme_orders WHERE account_id = $1"
	    " AND status <> 'invalid' AND NOT (status IN ('pending', 'ready')"
	    " AND expires < now())"
	    " ORDER BY id DESC OFFSET $2 LIMIT $3", 3, p, &r, e) != 0)
		return -1;
	rows = PQntuples(r);
	*more = rows > limit;
	*n = rows > limit ? limit : rows;
	for (int i = 0; i < *n; i++)
		ids[i] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
	PQclear(r);
	return 0;
}

int db_acme_cert_account(PGconn *c, const char *provisioner,
    const char *serial, long long *account, struct err *e)
{
	const char *p[2] = { serial, provisioner };

	*account = -1;
	if (one_id(c, "SELECT account_id FROM acme_orders"
	    " WHERE cert_serial = $1 AND provisioner = $2", 2, p, account,
	    "not an ACME certificate", e) != 0) {
		if (e->kind != ERR_NOTFOUND)
			return -1;
		*account = -1;
	}
	return 0;
}

int db_acme_cert_replaced(PGconn *c, const char *serial, int *replaced,
    struct err *e)
{
	const char *p[1] = { serial };
	PGresult *r = NULL;

	if (db_exec(c, "SELECT 1 FROM acme_orders WHERE replaces = $1"
	    " AND (status IN ('processing', 'valid') OR"
	    "  (status IN ('pending', 'ready') AND expires > now())) LIMIT 1",
	    1, p, &r, e) != 0)
		return -1;
	*replaced = PQntuples(r) > 0;
	PQclear(r);
	return 0;
}

int db_acme_cert_shares_name(PGconn *c, const char *serial,
    const char *names_json, int *shares, struct err *e)
{
	const char *p[2] = { serial, names_json };
	PGresult *r = NULL;

	if (db_exec(c, "SELECT sans && ARRAY(SELECT jsonb_array_elements_text("
	    "$2::jsonb)) FROM certificates WHERE serial = $1", 2, p, &r, e) != 0)
		return -1;
	*shares = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return 0;
}

int db_acme_orders_recent(PGconn *c, const char *provisioner,
    long long account, long window, long *count, long *wait, struct err *e)
{
	char a_s[24], w_s[24];
	const char *p[3] = { account > 0 ? a_s : NULL, provisioner, w_s };
	PGresult *r = NULL;

	snprintf(a_s, sizeof(a_s), "%lld", account);
	snprintf(w_s, sizeof(w_s), "%ld", window);
	if (db_exec(c, "SELECT count(*), coalesce(ceil(extract(epoch FROM"
	    " min(created_at) + make_interval(secs => $3::bigint) - now())), 0)"
	    " FROM acme_orders WHERE created_at > now() -"
	    " make_interval(secs => $3::bigint) AND provisioner = $2"
	    " AND ($1::bigint IS NULL OR account_id = $1::bigint)",
	    3, p, &r, e) != 0)
		return -1;
	*count = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	*wait = strtol(PQgetvalue(r, 0, 1), NULL, 10);
	PQclear(r);
	return 0;
}

int db_acme_work_claim(PGconn *c, long lease, struct db_acme_work *out,
    int *found, struct err *e)
{
	char l_s[24];
	const char *p[1] = { l_s };
	PGresult *r = NULL;

	*found = 0;
	memset(out, 0, sizeof(*out));
	snprintf(l_s, sizeof(l_s), "%ld", lease);
	/* SKIP LOCKED: workers of every signetd take distinct rows; the
	 * lease (claimed_until) hands a dead worker's row to another. */
	if (db_exec(c, "UPDATE acme_challenges ch"
	    " SET claimed_until = now() + make_interval(secs => $1::bigint),"
	    " attempts = ch.attempts + 1"
	    " FROM acme_authzs a, acme_accounts acc"
	    " WHERE ch.id = (SELECT id FROM acme_challenges"
	    "  WHERE status = 'processing' AND next_attempt <= now()"
	    "  AND (claimed_until IS NULL OR claimed_until < now())"
	    "  ORDER BY next_attempt LIMIT 1 FOR UPDATE SKIP LOCKED)"
	    " AND a.id = ch.authz_id AND acc.id = a.account_id"
	    " RETURNING ch.id, ch.type, ch.token, a.ident_type, a.ident_value,"
	    " acc.jwk_thumbprint, ch.attempts", 1, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) == 1) {
		*found = 1;
		out->chall = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		copy(out->type, sizeof(out->type), r, 0, 1);
		copy(out->token, sizeof(out->token), r, 0, 2);
		copy(out->ident_type, sizeof(out->ident_type), r, 0, 3);
		copy(out->ident_value, sizeof(out->ident_value), r, 0, 4);
		copy(out->thumbprint, sizeof(out->thumbprint), r, 0, 5);
		out->attempts = (int)strtol(PQgetvalue(r, 0, 6), NULL, 10);
	}
	PQclear(r);
	return 0;
}

int db_acme_work_done(PGconn *c, long long chall, int valid,
    const char *error_json, int final, long retry, struct err *e)
{
	char id_s[24], retry_s[24];
	const char *p[3] = { id_s, error_json, retry_s };

	snprintf(id_s, sizeof(id_s), "%lld", chall);
	snprintf(retry_s, sizeof(retry_s), "%ld", retry);
	if (!valid && !final)
		return db_exec(c, "UPDATE acme_challenges SET claimed_until = NULL,"
		    " next_attempt = now() + make_interval(secs => $3::bigint),"
		    " error = $2::jsonb WHERE id = $1 AND status = 'processing'",
		    3, p, NULL, e);
	if (db_begin(c, e) != 0)
		return -1;
	/* The order's row lock serializes the authorizations of one order:
	 * the last to become valid sees the others committed and makes the
	 * order ready. */
	if (db_exec(c, "SELECT o.id FROM acme_orders o"
	    " JOIN acme_authzs a ON a.order_id = o.id"
	    " JOIN acme_challenges ch ON ch.authz_id = a.id"
	    " WHERE ch.id = $1 FOR UPDATE OF o", 1, p, NULL, e) != 0)
		goto fail;
	if (valid) {
		if (db_exec(c, "WITH ch AS (UPDATE acme_challenges"
		    "  SET status = 'valid', validated = now(), claimed_until = NULL,"
		    "  error = NULL WHERE id = $1 AND status = 'processing'"
		    "  RETURNING authz_id),"
		    " az AS (UPDATE acme_authzs SET status = 'valid'"
		    "  WHERE id IN (SELECT authz_id FROM ch) AND status = 'pending'"
		    "  RETURNING id, order_id)"
		    " UPDATE acme_orders o SET status = 'ready'"
		    " WHERE o.id IN (SELECT order_id FROM az) AND o.status = 'pending'"
		    " AND NOT EXISTS (SELECT 1 FROM acme_authzs x"
		    "  WHERE x.order_id = o.id AND x.status <> 'valid'"
		    "  AND x.id NOT IN (SELECT id FROM az))", 1, p, NULL, e) != 0)
			goto fail;
	} else if (db_exec(c, "WITH ch AS (UPDATE acme_challenges"
	    "  SET status = 'invalid', error = $2::jsonb, claimed_until = NULL"
	    "  WHERE id = $1 AND status = 'processing' RETURNING authz_id),"
	    " az AS (UPDATE acme_authzs SET status = 'invalid'"
	    "  WHERE id IN (SELECT authz_id FROM ch) AND status = 'pending'"
	    "  RETURNING order_id)"
	    " UPDATE acme_orders SET status = 'invalid', error = $2::jsonb"
	    " WHERE id IN (SELECT order_id FROM az)"
	    " AND status IN ('pending', 'ready')", 2, p, NULL, e) != 0) {
		goto fail;
	}
	return db_commit(c, e);
fail:
	db_rollback(c);
	return -1;
}
