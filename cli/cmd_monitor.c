/*
 * signet monitor: connect to TLS endpoints, read the chains they serve,
 * and say what is wrong: expired or expiring, revoked (for signet's own
 * certificates), not verifying against the roots, unreachable.  A bounded
 * pool of threads probes the targets, each within its own deadline; the
 * database (when there is one) is asked afterwards, from this thread, on
 * the one connection cli_db() holds.  docs/monitor.md is the manual.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "ca/x509util.h"
#include "cli/cli.h"
#include "cli/monitor_probe.h"
#include "cli/monitor_report.h"
#include "cli/monitor_revocation.h"
#include "cli/monitor_target.h"
#include "common/util.h"

#define CONCURRENCY_MAX 256
#define TIMEOUT_MAX 300
#define WITHIN_MAX (3650LL * 86400)

static const char usage_text[] =
    "usage: signet monitor [--roots FILE] [--issuers FILE] [--within D]\n"
    "           [--json | --prometheus] [--timeout D] [--concurrency N]\n"
    "           [--sni NAME] [--no-db] (TARGET... | --targets-file F)\n"
    "  TARGET = [tls://|smtp://|postgres://]HOST:PORT[,SNI]  (HOST: name, IPv4, [IPv6])\n"
    "  --roots FILE      trust anchors (default: the config's roots_file, else the\n"
    "                    system store)\n"
    "  --issuers FILE    the CA's issuing certificates when there is no database\n"
    "                    (default: the config's chain_file)\n"
    "  --within D        expiring threshold (default 7d)\n"
    "  --timeout D       per target: lookup, connect, handshake, OCSP (default 5s)\n"
    "  --concurrency N   targets probed at once, 1..256 (default 16)\n"
    "  --sni NAME        SNI for targets that name none\n"
    "  --no-db           ask OCSP rather than the database for revocation\n"
    "exit: 0 all fine, 1 something expired, expiring, revoked, unverified or\n"
    "unreachable, 2 usage or config error, 3 failure\n";

struct pool {
	pthread_mutex_t mu;
	size_t next, n;
	const struct monitor_targets *targets;
	struct monitor_result *results;
	SSL_CTX *ssl;
	X509_STORE *roots;
	const struct monitor_issuers *issuers;
	int ocsp;                  /* ask OCSP (no database) */
	long long timeout_ms;
};

/* Peers write what they like into error messages (an SMTP greeting):
 * keep them to printable ASCII so every output format can carry them. */
static void copy_msg(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < len && src[i] != '\0'; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || (unsigned char)src[i] >= 0x7f ?
		    '?' : src[i];
	if (len > 0)
		dst[i] = '\0';
}

static time_t not_before(const X509 *x)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* Verify the served chain against the roots, for a TLS server, under the
 * name a client would check: the SNI, else the address. */
static void verify_chain(struct monitor_result *r, X509_STORE *roots,
    STACK_OF(X509) *chain)
{
	const struct monitor_target *t = r->target;
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *vp;
	int err, ok = 0;

	if (vc == NULL || X509_STORE_CTX_init(vc, roots, r->leaf, chain) != 1) {
		snprintf(r->verify_error, sizeof(r->verify_error), "cannot verify: "
		    "out of memory");
		goto out;
	}
	vp = X509_STORE_CTX_get0_param(vc);
	X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_SERVER);
	if ((t->sni[0] != '\0' ? X509_VERIFY_PARAM_set1_host(vp, t->sni, 0) :
	    X509_VERIFY_PARAM_set1_ip_asc(vp, t->host)) != 1) {
		snprintf(r->verify_error, sizeof(r->verify_error), "cannot verify: "
		    "bad name");
		goto out;
	}
	if (X509_verify_cert(vc) == 1) {
		ok = 1;
		goto out;
	}
	err = X509_STORE_CTX_get_error(vc);
	if (err == X509_V_ERR_HOSTNAME_MISMATCH || err == X509_V_ERR_IP_ADDRESS_MISMATCH)
		snprintf(r->verify_error, sizeof(r->verify_error), "%s: the "
		    "certificate does not name %s", X509_verify_cert_error_string(err),
		    t->sni[0] ? t->sni : t->host);
	else
		snprintf(r->verify_error, sizeof(r->verify_error), "%s (depth %d)",
		    X509_verify_cert_error_string(err), X509_STORE_CTX_get_error_depth(vc));
