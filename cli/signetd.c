/*
 * signetd: the daemon.  Loads the config, opens the token and the database
 * pool, and runs the HTTPS enrollment listener and the plain HTTP listener
 * for relying parties, plus background jobs (audit sealing, reconciling
 * stale intents, expiring used token ids).  SIGTERM or SIGINT: stop
 * accepting, finish requests in flight, exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ca/api.h"
#include "ca/audit_sealer.h"
#include "ca/crl_publisher.h"
#include "ca/expiry_notifier.h"
#include "ca/issue.h"
#include "ca/listener_cert.h"
#include "ca/renew_api.h"
#include "ca/revoke_api.h"
#include "ca/acme.h"
#include "ca/acme_jws.h"
#include "ca/acme_validator.h"
#include "ca/x509util.h"
#include "common/config.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "db/db.h"
#include "hsm/hsm.h"
#include "ocsp/ocsp.h"
#include "ocsp/responder.h"

struct ca_file {
	char name[64];
	unsigned char *der;
	size_t len;
};

struct daemon {
	struct config *cfg;
	struct hsm *hsm;
	struct db *db;
	struct ca *ca;
	struct api *api;
	struct db_group *group;
	struct hsm_key *audit_key;
	struct audit_sealer *sealer;
	struct crl_publisher *crl;
	struct expiry_notifier *notifier;
	struct revoke_api *revoke;
	struct acme_api *acme;
	struct acme_validator *acme_validator;
	struct renew_api *renew;
	struct listener_cert *listener;
	struct ocsp_service *ocsp;
	char *roots_pem, *chain_pem;
	size_t roots_len, chain_len;
	struct ca_file ca_files[16];
	int nca_files;
	pthread_t jobs;
	int jobs_started;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	int stopping;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: signetd -c FILE\n"
	    "  -c, --config FILE   signet.conf (default $SIGNET_CONFIG)\n"
	    "  -h, --help          this text\n"
	    "  --version           print the version\n"
	    "  --config-reference  print the settings table (Markdown)\n");
}

static void h_static(struct http_response *resp, const char *ctype,
    const char *data, size_t len)
{
	http_respond(resp, 200, ctype, data, len);
	http_add_header(resp, "Cache-Control", "max-age=3600");
}

static void h_roots(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	struct daemon *d = arg;

	(void)req;
	h_static(resp, "application/pem-certificate-chain", d->roots_pem,
	    d->roots_len);
}

static void h_chain(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	struct daemon *d = arg;

	(void)req;
	h_static(resp, "application/pem-certificate-chain", d->chain_pem,
	    d->chain_len);
}

static void h_ca_cert(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	struct daemon *d = arg;
	const char *name = req->path + strlen("/ca/");
	size_t n = strlen(name);
	struct err e;

	if (n > 4 && strcmp(name + n - 4, ".cer") == 0)
		for (int i = 0; i < d->nca_files; i++)
			if (strlen(d->ca_files[i].name) == n - 4 &&
			    strncmp(d->ca_files[i].name, name, n - 4) == 0) {
				h_static(resp, "application/pkix-cert",
				    (const char *)d->ca_files[i].der, d->ca_files[i].len);
				return;
			}
	err_set(&e, ERR_NOTFOUND, "no CA certificate named %.64s", name);
	http_problem(resp, &e);
}

static void h_healthz(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	(void)arg;
	(void)req;
	http_respond(resp, 200, "text/plain", "ok\n", 3);
}

static void h_readyz(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	struct daemon *d = arg;
	struct err e = { 0 };
	PGconn *c;

	(void)req;
	if ((c = db_acquire(d->db, &e)) != NULL) {
		if (db_exec(c, "SELECT 1", 0, NULL, NULL, &e) == 0)
			hsm_ping(d->hsm, &e);
		db_release(d->db, c);
	}
	if (e.kind != ERR_NONE) {
		if (e.kind != ERR_UNAVAILABLE) {
			char msg[sizeof(e.msg)];
			memcpy(msg, e.msg, sizeof(msg));
			err_set(&e, ERR_UNAVAILABLE, "%s", msg);
		}
		http_problem(resp, &e);
		return;
	}
	http_respond(resp, 200, "text/plain", "ready\n", 6);
}

static void collect(void *arg)
{
	struct daemon *d = arg;
	int busy, idle;
	char labels[160], key[128];
	struct hsm_key *keys[2] = { d->ca ? ca_issuer_key(d->ca) : NULL,
	    d->audit_key };
	struct err e;
	long counts[3];
	PGconn *c;

	db_pool_stats(d->db, &busy, &idle);
	crl_publisher_collect(d->crl);
	ocsp_service_collect(d->ocsp);
	/* One indexed count per scrape: what expires soon, for alerts. */
	if ((c = db_acquire(d->db, &e)) != NULL) {
		if (db_cert_expiring_counts(c, counts, &e) == 0) {
			metrics_set("signet_certificates_expiring", "within=\"1d\"", counts[0]);
			metrics_set("signet_certificates_expiring", "within=\"7d\"", counts[1]);
			metrics_set("signet_certificates_expiring", "within=\"30d\"", counts[2]);
		}
		db_release(d->db, c);
	}
	metrics_set("signet_db_pool_connections", "state=\"busy\"", busy);
	metrics_set("signet_db_pool_connections", "state=\"idle\"", idle);
	for (int i = 0; i < 2; i++) {
		if (keys[i] == NULL)
			continue;
		metrics_label(hsm_key_label(keys[i]), key, sizeof(key));
		snprintf(labels, sizeof(labels), "key=\"%s\"", key);
		metrics_set("signet_hsm_sign_total", labels,
		    (double)hsm_key_sign_count(keys[i]));
	}
}

