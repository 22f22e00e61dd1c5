/*
 * monitor_report: what `signet monitor` found about each target, and the
 * three ways it is written: a table for people, a JSON array for
 * scripts, and the Prometheus text exposition for a textfile collector
 * or a push.  docs/monitor.md describes the fields.
 */
#ifndef SIGNET_MONITOR_REPORT_H
#define SIGNET_MONITOR_REPORT_H

#include <stdio.h>
#include <time.h>

#include <openssl/x509.h>

#include "cli/monitor_revocation.h"
#include "cli/monitor_target.h"

/* A target's verdict, the most serious finding first. */
enum monitor_state {
	MONITOR_UNREACHABLE,   /* no chain: refused, timed out, broke off */
	MONITOR_ERROR,         /* a chain, but it could not be judged */
	MONITOR_REVOKED,
	MONITOR_EXPIRED,
	MONITOR_UNVERIFIED,    /* does not chain to the roots or name the host */
	MONITOR_REVOCATION_UNKNOWN, /* signet's, but its status is not known */
	MONITOR_EXPIRING,      /* within the --within threshold */
	MONITOR_OK,
};

/* One target's findings: plain data filled by the prober and read by the
 * writers.  Strings are NUL-terminated; subject and issuer are malloc'ed
 * (NULL when no chain was read).  monitor_result_clear frees them. */
struct monitor_result {
	const struct monitor_target *target;
	enum monitor_state state;
	int up;                    /* a chain was read */
	char error[768];           /* why not up, or what else went wrong */
	double duration;           /* seconds the probe took */
	char tls_version[16];
	char handshake_error[768]; /* the handshake failed after the chain */
	int chain_len;
	X509 *leaf;                /* owned; for the database pass */
	char *subject, *issuer;    /* RFC 2253 */
	char serial[41];
	time_t not_before, not_after;
	long long seconds_left;    /* notAfter - now, negative once expired */
	int verified;
	char verify_error[512];
	int signet;                /* signed by one of the CA's issuers */
	int issuer_idx;            /* into the issuers, when signet */
	struct monitor_revocation rev;
	char rev_error[768];
};

void monitor_result_clear(struct monitor_result *r);

/* Stable names: "ok", "expiring", "expired", "revoked", "unverified",
 * "revocation_unknown", "unreachable", "error". */
const char *monitor_state_name(enum monitor_state s);
/* "good", "revoked", "unknown", "error", "not_checked". */
const char *monitor_rev_name(enum monitor_rev_state s);

/* Write the results in order.  within is the --within threshold in
 * seconds (the table and the metrics mention it).  Return 0, or -1 when
 * writing failed (out of memory, a closed pipe). */
int monitor_report_table(FILE *f, const struct monitor_result *r, size_t n);
int monitor_report_json(FILE *f, const struct monitor_result *r, size_t n);
int monitor_report_prometheus(FILE *f, const struct monitor_result *r,
    size_t n, long long within);

#endif
