/*
 * listener_cert: signetd's own HTTPS certificate (tls_cert, tls_key),
 * renewed before it expires, with no restart and no connection dropped.
 * A thread sleeps until two thirds of the certificate's lifetime have
 * passed, then issues a successor through the CA (same names, server
 * profile, same lifetime, a new P-256 key, predecessor recorded), writes
 * the key and then the certificate atomically, and hands both to the
 * listener for the next handshakes.  Several signetd on one database take
 * turns (an advisory lock) and re-read the files first, so processes
 * sharing the files renew them once and all pick the new pair up.
 */
#ifndef SIGNET_LISTENER_CERT_H
#define SIGNET_LISTENER_CERT_H

#include "ca/issue.h"
#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "db/db.h"

struct listener_cert;

/* All borrowed; they must outlive the thread (stop it first). */
int listener_cert_start(struct ca *ca, struct db *d, const struct config *cfg,
    struct http_server *https, struct listener_cert **out, struct err *e);
/* Stop the thread and free; NULL is fine. */
void listener_cert_stop(struct listener_cert *l);

#endif