static void h_metrics(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	size_t len = 0;
	char *text = metrics_render(&len);

	(void)arg;
	(void)req;
	if (text == NULL) {
		http_respond(resp, 500, "text/plain", "out of memory\n", 14);
		return;
	}
	http_respond_owned(resp, 200, "text/plain; version=0.0.4", text, len);
}

static void describe_metrics(void)
{
	metrics_describe("signet_certificates_issued_total", "counter",
	    "Certificates issued, by provisioner, profile and outcome.");
	metrics_describe("signet_hsm_sign_total", "counter",
	    "Signatures made on the HSM by this process, by key label.");
	metrics_describe("signet_hsm_sign_duration_seconds", "histogram",
	    "Time the HSM took per signature.");
	metrics_describe("signet_http_request_duration_seconds", "histogram",
	    "HTTP request duration by endpoint.");
	metrics_describe("signet_crl_age_seconds", "gauge",
	    "Seconds since thisUpdate of the newest CRL in the database, by issuer.");
	metrics_describe("signet_certificates_expiring", "gauge",
	    "Good certificates without a successor (not renewed) expiring "
	    "within 1, 7 and 30 days.");
	metrics_describe("signet_certificates_renewed_total", "counter",
	    "Renewals (POST /v1/renew), by provisioner and outcome.");
	metrics_describe("signet_expiry_notifications_total", "counter",
	    "Expiry webhook POSTs by this process, by threshold and outcome "
	    "(sent, failed).");
	metrics_describe("signet_expiry_scans_total", "counter",
	    "Passes of the expiry notifier over the certificates (every "
	    "notify_interval while notify_webhook_url is set).");
	metrics_describe("signet_ocsp_responses_total", "counter",
	    "OCSP responses by status: good, revoked, unknown, multiple (several "
	    "CertIDs), or the unsuccessful response status.");
	metrics_describe("signet_ocsp_cached_responses", "gauge",
	    "Pre-signed OCSP responses held in memory.");
	metrics_describe("signet_db_pool_connections", "gauge",
	    "PostgreSQL pool connections by state.");
}

/* Background jobs that need no election: reconciling stale intents and
 * forgetting used token ids once their tokens expired are idempotent. */
