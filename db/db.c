/* The connection pool and the query helpers every db/ file uses. */
#include "db/db.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct db {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	int size;
	PGconn **conns;
	unsigned char *busy;
	char *conninfo;
};

/* Quiet libpq's NOTICEs (e.g. "relation already exists, skipping"). */
static void notice_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

PGconn *db_connect(const char *conninfo, struct err *e)
{
	PGconn *c = PQconnectdb(conninfo);

	if (c == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
		msg[strcspn(msg, "\n")] = '\0';
		err_set(e, ERR_UNAVAILABLE, "database: %s", msg);
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, notice_quiet, NULL);
	return c;
}

int db_open(const char *conninfo, int pool_size, struct db **out,
    struct err *e)
{
	struct db *d;

	if (pool_size < 1)
		pool_size = 1;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->freed, NULL);
	d->size = pool_size;
	d->conns = calloc((size_t)pool_size, sizeof(*d->conns));
	d->busy = calloc((size_t)pool_size, 1);
	d->conninfo = strdup(conninfo);
	if (d->conns == NULL || d->busy == NULL || d->conninfo == NULL) {
		db_free(d);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	/* The first connection tells whether the database is there at all;
	 * the others are made when first needed. */
	if ((d->conns[0] = db_connect(conninfo, e)) == NULL) {
		db_free(d);
		return -1;
	}
	*out = d;
	return 0;
}

void db_free(struct db *d)
{
	if (d == NULL)
		return;
	for (int i = 0; d->conns != NULL && i < d->size; i++)
		if (d->conns[i] != NULL)
			PQfinish(d->conns[i]);
	free(d->conns);
	free(d->busy);
	free(d->conninfo);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->freed);
	free(d);
}

PGconn *db_acquire(struct db *d, struct err *e)
{
	int slot = -1;
	PGconn *c;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		for (int i = 0; i < d->size; i++)
			if (!d->busy[i]) {
				slot = i;
				break;
			}
		if (slot >= 0)
			break;
		pthread_cond_wait(&d->freed, &d->lock);
	}
	d->busy[slot] = 1;
	c = d->conns[slot];
	pthread_mutex_unlock(&d->lock);

	/* Connect or re-connect outside the lock: it may take a while. */
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		if (c != NULL)
			PQfinish(c);
		c = db_connect(d->conninfo, e);
		pthread_mutex_lock(&d->lock);
		d->conns[slot] = c;
		if (c == NULL) {
			d->busy[slot] = 0;
			pthread_cond_signal(&d->freed);
		}
		pthread_mutex_unlock(&d->lock);
	}
	return c;
}

void db_release(struct db *d, PGconn *conn)
{
	if (conn == NULL)
		return;
	/* A connection left inside a transaction (an error path that forgot
	 * to roll back) must not leak that transaction to the next user. */
	if (PQstatus(conn) == CONNECTION_OK &&
	    PQtransactionStatus(conn) != PQTRANS_IDLE)
		db_rollback(conn);
	pthread_mutex_lock(&d->lock);
	for (int i = 0; i < d->size; i++)
		if (d->conns[i] == conn) {
			d->busy[i] = 0;
			break;
		}
	pthread_cond_signal(&d->freed);
	pthread_mutex_unlock(&d->lock);
}

void db_pool_stats(struct db *d, int *busy, int *idle)
{
	int b = 0, n = 0;

	pthread_mutex_lock(&d->lock);
	for (int i = 0; i < d->size; i++) {
		if (d->busy[i])
			b++;
		else if (d->conns[i] != NULL)
			n++;
	}
	pthread_mutex_unlock(&d->lock);
	*busy = b;
	*idle = n;
}

static int map_error(PGconn *c, PGresult *r, struct err *e)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char msg[512];
	enum err_kind kind = ERR_INTERNAL;

	snprintf(msg, sizeof(msg), "%s",
	    primary != NULL ? primary : PQerrorMessage(c));
	msg[strcspn(msg, "\n")] = '\0';
	/* Errors the server reports carry a SQLSTATE; one without is libpq's
	 * own: the connection is gone or going. */
	if (PQstatus(c) != CONNECTION_OK || state == NULL)
		kind = ERR_UNAVAILABLE;
	else if (state != NULL && strcmp(state, "23505") == 0)
		kind = ERR_CONFLICT;
	else if (state != NULL && (strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57P", 3) == 0 || strcmp(state, "53300") == 0))
		kind = ERR_UNAVAILABLE;
	return err_set(e, kind, "database: %s", msg);
}

/* Did this failure come from losing the server (shutdown, restart,
 * crash), rather than from the statement? */
static int connection_lost(PGconn *c, PGresult *r)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	return PQstatus(c) != CONNECTION_OK || state == NULL ||
	    strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}

