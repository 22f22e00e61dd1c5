/*
 * acme_validator: the worker threads that validate answered ACME
 * challenges (ca/acme_validate does one validation).  Work lives in
 * PostgreSQL (acme_challenges 'processing' rows), so any signetd's
 * workers take it, a lease lets another signetd finish what a dead one
 * claimed, and acme_validator_wake only shortens the wait.
 */
#ifndef SIGNET_ACME_VALIDATOR_H
#define SIGNET_ACME_VALIDATOR_H

#include "common/config.h"
#include "common/err.h"
#include "db/db.h"

struct acme_validator;

/* Start cfg->acme_validation_threads workers on d (borrowed). */
int acme_validator_start(struct db *d, const struct config *cfg,
    struct acme_validator **out, struct err *e);
/* Stop and join the workers; NULL is fine. */
void acme_validator_stop(struct acme_validator *v);
/* A challenge was answered: look for work now. */
void acme_validator_wake(struct acme_validator *v);

#endif