static void *jobs_main(void *arg)
{
	struct daemon *d = arg;
	struct timespec ts;
	struct err e;
	PGconn *c;
	long n;

	pthread_mutex_lock(&d->stop_lock);
	while (!d->stopping) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 60;
		pthread_cond_timedwait(&d->stop_cond, &d->stop_lock, &ts);
		if (d->stopping)
			break;
		pthread_mutex_unlock(&d->stop_lock);
		if ((c = db_acquire(d->db, &e)) != NULL) {
			if (db_cert_reconcile(c, d->cfg->reconcile_after, &n, &e) != 0)
				log_warn("msg=\"reconcile failed\" error=\"%s\"", e.msg);
			else if (n > 0)
				log_warn("msg=\"abandoned stale issuance intents\" count=%ld", n);
			if (db_exec(c, "DELETE FROM used_tokens WHERE expires_at < now()",
			    0, NULL, NULL, &e) != 0)
				log_warn("msg=\"used token cleanup failed\" error=\"%s\"",
				    e.msg);
			db_release(d->db, c);
			if (acme_nonce_purge(d->acme, NULL, &e) != 0)
				log_warn("msg=\"ACME nonce cleanup failed\" error=\"%s\"",
				    e.msg);
		} else {
			log_warn("msg=\"background jobs: database unavailable\" "
			    "error=\"%s\"", e.msg);
		}
		pthread_mutex_lock(&d->stop_lock);
	}
	pthread_mutex_unlock(&d->stop_lock);
	return NULL;
}

static int read_text(const char *setting, const char *path, char **out,
    size_t *len, int secret, struct err *e)
{
	struct stat st;

	if (secret && stat(path, &st) == 0 && (st.st_mode & 077))
		return err_set(e, ERR_CONFIG, "%s: %s is readable by group or "
		    "others (mode %03o): chmod 600 it", setting, path,
		    (unsigned)(st.st_mode & 0777));
	if (util_read_file(path, 1 << 20, out, len, e) != 0) {
		err_prefix(e, "%s: ", setting);
		e->kind = ERR_CONFIG;
		return -1;
	}
	return 0;
}

static int load_ca_files(struct daemon *d, struct err *e)
{
	const char *kinds[2] = { "root", "intermediate" };
	struct db_issuer *v = NULL;
	PGconn *c;
	int n = 0, rc = -1;

	if ((c = db_acquire(d->db, e)) == NULL)
		return -1;
	for (int k = 0; k < 2; k++) {
		if (db_issuers_load(c, kinds[k], &v, &n, e) != 0)
			goto out;
		for (int i = 0; i < n && d->nca_files < 16; i++) {
			struct ca_file *f = &d->ca_files[d->nca_files++];
			snprintf(f->name, sizeof(f->name), "%s", v[i].name);
			f->der = v[i].der;
			f->len = v[i].der_len;
			v[i].der = NULL;
		}
		db_issuers_free(v, n);
		v = NULL;
	}
	rc = 0;
out:
	db_release(d->db, c);
	return rc;
}

static int start(struct daemon *d, struct http_server **https,
    struct http_server **http, struct err *e)
{
	static struct http_route https_routes[16], http_routes[16];
	char pin[256], *cert = NULL, *key = NULL, *trust = NULL;
	struct http_server_opts o;
	PGconn *c;
	long n;
	int rc = -1;