/* Run a statement outside a transaction as a prepared statement named
 * after a hash of its text: parsing and planning the CTEs signet uses
 * cost more than running them.  A connection that does not know the name
 * yet (new, or re-made after a restart) prepares it first; that error
 * cannot abort anything because no transaction is open. */
static PGresult *exec_prepared(PGconn *c, const char *sql, int nparams,
    const char *const *params, const int *lengths, const int *formats)
{
	char name[24];
	uint64_t h = 1469598103934665603ULL;
	PGresult *r;
	const char *state;

	for (const char *p = sql; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	snprintf(name, sizeof(name), "sg_%016llx", (unsigned long long)h);
	r = PQexecPrepared(c, name, nparams, params, lengths, formats, 0);
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (state == NULL || strcmp(state, "26000") != 0)
		return r;
	PQclear(r);
	r = PQprepare(c, name, sql, nparams, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return r;
	PQclear(r);
	return PQexecPrepared(c, name, nparams, params, lengths, formats, 0);
}

int db_execb(PGconn *c, const char *sql, int nparams,
    const char *const *params, const int *lens, PGresult **res,
    struct err *e)
{
	int formats[16] = { 0 }, lengths[16] = { 0 };
	PGresult *r;
	ExecStatusType st;
	int idle;

	if (nparams > 16)
		return err_set(e, ERR_INTERNAL, "too many query parameters");
	for (int i = 0; i < nparams; i++) {
		formats[i] = lens != NULL && lens[i] > 0;
		lengths[i] = lens != NULL ? lens[i] : 0;
	}
	idle = PQtransactionStatus(c) == PQTRANS_IDLE;
	r = idle ? exec_prepared(c, sql, nparams, params, lengths, formats) :
	    PQexecParams(c, sql, nparams, NULL, params, lengths, formats, 0);
	st = PQresultStatus(r);
	/* A pooled connection whose server went away (a restart, a
	 * failover) only finds out on its next query.  Outside a transaction
	 * a statement on a dead connection never ran, so reconnect and try
	 * once more rather than fail a request the database could serve. */
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && idle &&
	    connection_lost(c, r)) {
		PQclear(r);
		PQreset(c);
		if (PQstatus(c) == CONNECTION_OK)
			PQsetNoticeProcessor(c, notice_quiet, NULL);
		r = exec_prepared(c, sql, nparams, params, lengths, formats);
		st = PQresultStatus(r);
	}
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		map_error(c, r, e);
		PQclear(r);
		return -1;
	}
	if (res != NULL)
		*res = r;
	else
		PQclear(r);
	return 0;
}

int db_exec(PGconn *c, const char *sql, int nparams,
    const char *const *params, PGresult **res, struct err *e)
{
	return db_execb(c, sql, nparams, params, NULL, res, e);
}

int db_begin(PGconn *c, struct err *e)
{
	PGresult *r = PQexec(c, "BEGIN");
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : map_error(c, r, e);

	PQclear(r);
	return rc;
}

int db_commit(PGconn *c, struct err *e)
{
	return db_exec(c, "COMMIT", 0, NULL, NULL, e);
}

void db_rollback(PGconn *c)
{
	PQclear(PQexec(c, "ROLLBACK"));
}

int db_get_bytea(PGresult *r, int row, int col, unsigned char **out,
    size_t *len, struct err *e)
{
	size_t n;
	unsigned char *p, *copy;

	if (PQgetisnull(r, row, col))
		return err_set(e, ERR_NOTFOUND, "no value");
	p = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
	if (p == NULL)
		return err_set(e, ERR_INTERNAL, "bad bytea value");
	if ((copy = malloc(n ? n : 1)) == NULL) {
		PQfreemem(p);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	memcpy(copy, p, n);
	PQfreemem(p);
	*out = copy;
	*len = n;
	return 0;
}

int db_audit_add(PGconn *c, const char *actor, const char *action,
    const char *subject, const char *detail_json, struct err *e)
{
	const char *p[4] = { actor, action, subject ? subject : "",
	    detail_json ? detail_json : "{}" };

	return db_exec(c,
	    "INSERT INTO audit_log (actor, action, subject, detail) "
	    "VALUES ($1, $2, $3, $4::jsonb)", 4, p, NULL, e);
}
