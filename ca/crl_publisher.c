#include "ca/crl_publisher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ca/crl.h"
#include "ca/x509util.h"
#include "common/log.h"
#include "common/metrics.h"

/* Any constant: the same in every signetd.  Distinct from the audit
 * sealer's and the migration lock. */
#define CRL_SIGNER_LOCK "21850062961"
#define MAX_ISSUERS 32
/* How often the files in crl_publish_dir and the age metric catch up
 * with CRLs another signetd signed. */
#define SYNC_INTERVAL 5

struct seen {
	char name[64];
	time_t this_update;
	long long written;          /* CRL number last written to the dir */
};

struct crl_publisher {
	struct db *db;
	struct hsm *hsm;
	const struct config *cfg;
	pthread_t thread;
	int started;
	int wake[2];                /* self-pipe: stop */
	pthread_mutex_t lock;       /* seen[], stopping */
	int stopping;
	struct seen seen[MAX_ISSUERS];
	int nseen;
};

static struct seen *seen_get(struct crl_publisher *p, const char *name)
{
	for (int i = 0; i < p->nseen; i++)
		if (strcmp(p->seen[i].name, name) == 0)
			return &p->seen[i];
	if (p->nseen == MAX_ISSUERS)
		return NULL;
	snprintf(p->seen[p->nseen].name, sizeof(p->seen[0].name), "%s", name);
	return &p->seen[p->nseen++];
}

/* The newest CRL of every active CA, root included, into the publish
 * directory and the age metric, whoever signed it. */
static void sync_files(struct crl_publisher *p, PGconn *c)
{
	const char *kinds[2] = { "root", "intermediate" };
	struct db_issuer *v = NULL;
	struct err e;
	int n = 0;

	for (int k = 0; k < 2; k++) {
		if (db_issuers_load(c, kinds[k], &v, &n, &e) != 0) {
			log_warn("msg=\"CRL sync: cannot list issuers\" error=\"%s\"",
			    e.msg);
			return;
		}
		for (int i = 0; i < n; i++) {
			struct db_crl crl;
			struct seen *s;
			long long written;

			if (db_crl_get(c, v[i].name, &crl, &e) != 0) {
				if (e.kind != ERR_NOTFOUND)
					log_warn("msg=\"CRL sync failed\" issuer=%s "
					    "error=\"%s\"", v[i].name, e.msg);
				continue;
			}
			pthread_mutex_lock(&p->lock);
			s = seen_get(p, v[i].name);
			written = s ? s->written : 0;
			if (s != NULL)
				s->this_update = crl.this_update;
			pthread_mutex_unlock(&p->lock);
			if (s != NULL && crl.number > written) {
				if (crl_write(p->cfg->crl_publish_dir, v[i].name, crl.der,
				    crl.der_len, NULL, 0, &e) != 0) {
					log_warn("msg=\"cannot write CRL\" issuer=%s "
					    "error=\"%s\"", v[i].name, e.msg);
				} else {
					pthread_mutex_lock(&p->lock);
					s->written = crl.number;
					pthread_mutex_unlock(&p->lock);
				}
			}
			free(crl.der);
		}
		db_issuers_free(v, n);
		v = NULL;
	}
}

/* Sign what is due.  Returns 0 when done (or nothing was due), 1 when
 * another signetd holds the signer lock or signing failed (try again
 * soon), -1 when the database is unavailable.  *next_due: when the
 * next scheduled CRL is due. */