out:
	r->verified = ok;
	X509_STORE_CTX_free(vc);
	ERR_clear_error();
}

/* Everything about one target that can be done without the database. */
static void probe_one(struct pool *p, struct monitor_result *r)
{
	long long start = monitor_now_ms(), deadline = start + p->timeout_ms;
	STACK_OF(X509) *chain = NULL;
	struct err e = { 0 };
	char note[sizeof(r->handshake_error)];

	r->rev.state = MONITOR_REV_NOT_CHECKED;
	r->rev.reason = -1;
	r->issuer_idx = -1;
	if (monitor_probe(p->ssl, r->target, deadline, &chain, r->tls_version,
	    sizeof(r->tls_version), note, sizeof(note), &e) != 0) {
		r->state = e.kind == ERR_INTERNAL ? MONITOR_ERROR : MONITOR_UNREACHABLE;
		if (monitor_now_ms() >= deadline)
			err_prefix(&e, "(--timeout %llds) ", p->timeout_ms / 1000);
		copy_msg(r->error, sizeof(r->error), e.msg);
		goto out;
	}
	r->up = 1;
	copy_msg(r->handshake_error, sizeof(r->handshake_error), note);
	r->chain_len = sk_X509_num(chain);
	r->leaf = sk_X509_value(chain, 0);
	X509_up_ref(r->leaf);
	r->subject = x509_name_oneline(X509_get_subject_name(r->leaf));
	r->issuer = x509_name_oneline(X509_get_issuer_name(r->leaf));
	if (x509_serial_hex(r->leaf, r->serial, &e) != 0 || r->subject == NULL ||
	    r->issuer == NULL) {
		r->state = MONITOR_ERROR;
		copy_msg(r->error, sizeof(r->error), e.msg[0] ? e.msg : "out of memory");
		goto out;
	}
	r->not_before = not_before(r->leaf);
	r->not_after = x509_not_after(r->leaf);
	verify_chain(r, p->roots, chain);
	r->issuer_idx = monitor_issuers_match(p->issuers, r->leaf);
	r->signet = r->issuer_idx >= 0;
	if (r->signet && p->ocsp) {
		if (monitor_revocation_ocsp(p->issuers, r->issuer_idx, r->leaf,
		    p->roots, deadline, &r->rev, &e) != 0) {
			r->rev.state = MONITOR_REV_ERROR;
			r->rev.source = "ocsp";
			if (monitor_now_ms() >= deadline)
				err_prefix(&e, "(--timeout %llds) ", p->timeout_ms / 1000);
			copy_msg(r->rev_error, sizeof(r->rev_error), e.msg);
		}
	}
out:
	r->duration = (double)(monitor_now_ms() - start) / 1000.0;
	sk_X509_pop_free(chain, X509_free);
	ERR_clear_error();
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		if (i >= p->n)
			return NULL;
		probe_one(p, &p->results[i]);
	}
}

/* The verdict, the most serious finding first (monitor_report.h). */
static void judge(struct monitor_result *r, long long within, time_t now)
{
	if (!r->up || r->state == MONITOR_ERROR)
		return;
	r->seconds_left = (long long)(r->not_after - now);
	if (r->rev.state == MONITOR_REV_REVOKED)
		r->state = MONITOR_REVOKED;
	else if (r->seconds_left < 0)
		r->state = MONITOR_EXPIRED;
	else if (!r->verified)
		r->state = MONITOR_UNVERIFIED;
	else if (r->signet && (r->rev.state == MONITOR_REV_UNKNOWN ||
	    r->rev.state == MONITOR_REV_ERROR))
		r->state = MONITOR_REVOCATION_UNKNOWN;
	else if (r->seconds_left <= within)
		r->state = MONITOR_EXPIRING;
	else
		r->state = MONITOR_OK;
}

static int run_pool(struct pool *p, int concurrency, struct err *e)
{
	pthread_t th[CONCURRENCY_MAX];
	int started = 0;

	for (int i = 0; i < concurrency && (size_t)i < p->n; i++) {
		if (pthread_create(&th[i], NULL, worker, p) != 0)
			break;
		started++;
	}
	/* Fewer threads than asked still finish the work, only slower. */
	if (started == 0)
		return err_set(e, ERR_INTERNAL, "cannot start a probe thread: %s",
		    strerror(errno));
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	return 0;
}