	/* Files first: a missing one is the cheapest mistake to report. */
	if (read_text("roots_file", d->cfg->roots_file, &d->roots_pem,
	    &d->roots_len, 0, e) != 0 ||
	    read_text("chain_file", d->cfg->chain_file, &d->chain_pem,
	    &d->chain_len, 0, e) != 0 ||
	    read_text("tls_cert", d->cfg->tls_cert, &cert, NULL, 0, e) != 0 ||
	    read_text("tls_key", d->cfg->tls_key, &key, NULL, 1, e) != 0)
		goto out;
	if (config_read_pin(d->cfg, pin, sizeof(pin), e) != 0)
		goto out;
	rc = hsm_open(d->cfg->pkcs11_module, d->cfg->token, pin, &d->hsm, e);
	OPENSSL_cleanse(pin, sizeof(pin));
	if (rc != 0)
		goto out;
	rc = -1;
	if (db_open(d->cfg->db, (int)d->cfg->db_pool_size, &d->db, e) != 0) {
		err_prefix(e, "db: ");
		goto out;
	}
	if ((c = db_acquire(d->db, e)) == NULL)
		goto out;
	if (db_check_schema(c, e) != 0 ||
	    db_cert_reconcile(c, d->cfg->reconcile_after, &n, e) != 0) {
		db_release(d->db, c);
		goto out;
	}
	db_release(d->db, c);
	if (n > 0)
		log_warn("msg=\"abandoned stale issuance intents\" count=%ld", n);
	if (db_group_start(d->cfg->db, &d->group, e) != 0)
		goto out;
	if (ca_open(d->db, d->hsm, d->cfg->public_url, &d->ca, e) != 0 ||
	    (ca_set_group(d->ca, d->group), 0) ||
	    api_new(d->ca, d->db, d->cfg, &d->api, e) != 0 ||
	    load_ca_files(d, e) != 0)
		goto out;
	if (hsm_find_key(d->hsm, d->cfg->audit_key_label, &d->audit_key, e) != 0) {
		err_prefix(e, "audit_key_label: ");
		goto out;
	}

	/* Revocations over HTTPS; CRLs signed in the background and served
	 * from the database on the plain listener. */
	if (revoke_api_new(d->db, d->cfg, &d->revoke, e) != 0 ||
	    acme_api_new(d->db, d->cfg, d->ca, &d->acme, e) != 0 ||
	    acme_validator_start(d->db, d->cfg, &d->acme_validator, e) != 0 ||
	    (acme_api_set_validator(d->acme, d->acme_validator), 0) ||
	    renew_api_new(d->api, d->ca, d->db, d->cfg, &d->renew, e) != 0 ||
	    crl_publisher_start(d->db, d->hsm, d->cfg, &d->crl, e) != 0)
		goto out;
	/* OCSP on the plain listener: pre-signed responses, signers. */
	if (ocsp_service_start(d->db, d->hsm, d->cfg, &d->ocsp, e) != 0)
		goto out;

