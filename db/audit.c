/*
 * The audit chain's SQL: unchained entries, chain rows, checkpoints.  The
 * hashing and the signing live in ca/audit_sealer.c; here are only
 * parameterized queries, each bounded by a LIMIT so that no caller ever
 * holds more than one batch of a table that grows forever.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "db/db.h"

/*
 * The hashed fields of audit_log row l, rendered by the server so that
 * neither the session's client_encoding nor its DateStyle or TimeZone can
 * change the bytes: convert_to(.., 'UTF8') gives bytea, and the timestamp
 * is an exact integer (extract(epoch ..) is numeric since PostgreSQL 14).
 * Sealer and verifier use this same text, so they hash the same bytes.
 */
#define ENTRY_COLUMNS \
	"trunc(extract(epoch FROM l.at) * 1000000)::text," \
	" convert_to(l.actor, 'UTF8'), convert_to(l.action, 'UTF8')," \
	" convert_to(l.subject, 'UTF8'), convert_to(l.detail::text, 'UTF8')"
#define ENTRY_NCOLS 5

static int parse_ll(const char *s, long long *out, struct err *e)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return err_set(e, ERR_INTERNAL, "database: bad integer \"%s\"", s);
	*out = v;
	return 0;
}

/* A bytea column (hex output) into a malloc'ed buffer; NULL sets *isnull
 * and gives an empty buffer, so that callers decide what NULL means. */
static int get_bytes(PGresult *r, int row, int col, unsigned char **out,
    size_t *len, int *isnull, struct err *e)
{
	if (PQgetisnull(r, row, col)) {
		*isnull = 1;
		if ((*out = malloc(1)) == NULL)
			return err_set(e, ERR_INTERNAL, "out of memory");
		*len = 0;
		return 0;
	}
	return db_get_bytea(r, row, col, out, len, e);
}

/* A stored hash: keep its real length, copy at most 32 bytes. */
static int get_hash(PGresult *r, int row, int col, unsigned char out[32],
    size_t *len, struct err *e)
{
	unsigned char *p = NULL;
	size_t n = 0;
	int isnull = 0;

	memset(out, 0, 32);
	if (get_bytes(r, row, col, &p, &n, &isnull, e) != 0)
		return -1;
	memcpy(out, p, n < 32 ? n : 32);
	*len = isnull ? 0 : n;
	free(p);
	return 0;
}

static void entry_clear(struct db_audit_entry *en)
{
	free(en->actor);
	free(en->action);
	free(en->subject);
	free(en->detail);
	memset(en, 0, sizeof(*en));
}

/* Columns col..col+ENTRY_NCOLS-1 of row into en (id set by the caller). */
static int get_entry(PGresult *r, int row, int col, struct db_audit_entry *en,
    struct err *e)
{
	int isnull = 0;

	if (PQgetisnull(r, row, col))
		en->has_null = 1;
	else
		snprintf(en->at_us, sizeof(en->at_us), "%s",
		    PQgetvalue(r, row, col));
	if (get_bytes(r, row, col + 1, &en->actor, &en->actor_len, &isnull, e) ||
	    get_bytes(r, row, col + 2, &en->action, &en->action_len, &isnull, e) ||
	    get_bytes(r, row, col + 3, &en->subject, &en->subject_len, &isnull, e) ||
	    get_bytes(r, row, col + 4, &en->detail, &en->detail_len, &isnull, e))
		return -1;
	if (isnull)
		en->has_null = 1;
	return 0;
}

