#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

static const double buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct series {
	char name[64];
	char labels[192];
	enum kind kind;
	double value;           /* counter/gauge value, histogram sum */
	unsigned long long count;
	unsigned long long bucket[NBUCKETS];
};

struct desc {
	char name[64];
	char type[12];
	char help[160];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct series series[METRICS_MAX_SERIES];
static size_t nseries;
static struct desc descs[64];
static size_t ndescs;
static unsigned long long dropped;
static metrics_collect_fn collector;
static void *collector_arg;

void metrics_describe(const char *name, const char *type, const char *help)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < ndescs; i++)
		if (strcmp(descs[i].name, name) == 0)
			goto out;
	if (ndescs < sizeof(descs) / sizeof(descs[0])) {
		snprintf(descs[ndescs].name, sizeof(descs[0].name), "%s", name);
		snprintf(descs[ndescs].type, sizeof(descs[0].type), "%s", type);
		snprintf(descs[ndescs].help, sizeof(descs[0].help), "%s", help);
		ndescs++;
	}
out:
	pthread_mutex_unlock(&lock);
}

/* Series by name and labels: open addressing over twice the most
 * series there can be, holding index + 1 (0: empty).  Every request
 * updates two or three series, so this is looked up tens of thousands of
 * times a second; a scan of a few hundred names was not free. */
#define INDEX_SLOTS (2 * METRICS_MAX_SERIES)
static unsigned short index_slots[INDEX_SLOTS];

static size_t slot_of(const char *name, const char *labels)
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ 0x1f) * 1099511628211ULL;
	for (const char *p = labels; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return (size_t)(h % INDEX_SLOTS);
}

/* Find or create; called with the lock held.  NULL when full. */
static struct series *find(const char *name, const char *labels,
    enum kind kind)
{
	size_t k;
	struct series *s;

	if (labels == NULL)
		labels = "";
	for (k = slot_of(name, labels); index_slots[k] != 0;
	    k = (k + 1) % INDEX_SLOTS) {
		s = &series[index_slots[k] - 1];
		if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
			return s;
	}
	if (nseries == METRICS_MAX_SERIES || strlen(name) >= sizeof(series[0].name) ||
	    strlen(labels) >= sizeof(series[0].labels)) {
		dropped++;
		return NULL;
	}
	s = &series[nseries++];
	strcpy(s->name, name);
	strcpy(s->labels, labels);
	s->kind = kind;
	index_slots[k] = (unsigned short)nseries;
	return s;
}

void metrics_add(const char *name, const char *labels, double v)
{
	struct series *s;

	pthread_mutex_lock(&lock);
	if ((s = find(name, labels, K_COUNTER)) != NULL)
		s->value += v;
	pthread_mutex_unlock(&lock);
}

void metrics_set(const char *name, const char *labels, double v)
{
	struct series *s;

	pthread_mutex_lock(&lock);
	if ((s = find(name, labels, K_GAUGE)) != NULL)
		s->value = v;
	pthread_mutex_unlock(&lock);
}

void metrics_observe(const char *name, const char *labels, double seconds)
{
	struct series *s;

	pthread_mutex_lock(&lock);
	if ((s = find(name, labels, K_HISTOGRAM)) != NULL) {
		s->value += seconds;
		s->count++;
		for (size_t i = 0; i < NBUCKETS; i++)
			if (seconds <= buckets[i])
				s->bucket[i]++;
	}
	pthread_mutex_unlock(&lock);
}

void metrics_label(const char *value, char *out, size_t outlen)
{
	size_t n = 0;

	if (outlen == 0)
		return;
	for (; value != NULL && *value != '\0' && n + 3 < outlen; value++) {
		if (*value == '"' || *value == '\\') {
			out[n++] = '\\';
			out[n++] = *value;
		} else if (*value == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = *value;
		}
	}
	out[n] = '\0';
}

void metrics_set_collector(metrics_collect_fn fn, void *arg)
{
	pthread_mutex_lock(&lock);
	collector = fn;
	collector_arg = arg;
	pthread_mutex_unlock(&lock);
}

