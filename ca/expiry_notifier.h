/*
 * expiry_notifier: signetd's expiry webhook.  A thread looks every
 * notify_interval for good certificates without a successor that entered
 * one of the notify_thresholds windows, and POSTs one JSON event per
 * certificate and threshold to notify_webhook_url:
 *
 *   {"event":"certificate.expiring","threshold":"7d","serial":"..",
 *    "subject":"..","sans":["DNS:.."],"provisioner":"..",
 *    "not_after":"2026-01-02T03:04:05Z","seconds_left":12345}
 *
 * Once per certificate and threshold, also with several signetd on one
 * database: the expiry_notifications row is inserted (ON CONFLICT DO
 * NOTHING) in a transaction that commits only after the webhook answered
 * 2xx.  A failed POST rolls the row back, ends that scan, and is retried
 * on the next one, until it succeeds or the certificate stops being due
 * (a successor, revocation, expiry).  A process that dies between the
 * webhook's answer and the commit makes the event go out again: delivery
 * is at least once; receivers can key on (serial, threshold).
 * docs/monitoring.md has the operator's view.
 */
#ifndef SIGNET_EXPIRY_NOTIFIER_H
#define SIGNET_EXPIRY_NOTIFIER_H

#include <stddef.h>

#include "common/config.h"
#include "common/err.h"
#include "db/db.h"

struct expiry_notifier;

/* Start the thread when cfg->notify_webhook_url is set; otherwise *out is
 * NULL and nothing runs.  d and cfg are borrowed and must outlive the
 * notifier.  Stop with expiry_notifier_stop (NULL is fine), which aborts
 * a POST in flight. */
int expiry_notifier_start(struct db *d, const struct config *cfg,
    struct expiry_notifier **out, struct err *e);
void expiry_notifier_stop(struct expiry_notifier *n);

/* The label a threshold of secs seconds is recorded and sent under: the
 * largest unit that divides it ("7d", "36h", "90m", "45s"), so "24h" and
 * "1d" are one threshold.  out needs 24 bytes. */
void expiry_threshold_label(long long secs, char *out, size_t outlen);

#endif
