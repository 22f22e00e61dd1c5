/* The expiry webhook (see expiry_notifier.h for the rules). */
#include "ca/expiry_notifier.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/log.h"
#include "common/metrics.h"

/* Notifications one scan sends at most: a backlog (a webhook configured
 * on a CA with many certificates due) drains over several scans rather
 * than in one burst. */
#define SCAN_LIMIT 500

/* Bytes of a webhook's answer read at most; the rest is not waited for. */
#define RESPONSE_MAX 65536

struct expiry_notifier {
	struct db *db;
	const struct config *cfg;
	char labels[CONFIG_MAX_THRESHOLDS][24];
	const char *label_ptr[CONFIG_MAX_THRESHOLDS];
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* signalled on stop */
	atomic_int stopping;        /* read by curl's progress callback too */
};

void expiry_threshold_label(long long secs, char *out, size_t outlen)
{
	static const struct { long long n; char unit; } units[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (secs > 0 && secs % units[i].n == 0) {
			snprintf(out, outlen, "%lld%c", secs / units[i].n,
			    units[i].unit);
			return;
		}
	snprintf(out, outlen, "%llds", secs);
}

struct sink {
	size_t got;
};

/* The answer is not used beyond its status: count it, keep none of it,
 * and stop reading past RESPONSE_MAX (returning less aborts). */
static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;

	(void)p;
	s->got += size * n;
	return s->got > RESPONSE_MAX ? 0 : size * n;
}

/* Abort a POST in flight when signetd stops. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn,
    curl_off_t ut, curl_off_t un)
{
	struct expiry_notifier *n = arg;

	(void)dt; (void)dn; (void)ut; (void)un;
	return atomic_load(&n->stopping) ? 1 : 0;
}

/* POST body; 0 when the webhook answered 2xx. */
static int post(struct expiry_notifier *n, const char *body, struct err *e)
{
	/* "Expect:" off: a receiver need not know 100-continue. */
	static const char *const headers[] = { "Content-Type: application/json",
		"Expect:", ("User-Agent: signetd/" PACKAGE_VERSION) };
	CURL *cu = curl_easy_init();
	struct curl_slist *hdr = NULL, *h;
	char cerr[CURL_ERROR_SIZE] = "";
	struct sink sink = { 0 };
	long status = 0;
	CURLcode rc;
	int ret = -1;

	if (cu == NULL)
		return err_set(e, ERR_INTERNAL, "curl_easy_init failed");
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		if ((h = curl_slist_append(hdr, headers[i])) == NULL) {
			err_set(e, ERR_INTERNAL, "out of memory");
			goto out;
		}
		hdr = h;
	}
	curl_easy_setopt(cu, CURLOPT_URL, n->cfg->notify_webhook_url);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(cu, CURLOPT_TIMEOUT, (long)n->cfg->notify_timeout);
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, (long)n->cfg->notify_timeout);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(cu, CURLOPT_XFERINFODATA, n);
	curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, cerr);
	if (n->cfg->notify_webhook_ca != NULL) {
		curl_easy_setopt(cu, CURLOPT_CAINFO, n->cfg->notify_webhook_ca);
		curl_easy_setopt(cu, CURLOPT_CAPATH, NULL);
	}
	rc = curl_easy_perform(cu);
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
	/* A 2xx with an answer longer than we read was still delivered. */
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && status / 100 == 2)) {
		err_set(e, ERR_UNAVAILABLE, "webhook: %s",
		    cerr[0] ? cerr : curl_easy_strerror(rc));
		goto out;
	}
	if (status / 100 != 2) {
		err_set(e, ERR_UNAVAILABLE, "webhook answered HTTP %ld", status);
		goto out;
	}
	ret = 0;
out:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(cu);
	return ret;
}

/* The event for one due notification (an element of
 * db_expiry_due_json's array), as compact JSON text (malloc'ed). */
static char *event_json(json_t *due)
{
	json_t *ev;
	char *text;
	long long left;

	left = (long long)json_integer_value(json_object_get(due,
	    "not_after_epoch")) - (long long)time(NULL);
	ev = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:I}",
	    "event", "certificate.expiring",
	    "threshold", json_object_get(due, "threshold"),
	    "serial", json_object_get(due, "serial"),
	    "subject", json_object_get(due, "subject"),
	    "sans", json_object_get(due, "sans"),
	    "provisioner", json_object_get(due, "provisioner"),
	    "not_after", json_object_get(due, "not_after"),
	    "seconds_left", (json_int_t)(left > 0 ? left : 0));
	if (ev == NULL)
		return NULL;
	text = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	return text;
}

static void count(const char *label, const char *outcome)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "threshold=\"%s\",outcome=\"%s\"",
	    label, outcome);
	metrics_add("signet_expiry_notifications_total", labels, 1);
}

