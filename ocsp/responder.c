/*
 * ocsp/responder.c: signetd's OCSP service.  See responder.h and
 * docs/ocsp.md.
 *
 * Locking: one rwlock guards the cache and each issuer's current signer.
 * Requests take it shared, copy what they need (the DER into the HTTP
 * response) and let go; signatures are made without it.  Signers are never
 * freed before stop, so a pointer read under the lock stays usable.
 */
#include "ocsp/responder.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ocsp.h>

#include "ca/ocsp_signer.h"
#include "ca/x509util.h"
#include "common/log.h"
#include "common/metrics.h"
#include "db/ocsp_db.h"
#include "ocsp/ocsp.h"

/* Any constant, the same in every signetd; distinct from the CRL
 * signer's, the audit sealer's and the migration lock. */
#define OCSP_SIGNER_LOCK "21850062962"
#define MAX_ISSUERS 8
#define BUCKETS 65536u
/* Bounds memory (a response is ~0.5-2 KiB): past this, responses are
 * signed per request instead of cached. */
#define CACHE_MAX 200000
/* thisUpdate this far in the past: clients' clocks lag. */
#define SKEW 60
/* A revocation's revoked_at is its transaction's start; the poll looks
 * back this far so a slow commit is not missed. */
#define POLL_LOOKBACK 60

struct signer {
	struct ocsp_responder r;     /* r.issuer borrowed from the slot */
	X509 *cert;                  /* owned (delegated), NULL for the CA */
	int id;                      /* ocsp_signers id, 0 for the CA */
	time_t not_after;
	struct signer *next;         /* every signer ever used: freed at stop */
};

struct slot {
	int issuer_id;
	char name[64];
	X509 *issuer;
	struct hsm_key *issuer_key;
	struct signer *cur;          /* under lock */
};

struct entry {
	struct entry *next;
	int slot, nid;
	char serial[OCSP_SERIAL_HEX_MAX];
	struct ocsp_cert_status st;
	time_t cert_not_after;
	time_t this_update, next_update;
	unsigned char *der;          /* OPENSSL_malloc'ed */
	size_t len;
	/* The GET caching headers of der but Cache-Control, made when it
	 * was stored (an ETag is a hash of the whole response). */
	struct ocsp_http_headers hdr;
};

struct ocsp_service {
	struct db *db;
	struct hsm *hsm;
	const struct config *cfg;
	int delegated;
	struct slot slots[MAX_ISSUERS];
	struct ocsp_issuer_hashes hashes[MAX_ISSUERS];
	int nslots;
	pthread_rwlock_t lock;       /* buckets, count, slots[].cur, signers */
	struct entry **buckets;
	size_t count;
	struct signer *signers;
	pthread_t thread;
	int started;
	int wake[2];
	pthread_mutex_t mu;
	int stopping;
};