static int cycle(struct crl_publisher *p, int notified, time_t *next_due)
{
	struct db_issuer *v = NULL;
	struct err e;
	PGresult *r = NULL;
	PGconn *c;
	time_t now = time(NULL);
	int n = 0, locked = 0, rc = 0;

	*next_due = now + p->cfg->crl_refresh;
	if ((c = db_acquire(p->db, &e)) == NULL) {
		log_warn("msg=\"CRL publisher: database unavailable\" error=\"%s\"",
		    e.msg);
		return -1;
	}
	if (db_exec(c, "SELECT pg_try_advisory_lock(" CRL_SIGNER_LOCK ")", 0,
	    NULL, &r, &e) != 0) {
		rc = -1;
		goto out;
	}
	locked = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	r = NULL;
	if (!locked) {
		/* Another signetd signs.  After a revocation, look again soon:
		 * it may have started before the revocation committed. */
		rc = notified ? 1 : 0;
		*next_due = now + SYNC_INTERVAL;
		goto sync;
	}
	if (db_issuers_load(c, "intermediate", &v, &n, &e) != 0) {
		rc = -1;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct hsm_key *key;
		struct crl_result res;
		time_t tu;
		X509 *issuer;
		int scheduled;

		if (db_crl_this_update(c, v[i].id, &tu, &e) != 0) {
			rc = -1;
			goto out;
		}
		scheduled = tu == 0 || now >= tu + p->cfg->crl_refresh;
		if (!scheduled && !notified) {
			if (tu + p->cfg->crl_refresh < *next_due)
				*next_due = tu + p->cfg->crl_refresh;
			continue;
		}
		memset(&res, 0, sizeof(res));
		if (hsm_find_key(p->hsm, v[i].key_label, &key, &e) != 0 ||
		    (issuer = x509_from_der(v[i].der, v[i].der_len, &e)) == NULL) {
			log_warn("msg=\"cannot sign CRL\" issuer=%s error=\"%s\"",
			    v[i].name, e.msg);
			rc = 1;
			continue;
		}
		if (crl_generate(c, issuer, v[i].id, key, p->cfg->crl_validity,
		    scheduled, &res, &e) != 0) {
			log_warn("msg=\"cannot sign CRL\" issuer=%s error=\"%s\"",
			    v[i].name, e.msg);
			rc = e.kind == ERR_UNAVAILABLE ? -1 : 1;
		} else {
			log_info("msg=\"signed CRL\" issuer=%s number=%lld entries=%d "
			    "scheduled=%d list_s=%.3f sign_s=%.3f store_s=%.3f",
			    v[i].name, res.number, res.entries, scheduled,
			    res.t_list, res.t_sign, res.t_store);
		}
		crl_result_free(&res);
		X509_free(issuer);
	}
sync:
	sync_files(p, c);
out:
	if (locked)
		PQclear(PQexec(c, "SELECT pg_advisory_unlock(" CRL_SIGNER_LOCK ")"));
	PQclear(r);
	db_issuers_free(v, n);
	db_release(p->db, c);
	return rc;
}

