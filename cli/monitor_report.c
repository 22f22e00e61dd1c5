/* monitor_report: the table, the JSON array and the Prometheus text. */
#include "cli/monitor_report.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ca/crl.h"
#include "common/metrics.h"
#include "common/util.h"

void monitor_result_clear(struct monitor_result *r)
{
	if (r == NULL)
		return;
	X509_free(r->leaf);
	free(r->subject);
	free(r->issuer);
	r->leaf = NULL;
	r->subject = r->issuer = NULL;
}

const char *monitor_state_name(enum monitor_state s)
{
	switch (s) {
	case MONITOR_UNREACHABLE: return "unreachable";
	case MONITOR_ERROR: return "error";
	case MONITOR_REVOKED: return "revoked";
	case MONITOR_EXPIRED: return "expired";
	case MONITOR_UNVERIFIED: return "unverified";
	case MONITOR_REVOCATION_UNKNOWN: return "revocation_unknown";
	case MONITOR_EXPIRING: return "expiring";
	case MONITOR_OK: return "ok";
	}
	return "error";
}

const char *monitor_rev_name(enum monitor_rev_state s)
{
	switch (s) {
	case MONITOR_REV_NOT_CHECKED: return "not_checked";
	case MONITOR_REV_GOOD: return "good";
	case MONITOR_REV_REVOKED: return "revoked";
	case MONITOR_REV_UNKNOWN: return "unknown";
	case MONITOR_REV_ERROR: return "error";
	}
	return "error";
}

static const char *proto_name(enum monitor_proto p)
{
	switch (p) {
	case MONITOR_TLS: return "tls";
	case MONITOR_SMTP: return "smtp";
	case MONITOR_POSTGRES: return "postgres";
	}
	return "tls";
}

static double days(long long seconds)
{
	return (double)seconds / 86400.0;
}

/* What the NOTE column and the JSON "error" say: the first problem. */
static const char *note(const struct monitor_result *r)
{
	if (r->error[0] != '\0')
		return r->error;
	if (!r->verified && r->verify_error[0] != '\0')
		return r->verify_error;
	if (r->rev_error[0] != '\0')
		return r->rev_error;
	return r->handshake_error;
}

/* ---- table ---- */

static int width(const struct monitor_result *r, size_t n, int which, int cap)
{
	int w = which == 0 ? 6 : 7;  /* "TARGET", "SUBJECT" */
	for (size_t i = 0; i < n; i++) {
		const char *s = which == 0 ? r[i].target->text :
		    which == 1 ? r[i].subject : r[i].issuer;
		int len = s ? (int)strlen(s) : 1;
		if (len > w)
			w = len;
	}
	return w > cap ? cap : w;
}

int monitor_report_table(FILE *f, const struct monitor_result *r, size_t n)
{
	int wt = width(r, n, 0, 48), ws = width(r, n, 1, 48), wi = width(r, n, 2, 48);

	fprintf(f, "%-*s  %-18s  %8s  %-20s  %-6s  %-16s  %-*s  %-*s  %s\n",
	    wt, "TARGET", "STATUS", "DAYS", "NOT AFTER", "VERIFY", "REVOCATION",
	    ws, "SUBJECT", wi, "ISSUER", "NOTE");
	for (size_t i = 0; i < n; i++) {
		const struct monitor_result *x = &r[i];
		char d[32] = "-", na[32] = "-", rev[32] = "-";

		if (x->up) {
			snprintf(d, sizeof(d), "%.1f", days(x->seconds_left));
			util_rfc3339(x->not_after, na, sizeof(na));
			if (x->rev.state != MONITOR_REV_NOT_CHECKED)
				snprintf(rev, sizeof(rev), "%s%s%s%s",
				    monitor_rev_name(x->rev.state),
				    x->rev.source ? " (" : "",
				    x->rev.source ? x->rev.source : "",
				    x->rev.source ? ")" : "");
		}
		fprintf(f, "%-*s  %-18s  %8s  %-20s  %-6s  %-16s  %-*s  ",
		    wt, x->target->text, monitor_state_name(x->state), d, na,
		    x->up ? (x->verified ? "yes" : "no") : "-", rev,
		    ws, x->subject ? x->subject : "-");
		/* No padding after the last non-empty column. */
		if (note(x)[0] != '\0')
			fprintf(f, "%-*s  %s\n", wi, x->issuer ? x->issuer : "-", note(x));
		else
			fprintf(f, "%s\n", x->issuer ? x->issuer : "-");
	}
	return ferror(f) ? -1 : 0;
}