int db_audit_unchained(PGconn *c, long long after_id, long old_seconds,
    int limit, struct db_audit_entry **out, int *n, struct err *e)
{
	char after[24], old[24], lim[16];
	const char *p[3] = { after, old, lim };
	struct db_audit_entry *v = NULL;
	PGresult *r = NULL;
	int rows = 0, rc = -1;

	*out = NULL;
	*n = 0;
	snprintf(after, sizeof(after), "%lld", after_id);
	snprintf(old, sizeof(old), "%ld", old_seconds);
	snprintf(lim, sizeof(lim), "%d", limit);
	/* Committed entries only: this statement's snapshot cannot see rows
	 * of transactions still open, whatever their id.  Walking the
	 * primary key from after_id keeps a long catch-up linear: each batch
	 * starts where the last one ended. */
	if (db_exec(c,
	    "SELECT l.id, " ENTRY_COLUMNS ","
	    " l.at < now() - make_interval(secs => $2::double precision)"
	    " FROM audit_log l"
	    " WHERE l.id > $1::bigint"
	    "  AND NOT EXISTS (SELECT 1 FROM audit_chain c"
	    "   WHERE c.entry_id = l.id)"
	    " ORDER BY l.id LIMIT $3::integer", 3, p, &r, e) != 0)
		goto out;
	rows = PQntuples(r);
	if (rows > 0 && (v = calloc((size_t)rows, sizeof(*v))) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (int i = 0; i < rows; i++) {
		if (parse_ll(PQgetvalue(r, i, 0), &v[i].id, e) != 0 ||
		    get_entry(r, i, 1, &v[i], e) != 0)
			goto out;
		v[i].old = PQgetvalue(r, i, 1 + ENTRY_NCOLS)[0] == 't';
	}
	*out = v;
	*n = rows;
	v = NULL;
	rc = 0;
out:
	db_audit_entries_free(v, rows);
	PQclear(r);
	return rc;
}

void db_audit_entries_free(struct db_audit_entry *v, int n)
{
	if (v == NULL)
		return;
	for (int i = 0; i < n; i++)
		entry_clear(&v[i]);
	free(v);
}

int db_audit_chain_head(PGconn *c, long long *seq, unsigned char hash[32],
    struct err *e)
{
	PGresult *r = NULL;
	size_t len = 0;
	int rc = -1;

	*seq = 0;
	memset(hash, 0, 32);
	if (db_exec(c, "SELECT seq, hash FROM audit_chain"
	    " ORDER BY seq DESC LIMIT 1", 0, NULL, &r, e) != 0)
		goto out;
	if (PQntuples(r) == 0) {
		rc = 0;
		goto out;
	}
	if (parse_ll(PQgetvalue(r, 0, 0), seq, e) != 0 ||
	    get_hash(r, 0, 1, hash, &len, e) != 0)
		goto out;
	if (len != 32) {
		err_set(e, ERR_INTERNAL, "audit chain head (seq %lld) has a "
		    "%zu-byte hash: the chain is corrupt", *seq, len);
		goto out;
	}
	rc = 0;
out:
	PQclear(r);
	return rc;
}

int db_audit_chain_floor(PGconn *c, long age_seconds, long long *entry_id,
    struct err *e)
{
	char age[24];
	const char *p[1] = { age };
	PGresult *r = NULL;
	int rc;

	snprintf(age, sizeof(age), "%ld", age_seconds);
	/* max() over the entry_id index, read backwards: it stops at the
	 * first row sealed long enough ago, so it costs about the number of
	 * entries sealed in the last age_seconds. */
	if (db_exec(c, "SELECT coalesce(max(entry_id), 0) FROM audit_chain"
	    " WHERE sealed_at < now() - make_interval(secs => $1::double precision)",
	    1, p, &r, e) != 0)
		return -1;
	rc = parse_ll(PQgetvalue(r, 0, 0), entry_id, e);
	PQclear(r);
	return rc;
}

/* Append s to a growing string: builds the "{v1,v2,...}" literals of the
 * bigint[] and text[] parameters below.  The values are decimal integers
 * or hex, which need no quoting inside an array literal. */
static int append(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);
	char *nb;

	if (*len + n + 1 > *cap) {
		size_t ncap = (*cap ? *cap * 2 : 1024);

		while (ncap < *len + n + 1)
			ncap *= 2;
		if ((nb = realloc(*buf, ncap)) == NULL)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
	return 0;
}

int db_audit_chain_insert(PGconn *c, const struct db_audit_link *v, int n,
    struct err *e)
{
	char *arr[4] = { NULL, NULL, NULL, NULL };
	size_t len[4] = { 0 }, cap[4] = { 0 };
	char num[24], hex[65];
	int rc = -1;

	if (n <= 0)
		return 0;
	for (int k = 0; k < 4; k++)
		if (append(&arr[k], &len[k], &cap[k], "{") != 0)
			goto oom;
	for (int i = 0; i < n; i++) {
		const char *sep = i > 0 ? "," : "";

		snprintf(num, sizeof(num), "%s%lld", sep, v[i].seq);
		if (append(&arr[0], &len[0], &cap[0], num) != 0)
			goto oom;
		snprintf(num, sizeof(num), "%s%lld", sep, v[i].entry_id);
		if (append(&arr[1], &len[1], &cap[1], num) != 0)
			goto oom;
		util_hex(v[i].prev_hash, 32, hex);
		if (append(&arr[2], &len[2], &cap[2], sep) != 0 ||
		    append(&arr[2], &len[2], &cap[2], hex) != 0)
			goto oom;
		util_hex(v[i].hash, 32, hex);
		if (append(&arr[3], &len[3], &cap[3], sep) != 0 ||
		    append(&arr[3], &len[3], &cap[3], hex) != 0)
			goto oom;
	}
	for (int k = 0; k < 4; k++)
		if (append(&arr[k], &len[k], &cap[k], "}") != 0)
			goto oom;
	/* One statement for the whole batch: one round trip, and the batch
	 * is chained entirely or not at all. */
	rc = db_exec(c,
	    "INSERT INTO audit_chain (seq, entry_id, prev_hash, hash)"
	    " SELECT s, i, decode(p, 'hex'), decode(h, 'hex')"
	    " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])"
	    "  AS t(s, i, p, h)", 4, (const char *const *)arr, NULL, e);
	goto out;
oom:
	err_set(e, ERR_INTERNAL, "out of memory");
out:
	for (int k = 0; k < 4; k++)
		free(arr[k]);
	return rc;
}

int db_audit_chain_fetch(PGconn *c, long long after_seq, int limit,
    struct db_audit_link **out, int *n, struct err *e)
{
	char after[24], lim[16];
	const char *p[2] = { after, lim };
	struct db_audit_link *v = NULL;
	PGresult *r = NULL;
	int rows = 0, rc = -1;

	*out = NULL;
	*n = 0;
	snprintf(after, sizeof(after), "%lld", after_seq);
	snprintf(lim, sizeof(lim), "%d", limit);
	/* Keyset pagination on the primary key: each batch is an index range
	 * scan, whatever the chain's length. */
	if (db_exec(c,
	    "SELECT c.seq, c.entry_id, c.prev_hash, c.hash, l.id IS NOT NULL, "
	    ENTRY_COLUMNS
	    " FROM audit_chain c LEFT JOIN audit_log l ON l.id = c.entry_id"
	    " WHERE c.seq > $1::bigint ORDER BY c.seq LIMIT $2::integer",
	    2, p, &r, e) != 0)
		goto out;
	rows = PQntuples(r);
	if (rows > 0 && (v = calloc((size_t)rows, sizeof(*v))) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (int i = 0; i < rows; i++) {
		struct db_audit_link *k = &v[i];

		if (parse_ll(PQgetvalue(r, i, 0), &k->seq, e) != 0 ||
		    parse_ll(PQgetvalue(r, i, 1), &k->entry_id, e) != 0 ||
		    get_hash(r, i, 2, k->prev_hash, &k->prev_hash_len, e) != 0 ||
		    get_hash(r, i, 3, k->hash, &k->hash_len, e) != 0)
			goto out;
		k->has_entry = PQgetvalue(r, i, 4)[0] == 't';
		k->entry.id = k->entry_id;
		if (k->has_entry && get_entry(r, i, 5, &k->entry, e) != 0)
			goto out;
	}
	*out = v;
	*n = rows;
	v = NULL;
	rc = 0;
out:
	db_audit_links_free(v, rows);
	PQclear(r);
	return rc;
}

void db_audit_links_free(struct db_audit_link *v, int n)
{
	if (v == NULL)
		return;
	for (int i = 0; i < n; i++)
		entry_clear(&v[i].entry);
	free(v);
}

int db_audit_checkpoint_add(PGconn *c, long long seq,
    const unsigned char head_hash[32], const char *key_label,
    const unsigned char *sig, size_t sig_len, struct err *e)
{
	char s[24];
	const char *p[4];
	int lens[4] = { 0, 32, 0, (int)sig_len };

	if (sig_len == 0 || sig_len > 65536)
		return err_set(e, ERR_INTERNAL, "bad checkpoint signature length");
	snprintf(s, sizeof(s), "%lld", seq);
	p[0] = s;
	p[1] = (const char *)head_hash;
	p[2] = key_label;
	p[3] = (const char *)sig;
	return db_execb(c,
	    "INSERT INTO audit_checkpoints (seq, head_hash, key_label, signature)"
	    " VALUES ($1::bigint, $2, $3, $4)", 4, p, lens, NULL, e);
}

int db_audit_checkpoint_last(PGconn *c, long long *seq, struct err *e)
{
	PGresult *r = NULL;
	int rc;

	if (db_exec(c, "SELECT coalesce(max(seq), 0) FROM audit_checkpoints",
	    0, NULL, &r, e) != 0)
		return -1;
	rc = parse_ll(PQgetvalue(r, 0, 0), seq, e);
	PQclear(r);
	return rc;
}

int db_audit_checkpoints_fetch(PGconn *c, long long after_seq, int limit,
    struct db_audit_checkpoint **out, int *n, struct err *e)
{
	char after[24], lim[16];
	const char *p[2] = { after, lim };
	struct db_audit_checkpoint *v = NULL;
	PGresult *r = NULL;
	int rows = 0, rc = -1, isnull = 0;

	*out = NULL;
	*n = 0;
	snprintf(after, sizeof(after), "%lld", after_seq);
	snprintf(lim, sizeof(lim), "%d", limit);
	if (db_exec(c,
	    "SELECT seq, head_hash, key_label, signature,"
	    " to_char(signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	    " FROM audit_checkpoints WHERE seq > $1::bigint"
	    " ORDER BY seq LIMIT $2::integer", 2, p, &r, e) != 0)
		goto out;
	rows = PQntuples(r);
	if (rows > 0 && (v = calloc((size_t)rows, sizeof(*v))) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (int i = 0; i < rows; i++) {
		struct db_audit_checkpoint *k = &v[i];

		if (parse_ll(PQgetvalue(r, i, 0), &k->seq, e) != 0 ||
		    get_hash(r, i, 1, k->head_hash, &k->head_hash_len, e) != 0 ||
		    get_bytes(r, i, 3, &k->sig, &k->sig_len, &isnull, e) != 0)
			goto out;
		snprintf(k->key_label, sizeof(k->key_label), "%s",
		    PQgetvalue(r, i, 2));
		snprintf(k->signed_at, sizeof(k->signed_at), "%s",
		    PQgetvalue(r, i, 4));
	}
	*out = v;
	*n = rows;
	v = NULL;
	rc = 0;
out:
	db_audit_checkpoints_free(v, rows);
	PQclear(r);
	return rc;
}

void db_audit_checkpoints_free(struct db_audit_checkpoint *v, int n)
{
	if (v == NULL)
		return;
	for (int i = 0; i < n; i++)
		free(v[i].sig);
	free(v);
}