	https_routes[0] = (struct http_route){ "POST", "/v1/sign", api_sign, d->api, "sign", 0 };
	https_routes[1] = (struct http_route){ "GET", "/healthz", h_healthz, d, "healthz", 0 };
	https_routes[2] = (struct http_route){ "GET", "/readyz", h_readyz, d, "readyz", 0 };
	https_routes[3] = (struct http_route){ "GET", "/roots.pem", h_roots, d, "roots", 0 };
	https_routes[4] = (struct http_route){ "GET", "/chain.pem", h_chain, d, "chain", 0 };
	https_routes[5] = (struct http_route){ "POST", "/v1/revoke", revoke_api_handle, d->revoke, "revoke", 0 };
	https_routes[6] = (struct http_route){ "POST", "/v1/renew", renew_api_handle, d->renew, "renew", 0 };
	/* ACME (RFC 8555): one directory per provisioner; JWS bodies are
	 * refused beyond ACME_JWS_MAX_BODY before they are read. */
	https_routes[7] = (struct http_route){ "GET", "/acme/*", acme_api_handle, d->acme, "acme", 0 };
	https_routes[8] = (struct http_route){ "POST", "/acme/*", acme_api_handle, d->acme, "acme", ACME_JWS_MAX_BODY };
	/* Other methods reach the ACME server too, which answers them as
	 * ACME problems with Allow (RFC 8555 6.7, RFC 9110 15.5.6). */
	https_routes[9] = (struct http_route){ "PUT", "/acme/*", acme_api_handle, d->acme, "acme", 0 };
	https_routes[10] = (struct http_route){ "DELETE", "/acme/*", acme_api_handle, d->acme, "acme", 0 };
	https_routes[11] = (struct http_route){ "PATCH", "/acme/*", acme_api_handle, d->acme, "acme", 0 };
	https_routes[12] = (struct http_route){ NULL, NULL, NULL, NULL, NULL, 0 };
	http_routes[0] = (struct http_route){ "GET", "/roots.pem", h_roots, d, "roots", 0 };
	http_routes[1] = (struct http_route){ "GET", "/chain.pem", h_chain, d, "chain", 0 };
	http_routes[2] = (struct http_route){ "GET", "/ca/*", h_ca_cert, d, "ca", 0 };
	http_routes[3] = (struct http_route){ "GET", "/healthz", h_healthz, d, "healthz", 0 };
	http_routes[4] = (struct http_route){ "GET", "/readyz", h_readyz, d, "readyz", 0 };
	http_routes[5] = (struct http_route){ "GET", "/metrics", h_metrics, d, "metrics", 0 };
	http_routes[6] = (struct http_route){ "GET", "/crl/*", crl_publisher_serve, d->crl, "crl", 0 };
	/* OCSP requests are small: refuse more than OCSP_REQUEST_MAX before
	 * reading it (413). */
	http_routes[7] = (struct http_route){ "POST", "/ocsp", ocsp_service_post, d->ocsp, "ocsp", OCSP_REQUEST_MAX };
	http_routes[8] = (struct http_route){ "GET", "/ocsp/*", ocsp_service_get, d->ocsp, "ocsp", 0 };
	http_routes[9] = (struct http_route){ NULL, NULL, NULL, NULL, NULL, 0 };

