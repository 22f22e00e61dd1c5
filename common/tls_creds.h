/*
 * tls_creds: the HTTPS listener's certificate chain and key, replaceable
 * while the server runs (signetd renews its own certificate): GnuTLS asks
 * for them at each handshake through a callback, so a new pair is used by
 * the next connection and no connection is dropped.  A replaced pair stays
 * allocated until tls_creds_free, because a handshake in progress may
 * still hold it; replacements are rare (months apart), so that costs a
 * few kilobytes per renewal.  GnuTLS's callback has no user pointer: one
 * set serves the process (the last made); signetd has one TLS listener.
 */
#ifndef SIGNET_TLS_CREDS_H
#define SIGNET_TLS_CREDS_H

#include <stddef.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "common/err.h"

struct tls_creds;

/* From PEM in memory: the chain (leaf first) and its private key. */
int tls_creds_new(const char *cert_pem, const char *key_pem,
    struct tls_creds **out, struct err *e);
/* Serve a new pair from the next handshake on; e says why not (the old
 * pair stays in use). */
int tls_creds_replace(struct tls_creds *t, const char *cert_pem,
    const char *key_pem, struct err *e);
/* NULL is fine.  Only after the server using it stopped. */
void tls_creds_free(struct tls_creds *t);

/* A gnutls_certificate_retrieve_function2 serving the last set made, for
 * MHD_OPTION_HTTPS_CERT_CALLBACK. */
int tls_creds_retrieve(gnutls_session_t session,
    const gnutls_datum_t *req_ca_dn, int nreqs,
    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
    gnutls_pcert_st **pcert, unsigned int *pcert_length,
    gnutls_privkey_t *privkey);

#endif
