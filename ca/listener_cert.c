#include "ca/listener_cert.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ca/csr.h"
#include "ca/x509util.h"
#include "common/log.h"
#include "common/util.h"

/* Seconds to wait after a failed attempt, and at most between looks at
 * the file (another process may have renewed it). */
#define RETRY_SECONDS 30
#define LOOK_SECONDS 3600
/* pg_advisory lock key: "signet listener certificate". */
#define LOCK_KEY "7356021977"

struct listener_cert {
	struct ca *ca;
	struct db *db;
	const struct config *cfg;
	struct http_server *https;
	unsigned char served[32];   /* fingerprint of the leaf in use */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int stopping;
};

/* The leaf of tls_cert (first certificate), its fingerprint. */
static int read_leaf(const char *path, X509 **leaf, unsigned char fp[32],
    struct err *e)
{
	X509 **v = NULL;
	unsigned len = 32;
	int n = 0;

	if (x509_read_pem_file(path, &v, &n, e) != 0)
		return -1;
	if (n == 0) {
		x509_free_list(v, n);
		return err_set(e, ERR_CONFIG, "tls_cert: %s holds no certificate",
		    path);
	}
	*leaf = v[0];
	v[0] = NULL;
	x509_free_list(v, n);
	if (X509_digest(*leaf, EVP_sha256(), fp, &len) != 1) {
		X509_free(*leaf);
		*leaf = NULL;
		return err_ossl(e, ERR_INTERNAL, "certificate fingerprint");
	}
	return 0;
}

static time_t due_at(X509 *leaf)
{
	time_t nb = x509_not_before(leaf), na = x509_not_after(leaf);

	return nb + (na - nb) * 2 / 3;
}

/* Serve what the files hold now (another process may have renewed them). */
static int reload(struct listener_cert *l, struct err *e)
{
	char *cert = NULL, *key = NULL;
	size_t klen = 0;
	int rc = -1;

	if (util_read_file(l->cfg->tls_cert, 1 << 20, &cert, NULL, e) != 0 ||
	    util_read_file(l->cfg->tls_key, 1 << 20, &key, &klen, e) != 0)
		goto out;
	rc = http_server_set_tls(l->https, cert, key, e);
out:
	free(cert);
	if (key != NULL)
		OPENSSL_cleanse(key, klen);
	free(key);
	return rc;
}

static int key_pem(EVP_PKEY *key, char **out, size_t *len, struct err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;

	if (b == NULL || PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL,
	    NULL) != 1) {
		BIO_free(b);
		return err_ossl(e, ERR_INTERNAL, "encoding the listener key");
	}
	n = BIO_get_mem_data(b, &data);
	if ((*out = malloc((size_t)n + 1)) != NULL) {
		memcpy(*out, data, (size_t)n);
		(*out)[n] = '\0';
		*len = (size_t)n;
	}
	OPENSSL_cleanse(data, (size_t)n);
	BIO_free(b);
	return *out != NULL ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
}

