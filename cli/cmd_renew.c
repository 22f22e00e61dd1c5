/*
 * signet renew: the client side of POST /v1/renew.  Keeps a certificate
 * and key (files) renewed: at about two thirds of the certificate's
 * lifetime it asks the CA for a successor, proving it holds the current
 * one by presenting it as the TLS client certificate (or, with --pop, by a
 * proof of possession signed with its key), with a new key by default;
 * it replaces the files atomically (cli/renew_files.h) and runs a hook.
 * Without --daemon it checks once (for cron and timers); with --daemon
 * it sleeps until the next renewal, retries with backoff while the CA is
 * unreachable, and stops promptly on SIGTERM/SIGINT.  docs/renewal.md.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ca/csr.h"
#include "ca/pop.h"
#include "ca/x509util.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/renew_files.h"
#include "common/log.h"
#include "common/util.h"

#define DEFAULT_FRACTION (2.0 / 3.0)
#define JITTER 0.05             /* +- this share of the lifetime */
#define BACKOFF_FIRST 1.0       /* seconds */
#define BACKOFF_CAP 300.0
#define POLICY_RETRY 1800.0     /* a 403 may be fixed by an administrator */
#define NAP_MAX 300.0           /* re-read the files at least this often */
#define HOOK_TIMEOUT 120        /* seconds, then the hook is killed */
#define POP_TTL 120
#define URL_MAX 512

extern char **environ;

struct renew_opts {
	struct renew_paths paths;
	const char *ca_url;
	const char *root;
	const char *exec;
	double fraction;
	int daemon, force, keep_key, pop;
	char url[URL_MAX + 16];        /* ca_url/v1/renew: also the PoP aud */
};

/* What one check came to. */
enum outcome {
	RENEWED,
	NOT_DUE,
	EXPIRED,     /* exit 1: it can never renew */
	REFUSED,     /* 401: revoked, expired, unknown: exit 1 */
	FORBIDDEN,   /* 403: today's policy says no; an administrator may fix it */
	RETRY,       /* the CA unreachable, 5xx, 429, or the files busy */
	FAILED,      /* anything else: exit by the error's kind */
};

/* SIGTERM and SIGINT stay blocked while renew runs and are taken with
 * sigtimedwait (in naps) or seen with sigpending (inside a request): no
 * handler, and no window in which one is missed before a sleep. */
static sigset_t stop_set;
static int stopping;

static int stop_requested(void)
{
	struct timespec zero = { 0, 0 };
	sigset_t p;

	/* Taken, not just seen: a signal left pending would kill the
	 * process when the mask is restored on the way out. */
	if (!stopping && sigpending(&p) == 0 &&
	    (sigismember(&p, SIGTERM) == 1 || sigismember(&p, SIGINT) == 1) &&
	    sigtimedwait(&stop_set, NULL, &zero) > 0)
		stopping = 1;
	return stopping;
}

/* Sleep secs, or less when a stop signal comes: 1 then. */
static int nap(double secs)
{
	struct timespec ts;
	int sig;

	if (stop_requested())
		return 1;
	if (secs < 0.01)
		secs = 0.01;
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	sig = sigtimedwait(&stop_set, NULL, &ts);
	if (sig == SIGTERM || sig == SIGINT)
		stopping = 1;
	return stopping;
}

/* Uniform in [0, 1). */
static double rand01(void)
{
	uint64_t v = 0;

	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		v = (uint64_t)random() << 32 ^ (uint64_t)random();
	return (double)(v >> 11) / 9007199254740992.0;   /* 2^53 */
}

/* When a certificate is due: notBefore + fraction of its lifetime, moved
 * by up to +-JITTER of the lifetime.  The jitter comes from the
 * certificate itself (SHA-256 of its DER), so the same certificate always
 * gets the same time, from one timer run to the next, and a fleet's
 * renewals still spread out.  Never later than 2% of the lifetime before
 * notAfter. */
