/* acme_validator: worker threads that take answered ACME challenges from
 * PostgreSQL, validate them (ca/acme_validate) and record the outcome. */
#include "ca/acme_validator.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ca/acme_validate.h"
#include "common/log.h"
#include "db/acme_order_db.h"

/* How often the idle poller looks for work another signetd was handed
 * (work answered here wakes the workers at once). */
#define IDLE_POLL_SECONDS 1

struct acme_validator {
	struct db *db;
	const struct config *cfg;
	struct acme_validate *val;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	unsigned wakeups;          /* bumped by acme_validator_wake */
	int poller_taken;          /* one worker polls; the rest wait */
	pthread_t *threads;
	int nthreads;
};

/* The error of a failed validation as an ACME problem (RFC 8555 8). */
static char *problem_json(const char *atype, const char *detail)
{
	char urn[96];
	json_t *j;
	char *s;

	snprintf(urn, sizeof(urn), "urn:ietf:params:acme:error:%s", atype);
	j = json_pack("{s:s, s:s, s:i}", "type", urn, "detail", detail,
	    "status", 400);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

/* Validate one claimed challenge and record what came of it. */
static void validate_one(struct acme_validator *v,
    const struct db_acme_work *w)
{
	PGconn *c;
	char key_authz[2 * DB_ACME_TOKEN + 2], *err_json = NULL;
	const char *atype = "serverInternal";
	int ok, final;
	struct err e, de;

	memset(&e, 0, sizeof(e));
	snprintf(key_authz, sizeof(key_authz), "%s.%s", w->token, w->thumbprint);
	ok = acme_validate_challenge(v->val, w->type, w->ident_type,
	    w->ident_value, w->token, key_authz, &atype, &e) == 0;
	final = ok || w->attempts >= v->cfg->acme_validation_attempts;
	if (!ok)
		err_json = problem_json(atype, e.msg);
	if ((c = db_acquire(v->db, &de)) == NULL ||
	    db_acme_work_done(c, w->chall, ok, err_json, final,
	    v->cfg->acme_validation_retry, &de) != 0)
		log_warn("msg=\"acme validation not recorded\" challenge=%lld "
		    "error=\"%s\"", w->chall, de.msg);
	else if (ok)
		log_info("msg=\"acme challenge valid\" challenge=%lld type=%s "
		    "identifier=%s", w->chall, w->type, w->ident_value);
	else
		log_info("msg=\"acme challenge failed\" challenge=%lld type=%s "
		    "identifier=%s attempt=%d final=%d problem=%s detail=\"%s\"",
		    w->chall, w->type, w->ident_value, w->attempts, final, atype,
		    e.msg);
	if (c != NULL)
		db_release(v->db, c);
	free(err_json);
}

/* Claim and validate until there is no due work.  No pool connection
 * is held while a validation waits on the network. */
static void drain(struct acme_validator *v)
{
	struct db_acme_work w;
	/* A claim outlives any validation: a dead worker's challenge is
	 * taken over after this. */
	long lease = (long)v->cfg->acme_validation_timeout * 2 + 10;
	int found = 0, stop;
	PGconn *c;
	struct err e;

	for (;;) {
		pthread_mutex_lock(&v->mu);
		stop = v->stop;
		pthread_mutex_unlock(&v->mu);
		if (stop || (c = db_acquire(v->db, &e)) == NULL)
			return;
		if (db_acme_work_claim(c, lease, &w, &found, &e) != 0)
			log_warn("msg=\"acme validation queue\" error=\"%s\"", e.msg);
		db_release(v->db, c);
		if (!found)
			return;
		/* There may be more: let the waiting workers look too. */
		acme_validator_wake(v);
		validate_one(v, &w);
	}
}

static void *worker(void *arg)
{
	struct acme_validator *v = arg;
	unsigned seen;
	int poller;

	pthread_mutex_lock(&v->mu);
	/* One worker looks every IDLE_POLL_SECONDS for work of other
	 * signetd (one query a second, not one per worker); the others
	 * sleep until woken. */
	poller = !v->poller_taken;
	v->poller_taken = 1;
	seen = v->wakeups;
	while (!v->stop) {
		pthread_mutex_unlock(&v->mu);
		drain(v);
		pthread_mutex_lock(&v->mu);
		if (v->stop)
			break;
		if (v->wakeups == seen && poller) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += IDLE_POLL_SECONDS;
			pthread_cond_timedwait(&v->cv, &v->mu, &until);
		} else if (v->wakeups == seen) {
			pthread_cond_wait(&v->cv, &v->mu);
		}
		seen = v->wakeups;
	}
	pthread_mutex_unlock(&v->mu);
	return NULL;
}

int acme_validator_start(struct db *d, const struct config *cfg,
    struct acme_validator **out, struct err *e)
{
	struct acme_validator *v = calloc(1, sizeof(*v));
	int n = cfg->acme_validation_threads > 0 ?
	    cfg->acme_validation_threads : 1;

	*out = NULL;
	if (v == NULL || (v->threads = calloc((size_t)n,
	    sizeof(pthread_t))) == NULL) {
		free(v);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	v->db = d;
	v->cfg = cfg;
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->cv, NULL);
	if (acme_validate_new(cfg, &v->val, e) != 0) {
		acme_validator_stop(v);
		return -1;
	}
	for (; v->nthreads < n; v->nthreads++)
		if (pthread_create(&v->threads[v->nthreads], NULL, worker, v) != 0) {
			acme_validator_stop(v);
			return err_set(e, ERR_INTERNAL, "cannot start ACME validation "
			    "threads");
		}
	*out = v;
	return 0;
}

void acme_validator_stop(struct acme_validator *v)
{
	if (v == NULL)
		return;
	pthread_mutex_lock(&v->mu);
	v->stop = 1;
	pthread_cond_broadcast(&v->cv);
	pthread_mutex_unlock(&v->mu);
	for (int i = 0; i < v->nthreads; i++)
		pthread_join(v->threads[i], NULL);
	acme_validate_free(v->val);
	pthread_cond_destroy(&v->cv);
	pthread_mutex_destroy(&v->mu);
	free(v->threads);
	free(v);
}

void acme_validator_wake(struct acme_validator *v)
{
	if (v == NULL)
		return;
	pthread_mutex_lock(&v->mu);
	v->wakeups++;
	pthread_cond_broadcast(&v->cv);
	pthread_mutex_unlock(&v->mu);
}