struct buf {
	char *p;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (b->p == NULL)
			return;
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		char *np = realloc(b->p, b->cap * 2 + (size_t)n);
		if (np == NULL) {
			free(b->p);
			b->p = NULL;
			return;
		}
		b->p = np;
		b->cap = b->cap * 2 + (size_t)n;
	}
}

/* A sample value as the text format spells it (NaN, +Inf, -Inf). */
static void fmt_value(double v, char *out, size_t len)
{
	if (isnan(v))
		snprintf(out, len, "NaN");
	else if (isinf(v))
		snprintf(out, len, "%s", v > 0 ? "+Inf" : "-Inf");
	else
		snprintf(out, len, "%.17g", v);
}

/* HELP text escapes backslash and newline (the text format's rule). */
static void render_help(struct buf *b, const char *name, const char *help,
    const char *type)
{
	bprintf(b, "# HELP %s ", name);
	for (; *help; help++) {
		if (*help == '\\')
			bprintf(b, "\\\\");
		else if (*help == '\n')
			bprintf(b, "\\n");
		else
			bprintf(b, "%c", *help);
	}
	bprintf(b, "\n# TYPE %s %s\n", name, type);
}

static void render_series(struct buf *b, const struct series *s)
{
	const char *sep = s->labels[0] ? "," : "";
	char v[32];

	if (s->kind != K_HISTOGRAM) {
		fmt_value(s->value, v, sizeof(v));
		if (s->labels[0])
			bprintf(b, "%s{%s} %s\n", s->name, s->labels, v);
		else
			bprintf(b, "%s %s\n", s->name, v);
		return;
	}
	for (size_t i = 0; i < NBUCKETS; i++)
		bprintf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", s->name, s->labels,
		    sep, buckets[i], s->bucket[i]);
	bprintf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", s->name, s->labels, sep,
	    s->count);
	fmt_value(s->value, v, sizeof(v));
	bprintf(b, "%s_sum%s%s%s %s\n", s->name, s->labels[0] ? "{" : "",
	    s->labels, s->labels[0] ? "}" : "", v);
	bprintf(b, "%s_count%s%s%s %llu\n", s->name, s->labels[0] ? "{" : "",
	    s->labels, s->labels[0] ? "}" : "", s->count);
}

char *metrics_render(size_t *len)
{
	struct buf b = { malloc(8192), 0, 8192 };
	metrics_collect_fn fn;
	void *arg;

	pthread_mutex_lock(&lock);
	fn = collector;
	arg = collector_arg;
	pthread_mutex_unlock(&lock);
	if (fn != NULL)
		fn(arg);

	pthread_mutex_lock(&lock);
	/* Described metrics first, grouped under their HELP/TYPE. */
	for (size_t d = 0; d < ndescs; d++) {
		render_help(&b, descs[d].name, descs[d].help, descs[d].type);
		for (size_t i = 0; i < nseries; i++)
			if (strcmp(series[i].name, descs[d].name) == 0)
				render_series(&b, &series[i]);
	}
	/* A series nobody described still gets HELP and TYPE (from how it
	 * was recorded), once per name with all its series under it: the
	 * text format wants each family in one group. */
	for (size_t i = 0; i < nseries; i++) {
		size_t d, j;
		for (d = 0; d < ndescs; d++)
			if (strcmp(series[i].name, descs[d].name) == 0)
				break;
		if (d < ndescs)
			continue;
		for (j = 0; j < i; j++)
			if (strcmp(series[j].name, series[i].name) == 0)
				break;
		if (j < i)
			continue;
		render_help(&b, series[i].name, "(not described)",
		    series[i].kind == K_COUNTER ? "counter" :
		    series[i].kind == K_GAUGE ? "gauge" : "histogram");
		for (j = i; j < nseries; j++)
			if (strcmp(series[j].name, series[i].name) == 0)
				render_series(&b, &series[j]);
	}
	render_help(&b, "signet_metrics_dropped_total",
	    "Series not recorded because the table was full.", "counter");
	bprintf(&b, "signet_metrics_dropped_total %llu\n", dropped);
	pthread_mutex_unlock(&lock);
	if (b.p != NULL && len != NULL)
		*len = b.len;
	return b.p;
}
