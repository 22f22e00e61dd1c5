/*
 * acme_validate: the ACME challenge validators -- http-01 and dns-01
 * (RFC 8555 8.3, 8.4), tls-alpn-01 (RFC 8737) -- for "dns" and "ip"
 * (RFC 8738) identifiers.  One call validates once; retrying is the
 * caller's business (acme_validation_attempts, acme_validation_retry).
 *
 * Each call is bounded as a whole by acme_validation_timeout: DNS lookups,
 * connecting, TLS and HTTP share one deadline.  Host names for http-01 and
 * tls-alpn-01 are looked up in acme_hosts first, then with libunbound (A,
 * then AAAA; at most ACME_VALIDATE_MAX_ADDRS addresses, tried in turn while
 * connecting fails); libcurl and OpenSSL are handed the address, never a
 * name to resolve.  dns-01 asks libunbound for TXT, never acme_hosts.
 * libunbound forwards to acme_resolver when it is set, else to the servers
 * of /etc/resolv.conf (with /etc/hosts answered first).  No DNSSEC trust
 * anchor is configured: answers are not validated.
 *
 * http-01 follows up to ACME_VALIDATE_MAX_REDIRECTS redirects (RFC 8555
 * 8.3 SHOULD), each target resolved and pinned like the first, to http or
 * https (certificate not verified: the body is the proof) on ports 80,
 * 443, acme_http01_port or acme_tlsalpn01_port; any other target is
 * unauthorized, naming it.  tls-alpn-01 does not verify the certificate chain (the
 * challenge certificate is self-signed by design).
 *
 * Writing to a connection the peer closed raises SIGPIPE: the process must
 * ignore it (signetd and the CLI do).
 */
#ifndef SIGNET_ACME_VALIDATE_H
#define SIGNET_ACME_VALIDATE_H

#include "common/config.h"
#include "common/err.h"

/* Most addresses of one name tried in turn (A first, then AAAA). */
#define ACME_VALIDATE_MAX_ADDRS 4
/* Largest http-01 body read; a longer one is incorrectResponse. */
#define ACME_VALIDATE_MAX_BODY 8192
/* Redirects an http-01 validation follows. */
#define ACME_VALIDATE_MAX_REDIRECTS 10

struct acme_validate;

/* From cfg (borrowed; must outlive v): resolver, host map, ports, timeout.
 * Call before starting threads (it runs curl_global_init).  The result
 * must be passed to acme_validate_free. */
int acme_validate_new(const struct config *cfg, struct acme_validate **out,
    struct err *e);
/* NULL fine. */
void acme_validate_free(struct acme_validate *v);

/*
 * Validate one challenge.  Thread-safe: called concurrently from several
 * worker threads (each call has its own libunbound context, curl handle
 * and TLS connection).
 *
 * type: "http-01", "dns-01" or "tls-alpn-01".  ident_type "dns" or "ip",
 * ident_value the identifier (for a wildcard order the caller passes the
 * base name without "*.").  A dns identifier must be 1..253 bytes of
 * [a-z0-9.-] in labels of 1..63 bytes; an ip identifier a numeric IPv4 or
 * IPv6 address; anything else is refused before any lookup
 * (rejectedIdentifier).  token: the challenge token (base64url, 22..128
 * characters).  key_authz: token "." account-key thumbprint.
 *
 * Returns 0 when the challenge is satisfied; -1 otherwise with *atype the
 * ACME error type without the "urn:ietf:params:acme:error:" prefix and
 * e->msg a one-line detail naming what was fetched or resolved and what
 * was wrong:
 *   connection         nothing could be connected to (refused, unreachable,
 *                      timed out) or the connection broke
 *   dns                a lookup failed (SERVFAIL, timeout, no address for
 *                      the name)
 *   unauthorized       http-01: a final status other than 200, a
 *                      redirect signet does not follow; dns-01: no TXT record (NXDOMAIN or no data)
 *   incorrectResponse  http-01: a body other than key_authz or over
 *                      ACME_VALIDATE_MAX_BODY bytes; dns-01: no TXT record
 *                      equal to base64url(SHA-256(key_authz)); tls-alpn-01:
 *                      a certificate without exactly one SAN equal to the
 *                      identifier, or without a critical acmeIdentifier
 *                      holding SHA-256(key_authz)
 *   tls                tls-alpn-01: the handshake failed, or the server did
 *                      not select the acme-tls/1 protocol
 *   rejectedIdentifier an identifier that is not a valid name or address,
 *                      or dns-01 for an ip identifier (RFC 8738 7)
 *   serverInternal     bad arguments (an unknown type, a malformed token or
 *                      key_authz) or a local failure
 * e->kind is ERR_POLICY for a challenge that is not satisfied,
 * ERR_INVALID for a refused identifier, ERR_INTERNAL for serverInternal.
 */
int acme_validate_challenge(struct acme_validate *v, const char *type,
    const char *ident_type, const char *ident_value, const char *token,
    const char *key_authz, const char **atype, struct err *e);

#endif
