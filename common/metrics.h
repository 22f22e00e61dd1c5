/*
 * metrics: counters, gauges and histograms kept in this process, rendered
 * in the Prometheus text format for GET /metrics.  A series is a metric
 * name plus a preformatted label set ('key="value",...'); values in label
 * sets must come from metrics_label() so quotes and newlines are escaped.
 * Thread safe.  At most METRICS_MAX_SERIES series: past that, new series
 * are dropped (and counted in signet_metrics_dropped_total).
 */
#ifndef SIGNET_METRICS_H
#define SIGNET_METRICS_H

#include <stddef.h>

#define METRICS_MAX_SERIES 1024

/* Describe a metric once (HELP and TYPE lines).  type: "counter",
 * "gauge" or "histogram". */
void metrics_describe(const char *name, const char *type, const char *help);

void metrics_add(const char *name, const char *labels, double v);
void metrics_set(const char *name, const char *labels, double v);
/* Histogram observation in seconds (fixed buckets 0.5 ms .. 10 s). */
void metrics_observe(const char *name, const char *labels, double seconds);

/* Escape a label value into out (for use between double quotes). */
void metrics_label(const char *value, char *out, size_t outlen);

/* A hook called at render time to refresh gauges (pool sizes, HSM
 * counts); one per process is enough. */
typedef void (*metrics_collect_fn)(void *arg);
void metrics_set_collector(metrics_collect_fn fn, void *arg);

/* The whole exposition as a malloc'ed NUL-terminated string. */
char *metrics_render(size_t *len);

#endif
