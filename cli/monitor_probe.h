/*
 * monitor_probe: connect to one target and read the certificate chain it
 * serves.  Everything the probe does (name lookup, TCP connect, the
 * STARTTLS dialogue, the TLS handshake) ends by one deadline on the
 * monotonic clock, so a dead or stalled peer costs at most the time the
 * caller granted, and a stalled DNS resolver no more than that either.
 * Safe to call from several threads at once with one shared SSL_CTX.
 */
#ifndef SIGNET_MONITOR_PROBE_H
#define SIGNET_MONITOR_PROBE_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cli/monitor_target.h"
#include "common/err.h"

/* Most certificates read from a peer; a longer chain is an error. */
#define MONITOR_CHAIN_MAX 10
/* Most bytes of certificate list accepted in the handshake. */
#define MONITOR_CERT_LIST_MAX (100 * 1024)

/* Milliseconds on the monotonic clock (for deadlines). */
long long monitor_now_ms(void);

/* A TLS client context for probes: the handshake does not verify (the
 * caller verifies the chain afterwards, to report why it fails rather
 * than only that it did), the certificate list is capped.  NULL on
 * failure (e set).  Free with SSL_CTX_free. */
SSL_CTX *monitor_probe_ctx_new(struct err *e);

/* Connect to t (SNI: t->sni when set), run its STARTTLS dialogue if any
 * and the TLS handshake, all before deadline_ms (monitor_now_ms() time).
 * On success *chain holds the peer's certificates, leaf first (1 to
 * MONITOR_CHAIN_MAX; free with sk_X509_pop_free(.., X509_free)) and
 * version the TLS version ("TLSv1.3").  A handshake that failed after
 * the server's certificate arrived (in TLS 1.2, a server that requires a
 * client certificate refuses only then) still counts: the chain is what
 * was asked for, and note (else "") says how the handshake ended.
 * Failures: ERR_UNAVAILABLE when
 * the peer could not be reached, timed out or broke off, ERR_INVALID for
 * a protocol the peer got wrong (STARTTLS refused, no certificate, too
 * long a chain), ERR_INTERNAL for a local failure; e says which step. */
int monitor_probe(SSL_CTX *ctx, const struct monitor_target *t,
    long long deadline_ms, STACK_OF(X509) **chain, char *version,
    size_t versionlen, char *note, size_t notelen, struct err *e);

#endif