/* Issue the successor of leaf, write it, serve it. */
static int renew(struct listener_cert *l, X509 *leaf, struct err *e)
{
	struct csr *old = NULL;
	struct ca_request r;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	char serial[SERIAL_HEX_MAX], old_serial[SERIAL_HEX_MAX];
	char *leaf_pem = NULL, *chain_pem = NULL, *cert_pem = NULL;
	char *kpem = NULL;
	size_t klen = 0, n;
	int rc = -1;

	if (csr_from_cert(leaf, &old, e) != 0 ||
	    x509_serial_hex(leaf, old_serial, e) != 0)
		goto out;
	if (old->sans.n == 0) {
		err_set(e, ERR_CONFIG, "tls_cert has no subjectAltName to keep");
		goto out;
	}
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
		err_ossl(e, ERR_INTERNAL, "listener key");
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.pubkey = key;
	r.cn = old->cn;
	r.sans = &old->sans;
	r.profile = PROFILE_SERVER;
	/* The lifetime it had (issued 60 s back-dated, as every leaf). */
	r.lifetime = (long long)(x509_not_after(leaf) - x509_not_before(leaf)) -
	    60;
	if (r.lifetime < 60)
		r.lifetime = 60;
	r.requester = "signetd (listener certificate)";
	r.predecessor = old_serial;
	if (ca_issue(l->ca, &r, &x, serial, e) != 0)
		goto out;
	if (x509_to_pem(x, &leaf_pem, e) != 0 ||
	    x509_to_pem(ca_issuer_cert(l->ca), &chain_pem, e) != 0 ||
	    key_pem(key, &kpem, &klen, e) != 0)
		goto out;
	n = strlen(leaf_pem) + strlen(chain_pem) + 1;
	if ((cert_pem = malloc(n)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	snprintf(cert_pem, n, "%s%s", leaf_pem, chain_pem);
	/* Key first: until the certificate follows, the old certificate
	 * names a key that is gone, and a restart in that instant fails
	 * loudly ("key does not belong to the certificate"); the other
	 * order would leave a certificate whose key was never written. */
	if (util_write_file(l->cfg->tls_key, kpem, klen, 0600, e) != 0 ||
	    util_write_file(l->cfg->tls_cert, cert_pem, strlen(cert_pem), 0644,
	    e) != 0 ||
	    http_server_set_tls(l->https, cert_pem, kpem, e) != 0)
		goto out;
	log_info("msg=\"listener certificate renewed\" serial=%s predecessor=%s "
	    "not_after=%lld", serial, old_serial, (long long)x509_not_after(x));
	rc = 0;
out:
	if (kpem != NULL)
		OPENSSL_cleanse(kpem, klen);
	free(kpem);
	free(cert_pem);
	free(leaf_pem);
	free(chain_pem);
	X509_free(x);
	EVP_PKEY_free(key);
	csr_free(old);
	return rc;
}

/* One look: reload what another process wrote, renew when due.  *next
 * receives when to look again. */
static int look(struct listener_cert *l, time_t *next, struct err *e)
{
	X509 *leaf = NULL;
	unsigned char fp[32];
	PGconn *c = NULL;
	const char *p[1] = { LOCK_KEY };
	PGresult *r = NULL;
	int locked = 0, rc = -1;
	time_t now = time(NULL);

	if (read_leaf(l->cfg->tls_cert, &leaf, fp, e) != 0)
		goto out;
	if (memcmp(fp, l->served, 32) != 0) {
		if (reload(l, e) != 0)
			goto out;
		memcpy(l->served, fp, 32);
		log_info("msg=\"listener certificate reloaded from tls_cert\"");
	}
	if (now < due_at(leaf)) {
		*next = due_at(leaf);
		rc = 0;
		goto out;
	}
	if ((c = db_acquire(l->db, e)) == NULL ||
	    db_exec(c, "SELECT pg_try_advisory_lock($1::bigint)", 1, p, &r,
	    e) != 0)
		goto out;
	locked = PQgetvalue(r, 0, 0)[0] == 't';
	if (!locked) {
		*next = now + 5;   /* another signetd is at it */
		rc = 0;
		goto out;
	}
	/* Under the lock, the files may be new: look again before issuing. */
	X509_free(leaf);
	leaf = NULL;
	if (read_leaf(l->cfg->tls_cert, &leaf, fp, e) != 0)
		goto out;
	if (memcmp(fp, l->served, 32) != 0) {
		if (reload(l, e) != 0)
			goto out;
		memcpy(l->served, fp, 32);
	}
	if (now >= due_at(leaf)) {
		if (renew(l, leaf, e) != 0)
			goto out;
		X509_free(leaf);
		leaf = NULL;
		if (read_leaf(l->cfg->tls_cert, &leaf, l->served, e) != 0)
			goto out;
	}
	*next = due_at(leaf);
	rc = 0;
out:
	PQclear(r);
	if (locked)
		PQclear(PQexecParams(c, "SELECT pg_advisory_unlock($1::bigint)", 1,
		    NULL, p, NULL, NULL, 0));
	if (c != NULL)
		db_release(l->db, c);
	X509_free(leaf);
	return rc;
}

static void *run(void *arg)
{
	struct listener_cert *l = arg;
	struct timespec ts;
	struct err e;
	time_t next, now;

	pthread_mutex_lock(&l->mu);
	while (!l->stopping) {
		pthread_mutex_unlock(&l->mu);
		now = time(NULL);
		if (look(l, &next, &e) != 0) {
			log_warn("msg=\"listener certificate renewal failed\" "
			    "error=\"%s\" retry_in=%d", e.msg, RETRY_SECONDS);
			next = now + RETRY_SECONDS;
		}
		if (next > now + LOOK_SECONDS)
			next = now + LOOK_SECONDS;
		if (next <= now)
			next = now + 1;
		pthread_mutex_lock(&l->mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += next - now;
		while (!l->stopping &&
		    pthread_cond_timedwait(&l->cond, &l->mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

int listener_cert_start(struct ca *ca, struct db *d, const struct config *cfg,
    struct http_server *https, struct listener_cert **out, struct err *e)
{
	struct listener_cert *l = calloc(1, sizeof(*l));
	X509 *leaf = NULL;

	if (l == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	l->ca = ca;
	l->db = d;
	l->cfg = cfg;
	l->https = https;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cond, NULL);
	/* What the listener was started with. */
	if (read_leaf(cfg->tls_cert, &leaf, l->served, e) != 0)
		goto fail;
	X509_free(leaf);
	if (pthread_create(&l->thread, NULL, run, l) != 0) {
		err_set(e, ERR_INTERNAL, "cannot start the listener certificate "
		    "thread");
		goto fail;
	}
	*out = l;
	return 0;
fail:
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cond);
	free(l);
	return -1;
}

void listener_cert_stop(struct listener_cert *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->stopping = 1;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cond);
	free(l);
}
