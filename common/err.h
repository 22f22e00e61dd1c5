/*
 * err: an error that carries a kind and one message from where it happened
 * up to where it is reported, once.  Functions in signet return 0 on success
 * and -1 on failure, filling the struct err the caller passed (which may be
 * NULL when the caller does not care why).
 */
#ifndef SIGNET_ERR_H
#define SIGNET_ERR_H

#include <stddef.h>

enum err_kind {
	ERR_NONE = 0,
	ERR_INVALID,     /* malformed input: HTTP 400, CLI exit 2 */
	ERR_AUTH,        /* bad or missing credentials: HTTP 401 */
	ERR_POLICY,      /* well-formed but forbidden: HTTP 403 */
	ERR_NOTFOUND,    /* HTTP 404 */
	ERR_CONFLICT,    /* already exists / already done: HTTP 409 */
	ERR_TOOBIG,      /* HTTP 413 */
	ERR_LIMIT,       /* rate or size limit: HTTP 429 */
	ERR_UNAVAILABLE, /* database or HSM unreachable: HTTP 503 */
	ERR_CONFIG,      /* bad configuration or usage: CLI exit 2 */
	ERR_INTERNAL,    /* anything else: HTTP 500, CLI exit 3 */
};

struct err {
	enum err_kind kind;
	char msg[768];
};

/* Set kind and message; always returns -1 so callers can `return err_set(..)`.
 * Safe with e == NULL. */
int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like err_set, then appends OpenSSL's error queue (and empties it). */
int err_ossl(struct err *e, enum err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend context ("loading config: ") to an error already set. */
void err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Empty OpenSSL's thread-local error queue without reporting it. */
void err_ossl_clear(void);

/* HTTP status, stable problem type slug and CLI exit code for a kind. */
int err_http_status(enum err_kind kind);
const char *err_type_slug(enum err_kind kind);
int err_exit_code(enum err_kind kind);

#endif