/* ---- JSON ---- */

static json_t *str_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? json_string(s) : json_null();
}

static json_t *time_or_null(time_t t, int have)
{
	char buf[32];

	if (!have)
		return json_null();
	util_rfc3339(t, buf, sizeof(buf));
	return json_string(buf);
}

/* Days with two decimals (a short-lived certificate's hours still
 * show), rounded down: a certificate a second past its end is -0.01, not
 * 0. */
static double days_2dp(long long seconds)
{
	long long cents = seconds * 100 / 86400;

	if (seconds < 0 && (seconds * 100) % 86400 != 0)
		cents--;
	return (double)cents / 100.0;
}

static json_t *result_json(const struct monitor_result *x)
{
	const struct monitor_target *t = x->target;
	int rev_checked = x->up && x->rev.state != MONITOR_REV_NOT_CHECKED;
	int revoked = x->rev.state == MONITOR_REV_REVOKED;

	return json_pack("{s:s, s:s, s:i, s:s, s:o, s:s, s:b, s:o, s:f,"
	    " s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
	    " s:s, s:o, s:o, s:o, s:o}",
	    "target", t->text,
	    "host", t->host,
	    "port", (int)t->port,
	    "protocol", proto_name(t->proto),
	    "sni", str_or_null(t->sni),
	    "status", monitor_state_name(x->state),
	    "ok", x->state == MONITOR_OK,
	    "error", str_or_null(note(x)),
	    "duration_seconds", x->duration,
	    "tls_version", x->up ? str_or_null(x->tls_version) : json_null(),
	    "handshake_error", x->up ? str_or_null(x->handshake_error) : json_null(),
	    "chain_length", x->up ? json_integer(x->chain_len) : json_null(),
	    "subject", x->up ? str_or_null(x->subject) : json_null(),
	    "issuer", x->up ? str_or_null(x->issuer) : json_null(),
	    "serial", x->up ? str_or_null(x->serial) : json_null(),
	    "not_before", time_or_null(x->not_before, x->up),
	    "not_after", time_or_null(x->not_after, x->up),
	    "seconds_left", x->up ? json_integer(x->seconds_left) : json_null(),
	    "days_left", x->up ? json_real(days_2dp(x->seconds_left)) : json_null(),
	    "verified", x->up ? json_boolean(x->verified) : json_null(),
	    "verify_error", x->up && !x->verified ? str_or_null(x->verify_error) : json_null(),
	    "signet", x->up ? json_boolean(x->signet) : json_null(),
	    "revocation", monitor_rev_name(x->up ? x->rev.state : MONITOR_REV_NOT_CHECKED),
	    "revocation_source", rev_checked ? str_or_null(x->rev.source) : json_null(),
	    "revoked_at", time_or_null(x->rev.revoked_at, rev_checked && revoked),
	    "revocation_reason", rev_checked && revoked && x->rev.reason >= 0 ?
		json_string(crl_reason_name(x->rev.reason)) : json_null(),
	    "revocation_error", rev_checked ? str_or_null(x->rev_error) : json_null());
}

int monitor_report_json(FILE *f, const struct monitor_result *r, size_t n)
{
	json_t *arr = json_array(), *o;
	int rc = -1;

	if (arr == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if ((o = result_json(&r[i])) == NULL || json_array_append_new(arr, o) != 0)
			goto out;
	}
	if (json_dumpf(arr, f, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) != 0)
		goto out;
	fputc('\n', f);
	rc = ferror(f) ? -1 : 0;
out:
	json_decref(arr);
	return rc;
}

/* ---- Prometheus text exposition ---- */

/* Families in this order; each lists every target that has a value, so
 * all samples of a family are together as the format requires. */
enum fam {
	F_UP, F_OK, F_STATUS, F_NOT_AFTER, F_REMAINING, F_VERIFIED, F_REVOKED,
	F_DURATION, F_INFO, F_COUNT
};

