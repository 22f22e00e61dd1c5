#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

static void vset(struct err *e, enum err_kind kind, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vset(struct err *e, enum err_kind kind, const char *fmt, va_list ap)
{
	e->kind = kind;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	vset(e, kind, fmt, ap);
	va_end(ap);
	return -1;
}

int err_ossl(struct err *e, enum err_kind kind, const char *fmt, ...)
{
	va_list ap;
	unsigned long code;
	char buf[256];
	size_t len;

	if (e == NULL) {
		err_ossl_clear();
		return -1;
	}
	va_start(ap, fmt);
	vset(e, kind, fmt, ap);
	va_end(ap);
	/* Keep the most specific (last) entries of the queue that fit. */
	while ((code = ERR_get_error()) != 0) {
		ERR_error_string_n(code, buf, sizeof(buf));
		len = strlen(e->msg);
		if (len + 3 < sizeof(e->msg))
			snprintf(e->msg + len, sizeof(e->msg) - len, ": %s", buf);
	}
	return -1;
}

void err_ossl_clear(void)
{
	ERR_clear_error();
}

void err_prefix(struct err *e, const char *fmt, ...)
{
	char head[256], old[sizeof(e->msg)];
	va_list ap;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	/* Keep the head; cut the old message if both do not fit. */
	snprintf(e->msg, sizeof(e->msg), "%s%.*s", head,
	    (int)(sizeof(e->msg) - 1 - strnlen(head, sizeof(head))), old);
}

int err_http_status(enum err_kind kind)
{
	switch (kind) {
	case ERR_NONE: return 200;
	case ERR_INVALID: return 400;
	case ERR_AUTH: return 401;
	case ERR_POLICY: return 403;
	case ERR_NOTFOUND: return 404;
	case ERR_CONFLICT: return 409;
	case ERR_TOOBIG: return 413;
	case ERR_LIMIT: return 429;
	case ERR_UNAVAILABLE: return 503;
	case ERR_CONFIG:
	case ERR_INTERNAL: break;
	}
	return 500;
}

const char *err_type_slug(enum err_kind kind)
{
	switch (kind) {
	case ERR_NONE: return "ok";
	case ERR_INVALID: return "malformed";
	case ERR_AUTH: return "unauthorized";
	case ERR_POLICY: return "forbidden";
	case ERR_NOTFOUND: return "not-found";
	case ERR_CONFLICT: return "conflict";
	case ERR_TOOBIG: return "too-large";
	case ERR_LIMIT: return "rate-limited";
	case ERR_UNAVAILABLE: return "unavailable";
	case ERR_CONFIG:
	case ERR_INTERNAL: break;
	}
	return "internal";
}

int err_exit_code(enum err_kind kind)
{
	switch (kind) {
	case ERR_NONE: return 0;
	case ERR_INVALID:
	case ERR_CONFIG: return 2;
	default: return 3;
	}
}
