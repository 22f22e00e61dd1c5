/* ACME Renewal Information lookups (certificates, issuers: migration 001). */
#include "db/acme_ari_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

int db_acme_ari_cert(PGconn *c, const char *provisioner, const char *serial,
    const unsigned char *ski, size_t ski_len, struct db_acme_ari_cert *out,
    struct err *e)
{
	const char *p[3] = { serial, provisioner, (const char *)ski };
	const int lens[3] = { 0, 0, (int)ski_len };
	PGresult *r = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	/* A zero length would make db_execb send the key as text. */
	if (ski_len == 0 || ski_len > 1024)
		return err_set(e, ERR_NOTFOUND, "no such certificate");
	/* Every condition in the WHERE clause, so that a certificate of
	 * another provisioner or of another issuer looks exactly like one
	 * that does not exist.  The serial is the primary key. */
	if (db_execb(c, "SELECT c.status,"
	    " extract(epoch FROM c.not_before)::bigint,"
	    " extract(epoch FROM c.not_after)::bigint"
	    " FROM certificates c JOIN issuers i ON i.id = c.issuer_id"
	    " WHERE c.serial = $1 AND c.provisioner = $2 AND i.ski = $3"
	    " AND c.status IN ('good', 'revoked')", 3, p, lens, &r, e) != 0)
		return -1;
	if (PQntuples(r) != 1) {
		err_set(e, ERR_NOTFOUND, "no such certificate");
		goto out;
	}
	snprintf(out->status, sizeof(out->status), "%s", PQgetvalue(r, 0, 0));
	out->not_before = (time_t)strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	out->not_after = (time_t)strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	rc = 0;
out:
	PQclear(r);
	return rc;
}
