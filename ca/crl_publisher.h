/*
 * crl_publisher: signetd's CRL role.  A thread signs a full CRL for every
 * active issuing CA every crl_refresh (a regularly scheduled CRL) and
 * within about a second of a revocation (LISTEN signet_revocation on its
 * own connection, re-made if the database drops).  Among several signetd,
 * the one holding a PostgreSQL advisory lock signs; all of them serve
 * the newest CRL from the database (GET /crl/{issuer}.crl, the root's
 * too) and write it atomically to crl_publish_dir/{issuer}.crl.
 */
#ifndef SIGNET_CRL_PUBLISHER_H
#define SIGNET_CRL_PUBLISHER_H

#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "db/db.h"
#include "hsm/hsm.h"

struct crl_publisher;

/* Start the thread.  d, h and cfg are borrowed and must outlive the
 * publisher.  Stop with crl_publisher_stop (NULL is fine). */
int crl_publisher_start(struct db *d, struct hsm *h,
    const struct config *cfg, struct crl_publisher **out, struct err *e);
void crl_publisher_stop(struct crl_publisher *p);

/* GET /crl/{issuer}.crl (arg: the publisher): the newest CRL in the
 * database, application/pkix-crl, with Last-Modified (thisUpdate),
 * Expires (nextUpdate), Cache-Control max-age and ETag; 304 for a
 * matching If-None-Match. */
void crl_publisher_serve(void *arg, const struct http_request *req,
    struct http_response *resp);

/* Set signet_crl_age_seconds{issuer} (seconds since the thisUpdate of
 * the newest CRL this process has seen in the database). */
void crl_publisher_collect(struct crl_publisher *p);

#endif