/* One pass: send what is due, until the first failure. */
static void scan(struct expiry_notifier *n)
{
	struct err e = { 0 };
	json_t *arr = NULL, *due;
	char *text = NULL, *body;
	PGconn *c;
	size_t i;
	int claimed;

	if ((c = db_acquire(n->db, &e)) == NULL) {
		log_warn("msg=\"expiry notifier: database unavailable\" "
		    "error=\"%s\"", e.msg);
		return;
	}
	if (db_expiry_due_json(c, n->label_ptr, n->cfg->notify_threshold,
	    n->cfg->notify_nthresholds, SCAN_LIMIT, &text, &e) != 0) {
		log_warn("msg=\"expiry notifier: scan failed\" error=\"%s\"",
		    e.msg);
		goto out;
	}
	if ((arr = json_loads(text, 0, NULL)) == NULL) {
		log_warn("msg=\"expiry notifier: unreadable scan result\"");
		goto out;
	}
	json_array_foreach(arr, i, due) {
		const char *serial = json_string_value(json_object_get(due, "serial"));
		const char *label = json_string_value(json_object_get(due, "threshold"));

		if (atomic_load(&n->stopping) || serial == NULL || label == NULL)
			break;
		if (db_begin(c, &e) != 0 ||
		    db_expiry_claim(c, serial, label, &claimed, &e) != 0) {
			db_rollback(c);
			log_warn("msg=\"expiry notifier: claim failed\" serial=%s "
			    "threshold=%s error=\"%s\"", serial, label, e.msg);
			break;
		}
		if (!claimed) {
			/* Sent already, or another signetd is sending it. */
			db_rollback(c);
			continue;
		}
		if ((body = event_json(due)) == NULL) {
			db_rollback(c);
			log_warn("msg=\"expiry notifier: out of memory\"");
			break;
		}
		if (post(n, body, &e) != 0) {
			free(body);
			/* Give the claim back: the next scan retries.  The
			 * rest waits too rather than hammer a webhook that is
			 * down: one failed POST per scan. */
			db_rollback(c);
			count(label, "failed");
			log_warn("msg=\"expiry notification failed; retried next scan\" "
			    "serial=%s threshold=%s error=\"%s\"", serial, label, e.msg);
			break;
		}
		free(body);
		if (db_commit(c, &e) != 0) {
			db_rollback(c);
			count(label, "sent");
			log_warn("msg=\"expiry notification sent but not recorded: "
			    "it may be sent again\" serial=%s threshold=%s error=\"%s\"",
			    serial, label, e.msg);
			break;
		}
		count(label, "sent");
		log_info("msg=\"expiry notification sent\" serial=%s threshold=%s",
		    serial, label);
	}
out:
	json_decref(arr);
	free(text);
	db_release(n->db, c);
	metrics_add("signet_expiry_scans_total", NULL, 1);
}

static void *notifier_main(void *arg)
{
	struct expiry_notifier *n = arg;
	struct timespec ts;

	for (;;) {
		scan(n);
		pthread_mutex_lock(&n->lock);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += n->cfg->notify_interval;
		while (!atomic_load(&n->stopping) &&
		    pthread_cond_timedwait(&n->cond, &n->lock, &ts) == 0)
			;
		pthread_mutex_unlock(&n->lock);
		if (atomic_load(&n->stopping))
			break;
	}
	return NULL;
}

int expiry_notifier_start(struct db *d, const struct config *cfg,
    struct expiry_notifier **out, struct err *e)
{
	struct expiry_notifier *n;
	pthread_condattr_t ca;

	*out = NULL;
	if (cfg->notify_webhook_url == NULL)
		return 0;
	if (cfg->notify_nthresholds < 1)
		return err_set(e, ERR_CONFIG, "notify_thresholds: none");
	/* Before the thread: curl_global_init is not thread safe. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return err_set(e, ERR_INTERNAL, "curl_global_init failed");
	if ((n = calloc(1, sizeof(*n))) == NULL) {
		curl_global_cleanup();
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	n->db = d;
	n->cfg = cfg;
	for (int i = 0; i < cfg->notify_nthresholds; i++) {
		expiry_threshold_label(cfg->notify_threshold[i], n->labels[i],
		    sizeof(n->labels[i]));
		n->label_ptr[i] = n->labels[i];
	}
	atomic_init(&n->stopping, 0);
	pthread_mutex_init(&n->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&n->thread, NULL, notifier_main, n) != 0) {
		expiry_notifier_stop(n);
		return err_set(e, ERR_INTERNAL, "cannot start the expiry notifier");
	}
	n->started = 1;
	log_info("msg=\"expiry notifier started\" thresholds=\"%s\" interval=%llds",
	    cfg->notify_thresholds, cfg->notify_interval);
	*out = n;
	return 0;
}

void expiry_notifier_stop(struct expiry_notifier *n)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->lock);
	atomic_store(&n->stopping, 1);
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	if (n->started)
		pthread_join(n->thread, NULL);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
	curl_global_cleanup();
}
