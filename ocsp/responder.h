/*
 * responder: signetd's OCSP service on top of the pure core (ocsp.h).
 * POST /ocsp and GET /ocsp/{base64}; a cache of pre-signed responses keyed
 * by (issuer, CertID hash, serial) under a rwlock, filled at start for
 * SHA-1 CertIDs of every unexpired certificate, on first use for the rest,
 * re-signed at half their validity and at once on revocation (LISTEN
 * signet_revocation, plus a poll every ocsp_poll for what a lost
 * connection missed); the delegated signing certificates, rotated under
 * an advisory lock.  docs/ocsp.md explains the decisions.
 */
#ifndef SIGNET_OCSP_RESPONDER_H
#define SIGNET_OCSP_RESPONDER_H

#include "common/config.h"
#include "common/err.h"
#include "common/http.h"
#include "db/db.h"
#include "hsm/hsm.h"

struct ocsp_service;

/* Load the active issuing CAs and their signers (creating a delegated
 * signer if an issuer has none), then start the background thread. */
int ocsp_service_start(struct db *db, struct hsm *h, const struct config *cfg,
    struct ocsp_service **out, struct err *e);
/* Stop the thread and free.  NULL is fine. */
void ocsp_service_stop(struct ocsp_service *s);

/* Route handlers (arg: the struct ocsp_service *). */
void ocsp_service_post(void *arg, const struct http_request *req,
    struct http_response *resp);
void ocsp_service_get(void *arg, const struct http_request *req,
    struct http_response *resp);

/* Refresh gauges at scrape time: signatures per OCSP key, cache size. */
void ocsp_service_collect(struct ocsp_service *s);

#endif