	memset(&o, 0, sizeof(o));
	o.threads = (unsigned)d->cfg->threads;
	o.max_body = (size_t)d->cfg->max_body;
	o.timeout = (unsigned)d->cfg->request_timeout;
	o.listen = d->cfg->https_listen;
	o.tls_cert_pem = cert;
	o.tls_key_pem = key;
	/* Ask for client certificates (renewal over mTLS); the CA names
	 * offered are ours, so clients pick the certificate we issued. */
	if ((trust = malloc(d->roots_len + d->chain_len + 2)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	snprintf(trust, d->roots_len + d->chain_len + 2, "%.*s\n%.*s",
	    (int)d->roots_len, d->roots_pem, (int)d->chain_len, d->chain_pem);
	o.tls_client_ca_pem = trust;
	o.routes = https_routes;
	o.name = "https";
	if (http_server_start(&o, https, e) != 0 ||
	    listener_cert_start(d->ca, d->db, d->cfg, *https, &d->listener,
	    e) != 0)
		goto out;
	o.listen = d->cfg->http_listen;
	o.tls_cert_pem = o.tls_key_pem = o.tls_client_ca_pem = NULL;
	o.routes = http_routes;
	/* Small requests (OCSP, CRL and certificate fetches): a smaller
	 * pool per connection is less to clear between requests.  16 KiB
	 * holds request lines of several KiB; RFC 5019 GETs are under 255
	 * bytes, and larger OCSP requests come by POST. */
	o.conn_memory = 16384;
	/* OCSP answers come from memory: threads beyond the CPUs only add
	 * context switches and tail latency. */
	o.threads = (unsigned)d->cfg->http_threads;
	if (o.threads == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		/* One event loop per CPU: more threads than CPUs time-slice
		 * each other's connections and lengthen the latency tail
		 * (scripts/bench, BENCH_HTTP_THREADS: p99 under 5 ms with 2
		 * threads on 2 CPUs, up to 6.5 ms with 4, for the same
		 * throughput within the noise).  At least two, so that one
		 * blocked on a database lookup (a cache miss) leaves another. */
		o.threads = cpus > 2 && cpus < 64 ? (unsigned)cpus : cpus >= 64 ?
		    64 : 2;
	}
	o.name = "http";
	if (http_server_start(&o, http, e) != 0)
		goto out;
	if (audit_sealer_start(d->db, d->audit_key, d->cfg->audit_seal_interval,
	    d->cfg->audit_checkpoint_interval, &d->sealer, e) != 0)
		goto out;
	/* Expiry webhook (only when notify_webhook_url is set). */
	if (expiry_notifier_start(d->db, d->cfg, &d->notifier, e) != 0)
		goto out;
	if (pthread_create(&d->jobs, NULL, jobs_main, d) != 0) {
		err_set(e, ERR_INTERNAL, "cannot start background jobs");
		goto out;
	}
	d->jobs_started = 1;
	metrics_set_collector(collect, d);
	rc = 0;
out:
	free(cert);
	free(trust);
	if (key != NULL) {
		OPENSSL_cleanse(key, strlen(key));
		free(key);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "config-reference", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d;
	struct http_server *https = NULL, *http = NULL;
	const char *path = getenv("SIGNET_CONFIG");
	struct err e = { 0 };
	sigset_t set;
	int ch, sig = 0, rc = 3;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("signetd %s\n", PACKAGE_VERSION);
			return 0;
		case 'R':
			/* docs/configuration.md's table comes from here. */
			config_write_reference(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "signetd: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (path == NULL || *path == '\0') {
		fprintf(stderr, "signetd: no config: pass -c FILE or set SIGNET_CONFIG\n");
		return 2;
	}
	memset(&d, 0, sizeof(d));
	pthread_mutex_init(&d.stop_lock, NULL);
	pthread_cond_init(&d.stop_cond, NULL);
	/* Every thread started from here on inherits the blocked signals;
	 * main collects them with sigwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (config_load(path, &d.cfg, &e) != 0) {
		fprintf(stderr, "signetd: %s\n", e.msg);
		return 2;
	}
	log_set_level(strcmp(d.cfg->log_level, "debug") == 0 ? LOG_DEBUG :
	    strcmp(d.cfg->log_level, "warn") == 0 ? LOG_WARN :
	    strcmp(d.cfg->log_level, "error") == 0 ? LOG_ERROR : LOG_INFO);
	describe_metrics();
	if (start(&d, &https, &http, &e) != 0) {
		fprintf(stderr, "signetd: %s\n", e.msg);
		rc = err_exit_code(e.kind);
		goto out;
	}
	log_info("msg=\"signetd started\" https=%s http=%s issuer=%s pid=%ld",
	    d.cfg->https_listen, d.cfg->http_listen, ca_issuer_name(d.ca),
	    (long)getpid());
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("msg=\"SIGHUP ignored: configuration changes need a restart\"");
			continue;
		}
		break;
	}
	log_info("msg=\"shutting down\" signal=%d", sig);
	rc = 0;
out:
	listener_cert_stop(d.listener);
	http_server_stop(https);
	http_server_stop(http);
	pthread_mutex_lock(&d.stop_lock);
	d.stopping = 1;
	pthread_cond_broadcast(&d.stop_cond);
	pthread_mutex_unlock(&d.stop_lock);
	if (d.jobs_started)
		pthread_join(d.jobs, NULL);
	audit_sealer_stop(d.sealer);
	crl_publisher_stop(d.crl);
	expiry_notifier_stop(d.notifier);
	ocsp_service_stop(d.ocsp);
	revoke_api_free(d.revoke);
	acme_validator_stop(d.acme_validator);
	acme_api_free(d.acme);
	renew_api_free(d.renew);
	metrics_set_collector(NULL, NULL);
	api_free(d.api);
	ca_free(d.ca);
	db_group_stop(d.group);
	for (int i = 0; i < d.nca_files; i++)
		free(d.ca_files[i].der);
	free(d.roots_pem);
	free(d.chain_pem);
	db_free(d.db);
	hsm_free(d.hsm);
	config_free(d.cfg);
	if (rc == 0)
		log_info("msg=\"signetd stopped\"");
	return rc;
}
