/* Certificate rows: intent before signing, DER after, inventory queries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "common/util.h"

#include <jansson.h>

/* A growing string for array literals. */
struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Append one element to a PostgreSQL array literal being built: quoted,
 * with quotes and backslashes escaped; NULL for a null pointer. */
static void sb_elem(struct sbuf *b, const char *v)
{
	sb_put(b, b->len > 1 ? "," : "", b->len > 1 ? 1 : 0);
	if (v == NULL) {
		sb_put(b, "NULL", 4);
		return;
	}
	sb_put(b, "\"", 1);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			sb_put(b, "\\", 1);
		sb_put(b, v, 1);
	}
	sb_put(b, "\"", 1);
}

static void sb_open(struct sbuf *b)
{
	b->len = 0;
	sb_put(b, "{", 1);
}

/* The SAN list of one row as a JSON array text (the batch passes one
 * text per row; a 2-D array would need equal lengths).  malloc'ed. */
static char *sans_json(const struct db_intent *in)
{
	json_t *arr = json_array();
	char *out = NULL;

	for (int i = 0; arr != NULL && i < in->nsans; i++)
		json_array_append_new(arr, json_string(in->sans[i]));
	if (arr != NULL)
		out = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return out;
}

/* Close each column's array literal; p[k] then points at it. */
static int sb_close_all(struct sbuf *col, int n, const char **p, struct err *e)
{
	for (int k = 0; k < n; k++) {
		sb_put(&col[k], "}", 1);
		if (col[k].oom)
			return err_set(e, ERR_INTERNAL, "out of memory");
		p[k] = col[k].p;
	}
	return 0;
}

enum { I_SERIAL, I_ISSUER, I_SUBJECT, I_SANS, I_PROFILE, I_PROV, I_REQ, I_NB,
	I_NA, I_TBS, I_SPKI, I_JTI, I_JEXP, I_JOWNER, I_PRED, I_NCOLS };

int db_cert_intent_many(PGconn *c, const struct db_intent *const *in, int n,
    struct err *res, struct err *e)
{
	struct sbuf col[I_NCOLS];
	char *sans;
	const char *p[I_NCOLS];
	char num[32], hex[65];
	PGresult *r = NULL;
	int rc = -1;

	memset(col, 0, sizeof(col));
	for (int k = 0; k < I_NCOLS; k++)
		sb_open(&col[k]);
	for (int i = 0; i < n; i++) {
		const struct db_intent *x = in[i];

		sb_elem(&col[I_SERIAL], x->serial);
		snprintf(num, sizeof(num), "%d", x->issuer_id);
		sb_elem(&col[I_ISSUER], num);
		sb_elem(&col[I_SUBJECT], x->subject);
		if ((sans = sans_json(x)) == NULL) {
			err_set(e, ERR_INTERNAL, "out of memory");
			goto out;
		}
		sb_elem(&col[I_SANS], sans);
		free(sans);
		sb_elem(&col[I_PROFILE], x->profile);
		sb_elem(&col[I_PROV], x->provisioner);
		sb_elem(&col[I_REQ], x->requester);
		snprintf(num, sizeof(num), "%lld", (long long)x->not_before);
		sb_elem(&col[I_NB], num);
		snprintf(num, sizeof(num), "%lld", (long long)x->not_after);
		sb_elem(&col[I_NA], num);
		util_hex(x->tbs_sha256, 32, hex);
		sb_elem(&col[I_TBS], hex);
		util_hex(x->spki_sha256, 32, hex);
		sb_elem(&col[I_SPKI], hex);
		sb_elem(&col[I_JTI], x->jti);
		snprintf(num, sizeof(num), "%lld", (long long)x->jti_expires);
		sb_elem(&col[I_JEXP], num);
		sb_elem(&col[I_JOWNER], x->jti_owner ? x->jti_owner :
		    x->provisioner);
		sb_elem(&col[I_PRED], x->predecessor);
		res[i].kind = ERR_NONE;
		res[i].msg[0] = '\0';
	}
	if (sb_close_all(col, I_NCOLS, p, e) != 0)
		goto out;
	/* One statement, one commit for the whole batch: each token id is
	 * consumed and each intent recorded together, or neither.  A replayed
	 * token id inserts nothing (ON CONFLICT: the other holder of that id,
	 * in this process or another, won); a key blocked for keyCompromise
	 * gets no intent.  The answer says which row fared how. */
	if (db_exec(c,
	    "WITH req AS ("
	    "  SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[],"
	    "   $5::text[], $6::text[], $7::text[], $8::float8[], $9::float8[],"
	    "   $10::text[], $11::text[], $12::text[], $13::float8[],"
	    "   $14::text[], $15::text[])"
	    "  AS t(serial, issuer_id, subject, sans, profile, provisioner,"
	    "   requester, nb, na, tbs, spki, jti, jexp, jowner, pred)),"
	    " tok AS ("
	    "  INSERT INTO used_tokens (provisioner, jti, expires_at)"
	    "  SELECT jowner, jti, to_timestamp(jexp) FROM req"
	    "  WHERE jti IS NOT NULL ON CONFLICT DO NOTHING"
	    "  RETURNING provisioner, jti),"
	    " okr AS ("
	    "  SELECT r.* FROM req r"
	    "  WHERE (r.jti IS NULL OR EXISTS (SELECT 1 FROM tok"
	    "    WHERE tok.provisioner = r.jowner AND tok.jti = r.jti))"
	    "   AND NOT EXISTS (SELECT 1 FROM blocked_keys b"
	    "    WHERE b.spki_sha256 = decode(r.spki, 'hex'))),"
	    " ins AS ("
	    "  INSERT INTO certificates (serial, issuer_id, subject, sans, profile,"
	    "   provisioner, requester, not_before, not_after, tbs_sha256,"
	    "   spki_sha256, predecessor)"
	    "  SELECT serial, issuer_id, subject,"
	    "   ARRAY(SELECT jsonb_array_elements_text(sans::jsonb)), profile,"
	    "   provisioner, requester, to_timestamp(nb), to_timestamp(na),"
	    "   decode(tbs, 'hex'), decode(spki, 'hex'), pred FROM okr"
	    "  RETURNING serial)"
	    " SELECT r.serial, ins.serial IS NOT NULL,"
	    "  r.jti IS NULL OR EXISTS (SELECT 1 FROM tok"
	    "   WHERE tok.provisioner = r.jowner AND tok.jti = r.jti)"
	    " FROM req r LEFT JOIN ins ON ins.serial = r.serial",
	    I_NCOLS, p, &r, e) != 0)
		goto out;
	for (int row = 0; row < PQntuples(r); row++) {
		const char *serial = PQgetvalue(r, row, 0);
		int inserted = PQgetvalue(r, row, 1)[0] == 't';
		int token_ok = PQgetvalue(r, row, 2)[0] == 't';

		for (int i = 0; i < n; i++) {
			if (strcmp(in[i]->serial, serial) != 0)
				continue;
			if (inserted)
				break;
			if (!token_ok)
				err_set(&res[i], ERR_AUTH,
				    "token already used: each token is good for one "
				    "certificate (jti %.64s)", in[i]->jti);
			else
				err_set(&res[i], ERR_POLICY,
				    "the CSR's public key was revoked for keyCompromise "
				    "and is blocked: generate a new key");
			break;
		}
	}
	rc = 0;
out:
	PQclear(r);
	for (int k = 0; k < I_NCOLS; k++)
		free(col[k].p);
	return rc;
}