static int load_roots(const char *path, X509_STORE **out, struct err *e)
{
	X509_STORE *s = X509_STORE_new();

	if (s == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	if (path != NULL ? X509_STORE_load_file(s, path) != 1 :
	    X509_STORE_set_default_paths(s) != 1) {
		X509_STORE_free(s);
		return err_ossl(e, ERR_CONFIG, "roots %s: cannot load",
		    path ? path : "(system store)");
	}
	*out = s;
	return 0;
}

int cmd_monitor(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_ROOTS = 256, O_ISSUERS, O_WITHIN, O_JSON, O_PROM, O_TIMEOUT,
	    O_CONC, O_SNI, O_FILE, O_NODB, O_HELP };
	static const struct option opts[] = {
		{ "roots", required_argument, NULL, O_ROOTS },
		{ "issuers", required_argument, NULL, O_ISSUERS },
		{ "within", required_argument, NULL, O_WITHIN },
		{ "json", no_argument, NULL, O_JSON },
		{ "prometheus", no_argument, NULL, O_PROM },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "concurrency", required_argument, NULL, O_CONC },
		{ "sni", required_argument, NULL, O_SNI },
		{ "targets-file", required_argument, NULL, O_FILE },
		{ "no-db", no_argument, NULL, O_NODB },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	const char *roots_file = NULL, *issuers_file = NULL, *sni = NULL;
	const char *files[16];
	long long within = 7 * 86400, timeout = 5, conc = 16;
	int nfiles = 0, json = 0, prom = 0, no_db = 0, ch, rc = 3, wrote;
	struct monitor_targets *targets = NULL;
	struct monitor_issuers *issuers = NULL;
	struct monitor_result *results = NULL;
	struct config *cfg = NULL;
	struct err e = { 0 };
	struct pool p;
	PGconn *c = NULL;
	size_t n = 0;
	char *end;
	time_t now;

	memset(&p, 0, sizeof(p));
	opterr = 0; /* one line of ours, not getopt's and ours */
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (ch) {
		case O_ROOTS: roots_file = optarg; break;
		case O_ISSUERS: issuers_file = optarg; break;
		case O_JSON: json = 1; break;
		case O_PROM: prom = 1; break;
		case O_NODB: no_db = 1; break;
		case O_SNI:
			if (monitor_target_check_name("--sni", optarg, &e) != 0)
				return cli_usage("monitor", "%s", e.msg);
			sni = optarg;
			break;
		case O_FILE:
			if (nfiles == (int)(sizeof(files) / sizeof(files[0])))
				return cli_usage("monitor", "at most 16 --targets-file");
			files[nfiles++] = optarg;
			break;
		case O_WITHIN:
			if (util_parse_duration(optarg, WITHIN_MAX, &within, &e) != 0)
				return cli_usage("monitor", "--within: %s", e.msg);
			break;
		case O_TIMEOUT:
			if (util_parse_duration(optarg, TIMEOUT_MAX, &timeout, &e) != 0 ||
			    timeout < 1)
				return cli_usage("monitor", "--timeout must be 1s..%ds",
				    TIMEOUT_MAX);
			break;
		case O_CONC:
			errno = 0;
			conc = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg || conc < 1 ||
			    conc > CONCURRENCY_MAX)
				return cli_usage("monitor", "--concurrency must be 1..%d",
				    CONCURRENCY_MAX);
			break;
		case O_HELP:
			fputs(usage_text, stdout);
			return 0;
		case ':':
			return cli_usage("monitor", "%s needs a value", argv[optind - 1]);
		default:
			if (optopt != 0)
				return cli_usage("monitor", "unknown option \"-%c\" (signet "
				    "monitor --help)", optopt);
			return cli_usage("monitor", "unknown option \"%s\" (signet monitor "
			    "--help)", argv[optind - 1]);
		}
	}
	if (json && prom)
		return cli_usage("monitor", "--json and --prometheus exclude each other");
	if (optind == argc && nfiles == 0)
		return cli_usage("monitor", "no targets: give HOST:PORT... or "
		    "--targets-file F");
	if ((targets = monitor_targets_new()) == NULL) {
		err_set(&e, ERR_INTERNAL, "out of memory");
		goto fail;
	}
	for (int i = optind; i < argc; i++)
		if (monitor_targets_add(targets, argv[i], sni, &e) != 0) {
			rc = e.kind == ERR_CONFIG ? cli_usage("monitor", "%s", e.msg) :
			    cli_report(&e);
			goto out;
		}
	for (int i = 0; i < nfiles; i++)
		if (monitor_targets_add_file(targets, files[i], sni, &e) != 0) {
			rc = e.kind == ERR_CONFIG ? cli_usage("monitor", "%s", e.msg) :
			    cli_report(&e);
			goto out;
		}
	n = monitor_targets_count(targets);
	if (n == 0) {
		rc = cli_usage("monitor", "no targets in the --targets-file");
		goto out;
	}

	/* A config is optional: without one, the system store and no
	 * revocation checks (unless --issuers names the CA). */
	if (ctx->config_path != NULL || (getenv("SIGNET_CONFIG") != NULL &&
	    *getenv("SIGNET_CONFIG") != '\0')) {
		if (cli_config(ctx, &cfg, &e) != 0)
			goto fail;
	}
	if (roots_file == NULL && cfg != NULL)
		roots_file = cfg->roots_file;
	if (load_roots(roots_file, &p.roots, &e) != 0)
		goto fail;
	if (cfg != NULL && !no_db) {
		if (cli_db(ctx, &c, &e) != 0 || monitor_issuers_from_db(c, &issuers, &e) != 0) {
			/* Revocation can still be asked where relying parties
			 * ask it; say once why the database is not used. */
			fprintf(stderr, "signet monitor: the database is not usable (%s); "
			    "asking OCSP instead\n", e.msg);
			c = NULL;
			memset(&e, 0, sizeof(e));
		}
	}
	if (c == NULL) {
		if (issuers_file == NULL && cfg != NULL)
			issuers_file = cfg->chain_file;
		if (issuers_file != NULL &&
		    monitor_issuers_from_file(issuers_file, &issuers, &e) != 0) {
			err_prefix(&e, "issuers: ");
			goto fail;
		}
		p.ocsp = 1;
	}

	if ((results = calloc(n, sizeof(*results))) == NULL) {
		err_set(&e, ERR_INTERNAL, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		results[i].target = monitor_targets_get(targets, i);
	if ((p.ssl = monitor_probe_ctx_new(&e)) == NULL)
		goto fail;
	/* A peer that closes while we write must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		err_set(&e, ERR_INTERNAL, "libcurl initialisation failed");
		goto fail;
	}
	pthread_mutex_init(&p.mu, NULL);
	p.n = n;
	p.targets = targets;
	p.results = results;
	p.issuers = issuers;
	p.timeout_ms = timeout * 1000;
	rc = run_pool(&p, (int)conc, &e);
	pthread_mutex_destroy(&p.mu);
	curl_global_cleanup();
	if (rc != 0)
		goto fail;

	/* The database pass: one connection, one query per signet leaf. */
	for (size_t i = 0; c != NULL && i < n; i++) {
		struct monitor_result *r = &results[i];
		if (!r->up || !r->signet)
			continue;
		if (monitor_revocation_db(c, issuers, r->issuer_idx, r->leaf, &r->rev,
		    &e) != 0) {
			r->rev.state = MONITOR_REV_ERROR;
			r->rev.source = "database";
			copy_msg(r->rev_error, sizeof(r->rev_error), e.msg);
		}
	}
	now = time(NULL);
	rc = 0;
	for (size_t i = 0; i < n; i++) {
		judge(&results[i], within, now);
		if (results[i].state != MONITOR_OK)
			rc = 1;
	}
	wrote = json ? monitor_report_json(stdout, results, n) :
	    prom ? monitor_report_prometheus(stdout, results, n, within) :
	    monitor_report_table(stdout, results, n);
	if (wrote != 0 || fflush(stdout) != 0) {
		err_set(&e, ERR_INTERNAL, "writing the report failed");
		goto fail;
	}
	goto out;
fail:
	rc = cli_report(&e);
out:
	for (size_t i = 0; results != NULL && i < n; i++)
		monitor_result_clear(&results[i]);
	free(results);
	SSL_CTX_free(p.ssl);
	X509_STORE_free(p.roots);
	monitor_issuers_free(issuers);
	monitor_targets_free(targets);
	return rc;
}
