/*
 * Expiry tracking: what expires without a successor (signet expiring,
 * the signet_certificates_expiring gauge) and the once-per-threshold
 * bookkeeping of expiry notifications (signetd's webhook).
 *
 * A certificate "has a successor" when a certificate with status good
 * names it as predecessor: a pending intent or an abandoned one replaced
 * nothing, and a revoked successor is no replacement either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

/* The newest good successor of certificate c, or NULL. */
#define SUCCESSOR_OF_C \
	"(SELECT s.serial FROM certificates s" \
	"  WHERE s.predecessor = c.serial AND s.status = 'good'" \
	"  ORDER BY s.not_after DESC, s.serial LIMIT 1)"

/* Certificate c has a successor, for the queries that ask only whether
 * (SUCCESSOR_OF_C says which): written once so that the webhook, the
 * gauge and `signet expiring` agree on what counts as renewed. */
#define RENEWED_C \
	"EXISTS (SELECT 1 FROM certificates s" \
	"  WHERE s.predecessor = c.serial AND s.status = 'good')"

#define RFC3339(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

int db_expiring_json(PGconn *c, long long within, const char *provisioner,
    int with_successor, long limit, char **out, long *without_successor,
    struct err *e)
{
	char w[24], lim[24];
	const char *p[4];
	PGresult *r = NULL;
	int rc = -1;