int db_cert_intent(PGconn *c, const struct db_intent *in, struct err *e)
{
	struct err res;

	if (db_cert_intent_many(c, &in, 1, &res, e) != 0)
		return -1;
	if (res.kind != ERR_NONE) {
		if (e != NULL)
			*e = res;
		return -1;
	}
	return 0;
}

enum { S_SERIAL, S_DER, S_FP, S_ACTOR, S_DETAIL, S_NCOLS };

int db_cert_store_many(PGconn *c, const struct db_store *const *in, int n,
    struct err *res, struct err *e)
{
	struct sbuf col[S_NCOLS];
	const char *p[S_NCOLS];
	char fp[65], *der = NULL;
	size_t der_cap = 0;
	PGresult *r = NULL;
	int rc = -1;

	memset(col, 0, sizeof(col));
	for (int k = 0; k < S_NCOLS; k++)
		sb_open(&col[k]);
	for (int i = 0; i < n; i++) {
		if (2 * in[i]->der_len + 1 > der_cap) {
			char *nd = realloc(der, 2 * in[i]->der_len + 1);
			if (nd == NULL) {
				err_set(e, ERR_INTERNAL, "out of memory");
				goto out;
			}
			der = nd;
			der_cap = 2 * in[i]->der_len + 1;
		}
		util_hex(in[i]->der, in[i]->der_len, der);
		util_hex(in[i]->fingerprint, 32, fp);
		sb_elem(&col[S_SERIAL], in[i]->serial);
		sb_elem(&col[S_DER], der);
		sb_elem(&col[S_FP], fp);
		sb_elem(&col[S_ACTOR], in[i]->actor);
		sb_elem(&col[S_DETAIL], in[i]->audit_detail_json ?
		    in[i]->audit_detail_json : "{}");
		err_set(&res[i], ERR_INTERNAL, "certificate %s: its intent is no "
		    "longer pending (reconciled as abandoned?): not returned",
		    in[i]->serial);
	}
	if (sb_close_all(col, S_NCOLS, p, e) != 0)
		goto out;
	/* The certificates and their audit entries commit together. */
	if (db_exec(c,
	    "WITH req AS ("
	    "  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
	    "   $5::text[]) AS t(serial, der, fp, actor, detail)),"
	    " upd AS ("
	    "  UPDATE certificates c SET der = decode(req.der, 'hex'),"
	    "   fingerprint_sha256 = decode(req.fp, 'hex'), status = 'good',"
	    "   issued_at = now()"
	    "  FROM req WHERE c.serial = req.serial AND c.status = 'pending'"
	    "  RETURNING c.serial)"
	    " INSERT INTO audit_log (actor, action, subject, detail)"
	    " SELECT req.actor, 'certificate.issue', req.serial, req.detail::jsonb"
	    " FROM req JOIN upd ON upd.serial = req.serial"
	    " RETURNING subject",
	    S_NCOLS, p, &r, e) != 0)
		goto out;
	for (int row = 0; row < PQntuples(r); row++)
		for (int i = 0; i < n; i++)
			if (strcmp(in[i]->serial, PQgetvalue(r, row, 0)) == 0) {
				res[i].kind = ERR_NONE;
				res[i].msg[0] = '\0';
			}
	rc = 0;
out:
	PQclear(r);
	free(der);
	for (int k = 0; k < S_NCOLS; k++)
		free(col[k].p);
	return rc;
}

