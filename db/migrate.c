/* Schema migrations: db/migrations/NNN_name.sql, embedded at build time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "common/log.h"

/* Any constant works; it only has to be the same in every signet. */
#define MIGRATION_LOCK 0x5167e7001

int db_migrate(PGconn *c, int *applied, struct err *e)
{
	char lock[32], ver[16];
	PGresult *r = NULL;
	int rc = -1, n = 0;
	const char *p[2];

	snprintf(lock, sizeof(lock), "%lld", (long long)MIGRATION_LOCK);
	p[0] = lock;
	/* Several signet/signetd may start at once: one migrates. */
	if (db_exec(c, "SELECT pg_advisory_lock($1::bigint)", 1, p, NULL, e) != 0)
		return -1;
	if (db_exec(c,
	    "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version integer PRIMARY KEY, name text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())",
	    0, NULL, NULL, e) != 0)
		goto out;
	for (int i = 0; i < db_migrations_count; i++) {
		const struct db_migration *m = &db_migrations[i];

		snprintf(ver, sizeof(ver), "%d", m->version);
		p[0] = ver;
		if (db_exec(c, "SELECT 1 FROM schema_migrations WHERE version = $1",
		    1, p, &r, e) != 0)
			goto out;
		if (PQntuples(r) > 0) {
			PQclear(r);
			r = NULL;
			continue;
		}
		PQclear(r);
		r = NULL;
		if (db_begin(c, e) != 0)
			goto out;
		/* PQexec: a migration file holds several statements. */
		r = PQexec(c, m->sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK &&
		    PQresultStatus(r) != PGRES_TUPLES_OK) {
			err_set(e, ERR_INTERNAL, "migration %s: %s", m->name,
			    PQresultErrorMessage(r));
			e->msg[strcspn(e->msg, "\n")] = '\0';
			db_rollback(c);
			goto out;
		}
		PQclear(r);
		r = NULL;
		p[0] = ver;
		p[1] = m->name;
		if (db_exec(c, "INSERT INTO schema_migrations (version, name) "
		    "VALUES ($1, $2)", 2, p, NULL, e) != 0 ||
		    db_commit(c, e) != 0) {
			db_rollback(c);
			goto out;
		}
		log_info("msg=\"applied migration\" migration=%s", m->name);
		n++;
	}
	rc = 0;
out:
	PQclear(r);
	p[0] = lock;
	PQclear(PQexecParams(c, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL,
	    p, NULL, NULL, 0));
	if (applied != NULL)
		*applied = n;
	return rc;
}

int db_check_schema(PGconn *c, struct err *e)
{
	PGresult *r = NULL;
	struct err ignore;
	int have, want = db_migrations_count > 0 ?
	    db_migrations[db_migrations_count - 1].version : 0;

	if (db_exec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations",
	    0, NULL, &r, &ignore) != 0) {
		if (ignore.kind == ERR_UNAVAILABLE)
			return err_set(e, ERR_UNAVAILABLE, "%s", ignore.msg);
		return err_set(e, ERR_CONFIG,
		    "database has no signet schema: run `signet db migrate`");
	}
	have = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (have < want)
		return err_set(e, ERR_CONFIG,
		    "database schema is at version %d, this signet needs %d: "
		    "run `signet db migrate`", have, want);
	return 0;
}