static time_t due_time(const struct renew_pair *p, double fraction)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	uint64_t h = 0;
	double life = difftime(p->not_after, p->not_before), j, t;

	SHA256(p->der, p->der_len, md);
	for (int i = 0; i < 8; i++)
		h = h << 8 | md[i];
	j = (double)(h >> 11) / 9007199254740992.0 * 2.0 - 1.0;
	t = life * (fraction + j * JITTER);
	if (t > life * 0.98)
		t = life * 0.98;
	if (t < 0)
		t = 0;
	return p->not_before + (time_t)t;
}

static void rfc3339(time_t t, char out[32])
{
	util_rfc3339(t, out, 32);
}

/* The hook: /bin/sh -c CMD with SIGNET_CERT, SIGNET_KEY, SIGNET_CHAIN,
 * SIGNET_SERIAL and SIGNET_NOT_AFTER added to our environment, in its own
 * process group, at most HOOK_TIMEOUT seconds.  Its failure is logged,
 * never fatal: the files are already replaced. */
static void run_hook(const struct renew_opts *o, const char *serial,
    const char *not_after)
{
	static const char *const names[] = { "SIGNET_CERT=", "SIGNET_KEY=",
	    "SIGNET_CHAIN=", "SIGNET_SERIAL=", "SIGNET_NOT_AFTER=" };
	const char *vals[5] = { o->paths.cert, o->paths.key,
	    o->paths.chain ? o->paths.chain : "", serial, not_after };
	char **envp = NULL, *argv[] = { "sh", "-c", (char *)o->exec, NULL };
	size_t n = 0, k = 0, own = 0, i, j;
	time_t deadline;
	int st = 0, killed = 0, signalled = 0;
	pid_t pid, r;

	while (environ[n] != NULL)
		n++;
	/* Built before fork: the child only calls async-signal-safe
	 * functions. */
	if ((envp = calloc(n + 6, sizeof(*envp))) == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		for (j = 0; j < 5; j++)
			if (strncmp(environ[i], names[j], strlen(names[j])) == 0)
				break;
		if (j == 5)
			envp[k++] = environ[i];
	}
	own = k;
	for (j = 0; j < 5; j++) {
		size_t len = strlen(names[j]) + strlen(vals[j]) + 1;

		if ((envp[k] = malloc(len)) == NULL)
			goto nomem;
		snprintf(envp[k++], len, "%s%s", names[j], vals[j]);
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		log_warn("msg=\"hook not run\" error=\"fork: %s\"", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		sigset_t none;

		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve("/bin/sh", argv, envp);
		_exit(127);
	}
	setpgid(pid, pid);   /* both sides: whichever runs first */
	deadline = time(NULL) + HOOK_TIMEOUT;
	while ((r = waitpid(pid, &st, WNOHANG)) == 0 ||
	    (r < 0 && errno == EINTR)) {
		if (!killed && time(NULL) >= deadline) {
			kill(-pid, SIGKILL);
			killed = 1;
		} else if (!signalled && stop_requested()) {
			/* Stopping: the hook gets the signal too, and a moment
			 * to finish what it was doing. */
			kill(-pid, SIGTERM);
			signalled = 1;
			deadline = time(NULL) + 5;
		}
		if (!stopping)
			nap(0.05);
		else {
			struct timespec ts = { 0, 50000000 };

			nanosleep(&ts, NULL);
		}
	}
	if (r < 0)
		log_warn("msg=\"hook lost\" error=\"waitpid: %s\"", strerror(errno));
	else if (killed)
		log_warn("msg=\"hook killed\" after=%ds command=\"%.200s\"",
		    HOOK_TIMEOUT, o->exec);
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		log_info("msg=\"hook ran\" status=0");
	else if (WIFEXITED(st))
		log_warn("msg=\"hook failed\" status=%d command=\"%.200s\"",
		    WEXITSTATUS(st), o->exec);
	else
		log_warn("msg=\"hook failed\" signal=%d command=\"%.200s\"",
		    WTERMSIG(st), o->exec);
	goto out;
nomem:
	log_warn("msg=\"hook not run\" error=\"out of memory\"");
out:
	if (envp != NULL)
		for (i = own; i < k; i++)
			free(envp[i]);
	free(envp);
}

/* The new certificate must parse and certify the key it will sit
 * beside; then it may replace the files. */
static int check_answer(json_t *ans, EVP_PKEY *key, const char *old_serial,
    X509 **out, char **pem, struct err *e)
{
	const char *s = json_string_value(json_object_get(ans, "certificate"));
	char serial[SERIAL_HEX_MAX];
	BIO *b = NULL;
	X509 *x = NULL;
	int rc = -1;

	if (s == NULL) {
		err_set(e, ERR_INTERNAL, "the CA's answer has no certificate");
		goto out;
	}
	if ((b = BIO_new_mem_buf(s, -1)) == NULL ||
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		err_ossl(e, ERR_INTERNAL, "the CA's certificate does not parse");
		goto out;
	}
	if (X509_check_private_key(x, key) != 1) {
		err_ossl(e, ERR_INTERNAL, "the CA's certificate does not certify "
		    "the key it was asked for: nothing replaced");
		goto out;
	}
	if (x509_serial_hex(x, serial, e) != 0)
		goto out;
	if (strcmp(serial, old_serial) == 0) {
		err_set(e, ERR_INTERNAL, "the CA answered with the certificate "
		    "being renewed");
		goto out;
	}
	if (x509_to_pem(x, pem, e) != 0)
		goto out;
	*out = x;
	x = NULL;
	rc = 0;
out:
	X509_free(x);
	BIO_free(b);
	return rc;
}

/* What a check found, whenever the pair loaded. */
struct check {
	char serial[SERIAL_HEX_MAX];
	time_t not_after, due;
};

/* One check: load (and recover) the pair under the directory lock; when
 * it is due (or force), renew and replace the files, then run the hook. */
static enum outcome renew_once(const struct renew_opts *o, int force,
    struct check *c, struct err *e)
{
	struct renew_pair *p = NULL;
	struct csr *cur = NULL;
	struct client_req req;
	EVP_PKEY *nkey = NULL;
	json_t *body = NULL, *ans = NULL;
	X509 *nx = NULL;
	char note[PATH_MAX + 256], *csr = NULL, *tok = NULL, *npem = NULL;
	char *chain = NULL, nserial[SERIAL_HEX_MAX], t1[32];
	enum outcome res = FAILED;
	time_t now;
	long status = 0;
	int lock = -1;

	if (renew_files_lock(o->paths.cert, stop_requested, &lock, e) != 0) {
		res = e->kind == ERR_UNAVAILABLE ? RETRY : FAILED;
		goto out;
	}
	if (renew_pair_load(&o->paths, &p, note, sizeof(note), e) != 0)
		goto out;
	if (note[0])
		log_warn("msg=\"recovered\" detail=\"%s\"", note);
	if (o->pop && EVP_PKEY_get_base_id(p->key) == EVP_PKEY_ED25519) {
		err_set(e, ERR_CONFIG, "--pop: %s is an Ed25519 key, which cannot "
		    "sign a proof of possession the CA can check (cjose has no "
		    "EdDSA); renew over mTLS: leave out --pop", o->paths.key);
		goto out;
	}
	now = time(NULL);
	memcpy(c->serial, p->serial, sizeof(c->serial));
	c->not_after = p->not_after;
	c->due = due_time(p, o->fraction);
	rfc3339(p->not_after, t1);
	if (now >= p->not_after) {
		err_set(e, ERR_AUTH, "certificate %s in %s expired at %s: it cannot "
		    "renew; enroll again with a token", p->serial, o->paths.cert,
		    t1);
		res = EXPIRED;
		goto out;
	}
	if (!force && now < c->due) {
		res = NOT_DUE;
		goto out;
	}
	log_info("msg=\"renewing\" cert=%s serial=%s not_after=%s%s%s",
	    o->paths.cert, p->serial, t1, now < c->due ? " forced=yes" : "",
	    o->pop ? " via=pop" : " via=mtls");

	if ((body = json_object()) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (!o->keep_key) {
		/* The CSR carries the new key and asks for exactly what the
		 * certificate has: the CA keeps names and subject anyway. */
		if ((nkey = client_key_like(p->key, e)) == NULL ||
		    csr_from_cert(p->cert, &cur, e) != 0 ||
		    (csr = client_make_csr(nkey, cur->cn, &cur->sans, e)) == NULL ||
		    json_object_set_new(body, "csr", json_string(csr)) != 0) {
			err_prefix(e, "new key: ");
			goto out;
		}
	}
	memset(&req, 0, sizeof(req));
	req.root = o->root;
	req.cancel = stop_requested;
	if (o->pop) {
		if (pop_sign(p->key, p->der, p->der_len, o->url, POP_TTL, time(NULL),
		    &tok, e) != 0 ||
		    json_object_set_new(body, "token", json_string(tok)) != 0)
			goto out;
	} else {
		req.cert_pem = p->cert_pem;
		req.key_pem = p->key_pem;
	}
	if (client_post_json(o->url, &req, body, &ans, &status, e) != 0) {
		if (status == 401)
			res = REFUSED;
		else if (status == 403)
			res = FORBIDDEN;
		else if (status == 0 || status == 429 || status >= 500)
			res = RETRY;
		goto out;
	}
	if (check_answer(ans, nkey ? nkey : p->key, p->serial, &nx, &npem, e) != 0)
		goto out;
	if (o->paths.chain != NULL && (chain = client_chain_pem(ans, e)) == NULL)
		goto out;
	if (renew_files_replace(&o->paths, nkey, npem, chain, e) != 0)
		goto out;
	renew_files_unlock(lock);
	lock = -1;
	if (x509_serial_hex(nx, nserial, e) != 0)
		goto out;
	rfc3339(x509_not_after(nx), t1);
	log_info("msg=\"renewed\" cert=%s serial=%s predecessor=%s not_after=%s "
	    "key=%s", o->paths.cert, nserial, p->serial, t1,
	    nkey ? "new" : "kept");
	res = RENEWED;
	if (o->exec != NULL)
		run_hook(o, nserial, t1);
out:
	renew_files_unlock(lock);
	json_decref(ans);
	json_decref(body);
	X509_free(nx);
	free(npem);
	free(chain);
	free(tok);
	free(csr);
	csr_free(cur);
	EVP_PKEY_free(nkey);
	renew_pair_free(p);
	return res;
}

/* The next retry delay: exponential from BACKOFF_FIRST, capped at
 * BACKOFF_CAP, each drawn from its upper half (so that many clients
 * cut off together do not come back together), and never more than half
 * the time the certificate has left. */
static double backoff(int *n, time_t left)
{
	double d = BACKOFF_FIRST;

	for (int i = 0; i < *n && d < BACKOFF_CAP; i++)
		d *= 2.0;
	if (d >= BACKOFF_CAP)
		d = BACKOFF_CAP;
	else
		(*n)++;
	d = d / 2.0 + rand01() * d / 2.0;
	if (left > 0 && d > (double)left / 2.0)
		d = (double)left / 2.0;
	return d < 1.0 ? 1.0 : d;
}

static int run(const struct renew_opts *o)
{
	struct err e = { 0 };
	struct check c;
	enum outcome r;
	time_t left, logged = 0, now;
	int force = o->force, tries = 0;
	char t1[32], t2[32];
	double d;

	for (;;) {
		if (stop_requested()) {
			log_info("msg=\"stopping\" reason=signal");
			return 0;
		}
		memset(&e, 0, sizeof(e));
		memset(&c, 0, sizeof(c));
		r = renew_once(o, force, &c, &e);
		now = time(NULL);
		left = c.not_after - now;
		if (stop_requested()) {
			log_info("msg=\"stopping\" reason=signal");
			return o->daemon || r == RENEWED || r == NOT_DUE ? 0 :
			    cli_report(&e);
		}
		switch (r) {
		case RENEWED:
			force = 0;
			tries = 0;
			if (!o->daemon)
				return 0;
			break;
		case NOT_DUE:
			tries = 0;
			/* Once per certificate, not at every wake-up. */
			if (c.due != logged) {
				rfc3339(c.not_after, t1);
				rfc3339(c.due, t2);
				log_info("msg=\"not due\" cert=%s serial=%s not_after=%s "
				    "renew_at=%s in=%.0fs", o->paths.cert, c.serial, t1,
				    t2, difftime(c.due, now));
				logged = c.due;
			}
			if (!o->daemon)
				return 0;
			d = difftime(c.due, now);
			nap(d > NAP_MAX ? NAP_MAX : d);
			break;
		case EXPIRED:
		case REFUSED:
			/* Renewal can never work for this certificate now. */
			cli_report(&e);
			return 1;
		case FORBIDDEN:
			if (!o->daemon)
				return cli_report(&e);
			d = POLICY_RETRY;
			if (left > 0 && d > (double)left / 2.0)
				d = (double)left / 2.0 < 1.0 ? 1.0 : (double)left / 2.0;
			log_warn("msg=\"renewal refused\" error=\"%s\" retry_in=%.0fs",
			    e.msg, d);
			nap(d);
			break;
		case RETRY:
			if (!o->daemon)
				return cli_report(&e);
			d = backoff(&tries, left);
			log_warn("msg=\"renewal failed\" error=\"%s\" retry_in=%.0fs",
			    e.msg, d);
			nap(d);
			break;
		case FAILED:
		default:
			return cli_report(&e);
		}
	}
}

static int usage(FILE *f)
{
	fprintf(f, "usage: signet renew --cert F --key F --ca-url URL --root FILE\n"
	    "           [--chain-out F] [--daemon] [--exec CMD] [--force]\n"
	    "           [--keep-key] [--pop] [--renew-at FRACTION]\n"
	    "  --cert F           the certificate to keep renewed (replaced in place)\n"
	    "  --key F            its key (replaced by a new one unless --keep-key)\n"
	    "  --ca-url URL       the CA's HTTPS API (default: ca_url of -c FILE)\n"
	    "  --root FILE        CA roots to trust for it (default: roots of -c FILE)\n"
	    "  --chain-out F      also write the issuing chain there\n"
	    "  --daemon           keep running: sleep until due, renew, repeat\n"
	    "  --exec CMD         run /bin/sh -c CMD after each renewal\n"
	    "  --force            renew now, due or not\n"
	    "  --keep-key         keep the current key (default: a new key each time)\n"
	    "  --pop              prove possession with a signed token, not mTLS\n"
	    "  --renew-at FRACTION  of the lifetime, 0.1..0.9 (default 0.667, +-0.05)\n"
	    "exit: 0 renewed or not due, 1 expired or refused for good (revoked),\n"
	    "      2 usage, 3 failure (the CA unreachable: one-shot mode)\n");
	return f == stdout ? 0 : 2;
}

int cmd_renew(struct cli_ctx *ctx, int argc, char **argv)
{
	enum { O_CERT = 256, O_KEY, O_URL, O_ROOT, O_CHAIN, O_DAEMON, O_EXEC,
	    O_FORCE, O_KEEP, O_POP, O_AT, O_HELP };
	static const struct option opts[] = {
		{ "cert", required_argument, NULL, O_CERT },
		{ "key", required_argument, NULL, O_KEY },
		{ "ca-url", required_argument, NULL, O_URL },
		{ "root", required_argument, NULL, O_ROOT },
		{ "chain-out", required_argument, NULL, O_CHAIN },
		{ "daemon", no_argument, NULL, O_DAEMON },
		{ "exec", required_argument, NULL, O_EXEC },
		{ "force", no_argument, NULL, O_FORCE },
		{ "keep-key", no_argument, NULL, O_KEEP },
		{ "pop", no_argument, NULL, O_POP },
		{ "renew-at", required_argument, NULL, O_AT },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct renew_opts o;
	struct config *cfg;
	struct err e = { 0 };
	sigset_t old;
	X509 **roots = NULL;
	size_t len;
	char *end;
	int ch, nroots = 0, rc;

	memset(&o, 0, sizeof(o));
	o.fraction = DEFAULT_FRACTION;
	opterr = 0;   /* one line on stderr: ours */
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_CERT: o.paths.cert = optarg; break;
		case O_KEY: o.paths.key = optarg; break;
		case O_URL: o.ca_url = optarg; break;
		case O_ROOT: o.root = optarg; break;
		case O_CHAIN: o.paths.chain = optarg; break;
		case O_DAEMON: o.daemon = 1; break;
		case O_EXEC: o.exec = optarg; break;
		case O_FORCE: o.force = 1; break;
		case O_KEEP: o.keep_key = 1; break;
		case O_POP: o.pop = 1; break;
		case O_AT:
			errno = 0;
			o.fraction = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(o.fraction >= 0.1 && o.fraction <= 0.9))
				return cli_usage("renew", "--renew-at %.32s: want a "
				    "fraction of the lifetime from 0.1 to 0.9, e.g. 0.66",
				    optarg);
			break;
		case O_HELP: return usage(stdout);
		default:
			return cli_usage("renew", "%.64s: unknown option or missing "
			    "argument; usage: signet renew --cert F --key F "
			    "--ca-url URL --root FILE [--chain-out F] [--daemon] "
			    "[--exec CMD] [--force] [--keep-key] [--pop] "
			    "[--renew-at FRACTION] (--help says more)",
			    argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_usage("renew", "unexpected argument \"%.64s\"",
		    argv[optind]);
	if (o.paths.cert == NULL || o.paths.key == NULL)
		return cli_usage("renew", "need --cert and --key");
	if (strcmp(o.paths.cert, o.paths.key) == 0 ||
	    (o.paths.chain != NULL && (strcmp(o.paths.chain, o.paths.cert) == 0 ||
	    strcmp(o.paths.chain, o.paths.key) == 0)))
		return cli_usage("renew", "--cert, --key and --chain-out must be "
		    "three different files");
	if (o.exec != NULL && (o.exec[0] == '\0' || strlen(o.exec) > 4096))
		return cli_usage("renew", "--exec needs a command of 1..4096 bytes");
	/* A client needs no config; on the CA's own host, -c FILE lends its
	 * ca_url and roots. */
	if ((o.ca_url == NULL || o.root == NULL) && ctx->config_path != NULL) {
		if (cli_config(ctx, &cfg, &e) != 0)
			return cli_report(&e);
		if (o.ca_url == NULL)
			o.ca_url = cfg->ca_url;
		if (o.root == NULL)
			o.root = cfg->roots_file;
	}
	if (o.ca_url == NULL || o.root == NULL)
		return cli_usage("renew", "need --ca-url and --root (or -c FILE, "
		    "a CA config, for both)");
	if (strncmp(o.ca_url, "https://", 8) != 0)
		return cli_usage("renew", "--ca-url must be https://");
	len = strlen(o.ca_url);
	while (len > 8 && o.ca_url[len - 1] == '/')
		len--;
	if (len > URL_MAX)
		return cli_usage("renew", "--ca-url is longer than %d bytes", URL_MAX);
	snprintf(o.url, sizeof(o.url), "%.*s/v1/renew", (int)len, o.ca_url);
	/* A root that cannot be read is a usage error now, not a retry
	 * loop later. */
	if (x509_read_pem_file(o.root, &roots, &nroots, &e) != 0) {
		err_prefix(&e, "--root: ");
		return cli_report(&e);
	}
	x509_free_list(roots, nroots);

	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGTERM);
	sigaddset(&stop_set, SIGINT);
	sigprocmask(SIG_BLOCK, &stop_set, &old);
	signal(SIGPIPE, SIG_IGN);
	stopping = 0;
	rc = run(&o);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}