/* A connection of our own that LISTENs; NULL if the database is down. */
static PGconn *listen_connect(struct crl_publisher *p)
{
	struct err e;
	PGconn *c = db_connect(p->cfg->db, &e);
	PGresult *r;

	if (c == NULL) {
		log_warn("msg=\"CRL publisher: cannot LISTEN\" error=\"%s\"", e.msg);
		return NULL;
	}
	r = PQexec(c, "LISTEN signet_revocation");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_warn("msg=\"CRL publisher: LISTEN failed\"");
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

static int stopping(struct crl_publisher *p)
{
	int s;

	pthread_mutex_lock(&p->lock);
	s = p->stopping;
	pthread_mutex_unlock(&p->lock);
	return s;
}

static void *publisher_main(void *arg)
{
	struct crl_publisher *p = arg;
	PGconn *ln = NULL;
	time_t next = 0, due = 0;
	int dirty = 0, fails = 0, rc;

	while (!stopping(p)) {
		struct pollfd fds[2];
		time_t now;
		int nfds = 1, timeout;

		if (ln != NULL && (PQstatus(ln) != CONNECTION_OK ||
		    PQsocket(ln) < 0)) {
			PQfinish(ln);
			ln = NULL;
		}
		now = time(NULL);
		if (ln == NULL && (ln = listen_connect(p)) != NULL) {
			dirty = 1;  /* notifications may have been missed */
			next = now;
		}
		if (now >= next) {
			rc = cycle(p, dirty, &due);
			if (rc == 0)
				dirty = 0;
			next = due < now + SYNC_INTERVAL ? due : now + SYNC_INTERVAL;
			/* Try again soon, backing off (1, 2, 4 .. 32 s) while
			 * it keeps failing, so a lasting fault (a key missing
			 * from the token) does not flood the log. */
			fails = rc == 0 ? 0 : fails < 5 ? fails + 1 : 5;
			if (rc != 0)
				next = now + (1 << (fails - 1));
		}
		now = time(NULL);
		timeout = next > now ? (int)(next - now) * 1000 : 100;
		if (ln == NULL && timeout > 1000)
			timeout = 1000;
		fds[0].fd = p->wake[0];
		fds[0].events = POLLIN;
		if (ln != NULL) {
			fds[1].fd = PQsocket(ln);
			fds[1].events = POLLIN;
			nfds = 2;
		}
		fds[0].revents = fds[1].revents = 0;
		if (poll(fds, (nfds_t)nfds, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_error("msg=\"CRL publisher: poll failed\" error=\"%s\"",
			    strerror(errno));
			break;
		}
		if (fds[0].revents != 0)
			break;
		if (ln != NULL && fds[1].revents != 0) {
			PGnotify *nt;

			if (PQconsumeInput(ln) != 1 || PQstatus(ln) != CONNECTION_OK) {
				log_warn("msg=\"CRL publisher: LISTEN connection lost\"");
				PQfinish(ln);
				ln = NULL;
				continue;
			}
			while ((nt = PQnotifies(ln)) != NULL) {
				dirty = 1;
				next = time(NULL);
				PQfreemem(nt);
			}
		}
	}
	PQfinish(ln);
	return NULL;
}

int crl_publisher_start(struct db *d, struct hsm *h,
    const struct config *cfg, struct crl_publisher **out, struct err *e)
{
	struct crl_publisher *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	p->db = d;
	p->hsm = h;
	p->cfg = cfg;
	p->wake[0] = p->wake[1] = -1;
	pthread_mutex_init(&p->lock, NULL);
	if (pipe2(p->wake, O_CLOEXEC) != 0) {
		crl_publisher_stop(p);
		return err_set(e, ERR_INTERNAL, "pipe: %s", strerror(errno));
	}
	if (pthread_create(&p->thread, NULL, publisher_main, p) != 0) {
		crl_publisher_stop(p);
		return err_set(e, ERR_INTERNAL, "cannot start the CRL publisher");
	}
	p->started = 1;
	*out = p;
	return 0;
}

void crl_publisher_stop(struct crl_publisher *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_mutex_unlock(&p->lock);
	if (p->wake[1] >= 0 && write(p->wake[1], "x", 1) < 0)
		log_warn("msg=\"CRL publisher: cannot wake\"");
	if (p->started)
		pthread_join(p->thread, NULL);
	if (p->wake[0] >= 0)
		close(p->wake[0]);
	if (p->wake[1] >= 0)
		close(p->wake[1]);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static void http_date(time_t t, char *out, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static int issuer_name_ok(const char *s, size_t n)
{
	if (n == 0 || n >= 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' ||
		    s[i] == '.'))
			return 0;
	return 1;
}

void crl_publisher_serve(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	struct crl_publisher *p = arg;
	const char *file = req->path + strlen("/crl/"), *inm;
	size_t n = strlen(file);
	char name[64], etag[128], date[64], cc[64];
	struct db_crl crl;
	struct err e = { 0 };
	PGconn *c;
	time_t now = time(NULL);
	long long maxage;

	memset(&crl, 0, sizeof(crl));
	if (n <= 4 || strcmp(file + n - 4, ".crl") != 0 ||
	    !issuer_name_ok(file, n - 4)) {
		err_set(&e, ERR_NOTFOUND, "no CRL at %.80s: want /crl/{issuer}.crl",
		    req->path);
		http_problem(resp, &e);
		return;
	}
	memcpy(name, file, n - 4);
	name[n - 4] = '\0';
	if ((c = db_acquire(p->db, &e)) == NULL) {
		http_problem(resp, &e);
		return;
	}
	if (db_crl_get(c, name, &crl, &e) != 0) {
		db_release(p->db, c);
		http_problem(resp, &e);
		return;
	}
	db_release(p->db, c);
	snprintf(etag, sizeof(etag), "\"%s-%lld\"", name, crl.number);
	/* Expires is nextUpdate, when the CRL stops being usable; max-age is
	 * shorter, so that caches come back for the CRL a revocation makes
	 * long before that. */
	maxage = (long long)(crl.next_update - now);
	if (maxage > p->cfg->crl_refresh)
		maxage = p->cfg->crl_refresh;
	if (maxage < 0)
		maxage = 0;
	inm = http_header(req, "If-None-Match");
	if (inm != NULL && strcmp(inm, etag) == 0)
		http_respond(resp, 304, "application/pkix-crl", "", 0);
	else
		http_respond(resp, 200, "application/pkix-crl", crl.der,
		    crl.der_len);
	snprintf(cc, sizeof(cc), "public, max-age=%lld, no-transform", maxage);
	http_add_header(resp, "Cache-Control", cc);
	http_date(crl.this_update, date, sizeof(date));
	http_add_header(resp, "Last-Modified", date);
	http_date(crl.next_update, date, sizeof(date));
	http_add_header(resp, "Expires", date);
	http_add_header(resp, "ETag", etag);
	snprintf(resp->log_detail, sizeof(resp->log_detail), "crl=%s number=%lld",
	    name, crl.number);
	free(crl.der);
}

void crl_publisher_collect(struct crl_publisher *p)
{
	char label[160], name[128];
	time_t now = time(NULL);

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < p->nseen; i++) {
		if (p->seen[i].this_update == 0)
			continue;
		metrics_label(p->seen[i].name, name, sizeof(name));
		snprintf(label, sizeof(label), "issuer=\"%s\"", name);
		metrics_set("signet_crl_age_seconds", label,
		    (double)(now - p->seen[i].this_update));
	}
	pthread_mutex_unlock(&p->lock);
}