int db_cert_store(PGconn *c, const struct db_store *in, struct err *e)
{
	struct err res;

	if (db_cert_store_many(c, &in, 1, &res, e) != 0)
		return -1;
	if (res.kind != ERR_NONE) {
		if (e != NULL)
			*e = res;
		return -1;
	}
	return 0;
}

int db_cert_reconcile(PGconn *c, long age_seconds, long *n, struct err *e)
{
	char age[24];
	const char *p[1] = { age };
	PGresult *r = NULL;

	snprintf(age, sizeof(age), "%ld", age_seconds);
	/* An intent with no DER never reached a client (the DER is stored
	 * before answering), so it is safe to close it as abandoned. */
	if (db_exec(c,
	    "WITH ab AS ("
	    "  UPDATE certificates SET status = 'abandoned'"
	    "  WHERE status = 'pending'"
	    "   AND created_at < now() - make_interval(secs => $1::double precision)"
	    "  RETURNING serial),"
	    " au AS ("
	    "  INSERT INTO audit_log (actor, action, subject, detail)"
	    "  SELECT 'signetd', 'certificate.abandon', serial,"
	    "   '{\"reason\":\"intent without certificate reconciled\"}'"
	    "  FROM ab RETURNING 1)"
	    " SELECT count(*) FROM au",
	    1, p, &r, e) != 0)
		return -1;
	*n = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

/* The columns list and show print, as one JSON object per row. */
#define CERT_JSON_COLUMNS \
	" c.serial, i.name AS issuer," \
	" CASE WHEN c.status = 'good' AND c.not_after < now() THEN 'expired'" \
	"  ELSE c.status END AS status," \
	" c.subject, c.sans, c.profile, c.provisioner, c.requester," \
	" to_char(c.not_before AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS not_before," \
	" to_char(c.not_after AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS not_after," \
	" to_char(c.revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS revoked_at," \
	" c.revocation_reason," \
	" encode(c.fingerprint_sha256, 'hex') AS fingerprint_sha256," \
	" encode(c.spki_sha256, 'hex') AS spki_sha256"

int db_cert_list_json(PGconn *c, long long expiring_within,
    const char *status, const char *provisioner, long limit, char **out,
    struct err *e)
{
	char within[24], lim[24];
	const char *p[4];
	PGresult *r = NULL;

	snprintf(within, sizeof(within), "%lld", expiring_within);
	snprintf(lim, sizeof(lim), "%ld", limit);
	p[0] = expiring_within >= 0 ? within : NULL;
	p[1] = status;
	p[2] = provisioner;
	p[3] = lim;
	if (db_exec(c,
	    "SELECT coalesce(json_agg(x), '[]') FROM ("
	    " SELECT" CERT_JSON_COLUMNS
	    " FROM certificates c JOIN issuers i ON i.id = c.issuer_id"
	    " WHERE c.status IN ('good', 'revoked')"
	    "  AND ($1::bigint IS NULL OR (c.status = 'good'"
	    "   AND c.not_after > now()"
	    "   AND c.not_after <= now() + make_interval(secs => $1::double precision)))"
	    "  AND ($2::text IS NULL"
	    "   OR ($2 = 'good' AND c.status = 'good' AND c.not_after >= now())"
	    "   OR ($2 = 'expired' AND c.status = 'good' AND c.not_after < now())"
	    "   OR ($2 = 'revoked' AND c.status = 'revoked'))"
	    "  AND ($3::text IS NULL OR c.provisioner = $3)"
	    " ORDER BY c.not_after, c.serial LIMIT $4::bigint) x",
	    4, p, &r, e) != 0)
		return -1;
	*out = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return *out ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
}

int db_cert_show_json(PGconn *c, const char *serial, char **out,
    struct err *e)
{
	const char *p[1] = { serial };
	PGresult *r = NULL;

	if (db_exec(c,
	    "SELECT row_to_json(x) FROM ("
	    " SELECT" CERT_JSON_COLUMNS ","
	    " encode(c.der, 'base64') AS der_base64"
	    " FROM certificates c JOIN issuers i ON i.id = c.issuer_id"
	    " WHERE c.serial = $1) x",
	    1, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return err_set(e, ERR_NOTFOUND, "no certificate with serial %s",
		    serial);
	}
	*out = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return *out ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
}