static const struct {
	const char *name, *help;
} fams[F_COUNT] = {
	[F_UP] = { "signet_monitor_up",
	    "1 if the target served a certificate chain, 0 if it could not be reached." },
	[F_OK] = { "signet_monitor_ok",
	    "1 if nothing is wrong: up, verified, not revoked, not expiring within the threshold." },
	[F_STATUS] = { "signet_monitor_status",
	    "The target's verdict, as the status label (always 1)." },
	[F_NOT_AFTER] = { "signet_monitor_cert_not_after_seconds",
	    "notAfter of the served leaf certificate, Unix time." },
	[F_REMAINING] = { "signet_monitor_cert_remaining_seconds",
	    "Seconds until notAfter of the served leaf certificate (negative once expired)." },
	[F_VERIFIED] = { "signet_monitor_cert_verified",
	    "1 if the chain verifies against the roots and names the target." },
	[F_REVOKED] = { "signet_monitor_cert_revoked",
	    "1 if signet's certificate is revoked, 0 if good; absent when not known." },
	[F_DURATION] = { "signet_monitor_probe_duration_seconds",
	    "How long the probe took." },
	[F_INFO] = { "signet_monitor_cert_info",
	    "The served leaf certificate (always 1)." },
};

static int has_sample(const struct monitor_result *x, enum fam f)
{
	switch (f) {
	case F_UP: case F_OK: case F_STATUS: case F_DURATION:
		return 1;
	case F_REVOKED:
		return x->up && (x->rev.state == MONITOR_REV_GOOD ||
		    x->rev.state == MONITOR_REV_REVOKED);
	default:
		return x->up;
	}
}

static void sample(FILE *f, const struct monitor_result *x, enum fam fam,
    const char *label)
{
	char esc[3 * 1024];

	switch (fam) {
	case F_UP:
		fprintf(f, "%s{%s} %d\n", fams[fam].name, label, x->up);
		break;
	case F_OK:
		fprintf(f, "%s{%s} %d\n", fams[fam].name, label, x->state == MONITOR_OK);
		break;
	case F_STATUS:
		fprintf(f, "%s{%s,status=\"%s\"} 1\n", fams[fam].name, label,
		    monitor_state_name(x->state));
		break;
	case F_NOT_AFTER:
		fprintf(f, "%s{%s} %lld\n", fams[fam].name, label, (long long)x->not_after);
		break;
	case F_REMAINING:
		fprintf(f, "%s{%s} %lld\n", fams[fam].name, label, x->seconds_left);
		break;
	case F_VERIFIED:
		fprintf(f, "%s{%s} %d\n", fams[fam].name, label, x->verified);
		break;
	case F_REVOKED:
		fprintf(f, "%s{%s} %d\n", fams[fam].name, label,
		    x->rev.state == MONITOR_REV_REVOKED);
		break;
	case F_DURATION:
		fprintf(f, "%s{%s} %.3f\n", fams[fam].name, label, x->duration);
		break;
	case F_INFO:
		fprintf(f, "%s{%s,serial=\"%s\",subject=\"", fams[fam].name, label,
		    x->serial);
		metrics_label(x->subject, esc, sizeof(esc));
		fprintf(f, "%s\",issuer=\"", esc);
		metrics_label(x->issuer, esc, sizeof(esc));
		fprintf(f, "%s\"} 1\n", esc);
		break;
	case F_COUNT:
		break;
	}
}

int monitor_report_prometheus(FILE *f, const struct monitor_result *r,
    size_t n, long long within)
{
	char label[3 * MONITOR_TARGET_MAX + 16], esc[3 * MONITOR_TARGET_MAX + 1];

	fprintf(f, "# HELP signet_monitor_expiring_threshold_seconds The --within "
	    "threshold: a certificate closer to notAfter is expiring.\n"
	    "# TYPE signet_monitor_expiring_threshold_seconds gauge\n"
	    "signet_monitor_expiring_threshold_seconds %lld\n", within);
	for (int fam = 0; fam < F_COUNT; fam++) {
		int any = 0;
		for (size_t i = 0; i < n && !any; i++)
			any = has_sample(&r[i], (enum fam)fam);
		if (!any)
			continue;
		fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", fams[fam].name,
		    fams[fam].help, fams[fam].name);
		for (size_t i = 0; i < n; i++) {
			if (!has_sample(&r[i], (enum fam)fam))
				continue;
			metrics_label(r[i].target->text, esc, sizeof(esc));
			snprintf(label, sizeof(label), "target=\"%s\"", esc);
			sample(f, &r[i], (enum fam)fam, label);
		}
	}
	return ferror(f) ? -1 : 0;
}
