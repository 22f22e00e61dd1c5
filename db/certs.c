/* Certificate rows: intent before signing, DER after, inventory queries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

/* A text[] literal for the SAN list: {"DNS:a","IP:b"}.  The values were
 * checked by ca/ already, but quote them anyway. */
static char *text_array(const char *const *v, int n)
{
	size_t len = 3;
	char *out, *p;

	for (int i = 0; i < n; i++)
		len += 2 * strlen(v[i]) + 3;
	if ((out = malloc(len)) == NULL)
		return NULL;
	p = out;
	*p++ = '{';
	for (int i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (const char *s = v[i]; *s; s++) {
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

int db_cert_intent(PGconn *c, const struct db_intent *in, struct err *e)
{
	char issuer[16], nb[24], na[24], jexp[24], *sans = NULL;
	const char *p[13];
	int lens[13] = { 0 };
	PGresult *r = NULL;
	int rc = -1;

	snprintf(issuer, sizeof(issuer), "%d", in->issuer_id);
	snprintf(nb, sizeof(nb), "%lld", (long long)in->not_before);
	snprintf(na, sizeof(na), "%lld", (long long)in->not_after);
	snprintf(jexp, sizeof(jexp), "%lld", (long long)in->jti_expires);
	if ((sans = text_array(in->sans, in->nsans)) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	p[0] = in->serial;
	p[1] = issuer;
	p[2] = in->subject;
	p[3] = sans;
	p[4] = in->profile;
	p[5] = in->provisioner;
	p[6] = in->requester;
	p[7] = nb;
	p[8] = na;
	p[9] = (const char *)in->tbs_sha256;
	lens[9] = 32;
	p[10] = (const char *)in->spki_sha256;
	lens[10] = 32;
	p[11] = in->jti;
	p[12] = jexp;
	/* One statement, so one round trip and one commit: the token id is
	 * consumed and the intent recorded together, or neither.  A key
	 * blocked for keyCompromise inserts nothing. */
	if (db_execb(c,
	    "WITH tok AS ("
	    "  INSERT INTO used_tokens (provisioner, jti, expires_at)"
	    "  SELECT $6, $12, to_timestamp($13::double precision)"
	    "  WHERE $12::text IS NOT NULL),"
	    " ins AS ("
	    "  INSERT INTO certificates (serial, issuer_id, subject, sans,"
	    "   profile, provisioner, requester, not_before, not_after,"
	    "   tbs_sha256, spki_sha256)"
	    "  SELECT $1, $2::integer, $3, $4::text[], $5, $6, $7,"
	    "   to_timestamp($8::double precision),"
	    "   to_timestamp($9::double precision), $10, $11"
	    "  WHERE NOT EXISTS (SELECT 1 FROM blocked_keys WHERE spki_sha256 = $11)"
	    "  RETURNING 1)"
	    " SELECT count(*) FROM ins",
	    13, p, lens, &r, e) != 0) {
		if (e != NULL && e->kind == ERR_CONFLICT &&
		    strstr(e->msg, "used_tokens") != NULL)
			err_set(e, ERR_AUTH,
			    "token already used: each token is good for one "
			    "certificate (jti %.64s)", in->jti);
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "1") != 0) {
		err_set(e, ERR_POLICY,
		    "the CSR's public key was revoked for keyCompromise and is "
		    "blocked: generate a new key");
		goto out;
	}
	rc = 0;
out:
	PQclear(r);
	free(sans);
	return rc;
}

int db_cert_store(PGconn *c, const char *serial, const unsigned char *der,
    size_t der_len, const unsigned char fingerprint[32], const char *actor,
    const char *audit_detail_json, struct err *e)
{
	const char *p[5] = { serial, (const char *)der,
	    (const char *)fingerprint, actor,
	    audit_detail_json ? audit_detail_json : "{}" };
	int lens[5] = { 0, (int)der_len, 32, 0, 0 };
	PGresult *r = NULL;
	int rc = -1;

	/* The certificate and its audit entry commit together. */
	if (db_execb(c,
	    "WITH upd AS ("
	    "  UPDATE certificates SET der = $2, fingerprint_sha256 = $3,"
	    "   status = 'good', issued_at = now()"
	    "  WHERE serial = $1 AND status = 'pending' RETURNING serial)"
	    " INSERT INTO audit_log (actor, action, subject, detail)"
	    " SELECT $4, 'certificate.issue', serial, $5::jsonb FROM upd"
	    " RETURNING id",
	    5, p, lens, &r, e) != 0)
		goto out;
	if (PQntuples(r) != 1) {
		err_set(e, ERR_INTERNAL,
		    "certificate %s: its intent is no longer pending "
		    "(reconciled as abandoned?): not returned", serial);
		goto out;
	}
	rc = 0;
out:
	PQclear(r);
	return rc;
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
