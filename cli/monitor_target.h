/*
 * monitor_target: what `signet monitor` is asked to watch.  A target is
 *
 *     [tls://|smtp://|postgres://]HOST:PORT[,SNI]
 *
 * with HOST a DNS name, an IPv4 address or an IPv6 address in brackets.
 * Parsing is pure (no I/O, no name lookups) and bounded: targets longer
 * than MONITOR_TARGET_MAX, names longer than 253 characters or with other
 * than letters, digits, '-', '_' and '.', and ports outside 1..65535 are
 * refused with ERR_CONFIG naming the rule.
 */
#ifndef SIGNET_MONITOR_TARGET_H
#define SIGNET_MONITOR_TARGET_H

#include <stddef.h>

#include "common/err.h"

/* Longest target text accepted (scheme, host, port and SNI). */
#define MONITOR_TARGET_MAX 512
/* Longest DNS name (RFC 1035 2.3.4, without the trailing dot). */
#define MONITOR_HOST_MAX 253
/* Most targets one run watches (arguments and --targets-file together). */
#define MONITOR_TARGETS_MAX 10000

enum monitor_proto {
	MONITOR_TLS,       /* TLS from the first byte */
	MONITOR_SMTP,      /* SMTP, then STARTTLS (RFC 3207) */
	MONITOR_POSTGRES,  /* PostgreSQL SSLRequest, then TLS */
};

/* A parsed target: plain data, nothing to free. */
struct monitor_target {
	char text[MONITOR_TARGET_MAX + 1];  /* as given: the report's label */
	enum monitor_proto proto;
	char host[MONITOR_HOST_MAX + 1];    /* without brackets */
	int host_is_ip;                     /* an IPv4 or IPv6 literal */
	unsigned port;                      /* 1..65535 */
	/* The name sent as SNI and checked against the certificate: the
	 * target's ",SNI", else default_sni, else the host when it is a DNS
	 * name.  Empty for an IP literal without either (RFC 6066 3 allows
	 * no address in SNI): then the address is checked instead. */
	char sni[MONITOR_HOST_MAX + 1];
};

/* Parse s into *out.  default_sni (NULL: none) stands for a missing
 * ",SNI" and must itself be a DNS name (monitor_target_check_name). */
int monitor_target_parse(const char *s, const char *default_sni,
    struct monitor_target *out, struct err *e);

/* 0 if name is a DNS name as signet accepts them (see above), else -1
 * with e saying why (what names the value in the message). */
int monitor_target_check_name(const char *what, const char *name,
    struct err *e);

/* A list of targets: grows as targets are added, never beyond
 * MONITOR_TARGETS_MAX.  Identical target texts are kept once, so each
 * target is one row and one set of metric series. */
struct monitor_targets;

/* NULL when out of memory.  Free with monitor_targets_free (NULL is
 * fine). */
struct monitor_targets *monitor_targets_new(void);
void monitor_targets_free(struct monitor_targets *l);
/* Parse s and append it (a duplicate is dropped silently). */
int monitor_targets_add(struct monitor_targets *l, const char *s,
    const char *default_sni, struct err *e);
/* Add every target of a file: one a line, blank lines and lines starting
 * with '#' skipped, surrounding spaces ignored.  The file may hold at
 * most MONITOR_TARGETS_MAX lines of MONITOR_TARGET_MAX characters; an
 * error names the line. */
int monitor_targets_add_file(struct monitor_targets *l, const char *path,
    const char *default_sni, struct err *e);
size_t monitor_targets_count(const struct monitor_targets *l);
/* The i-th target (i < count); valid until the list is freed. */
const struct monitor_target *monitor_targets_get(
    const struct monitor_targets *l, size_t i);

#endif