static unsigned bucket_of(int slot, int nid, const char *serial)
{
	/* FNV-1a: serials are random already, this only spreads them. */
	unsigned h = 2166136261u ^ (unsigned)slot ^ ((unsigned)nid << 8);

	for (const char *p = serial; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % BUCKETS;
}

static struct entry *find(struct ocsp_service *s, int slot, int nid,
    const char *serial)
{
	for (struct entry *x = s->buckets[bucket_of(slot, nid, serial)]; x;
	    x = x->next)
		if (x->slot == slot && x->nid == nid && strcmp(x->serial, serial) == 0)
			return x;
	return NULL;
}

/* Store a signed response; takes der.  A revoked answer is never replaced
 * by a good one: certificates are not unrevoked, so that would be a
 * refresh that raced with the revocation. */
static void put(struct ocsp_service *s, int slot, int nid, const char *serial,
    const struct ocsp_cert_status *st, time_t cert_na, time_t tu, time_t nu,
    unsigned char *der, size_t len)
{
	struct entry *x;
	unsigned char *old = NULL;
	struct ocsp_http_headers hdr;
	struct err e;

	if (ocsp_http_headers_at(der, len, tu, nu, tu, 0, &hdr, &e) != 0)
		memset(&hdr, 0, sizeof(hdr));
	pthread_rwlock_wrlock(&s->lock);
	if ((x = find(s, slot, nid, serial)) != NULL) {
		if (x->st.state == OCSP_CERT_REVOKED &&
		    st->state != OCSP_CERT_REVOKED) {
			old = der;
		} else {
			old = x->der;
			x->der = der;
			x->len = len;
			x->st = *st;
			x->this_update = tu;
			x->next_update = nu;
			x->cert_not_after = cert_na;
			x->hdr = hdr;
		}
	} else if (s->count < CACHE_MAX && (x = calloc(1, sizeof(*x))) != NULL) {
		unsigned b = bucket_of(slot, nid, serial);
		x->slot = slot;
		x->nid = nid;
		snprintf(x->serial, sizeof(x->serial), "%s", serial);
		x->st = *st;
		x->cert_not_after = cert_na;
		x->this_update = tu;
		x->next_update = nu;
		x->der = der;
		x->len = len;
		x->hdr = hdr;
		x->next = s->buckets[b];
		s->buckets[b] = x;
		s->count++;
	} else {
		old = der;
	}
	pthread_rwlock_unlock(&s->lock);
	OPENSSL_free(old);
}

static struct signer *current(struct ocsp_service *s, int slot)
{
	struct signer *sg;

	pthread_rwlock_rdlock(&s->lock);
	sg = s->slots[slot].cur;
	pthread_rwlock_unlock(&s->lock);
	return sg;
}

/* thisUpdate and nextUpdate for a response signed now. */
static void times_for(struct ocsp_service *s, const struct signer *sg,
    const struct ocsp_cert_status *st, time_t *tu, time_t *nu)
{
	time_t now = time(NULL);

	*tu = now - SKEW;
	/* Not before the revocation it reports. */
	if (st != NULL && st->state == OCSP_CERT_REVOKED && st->revoked_at > *tu)
		*tu = st->revoked_at < now ? st->revoked_at : now;
	*nu = *tu + s->cfg->ocsp_validity;
	/* Not past the signer's own certificate: clients would reject the
	 * response before it expires. */
	if (sg->not_after > now && *nu > sg->not_after)
		*nu = sg->not_after;
	if (*nu <= *tu)
		*nu = *tu + 1;
}

static void state_to_status(const struct db_cert_state *d,
    struct ocsp_cert_status *st)
{
	memset(st, 0, sizeof(*st));
	st->state = d->revoked ? OCSP_CERT_REVOKED : OCSP_CERT_GOOD;
	st->revoked_at = d->revoked_at;
	/* 0..10 except 7; anything else recorded is left out. */
	st->reason = d->reason >= 0 && d->reason <= 10 && d->reason != 7 ?
	    d->reason : -1;
}

/* Sign the pre-signed response for (slot, nid, serial) and cache it. */
static int presign(struct ocsp_service *s, int slot, int nid,
    const char *serial, const struct ocsp_cert_status *st, time_t cert_na,
    struct err *e)
{
	struct signer *sg = current(s, slot);
	unsigned char *der = NULL;
	size_t len = 0;
	time_t tu, nu;

	times_for(s, sg, st, &tu, &nu);
	if (ocsp_response_presign(&sg->r, serial, nid, st, tu, nu, &der, &len,
	    e) != 0)
		return -1;
	put(s, slot, nid, serial, st, cert_na, tu, nu, der, len);
	return 0;
}

/* ------------------------------------------------------------------
 * Signers
 */

static int via_hsm(void *key, ocsp_sign_cb cb, void *arg, struct err *e)
{
	return hsm_sign(key, cb, arg, e);
}

static int make_signer(struct ocsp_service *s, int slot,
    const struct db_ocsp_signer *row, struct signer **out, struct err *e)
{
	struct signer *sg = calloc(1, sizeof(*sg));
	struct hsm_key *key;

	if (sg == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	sg->r.issuer = s->slots[slot].issuer;
	sg->r.sign = via_hsm;
	if (row == NULL) {
		sg->r.cert = s->slots[slot].issuer;
		sg->r.key = s->slots[slot].issuer_key;
		sg->not_after = x509_not_after(s->slots[slot].issuer);
	} else {
		if (hsm_find_key(s->hsm, row->key_label, &key, e) != 0 ||
		    (sg->cert = x509_from_der(row->der, row->der_len, e)) == NULL)
			goto fail;
		sg->r.cert = sg->cert;
		sg->r.key = key;
		sg->id = row->id;
		sg->not_after = row->not_after;
	}
	if (ocsp_responder_check(&sg->r, e) != 0)
		goto fail;
	*out = sg;
	return 0;
fail:
	X509_free(sg->cert);
	free(sg);
	err_prefix(e, "OCSP signer for %s: ", s->slots[slot].name);
	return -1;
}

/* Does the newest signer need replacing?  When a third of its life is
 * left, or when the config now asks for shorter-lived ones. */
static int needs_rotation(const struct ocsp_service *s,
    const struct db_ocsp_signer *row, time_t now)
{
	time_t life = row->not_after - row->not_before;

	return row->not_after - now < life / 3 ||
	    row->not_after - now > s->cfg->ocsp_cert_lifetime + 3600;
}

/* Make sure slot's newest signer in the database is fresh (creating one
 * under the advisory lock: one signetd does it, the others find it), and
 * switch to it if it is not the one in use.  wait: block on the lock
 * (at start, when there is none at all). */
static int check_signer(struct ocsp_service *s, PGconn *c, int slot,
    struct err *e)
{
	struct slot *sl = &s->slots[slot];
	struct db_ocsp_signer row;
	struct signer *sg = NULL, *cur;
	PGresult *r = NULL;
	time_t now = time(NULL);
	int have, locked = 0, rc = -1, id;

	memset(&row, 0, sizeof(row));
	have = db_ocsp_signer_latest(c, sl->issuer_id, &row, e) == 0;
	if (!have && e->kind != ERR_NOTFOUND)
		return -1;
	if (!have || needs_rotation(s, &row, now)) {
		cur = current(s, slot);
		if (db_exec(c, cur == NULL ? "SELECT true FROM pg_advisory_lock("
		    OCSP_SIGNER_LOCK ")" : "SELECT pg_try_advisory_lock("
		    OCSP_SIGNER_LOCK ")", 0, NULL, &r, e) != 0)
			goto out;
		locked = PQgetvalue(r, 0, 0)[0] == 't';
		PQclear(r);
		r = NULL;
		if (locked) {
			/* Another signetd may have done it meanwhile. */
			db_ocsp_signer_clear(&row);
			have = db_ocsp_signer_latest(c, sl->issuer_id, &row, e) == 0;
			if (!have && e->kind != ERR_NOTFOUND)
				goto out;
			if (!have || needs_rotation(s, &row, now)) {
				if (ocsp_signer_create(s->hsm, c, sl->issuer_id, sl->issuer,
				    sl->issuer_key, s->cfg->ocsp_cert_lifetime, &id, e) != 0)
					goto out;
				db_ocsp_signer_clear(&row);
				if (db_ocsp_signer_latest(c, sl->issuer_id, &row, e) != 0)
					goto out;
				have = 1;
				log_info("msg=\"new OCSP signing certificate\" issuer=%s "
				    "key=%s", sl->name, row.key_label);
			}
		}
	}
	if (!have) {
		rc = err_set(e, ERR_UNAVAILABLE, "no OCSP signer for %s yet",
		    sl->name);
		goto out;
	}
	cur = current(s, slot);
	if (cur != NULL && cur->id == row.id) {
		rc = 0;
		goto out;
	}
	if (make_signer(s, slot, &row, &sg, e) != 0)
		goto out;
	pthread_rwlock_wrlock(&s->lock);
	sg->next = s->signers;
	s->signers = sg;
	sl->cur = sg;
	/* Everything cached was signed by the old signer: re-sign soon.
	 * The old certificate stays valid meanwhile. */
	for (unsigned b = 0; b < BUCKETS; b++)
		for (struct entry *x = s->buckets[b]; x; x = x->next)
			if (x->slot == slot)
				x->this_update = 0;
	pthread_rwlock_unlock(&s->lock);
	if (cur != NULL)
		log_info("msg=\"OCSP signer switched\" issuer=%s key=%s",
		    sl->name, row.key_label);
	rc = 0;
out:
	if (locked)
		PQclear(PQexec(c, "SELECT pg_advisory_unlock(" OCSP_SIGNER_LOCK ")"));
	PQclear(r);
	db_ocsp_signer_clear(&row);
	return rc;
}

/* ------------------------------------------------------------------
 * Background: fill, refresh, revocations, rotation
 */

static int stopping(struct ocsp_service *s)
{
	int v;

	pthread_mutex_lock(&s->mu);
	v = s->stopping;
	pthread_mutex_unlock(&s->mu);
	return v;
}

/* SHA-1 responses for every unexpired certificate of every issuer. */
static void fill(struct ocsp_service *s)
{
	struct db_cert_state *v = NULL;
	size_t n = 0, done = 0;
	struct err e;
	PGconn *c;

	for (int i = 0; i < s->nslots && !stopping(s); i++) {
		if ((c = db_acquire(s->db, &e)) == NULL) {
			log_warn("msg=\"OCSP cache fill: database unavailable\" "
			    "error=\"%s\"", e.msg);
			return;
		}
		if (db_ocsp_cert_list(c, s->slots[i].issuer_id, -1, CACHE_MAX / 2,
		    &v, &n, &e) != 0) {
			db_release(s->db, c);
			log_warn("msg=\"OCSP cache fill failed\" error=\"%s\"", e.msg);
			return;
		}
		db_release(s->db, c);
		for (size_t k = 0; k < n && !stopping(s); k++) {
			struct ocsp_cert_status st;

			state_to_status(&v[k], &st);
			if (presign(s, i, NID_sha1, v[k].serial, &st, v[k].not_after,
			    &e) != 0) {
				log_warn("msg=\"OCSP pre-signing failed\" serial=%s "
				    "error=\"%s\"", v[k].serial, e.msg);
				break;
			}
			done++;
		}
		free(v);
		v = NULL;
	}
	log_info("msg=\"OCSP cache filled\" responses=%zu", done);
}

/* Re-sign the responses for one certificate (after a revocation). */
static void resign_serial(struct ocsp_service *s, PGconn *c,
    const struct db_cert_state *d)
{
	struct ocsp_cert_status st;
	struct err e;
	int has256;

	state_to_status(d, &st);
	for (int i = 0; i < s->nslots; i++) {
		if (s->slots[i].issuer_id != d->issuer_id)
			continue;
		pthread_rwlock_rdlock(&s->lock);
		has256 = find(s, i, NID_sha256, d->serial) != NULL;
		pthread_rwlock_unlock(&s->lock);
		if (presign(s, i, NID_sha1, d->serial, &st, d->not_after, &e) != 0 ||
		    (has256 && presign(s, i, NID_sha256, d->serial, &st,
		    d->not_after, &e) != 0))
			log_warn("msg=\"OCSP re-signing failed\" serial=%s error=\"%s\"",
			    d->serial, e.msg);
	}
	(void)c;
}

static int hex_serial_ok(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n >= OCSP_SERIAL_HEX_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

static void on_revoked(struct ocsp_service *s, const char *serial)
{
	struct db_cert_state d;
	struct err e;
	PGconn *c;

	if (!hex_serial_ok(serial))
		return;
	if ((c = db_acquire(s->db, &e)) == NULL)
		return;  /* the poll catches up */
	for (int i = 0; i < s->nslots; i++)
		if (db_ocsp_cert_state(c, s->slots[i].issuer_id, serial, &d, &e) == 0) {
			db_release(s->db, c);
			c = NULL;
			resign_serial(s, NULL, &d);
			break;
		}
	if (c != NULL)
		db_release(s->db, c);
}

/* Fallback for NOTIFYs lost with a connection: what was revoked since. */
static int poll_revocations(struct ocsp_service *s, time_t since)
{
	struct db_cert_state *v = NULL;
	size_t n = 0;
	struct err e;
	PGconn *c;

	if ((c = db_acquire(s->db, &e)) == NULL)
		return -1;
	for (int i = 0; i < s->nslots; i++) {
		if (db_ocsp_cert_list(c, s->slots[i].issuer_id, since, 10000, &v, &n,
		    &e) != 0) {
			db_release(s->db, c);
			return -1;
		}
		for (size_t k = 0; k < n; k++) {
			struct entry *x;
			int stale;

			pthread_rwlock_rdlock(&s->lock);
			x = find(s, i, NID_sha1, v[k].serial);
			stale = x == NULL || x->st.state != OCSP_CERT_REVOKED;
			pthread_rwlock_unlock(&s->lock);
			if (stale)
				resign_serial(s, c, &v[k]);
		}
		free(v);
		v = NULL;
	}
	db_release(s->db, c);
	return 0;
}

struct due {
	int slot, nid;
	char serial[OCSP_SERIAL_HEX_MAX];
	struct ocsp_cert_status st;
	time_t cert_na;
};

/* Re-sign what reached half its validity; drop what expired. */
static void refresh(struct ocsp_service *s)
{
	struct due *v = NULL;
	size_t n = 0, cap = 0;
	time_t now = time(NULL);
	struct err e;

	pthread_rwlock_wrlock(&s->lock);
	for (unsigned b = 0; b < BUCKETS; b++) {
		struct entry **pp = &s->buckets[b], *x;

		while ((x = *pp) != NULL) {
			if (x->cert_not_after < now && now >= x->next_update) {
				/* Expired and its last response too: forget it. */
				*pp = x->next;
				OPENSSL_free(x->der);
				free(x);
				s->count--;
				continue;
			}
			if (x->cert_not_after >= now &&
			    now >= x->this_update + (x->next_update - x->this_update) / 2) {
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 256;
					struct due *nv = realloc(v, nc * sizeof(*v));
					if (nv == NULL)
						break;
					v = nv;
					cap = nc;
				}
				v[n].slot = x->slot;
				v[n].nid = x->nid;
				memcpy(v[n].serial, x->serial, sizeof(x->serial));
				v[n].st = x->st;
				v[n].cert_na = x->cert_not_after;
				n++;
			}
			pp = &x->next;
		}
	}
	pthread_rwlock_unlock(&s->lock);
	for (size_t i = 0; i < n && !stopping(s); i++)
		if (presign(s, v[i].slot, v[i].nid, v[i].serial, &v[i].st,
		    v[i].cert_na, &e) != 0) {
			log_warn("msg=\"OCSP refresh failed\" error=\"%s\"", e.msg);
			break;
		}
	free(v);
}

static void check_signers(struct ocsp_service *s)
{
	struct err e;
	PGconn *c;

	if (!s->delegated)
		return;
	if ((c = db_acquire(s->db, &e)) == NULL)
		return;
	for (int i = 0; i < s->nslots; i++)
		if (check_signer(s, c, i, &e) != 0)
			log_warn("msg=\"OCSP signer check failed\" issuer=%s "
			    "error=\"%s\"", s->slots[i].name, e.msg);
	db_release(s->db, c);
}

static PGconn *listen_connect(struct ocsp_service *s)
{
	struct err e;
	PGconn *c = db_connect(s->cfg->db, &e);
	PGresult *r;

	if (c == NULL) {
		log_warn("msg=\"OCSP: cannot LISTEN\" error=\"%s\"", e.msg);
		return NULL;
	}
	r = PQexec(c, "LISTEN signet_revocation");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_warn("msg=\"OCSP: LISTEN failed\"");
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

static void *service_main(void *arg)
{
	struct ocsp_service *s = arg;
	PGconn *ln = listen_connect(s);
	time_t last_poll = time(NULL), next = 0;

	/* LISTEN before the fill: a revocation during it is not missed. */
	fill(s);
	while (!stopping(s)) {
		struct pollfd fds[2];
		time_t now;
		int nfds = 1, timeout;

		if (ln != NULL && (PQstatus(ln) != CONNECTION_OK || PQsocket(ln) < 0)) {
			PQfinish(ln);
			ln = NULL;
		}
		now = time(NULL);
		if (ln == NULL && (ln = listen_connect(s)) != NULL)
			next = now;  /* notifications may have been missed */
		if (now >= next) {
			time_t started = now;
			if (poll_revocations(s, last_poll - POLL_LOOKBACK) == 0)
				last_poll = started;
			check_signers(s);
			refresh(s);
			next = time(NULL) + s->cfg->ocsp_poll;
		}
		now = time(NULL);
		timeout = next > now ? (int)(next - now) * 1000 : 100;
		if (ln == NULL && timeout > 1000)
			timeout = 1000;
		fds[0].fd = s->wake[0];
		fds[0].events = POLLIN;
		fds[0].revents = 0;
		if (ln != NULL) {
			fds[1].fd = PQsocket(ln);
			fds[1].events = POLLIN;
			fds[1].revents = 0;
			nfds = 2;
		}
		if (poll(fds, (nfds_t)nfds, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_error("msg=\"OCSP: poll failed\" error=\"%s\"", strerror(errno));
			break;
		}
		if (fds[0].revents != 0)
			break;
		if (nfds == 2 && fds[1].revents != 0) {
			PGnotify *nt;

			if (PQconsumeInput(ln) != 1 || PQstatus(ln) != CONNECTION_OK) {
				log_warn("msg=\"OCSP: LISTEN connection lost\"");
				PQfinish(ln);
				ln = NULL;
				continue;
			}
			while ((nt = PQnotifies(ln)) != NULL) {
				char serial[OCSP_SERIAL_HEX_MAX];
				snprintf(serial, sizeof(serial), "%s",
				    nt->extra ? nt->extra : "");
				PQfreemem(nt);
				on_revoked(s, serial);
			}
		}
	}
	PQfinish(ln);
	return NULL;
}

/* ------------------------------------------------------------------
 * Start and stop
 */

static int load_issuers(struct ocsp_service *s, PGconn *c, struct err *e)
{
	struct db_issuer *v = NULL;
	int n = 0, rc = -1;

	if (db_issuers_load(c, "intermediate", &v, &n, e) != 0)
		return -1;
	if (n == 0) {
		err_set(e, ERR_CONFIG, "no active issuing CA: run signet init");
		goto out;
	}
	for (int i = 0; i < n && s->nslots < MAX_ISSUERS; i++) {
		struct slot *sl = &s->slots[s->nslots];

		sl->issuer_id = v[i].id;
		snprintf(sl->name, sizeof(sl->name), "%s", v[i].name);
		if ((sl->issuer = x509_from_der(v[i].der, v[i].der_len, e)) == NULL ||
		    ocsp_issuer_hashes(sl->issuer, &s->hashes[s->nslots], e) != 0)
			goto out;
		s->nslots++;
		if (hsm_find_key(s->hsm, v[i].key_label, &sl->issuer_key, e) != 0) {
			err_prefix(e, "OCSP: issuer %s: ", v[i].name);
			goto out;
		}
	}
	rc = 0;
out:
	db_issuers_free(v, n);
	return rc;
}

int ocsp_service_start(struct db *db, struct hsm *h, const struct config *cfg,
    struct ocsp_service **out, struct err *e)
{
	struct ocsp_service *s = calloc(1, sizeof(*s));
	PGconn *c = NULL;

	if (s == NULL || (s->buckets = calloc(BUCKETS, sizeof(*s->buckets))) == NULL) {
		free(s);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	s->db = db;
	s->hsm = h;
	s->cfg = cfg;
	s->delegated = strcmp(cfg->ocsp_signer, "ca") != 0;
	s->wake[0] = s->wake[1] = -1;
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->mu, NULL);
	if ((c = db_acquire(db, e)) == NULL || load_issuers(s, c, e) != 0)
		goto fail;
	for (int i = 0; i < s->nslots; i++) {
		if (s->delegated) {
			if (check_signer(s, c, i, e) != 0)
				goto fail;
		} else {
			struct signer *sg;
			if (make_signer(s, i, NULL, &sg, e) != 0)
				goto fail;
			sg->next = s->signers;
			s->signers = sg;
			s->slots[i].cur = sg;
		}
	}
	db_release(db, c);
	c = NULL;
	if (pipe2(s->wake, O_CLOEXEC) != 0) {
		err_set(e, ERR_INTERNAL, "pipe: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&s->thread, NULL, service_main, s) != 0) {
		err_set(e, ERR_INTERNAL, "cannot start the OCSP thread");
		goto fail;
	}
	s->started = 1;
	*out = s;
	return 0;
fail:
	if (c != NULL)
		db_release(db, c);
	ocsp_service_stop(s);
	return -1;
}

void ocsp_service_stop(struct ocsp_service *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_mutex_unlock(&s->mu);
	if (s->wake[1] >= 0 && write(s->wake[1], "x", 1) < 0)
		log_warn("msg=\"OCSP: cannot wake\"");
	if (s->started)
		pthread_join(s->thread, NULL);
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	for (unsigned b = 0; b < BUCKETS; b++) {
		struct entry *x = s->buckets[b], *nx;
		for (; x != NULL; x = nx) {
			nx = x->next;
			OPENSSL_free(x->der);
			free(x);
		}
	}
	free(s->buckets);
	while (s->signers != NULL) {
		struct signer *nx = s->signers->next;
		X509_free(s->signers->cert);
		free(s->signers);
		s->signers = nx;
	}
	for (int i = 0; i < s->nslots; i++)
		X509_free(s->slots[i].issuer);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void ocsp_service_collect(struct ocsp_service *s)
{
	char labels[160], key[128];

	if (s == NULL)
		return;
	pthread_rwlock_rdlock(&s->lock);
	for (struct signer *sg = s->signers; sg != NULL; sg = sg->next) {
		if (sg->id == 0)
			continue;  /* the issuing key: signetd counts it already */
		metrics_label(hsm_key_label(sg->r.key), key, sizeof(key));
		snprintf(labels, sizeof(labels), "key=\"%s\"", key);
		metrics_set("signet_hsm_sign_total", labels,
		    (double)hsm_key_sign_count(sg->r.key));
	}
	metrics_set("signet_ocsp_cached_responses", NULL, (double)s->count);
	pthread_rwlock_unlock(&s->lock);
}

/* ------------------------------------------------------------------
 * Requests
 */

static void count(const char *status)
{
	char labels[64];

	snprintf(labels, sizeof(labels), "status=\"%s\"", status);
	metrics_add("signet_ocsp_responses_total", labels, 1);
}

static const char *status_name(int st)
{
	switch (st) {
	case OCSP_RESPONSE_STATUS_MALFORMEDREQUEST: return "malformedRequest";
	case OCSP_RESPONSE_STATUS_TRYLATER: return "tryLater";
	case OCSP_RESPONSE_STATUS_UNAUTHORIZED: return "unauthorized";
	case OCSP_RESPONSE_STATUS_SIGREQUIRED: return "sigRequired";
	default: return "internalError";
	}
}

static void send_error(struct http_response *resp, int status,
    const struct err *e)
{
	size_t len = 0;
	const unsigned char *der = ocsp_error_der(status, &len);

	if (der == NULL)
		der = ocsp_error_der(OCSP_RESPONSE_STATUS_INTERNALERROR, &len);
	http_respond(resp, 200, "application/ocsp-response", der, len);
	http_add_header(resp, "Cache-Control", "no-store");
	snprintf(resp->log_detail, sizeof(resp->log_detail),
	    "ocsp=%s error=\"%.160s\"", status_name(status), e ? e->msg : "");
	count(status_name(status));
}

/* tu/nu: the thisUpdate and nextUpdate the response was signed with
 * (known here, so the DER need not be parsed per request). */
static void send_ok(struct ocsp_service *s, struct http_response *resp,
    const unsigned char *der, size_t len, time_t tu, time_t nu,
    const struct http_request *get, int cacheable,
    const struct ocsp_http_headers *pre, const char *what)
{
	struct ocsp_http_headers h;
	struct err e;
	int have = 0;

	if (get != NULL && cacheable && pre != NULL && pre->etag[0] != '\0') {
		h = *pre;
		ocsp_http_cache_control(nu, time(NULL), s->cfg->ocsp_validity / 2,
		    &h);
		have = 1;
	} else if (get != NULL && cacheable) {
		have = ocsp_http_headers_at(der, len, tu, nu, time(NULL),
		    s->cfg->ocsp_validity / 2, &h, &e) == 0;
	}
	if (have) {
		/* A cache revalidating what it holds (RFC 7232): the same
		 * headers, no body. */
		if (ocsp_http_not_modified(http_header(get, "If-None-Match"),
		    http_header(get, "If-Modified-Since"), &h, tu))
			http_respond(resp, 304, "application/ocsp-response", "", 0);
		else
			http_respond(resp, 200, "application/ocsp-response", der,
			    len);
		http_add_header(resp, "Cache-Control", h.cache_control);
		http_add_header(resp, "Expires", h.expires);
		http_add_header(resp, "Last-Modified", h.last_modified);
		http_add_header(resp, "ETag", h.etag);
	} else {
		http_respond(resp, 200, "application/ocsp-response", der, len);
		http_add_header(resp, "Cache-Control", "no-store");
	}
	snprintf(resp->log_detail, sizeof(resp->log_detail), "ocsp=%s", what);
	count(what);
}

static const char *state_name(enum ocsp_cert_state st)
{
	return st == OCSP_CERT_GOOD ? "good" : st == OCSP_CERT_REVOKED ?
	    "revoked" : "unknown";
}

/* The status of serial under slot from the database; unknown when it
 * never left the CA.  -1 (ERR_UNAVAILABLE) when the database is down. */
static int lookup(struct ocsp_service *s, int slot, const char *serial,
    struct ocsp_cert_status *st, time_t *cert_na, struct err *e)
{
	struct db_cert_state d;
	PGconn *c;
	int rc;

	if ((c = db_acquire(s->db, e)) == NULL)
		return -1;
	rc = db_ocsp_cert_state(c, s->slots[slot].issuer_id, serial, &d, e);
	db_release(s->db, c);
	if (rc != 0 && e->kind != ERR_NOTFOUND)
		return -1;
	if (rc != 0) {
		memset(st, 0, sizeof(*st));
		st->state = OCSP_CERT_UNKNOWN;
		st->reason = -1;
		*cert_na = 0;
		return 0;
	}
	state_to_status(&d, st);
	*cert_na = d.not_after;
	return 0;
}

/* A freshly signed response for the whole request: several CertIDs, a
 * nonce, or a serial we never issued (not worth a cache slot). */
static void answer_fresh(struct ocsp_service *s, const struct ocsp_request *rq,
    const int match[OCSP_SINGLE_CEILING], const struct http_request *get,
    struct http_response *resp)
{
	struct ocsp_cert_status st[OCSP_SINGLE_CEILING];
	int slot = -1, nonce = rq->has_nonce && strcmp(s->cfg->ocsp_nonce, "yes") == 0;
	struct signer *sg;
	unsigned char *der = NULL;
	size_t len = 0;
	time_t tu, nu, na;
	struct err e = { 0 };

	for (size_t i = 0; i < rq->n; i++)
		if (match[i] >= 0 && slot < 0)
			slot = match[i];
	for (size_t i = 0; i < rq->n; i++) {
		if (match[i] != slot) {
			/* Another issuer's (or one we do not serve): RFC 6960 2.2
			 * unknown; one responder signs the whole response. */
			memset(&st[i], 0, sizeof(st[i]));
			st[i].state = OCSP_CERT_UNKNOWN;
			st[i].reason = -1;
		} else if (lookup(s, slot, rq->ids[i].serial, &st[i], &na, &e) != 0) {
			send_error(resp, ocsp_err_status(&e), &e);
			return;
		}
	}
	sg = current(s, slot);
	times_for(s, sg, rq->n == 1 ? &st[0] : NULL, &tu, &nu);
	if (ocsp_response_build(rq->ids, st, rq->n, nonce ? rq->nonce : NULL,
	    nonce ? rq->nonce_len : 0, &sg->r, tu, nu, &der, &len, &e) != 0) {
		send_error(resp, ocsp_err_status(&e), &e);
		return;
	}
	/* A nonce makes it unique: not for HTTP caches. */
	send_ok(s, resp, der, len, tu, nu, get, !nonce, NULL,
	    rq->n > 1 ? "multiple" : state_name(st[0].state));
	OPENSSL_free(der);
}

/* get: the HTTP request when it came by GET (cacheable), NULL for POST. */
static void answer(struct ocsp_service *s, const struct ocsp_request *rq,
    const struct http_request *get, struct http_response *resp)
{
	int match[OCSP_SINGLE_CEILING], slot;
	const struct ocsp_certid *id = &rq->ids[0];
	struct ocsp_cert_status st;
	struct entry *x;
	time_t na;
	struct err e = { 0 };

	if (ocsp_request_match(rq, s->hashes, (size_t)s->nslots, match) == 0) {
		/* RFC 5019 2.2.3: no issuer of ours; unsigned. */
		send_error(resp, OCSP_RESPONSE_STATUS_UNAUTHORIZED, NULL);
		return;
	}
	if (rq->n > 1 || (rq->has_nonce && strcmp(s->cfg->ocsp_nonce, "yes") == 0)) {
		answer_fresh(s, rq, match, get, resp);
		return;
	}
	slot = match[0];
	pthread_rwlock_rdlock(&s->lock);
	x = find(s, slot, id->hash_nid, id->serial);
	if (x != NULL && time(NULL) < x->next_update) {
		const char *what = state_name(x->st.state);
		/* send_ok copies the DER: done before the lock goes. */
		send_ok(s, resp, x->der, x->len, x->this_update, x->next_update,
		    get, 1, &x->hdr, what);
		pthread_rwlock_unlock(&s->lock);
		return;
	}
	pthread_rwlock_unlock(&s->lock);
	/* Not cached: a certificate issued since the fill, a SHA-256 CertID,
	 * or a serial of ours never issued. */
	if (lookup(s, slot, id->serial, &st, &na, &e) != 0) {
		send_error(resp, ocsp_err_status(&e), &e);
		return;
	}
	if (st.state == OCSP_CERT_UNKNOWN) {
		answer_fresh(s, rq, match, get, resp);
		return;
	}
	if (presign(s, slot, id->hash_nid, id->serial, &st, na, &e) != 0) {
		send_error(resp, ocsp_err_status(&e), &e);
		return;
	}
	pthread_rwlock_rdlock(&s->lock);
	x = find(s, slot, id->hash_nid, id->serial);
	if (x != NULL) {
		send_ok(s, resp, x->der, x->len, x->this_update, x->next_update,
		    get, 1, &x->hdr, state_name(x->st.state));
		pthread_rwlock_unlock(&s->lock);
		return;
	}
	pthread_rwlock_unlock(&s->lock);
	/* The cache is full: sign for this request alone. */
	answer_fresh(s, rq, match, get, resp);
}

void ocsp_service_post(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	struct ocsp_service *s = arg;
	struct ocsp_request rq;
	struct err e = { 0 };

	/* Not an OCSP request as far as HTTP goes: 415, like /v1/sign.
	 * docs/ocsp.md says why this is not malformedRequest. */
	if (!http_content_type_is(req->content_type,
	    "application/ocsp-request")) {
		err_set(&e, ERR_INVALID, "Content-Type must be "
		    "application/ocsp-request");
		http_problem(resp, &e);
		resp->status = 415;
		http_add_header(resp, "Cache-Control", "no-store");
		count("unsupportedMediaType");
		return;
	}
	if (ocsp_request_parse_der((const unsigned char *)req->body,
	    req->body ? req->body_len : 0, (size_t)s->cfg->ocsp_max_certids, &rq,
	    &e) != 0) {
		send_error(resp, ocsp_err_status(&e), &e);
		return;
	}
	answer(s, &rq, NULL, resp);
}

void ocsp_service_get(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	struct ocsp_service *s = arg;
	const char *p = req->path + strlen("/ocsp/");
	struct ocsp_request rq;
	struct err e = { 0 };

	if (ocsp_request_parse_get(p, strlen(p), (size_t)s->cfg->ocsp_max_certids,
	    &rq, &e) != 0) {
		send_error(resp, ocsp_err_status(&e), &e);
		return;
	}
	answer(s, &rq, req, resp);
}
