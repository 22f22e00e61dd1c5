#include "common/tls_creds.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/x509.h>

#define TLS_CHAIN_MAX 8

struct pair {
	gnutls_pcert_st pcert[TLS_CHAIN_MAX];
	unsigned n;
	gnutls_privkey_t key;
	struct pair *older;      /* replaced pairs, freed with the set */
};

struct tls_creds {
	pthread_mutex_t mu;
	struct pair *cur;
};

static pthread_mutex_t current_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tls_creds *current;

static void pair_free(struct pair *p)
{
	while (p != NULL) {
		struct pair *older = p->older;

		for (unsigned i = 0; i < p->n; i++)
			gnutls_pcert_deinit(&p->pcert[i]);
		if (p->key != NULL)
			gnutls_privkey_deinit(p->key);
		free(p);
		p = older;
	}
}

static int pair_new(const char *cert_pem, const char *key_pem,
    struct pair **out, struct err *e)
{
	struct pair *p = calloc(1, sizeof(*p));
	gnutls_datum_t cd, kd;
	int rc;

	if (p == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	cd.data = (unsigned char *)cert_pem;
	cd.size = (unsigned)strlen(cert_pem);
	kd.data = (unsigned char *)key_pem;
	kd.size = (unsigned)strlen(key_pem);
	p->n = TLS_CHAIN_MAX;
	if ((rc = gnutls_pcert_list_import_x509_raw(p->pcert, &p->n, &cd,
	    GNUTLS_X509_FMT_PEM, 0)) < 0) {
		p->n = 0;
		err_set(e, ERR_CONFIG, "TLS certificate chain: %s",
		    gnutls_strerror(rc));
		goto fail;
	}
	if ((rc = gnutls_privkey_init(&p->key)) < 0 ||
	    (rc = gnutls_privkey_import_x509_raw(p->key, &kd,
	    GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		err_set(e, ERR_CONFIG, "TLS private key: %s", gnutls_strerror(rc));
		goto fail;
	}
	/* The key must be the certificate's: a mismatch would fail every
	 * handshake later instead of here. */
	{
		gnutls_pubkey_t pub = NULL;
		unsigned char a[64] = { 0 }, b[64] = { 0 };
		size_t alen = sizeof(a), blen = sizeof(b);

		rc = gnutls_pubkey_init(&pub);
		if (rc >= 0)
			rc = gnutls_pubkey_import_privkey(pub, p->key, 0, 0);
		if (rc >= 0)
			rc = gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, a,
			    &alen);
		if (rc >= 0)
			rc = gnutls_pubkey_get_key_id(p->pcert[0].pubkey,
			    GNUTLS_KEYID_USE_SHA256, b, &blen);
		gnutls_pubkey_deinit(pub);
		if (rc < 0 || alen != blen || memcmp(a, b, alen) != 0) {
			err_set(e, ERR_CONFIG, "TLS private key does not belong to "
			    "the certificate");
			goto fail;
		}
	}
	*out = p;
	return 0;
fail:
	pair_free(p);
	return -1;
}

int tls_creds_new(const char *cert_pem, const char *key_pem,
    struct tls_creds **out, struct err *e)
{
	struct tls_creds *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	pthread_mutex_init(&t->mu, NULL);
	if (pair_new(cert_pem, key_pem, &t->cur, e) != 0) {
		tls_creds_free(t);
		return -1;
	}
	pthread_mutex_lock(&current_mu);
	current = t;
	pthread_mutex_unlock(&current_mu);
	*out = t;
	return 0;
}

int tls_creds_replace(struct tls_creds *t, const char *cert_pem,
    const char *key_pem, struct err *e)
{
	struct pair *p;

	if (pair_new(cert_pem, key_pem, &p, e) != 0)
		return -1;
	pthread_mutex_lock(&t->mu);
	p->older = t->cur;
	t->cur = p;
	pthread_mutex_unlock(&t->mu);
	return 0;
}

void tls_creds_free(struct tls_creds *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&current_mu);
	if (current == t)
		current = NULL;
	pthread_mutex_unlock(&current_mu);
	pair_free(t->cur);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

int tls_creds_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn,
    int nreqs, const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
    gnutls_pcert_st **pcert, unsigned int *pcert_length,
    gnutls_privkey_t *privkey)
{
	struct tls_creds *t;

	(void)session;
	(void)req_ca_dn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	pthread_mutex_lock(&current_mu);
	t = current;
	if (t != NULL) {
		pthread_mutex_lock(&t->mu);
		*pcert = t->cur->pcert;
		*pcert_length = t->cur->n;
		*privkey = t->cur->key;
		pthread_mutex_unlock(&t->mu);
	}
	pthread_mutex_unlock(&current_mu);
	return t != NULL ? 0 : -1;
}
