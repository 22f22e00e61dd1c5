/*
 * Group commit for issuance.  Concurrent requests hand their intent (or
 * their signed certificate) to one writer thread per kind, which records
 * everything that queued up while its previous statement ran in one
 * statement and one commit, then wakes each request with its own result.
 * Durability is unchanged (synchronous_commit stays on; nobody is answered
 * before the commit that holds their row), but the per-statement and
 * per-commit costs are shared by the whole batch.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "db/db.h"

#define BATCH_MAX 128

enum kind { K_INTENT, K_STORE };

struct item {
	const void *req;       /* struct db_intent * or struct db_store * */
	struct err *res;       /* the caller's result */
	int done;
	struct item *next;
};

struct writer {
	struct db_group *g;
	enum kind kind;
	pthread_t thread;
	int started;
	struct item *head, *tail;
	pthread_cond_t work;
	PGconn *conn;
};

struct db_group {
	pthread_mutex_t lock;
	pthread_cond_t done;
	int stop;
	char *conninfo;
	struct writer w[2];
};

static void run_batch(struct writer *w, struct item **items, int n)
{
	const void *reqs[BATCH_MAX];
	struct err res[BATCH_MAX], e = { 0 };
	int rc;

	for (int i = 0; i < n; i++)
		reqs[i] = items[i]->req;
	if (w->conn == NULL || PQstatus(w->conn) != CONNECTION_OK) {
		if (w->conn != NULL)
			PQfinish(w->conn);
		w->conn = db_connect(w->g->conninfo, &e);
	}
	if (w->conn == NULL)
		rc = -1;
	else if (w->kind == K_INTENT)
		rc = db_cert_intent_many(w->conn,
		    (const struct db_intent *const *)reqs, n, res, &e);
	else
		rc = db_cert_store_many(w->conn,
		    (const struct db_store *const *)reqs, n, res, &e);
	for (int i = 0; i < n; i++)
		*items[i]->res = rc == 0 ? res[i] : e;
}

static const char *jti_owner(const struct db_intent *in)
{
	return in->jti_owner ? in->jti_owner :
	    in->provisioner ? in->provisioner : "";
}

/* Within one intent batch, a token id may appear once: a second request
 * with the same token in the same batch is a replay, answered here. */
static int drop_duplicate_jti(struct item **items, int n)
{
	int kept = 0;

	for (int i = 0; i < n; i++) {
		const struct db_intent *a = items[i]->req;
		int dup = 0;

		for (int j = 0; a->jti != NULL && j < kept && !dup; j++) {
			const struct db_intent *b = items[j]->req;
			dup = b->jti != NULL && strcmp(a->jti, b->jti) == 0 &&
			    strcmp(jti_owner(a), jti_owner(b)) == 0;
		}
		if (dup) {
			err_set(items[i]->res, ERR_AUTH, "token already used: each "
			    "token is good for one certificate (jti %.64s)", a->jti);
		} else {
			items[kept++] = items[i];
		}
	}
	return kept;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct db_group *g = w->g;
	struct item *batch[BATCH_MAX], *all[BATCH_MAX];
	int n, total;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		while (w->head == NULL && !g->stop)
			pthread_cond_wait(&w->work, &g->lock);
		if (w->head == NULL && g->stop)
			break;
		/* Take what queued while the last batch ran. */
		for (total = 0; w->head != NULL && total < BATCH_MAX; total++) {
			all[total] = w->head;
			w->head = w->head->next;
		}
		if (w->head == NULL)
			w->tail = NULL;
		pthread_mutex_unlock(&g->lock);

		memcpy(batch, all, sizeof(batch[0]) * (size_t)total);
		n = w->kind == K_INTENT ? drop_duplicate_jti(batch, total) : total;
		if (n > 0)
			run_batch(w, batch, n);

		pthread_mutex_lock(&g->lock);
		for (int i = 0; i < total; i++)
			all[i]->done = 1;
		pthread_cond_broadcast(&g->done);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int db_group_start(const char *conninfo, struct db_group **out, struct err *e)
{
	struct db_group *g = calloc(1, sizeof(*g));

	if (g == NULL || (g->conninfo = strdup(conninfo)) == NULL) {
		free(g);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->done, NULL);
	for (int k = 0; k < 2; k++) {
		struct writer *w = &g->w[k];

		w->g = g;
		w->kind = (enum kind)k;
		pthread_cond_init(&w->work, NULL);
		if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
			db_group_stop(g);
			return err_set(e, ERR_INTERNAL, "cannot start a writer thread");
		}
		w->started = 1;
	}
	*out = g;
	return 0;
}

void db_group_stop(struct db_group *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = 1;
	for (int k = 0; k < 2; k++)
		pthread_cond_signal(&g->w[k].work);
	pthread_mutex_unlock(&g->lock);
	for (int k = 0; k < 2; k++) {
		if (g->w[k].started)
			pthread_join(g->w[k].thread, NULL);
		if (g->w[k].conn != NULL)
			PQfinish(g->w[k].conn);
		pthread_cond_destroy(&g->w[k].work);
	}
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->done);
	free(g->conninfo);
	free(g);
}

static int submit(struct db_group *g, enum kind kind, const void *req,
    struct err *e)
{
	struct err res = { 0 };
	struct item it = { req, &res, 0, NULL };
	struct writer *w = &g->w[kind];

	pthread_mutex_lock(&g->lock);
	if (g->stop) {
		pthread_mutex_unlock(&g->lock);
		return err_set(e, ERR_UNAVAILABLE, "shutting down");
	}
	if (w->tail != NULL)
		w->tail->next = &it;
	else
		w->head = &it;
	w->tail = &it;
	pthread_cond_signal(&w->work);
	while (!it.done)
		pthread_cond_wait(&g->done, &g->lock);
	pthread_mutex_unlock(&g->lock);
	if (res.kind != ERR_NONE) {
		if (e != NULL)
			*e = res;
		return -1;
	}
	return 0;
}

int db_group_intent(struct db_group *g, const struct db_intent *in,
    struct err *e)
{
	return submit(g, K_INTENT, in, e);
}

int db_group_store(struct db_group *g, const struct db_store *in,
    struct err *e)
{
	return submit(g, K_STORE, in, e);
}
