/* Revocation: the certificate row, the audit entry, the key block and the
 * notification to every signetd, in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

static void copy_field(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src);
}

int db_cert_revoke(PGconn *c, const struct db_revoke *in,
    struct db_revoke_result *out, struct err *e)
{
	char reason[8], jexp[24], detail[256];
	const char *p[4];
	PGresult *r = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	snprintf(reason, sizeof(reason), "%d", in->reason);
	if (db_begin(c, e) != 0)
		return -1;
	/* The token id first: a token is spent even when the certificate
	 * turns out to be revoked already. */
	if (in->jti != NULL) {
		snprintf(jexp, sizeof(jexp), "%lld", (long long)in->jti_expires);
		p[0] = in->jti_owner;
		p[1] = in->jti;
		p[2] = jexp;
		if (db_exec(c, "INSERT INTO used_tokens (provisioner, jti, expires_at)"
		    " VALUES ($1, $2, to_timestamp($3::double precision))"
		    " ON CONFLICT DO NOTHING RETURNING 1", 3, p, &r, e) != 0)
			goto fail;
		if (PQntuples(r) == 0) {
			err_set(e, ERR_AUTH, "token already used: each token is good "
			    "for one request (jti %.64s)", in->jti);
			goto fail;
		}
		PQclear(r);
		r = NULL;
	}
	p[0] = in->serial;
	if (db_exec(c, "SELECT status, coalesce(provisioner, ''),"
	    " to_char(revoked_at AT TIME ZONE 'UTC',"
	    "  'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    " coalesce(revocation_reason, 0)"
	    " FROM certificates WHERE serial = $1 FOR UPDATE", 1, p, &r, e) != 0)
		goto fail;
	if (PQntuples(r) == 0) {
		err_set(e, ERR_NOTFOUND, "no certificate with serial %s", in->serial);
		goto fail;
	}
	copy_field(out->provisioner, sizeof(out->provisioner), PQgetvalue(r, 0, 1));
	if (in->only_provisioner != NULL &&
	    strcmp(out->provisioner, in->only_provisioner) != 0) {
		err_set(e, ERR_POLICY, "certificate %s was not issued through "
		    "provisioner \"%s\": a provisioner may revoke only the "
		    "certificates it issued", in->serial, in->only_provisioner);
		goto fail;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "pending") == 0 ||
	    strcmp(PQgetvalue(r, 0, 0), "abandoned") == 0) {
		err_set(e, ERR_CONFLICT, "certificate %s was never issued (status "
		    "%s): there is nothing to revoke", in->serial,
		    PQgetvalue(r, 0, 0));
		goto fail;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "revoked") == 0) {
		out->already = 1;
		copy_field(out->revoked_at, sizeof(out->revoked_at),
		    PQgetvalue(r, 0, 2));
		out->reason = atoi(PQgetvalue(r, 0, 3));
	}
	PQclear(r);
	r = NULL;
	if (!out->already) {
		p[1] = reason;
		if (db_exec(c, "UPDATE certificates SET status = 'revoked',"
		    " revoked_at = now(), revocation_reason = $2::smallint"
		    " WHERE serial = $1 RETURNING to_char(revoked_at AT TIME ZONE"
		    " 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", 2, p, &r, e) != 0)
			goto fail;
		copy_field(out->revoked_at, sizeof(out->revoked_at),
		    PQgetvalue(r, 0, 0));
		out->reason = in->reason;
		PQclear(r);
		r = NULL;
	}
	/* keyCompromise blocks the key even when the certificate was revoked
	 * before for another reason: the compromise is news either way. */
	if (in->reason == 1 && db_exec(c,
	    "INSERT INTO blocked_keys (spki_sha256, serial)"
	    " SELECT spki_sha256, serial FROM certificates WHERE serial = $1"
	    " ON CONFLICT DO NOTHING", 1, p, NULL, e) != 0)
		goto fail;
	snprintf(detail, sizeof(detail),
	    "{\"reason\": %d, \"already\": %s, \"via\": \"%s\"}", in->reason,
	    out->already ? "true" : "false", in->via ? in->via : "cli");
	if (db_audit_add(c, in->actor, out->already ? "cert.revoke.again" :
	    "cert.revoke", in->serial, detail, e) != 0)
		goto fail;
	/* pg_notify in the transaction: delivered at commit, never before. */
	if (!out->already && db_exec(c, "SELECT pg_notify('signet_revocation', $1)",
	    1, p, NULL, e) != 0)
		goto fail;
	if (db_commit(c, e) != 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	db_rollback(c);
out:
	PQclear(r);
	return rc;
}

int db_cert_get(PGconn *c, const char *serial, struct db_cert_rec *rec,
    struct err *e)
{
	const char *p[1] = { serial };
	PGresult *r = NULL;
	int rc = -1;

	memset(rec, 0, sizeof(*rec));
	if (db_exec(c, "SELECT status, coalesce(provisioner, ''), profile,"
	    " extract(epoch FROM not_before)::bigint,"
	    " extract(epoch FROM not_after)::bigint, der FROM certificates"
	    " WHERE serial = $1 AND der IS NOT NULL", 1, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) == 0) {
		err_set(e, ERR_NOTFOUND, "no certificate with serial %s", serial);
		goto out;
	}
	snprintf(rec->status, sizeof(rec->status), "%s", PQgetvalue(r, 0, 0));
	snprintf(rec->provisioner, sizeof(rec->provisioner), "%s",
	    PQgetvalue(r, 0, 1));
	snprintf(rec->profile, sizeof(rec->profile), "%s", PQgetvalue(r, 0, 2));
	rec->not_before = (time_t)atoll(PQgetvalue(r, 0, 3));
	rec->not_after = (time_t)atoll(PQgetvalue(r, 0, 4));
	rc = db_get_bytea(r, 0, 5, &rec->der, &rec->der_len, e);
out:
	PQclear(r);
	return rc;
}

void db_cert_rec_clear(struct db_cert_rec *rec)
{
	if (rec == NULL)
		return;
	free(rec->der);
	rec->der = NULL;
}

int db_cert_der(PGconn *c, const char *serial, unsigned char **der,
    size_t *len, struct err *e)
{
	const char *p[1] = { serial };
	PGresult *r = NULL;
	int rc;

	if (db_exec(c, "SELECT der FROM certificates WHERE serial = $1"
	    " AND der IS NOT NULL", 1, p, &r, e) != 0)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return err_set(e, ERR_NOTFOUND, "no certificate with serial %s",
		    serial);
	}
	rc = db_get_bytea(r, 0, 0, der, len, e);
	PQclear(r);
	return rc;
}