	snprintf(w, sizeof(w), "%lld", within);
	snprintf(lim, sizeof(lim), "%ld", limit);
	p[0] = w;
	p[1] = provisioner;
	p[2] = with_successor ? "t" : "f";
	p[3] = lim;
	/* The count covers every match, not only the rows under the limit:
	 * the exit status of `signet expiring` must not depend on it. */
	if (db_exec(c,
	    "WITH e AS ("
	    " SELECT c.serial, c.subject, c.sans, c.profile, c.provisioner,"
	    "  c.not_after, " SUCCESSOR_OF_C " AS successor"
	    " FROM certificates c"
	    " WHERE c.status = 'good' AND c.not_after > now()"
	    "  AND c.not_after <= now() + make_interval(secs => $1::double precision)"
	    "  AND ($2::text IS NULL OR c.provisioner = $2))"
	    " SELECT (SELECT count(*) FROM e WHERE successor IS NULL),"
	    "  (SELECT coalesce(json_agg(json_build_object("
	    "    'serial', x.serial, 'subject', x.subject, 'sans', to_json(x.sans),"
	    "    'profile', x.profile, 'provisioner', x.provisioner,"
	    "    'not_after', " RFC3339("x.not_after") ","
	    "    'seconds_left', floor(extract(epoch FROM x.not_after - now()))::bigint,"
	    "    'successor', x.successor) ORDER BY x.not_after, x.serial), '[]')"
	    "   FROM (SELECT * FROM e WHERE $3::boolean OR successor IS NULL"
	    "    ORDER BY not_after, serial LIMIT $4::bigint) x)",
	    4, p, &r, e) != 0)
		return -1;
	if (without_successor != NULL)
		*without_successor = atol(PQgetvalue(r, 0, 0));
	if ((*out = strdup(PQgetvalue(r, 0, 1))) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	PQclear(r);
	return rc;
}

int db_cert_expiring_counts(PGconn *c, long counts[3], struct err *e)
{
	PGresult *r = NULL;

	if (db_exec(c,
	    "SELECT count(*) FILTER (WHERE not_after <= now() + interval '1 day'),"
	    " count(*) FILTER (WHERE not_after <= now() + interval '7 days'),"
	    " count(*) FILTER (WHERE not_after <= now() + interval '30 days')"
	    " FROM certificates c WHERE status = 'good' AND not_after > now()"
	    " AND not_after <= now() + interval '30 days'"
	    /* One renewed already is no cause for alarm. */
	    " AND NOT " RENEWED_C,
	    0, NULL, &r, e) != 0)
		return -1;
	for (int i = 0; i < 3; i++)
		counts[i] = atol(PQgetvalue(r, 0, i));
	PQclear(r);
	return 0;
}

/* Append one element to a PostgreSQL array literal (labels are
 * config-made "7d"-style words, numbers digits: nothing to quote, but
 * quote anyway so that the literal cannot be misread). */
static void put_elem(char *buf, size_t len, const char *v)
{
	size_t n = strlen(buf);

	snprintf(buf + n, len - n, "%s\"%s\"", n > 1 ? "," : "", v);
}

int db_expiry_due_json(PGconn *c, const char *const *labels,
    const long long *seconds, int n, long limit, char **out, struct err *e)
{
	char lab[1024] = "{", sec[1024] = "{", num[24], lim[24];
	const char *p[3] = { lab, sec, lim };
	PGresult *r = NULL;

	for (int i = 0; i < n; i++) {
		if (strlen(labels[i]) > 32 || strchr(labels[i], '"') ||
		    strchr(labels[i], '\\'))
			return err_set(e, ERR_INTERNAL, "bad threshold label");
		put_elem(lab, sizeof(lab) - 2, labels[i]);
		snprintf(num, sizeof(num), "%lld", seconds[i]);
		put_elem(sec, sizeof(sec) - 2, num);
	}
	strcat(lab, "}");
	strcat(sec, "}");
	snprintf(lim, sizeof(lim), "%ld", limit);
	/* Due: good, unexpired, no successor, inside the threshold's window,
	 * not yet notified for it, and issued before the window began: a
	 * certificate issued with less than the threshold to live never
	 * entered that window (it was made that short on purpose) and is
	 * not notified for it. */
	if (db_exec(c,
	    "WITH t AS (SELECT * FROM unnest($1::text[], $2::float8[])"
	    "  AS t(label, secs))"
	    " SELECT coalesce(json_agg(json_build_object("
	    "   'threshold', x.label, 'serial', x.serial, 'subject', x.subject,"
	    "   'sans', to_json(x.sans), 'provisioner', x.provisioner,"
	    "   'not_after', " RFC3339("x.not_after") ","
	    "   'not_after_epoch', floor(extract(epoch FROM x.not_after))::bigint)"
	    "  ORDER BY x.not_after, x.serial, x.secs DESC), '[]')"
	    " FROM (SELECT t.label, t.secs, c.serial, c.subject, c.sans,"
	    "   c.provisioner, c.not_after"
	    "  FROM certificates c CROSS JOIN t"
	    "  WHERE c.status = 'good' AND c.not_after > now()"
	    /* A bound that does not depend on t: a range on the index. */
	    "   AND c.not_after <= now() + make_interval(secs =>"
	    "    (SELECT max(secs) FROM t))"
	    "   AND c.not_after <= now() + make_interval(secs => t.secs)"
	    "   AND coalesce(c.issued_at, c.not_before)"
	    "    < c.not_after - make_interval(secs => t.secs)"
	    "   AND NOT " RENEWED_C
	    "   AND NOT EXISTS (SELECT 1 FROM expiry_notifications en"
	    "    WHERE en.serial = c.serial AND en.threshold = t.label)"
	    "  ORDER BY c.not_after, c.serial, t.secs DESC"
	    "  LIMIT $3::bigint) x",
	    3, p, &r, e) != 0)
		return -1;
	*out = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return *out ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
}

/* Advisory lock class of notification claims (with a hash of serial and
 * threshold as the second key): only has to differ from the other locks
 * signet takes. */
#define EXPIRY_LOCK_CLASS 0x5367e7

int db_expiry_claim(PGconn *c, const char *serial, const char *threshold,
    int *claimed, struct err *e)
{
	char cls[16];
	const char *p[3] = { serial, threshold, cls };
	PGresult *r = NULL;

	snprintf(cls, sizeof(cls), "%d", EXPIRY_LOCK_CLASS);
	/* The row stays uncommitted while the caller sends: a process that
	 * dies mid-send leaves no row and the notification is retried.  The
	 * transaction-scoped lock lets a second signetd skip, rather than
	 * wait on, a claim in flight; ON CONFLICT skips one already sent. */
	if (db_exec(c,
	    "INSERT INTO expiry_notifications (serial, threshold)"
	    " SELECT $1::text, $2::text"
	    " WHERE pg_try_advisory_xact_lock($3::int, hashtext($1::text || '/' || $2))"
	    " ON CONFLICT DO NOTHING RETURNING 1",
	    3, p, &r, e) != 0)
		return -1;
	*claimed = PQntuples(r) == 1;
	PQclear(r);
	return 0;
}
