/*
 * audit_sealer: chains committed audit_log entries (audit_chain) and signs
 * checkpoints of the chain head with the audit key on the HSM
 * (audit_checkpoints); verifies the whole thing for `signet audit verify`.
 * See docs/audit.md for the hash format.
 */
#ifndef SIGNET_AUDIT_SEALER_H
#define SIGNET_AUDIT_SEALER_H

#include <stdio.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "db/db.h"
#include "hsm/hsm.h"

/* One sealing pass on connection c: if this process wins the sealer's
 * advisory lock (pg_try_advisory_lock; another signetd may hold it), chain
 * every committed, not yet chained audit_log entry in id order, then sign
 * a checkpoint of the new head if checkpoint is non-zero and the head moved
 * since the last checkpoint.  *sealed (may be NULL) receives how many
 * entries were chained (0 if another process holds the lock). */
int audit_seal(PGconn *c, struct hsm_key *audit_key, int checkpoint,
    long *sealed, struct err *e);

/* Check the chain and every checkpoint signature with audit_pub (the audit
 * key's public half).  Returns 0 if intact, 1 if tampering was found (each
 * problem is one line on report: edited entry, deleted entry, reordered,
 * chain rewritten after a checkpoint, bad checkpoint signature, entries
 * missing from the newest checkpoint's range...), -1 on error (e set).
 * Entries not yet chained are reported as a count, not as a problem. */
int audit_verify(PGconn *c, EVP_PKEY *audit_pub, FILE *report,
    struct err *e);

/* A background thread for signetd: every seal_interval seconds a sealing
 * pass, with a checkpoint every checkpoint_interval seconds.  The result
 * must be passed to audit_sealer_stop() (which joins the thread; NULL is
 * fine). */
struct audit_sealer;
int audit_sealer_start(struct db *d, struct hsm_key *audit_key,
    long seal_interval, long checkpoint_interval, struct audit_sealer **out,
    struct err *e);
void audit_sealer_stop(struct audit_sealer *s);

#endif
