#include "common/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

enum setting_type { T_STRING, T_PATH, T_INT, T_DURATION };

struct setting {
	const char *name;
	enum setting_type type;
	size_t offset;
	const char *def;        /* NULL: no default */
	int required;
	long long min, max;     /* T_INT, T_DURATION (seconds) */
	const char *help;
};

#define S(f) offsetof(struct config, f)
#define DAY (86400LL)

static const struct setting settings[] = {
	{ "db", T_STRING, S(db), NULL, 1, 0, 0,
	  "libpq connection string of the signet database" },
	{ "db_pool_size", T_INT, S(db_pool_size), "8", 0, 1, 64,
	  "PostgreSQL connections each signetd keeps open" },
	{ "pkcs11_module", T_PATH, S(pkcs11_module),
	  "/usr/lib/softhsm/libsofthsm2.so", 0, 0, 0,
	  "path of the PKCS#11 module" },
	{ "token", T_STRING, S(token), NULL, 1, 0, 0,
	  "label of the online token holding the issuing, OCSP and audit keys" },
	{ "pin_file", T_PATH, S(pin_file), NULL, 0, 0, 0,
	  "file whose first line is the token PIN (mode 0600); $SIGNET_PIN wins" },
	{ "audit_key_label", T_STRING, S(audit_key_label), "signet-audit", 0, 0, 0,
	  "label of the key that signs audit checkpoints" },
	{ "https_listen", T_STRING, S(https_listen), "127.0.0.1:8443", 0, 0, 0,
	  "address of the HTTPS enrollment listener (host:port)" },
	{ "http_listen", T_STRING, S(http_listen), "127.0.0.1:8080", 0, 0, 0,
	  "address of the plain HTTP listener for OCSP, CRLs, CA certificates" },
	{ "public_url", T_STRING, S(public_url), NULL, 1, 0, 0,
	  "base URL relying parties reach the HTTP listener at (AIA, CRL DP)" },
	{ "ca_url", T_STRING, S(ca_url), NULL, 1, 0, 0,
	  "base URL clients reach the HTTPS listener at; tokens carry aud = ca_url/v1/sign" },
	{ "tls_cert", T_PATH, S(tls_cert), NULL, 1, 0, 0,
	  "PEM certificate (and chain) of the HTTPS listener" },
	{ "tls_key", T_PATH, S(tls_key), NULL, 1, 0, 0,
	  "PEM private key of the HTTPS listener (mode 0600)" },
	{ "roots_file", T_PATH, S(roots_file), NULL, 1, 0, 0,
	  "PEM trust anchor served at /roots.pem" },
	{ "chain_file", T_PATH, S(chain_file), NULL, 1, 0, 0,
	  "PEM issuing chain without the root, served at /chain.pem" },
	{ "threads", T_INT, S(threads), "16", 0, 1, 256,
	  "worker threads of the HTTPS listener (enrollment waits on the "
	  "database and the HSM)" },
	{ "http_threads", T_INT, S(http_threads), "0", 0, 0, 256,
	  "worker threads of the plain HTTP listener (OCSP, CRLs: answered "
	  "from memory); 0: one per online CPU, at least 2" },
	{ "max_body", T_INT, S(max_body), "65536", 0, 1024, 1048576,
	  "largest request body accepted, in bytes (larger: 413)" },
	{ "request_timeout", T_DURATION, S(request_timeout), "15s", 0, 1, 300,
	  "idle time after which a connection is closed" },
	{ "token_skew", T_DURATION, S(token_skew), "60s", 0, 0, 300,
	  "clock skew allowed on token iat/nbf/exp" },
	{ "default_lifetime", T_DURATION, S(default_lifetime), "24h", 0, 60, 366 * DAY,
	  "certificate lifetime when neither token nor provisioner says" },
	{ "max_lifetime", T_DURATION, S(max_lifetime), "30d", 0, 60, 366 * DAY,
	  "hard cap on any leaf lifetime, whatever a provisioner allows" },
	{ "reconcile_after", T_DURATION, S(reconcile_after), "10m", 0, 60, DAY,
	  "age at which an issuance intent with no stored certificate is marked abandoned" },
	{ "audit_seal_interval", T_DURATION, S(audit_seal_interval), "2s", 0, 1, 3600,
	  "how often the sealer chains new audit entries" },
	{ "audit_checkpoint_interval", T_DURATION, S(audit_checkpoint_interval), "60s", 0, 1, DAY,
	  "how often the sealer signs a checkpoint of the audit chain" },
	{ "log_level", T_STRING, S(log_level), "info", 0, 0, 0,
	  "debug, info, warn or error" },
	{ "crl_validity", T_DURATION, S(crl_validity), "24h", 0, 300, 366 * DAY,
	  "nextUpdate - thisUpdate of the issuing CAs' CRLs" },
	{ "crl_refresh", T_DURATION, S(crl_refresh), "1h", 0, 10, 30 * DAY,
	  "a scheduled CRL is signed at least this often (and within ~1 s of a revocation)" },
	{ "crl_publish_dir", T_PATH, S(crl_publish_dir), "crl", 0, 0, 0,
	  "directory where signetd writes {issuer}.crl (and `signet root crl` root-N.crl)" },
	{ "ocsp_signer", T_STRING, S(ocsp_signer), "delegated", 0, 0, 0,
	  "who signs OCSP responses: delegated (an OCSP signing certificate whose key is on the token) or ca (the issuing key)" },
	{ "ocsp_cert_lifetime", T_DURATION, S(ocsp_cert_lifetime), "30d", 0, 30, 366 * DAY,
	  "validity of a delegated OCSP signing certificate; signetd replaces it when a third of it remains" },
	{ "ocsp_validity", T_DURATION, S(ocsp_validity), "24h", 0, 60, 30 * DAY,
	  "nextUpdate - thisUpdate of OCSP responses; cached responses are re-signed at half of it" },
	{ "ocsp_poll", T_DURATION, S(ocsp_poll), "5s", 0, 1, 3600,
	  "how often signetd looks for revocations made elsewhere if a NOTIFY was missed: the bound on serving one" },
	{ "ocsp_nonce", T_STRING, S(ocsp_nonce), "yes", 0, 0, 0,
	  "yes: answer a request with a nonce with a freshly signed response echoing it; no: the pre-signed one" },
	{ "ocsp_max_certids", T_INT, S(ocsp_max_certids), "8", 0, 1, 16,
	  "most CertIDs in one OCSP request (more is malformedRequest)" },
	{ "notify_webhook_url", T_STRING, S(notify_webhook_url), NULL, 0, 0, 0,
	  "http:// or https:// URL signetd POSTs certificate.expiring events to (docs/monitoring.md); unset: no notifications" },
	{ "notify_webhook_ca", T_PATH, S(notify_webhook_ca), NULL, 0, 0, 0,
	  "PEM CA certificates that verify an https webhook (unset: the system's)" },
	{ "notify_thresholds", T_STRING, S(notify_thresholds), "7d,1d", 0, 0, 0,
	  "comma-separated durations (1m..366d, at most 8): a certificate without a successor is notified once per threshold when it enters that window" },
	{ "notify_interval", T_DURATION, S(notify_interval), "1m", 0, 1, DAY,
	  "how often signetd looks for certificates to notify, and retries notifications that failed" },
	{ "notify_timeout", T_DURATION, S(notify_timeout), "10s", 0, 1, 60,
	  "time limit of one webhook POST, connecting included" },
	{ "acme_resolver", T_STRING, S(acme_resolver), NULL, 0, 0, 0,
	  "IP or IP@PORT of the DNS server ACME validation asks (unset: the servers in /etc/resolv.conf, and /etc/hosts)" },
	{ "acme_hosts", T_STRING, S(acme_hosts), NULL, 0, 0, 0,
	  "name=address pairs, comma-separated (at most 64), looked up before DNS by http-01 and tls-alpn-01 validation" },
	{ "acme_http01_port", T_INT, S(acme_http01_port), "80", 0, 1, 65535,
	  "port http-01 validation connects to" },
	{ "acme_tlsalpn01_port", T_INT, S(acme_tlsalpn01_port), "443", 0, 1, 65535,
	  "port tls-alpn-01 validation connects to" },
	{ "acme_validation_timeout", T_DURATION, S(acme_validation_timeout), "10s", 0, 1, 60,
	  "time limit of one challenge validation, DNS lookups and connecting included" },
	{ "acme_validation_attempts", T_INT, S(acme_validation_attempts), "1", 0, 1, 10,
	  "attempts before a challenge is invalid" },
	{ "acme_validation_retry", T_DURATION, S(acme_validation_retry), "2s", 0, 1, 60,
	  "wait between attempts" },
	{ "acme_validation_threads", T_INT, S(acme_validation_threads), "4", 0, 1, 64,
	  "challenges validated at once by each signetd" },
	{ "acme_order_lifetime", T_DURATION, S(acme_order_lifetime), "1d", 0, 60, 30 * DAY,
	  "how long an order and its authorizations stay pending" },
	{ "acme_rate_window", T_DURATION, S(acme_rate_window), "1h", 0, 60, 7 * DAY,
	  "window of the ACME rate limits" },
	{ "acme_rate_orders_per_account", T_INT, S(acme_rate_orders_per_account), "300", 0, 0, 1000000,
	  "new orders per account per acme_rate_window; 0: unlimited" },
	{ "acme_rate_orders_per_provisioner", T_INT, S(acme_rate_orders_per_provisioner), "0", 0, 0, 10000000,
	  "new orders per provisioner per acme_rate_window; 0: unlimited" },
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static char **str_field(struct config *c, const struct setting *s)
{
	return (char **)(void *)((char *)c + s->offset);
}

static long long *int_field(struct config *c, const struct setting *s)
{
	return (long long *)(void *)((char *)c + s->offset);
}

static int set_value(struct config *c, const struct setting *s,
    const char *value, const char *dir, struct err *e)
{
	char *end, **sp;
	long long v;

	switch (s->type) {
	case T_STRING:
	case T_PATH:
		sp = str_field(c, s);
		free(*sp);
		*sp = NULL;
		if (s->type == T_PATH && value[0] != '/' && dir != NULL) {
			size_t n = strlen(dir) + strlen(value) + 2;
			if ((*sp = malloc(n)) != NULL)
				snprintf(*sp, n, "%s/%s", dir, value);
		} else {
			*sp = strdup(value);
		}
		if (*sp == NULL)
			return err_set(e, ERR_INTERNAL, "out of memory");
		return 0;
	case T_INT:
		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno != 0 || *end != '\0' || end == value)
			return err_set(e, ERR_CONFIG, "%s: \"%s\" is not a number",
			    s->name, value);
		break;
	case T_DURATION:
		if (util_parse_duration(value, s->max, &v, e) != 0) {
			err_prefix(e, "%s: ", s->name);
			e->kind = ERR_CONFIG;
			return -1;
		}
		break;
	default:
		return err_set(e, ERR_INTERNAL, "bad setting type");
	}
	if (v < s->min || v > s->max)
		return err_set(e, ERR_CONFIG, "%s: %s is outside %lld..%lld",
		    s->name, value, s->min, s->max);
	*int_field(c, s) = v;
	return 0;
}

struct config *config_defaults(void)
{
	struct config *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < NSETTINGS; i++)
		if (settings[i].def != NULL &&
		    set_value(c, &settings[i], settings[i].def, NULL, NULL) != 0) {
			config_free(c);
			return NULL;
		}
	return c;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int check_url(const char *name, const char *v, const char *scheme,
    struct err *e)
{
	size_t n = strlen(scheme);

	if (strncmp(v, scheme, n) != 0 || v[n] == '\0')
		return err_set(e, ERR_CONFIG, "%s: \"%s\" must start with %s",
		    name, v, scheme);
	if (v[strlen(v) - 1] == '/')
		return err_set(e, ERR_CONFIG, "%s: \"%s\" must not end with /",
		    name, v);
	return 0;
}

/* notify_thresholds: "7d, 1d" -> c->notify_threshold[], descending. */
static int parse_thresholds(struct config *c, struct err *e)
{
	char *copy = strdup(c->notify_thresholds), *tok, *save = NULL;
	long long v;
	int n = 0, rc = -1;

	if (copy == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		int i;

		tok = trim(tok);
		if (util_parse_duration(tok, 366 * DAY, &v, e) != 0) {
			err_prefix(e, "notify_thresholds: ");
			e->kind = ERR_CONFIG;
			goto out;
		}
		if (v < 60) {
			err_set(e, ERR_CONFIG, "notify_thresholds: %s is shorter "
			    "than 1m", tok);
			goto out;
		}
		if (n == CONFIG_MAX_THRESHOLDS) {
			err_set(e, ERR_CONFIG, "notify_thresholds: more than %d",
			    CONFIG_MAX_THRESHOLDS);
			goto out;
		}
		/* Insert in descending order; "24h" and "1d" are one. */
		for (i = 0; i < n && c->notify_threshold[i] > v; i++)
			;
		if (i < n && c->notify_threshold[i] == v) {
			err_set(e, ERR_CONFIG, "notify_thresholds: %s is listed "
			    "twice", tok);
			goto out;
		}
		memmove(&c->notify_threshold[i + 1], &c->notify_threshold[i],
		    (size_t)(n - i) * sizeof(c->notify_threshold[0]));
		c->notify_threshold[i] = v;
		n++;
	}
	if (n == 0) {
		err_set(e, ERR_CONFIG, "notify_thresholds: no duration in \"%s\"",
		    c->notify_thresholds);
		goto out;
	}
	c->notify_nthresholds = n;
	rc = 0;
out:
	free(copy);
	return rc;
}

/* A numeric IPv4 or IPv6 address. */
static int ip_ok(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* acme_resolver: "IP" or "IP@PORT", the form ub_ctx_set_fwd reads. */
static int check_resolver(const char *v, struct err *e)
{
	char ip[64];
	const char *at = strrchr(v, '@');
	size_t n = at != NULL ? (size_t)(at - v) : strlen(v);

	if (n == 0 || n >= sizeof(ip))
		goto bad;
	memcpy(ip, v, n);
	ip[n] = '\0';
	if (!ip_ok(ip))
		goto bad;
	if (at != NULL) {
		char *end;
		long p;

		errno = 0;
		p = strtol(at + 1, &end, 10);
		if (errno != 0 || end == at + 1 || *end != '\0' || p < 1 ||
		    p > 65535)
			goto bad;
	}
	return 0;
bad:
	return err_set(e, ERR_CONFIG, "acme_resolver: \"%.80s\" is not IP or "
	    "IP@PORT (a numeric IPv4 or IPv6 address, port 1..65535)", v);
}

/* acme_hosts: "name=address, ..." -> c->acme_host[]. */
static int parse_acme_hosts(struct config *c, struct err *e)
{
	char *copy, *tok, *save = NULL;
	int n = 0, rc = -1;

	c->acme_nhosts = 0;
	if (c->acme_hosts == NULL)
		return 0;
	if ((copy = strdup(c->acme_hosts)) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		char *eq, *name, *addr;

		tok = trim(tok);
		if ((eq = strchr(tok, '=')) == NULL) {
			err_set(e, ERR_CONFIG, "acme_hosts: \"%.300s\" is not "
			    "name=address", tok);
			goto out;
		}
		*eq = '\0';
		name = trim(tok);
		addr = trim(eq + 1);
		if (!util_dns_name_ok(name, strlen(name))) {
			err_set(e, ERR_CONFIG, "acme_hosts: \"%.260s\" is not a "
			    "DNS name (lowercase a-z, 0-9, '-' and '.', at most "
			    "253 bytes)", name);
			goto out;
		}
		if (strlen(addr) >= sizeof(c->acme_host[0].addr) || !ip_ok(addr)) {
			err_set(e, ERR_CONFIG, "acme_hosts: %s=\"%.60s\": the "
			    "address is not a numeric IPv4 or IPv6 address", name,
			    addr);
			goto out;
		}
		for (int i = 0; i < n; i++)
			if (strcmp(c->acme_host[i].name, name) == 0) {
				err_set(e, ERR_CONFIG, "acme_hosts: %s is listed "
				    "twice", name);
				goto out;
			}
		if (n == CONFIG_MAX_ACME_HOSTS) {
			err_set(e, ERR_CONFIG, "acme_hosts: more than %d entries",
			    CONFIG_MAX_ACME_HOSTS);
			goto out;
		}
		snprintf(c->acme_host[n].name, sizeof(c->acme_host[n].name), "%s",
		    name);
		snprintf(c->acme_host[n].addr, sizeof(c->acme_host[n].addr), "%s",
		    addr);
		n++;
	}
	if (n == 0) {
		err_set(e, ERR_CONFIG, "acme_hosts: no name=address in \"%.300s\"",
		    c->acme_hosts);
		goto out;
	}
	c->acme_nhosts = n;
	rc = 0;
out:
	free(copy);
	return rc;
}

static int validate(struct config *c, struct err *e)
{
	char host[256];
	unsigned port;

	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		if (s->required && (s->type == T_STRING || s->type == T_PATH) &&
		    *str_field(c, s) == NULL)
			return err_set(e, ERR_CONFIG, "%s: required setting is missing",
			    s->name);
	}
	if (config_split_hostport(c->https_listen, host, sizeof(host), &port, e) != 0) {
		err_prefix(e, "https_listen: ");
		return -1;
	}
	if (config_split_hostport(c->http_listen, host, sizeof(host), &port, e) != 0) {
		err_prefix(e, "http_listen: ");
		return -1;
	}
	if (check_url("public_url", c->public_url, "http", e) != 0 ||
	    check_url("ca_url", c->ca_url, "https://", e) != 0)
		return -1;
	if (strcmp(c->log_level, "debug") != 0 && strcmp(c->log_level, "info") != 0 &&
	    strcmp(c->log_level, "warn") != 0 && strcmp(c->log_level, "error") != 0)
		return err_set(e, ERR_CONFIG,
		    "log_level: \"%s\" is not debug, info, warn or error", c->log_level);
	if (strcmp(c->ocsp_signer, "delegated") != 0 && strcmp(c->ocsp_signer, "ca") != 0)
		return err_set(e, ERR_CONFIG,
		    "ocsp_signer: \"%s\" is not delegated or ca", c->ocsp_signer);
	if (strcmp(c->ocsp_nonce, "yes") != 0 && strcmp(c->ocsp_nonce, "no") != 0)
		return err_set(e, ERR_CONFIG,
		    "ocsp_nonce: \"%s\" is not yes or no", c->ocsp_nonce);
	if (c->default_lifetime > c->max_lifetime)
		return err_set(e, ERR_CONFIG,
		    "default_lifetime: longer than max_lifetime");
	if (c->notify_webhook_url != NULL) {
		const char *u = c->notify_webhook_url;
		size_t skip = strncmp(u, "https://", 8) == 0 ? 8 :
		    strncmp(u, "http://", 7) == 0 ? 7 : 0;

		if (skip == 0 || u[skip] == '\0' || u[skip] == '/')
			return err_set(e, ERR_CONFIG, "notify_webhook_url: \"%s\" "
			    "must be http://HOST[:PORT]/PATH or https://...", u);
		for (; *u; u++)
			if ((unsigned char)*u <= ' ' || *u == 0x7f)
				return err_set(e, ERR_CONFIG, "notify_webhook_url: "
				    "spaces and control characters are not allowed");
	}
	if (parse_thresholds(c, e) != 0)
		return -1;
	if (c->acme_resolver != NULL && check_resolver(c->acme_resolver, e) != 0)
		return -1;
	if (parse_acme_hosts(c, e) != 0)
		return -1;
	/* Relying parties fetch a new CRL before nextUpdate only if one
	 * exists by then: refresh well inside the validity. */
	if (c->crl_refresh * 2 > c->crl_validity)
		return err_set(e, ERR_CONFIG,
		    "crl_refresh: must be at most half of crl_validity");
	return 0;
}

int config_load(const char *path, struct config **out, struct err *e)
{
	struct config *c = NULL;
	char *text = NULL, *line, *save = NULL, *dir = NULL, *tmp = NULL;
	unsigned char seen[NSETTINGS] = { 0 };
	int rc = -1, lineno = 0;

	if (util_read_file(path, 1 << 20, &text, NULL, e) != 0) {
		err_prefix(e, "config: ");
		e->kind = ERR_CONFIG;
		goto out;
	}
	if ((c = config_defaults()) == NULL || (c->path = strdup(path)) == NULL ||
	    (tmp = strdup(path)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	dir = dirname(tmp);
	/* strtok_r skips empty lines, so count newlines ourselves. */
	for (line = text; line != NULL; ) {
		char *next = strchr(line, '\n'), *key, *value, *eq;
		size_t i;

		if (next != NULL)
			*next++ = '\0';
		lineno++;
		key = trim(line);
		line = next;
		if (*key == '\0' || *key == '#')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			err_set(e, ERR_CONFIG, "%s:%d: expected \"key = value\"",
			    path, lineno);
			goto out;
		}
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		for (i = 0; i < NSETTINGS; i++)
			if (strcmp(settings[i].name, key) == 0)
				break;
		if (i == NSETTINGS) {
			err_set(e, ERR_CONFIG, "%s:%d: unknown setting \"%.64s\"",
			    path, lineno, key);
			goto out;
		}
		if (seen[i]++) {
			err_set(e, ERR_CONFIG, "%s:%d: %s is set twice", path,
			    lineno, key);
			goto out;
		}
		if (*value == '\0') {
			err_set(e, ERR_CONFIG, "%s:%d: %s has no value", path,
			    lineno, key);
			goto out;
		}
		if (set_value(c, &settings[i], value, dir, e) != 0) {
			err_prefix(e, "%s:%d: ", path, lineno);
			goto out;
		}
	}
	(void)save;
	/* Relative defaults are relative to the config's directory too. */
	for (size_t i = 0; i < NSETTINGS; i++)
		if (!seen[i] && settings[i].type == T_PATH &&
		    settings[i].def != NULL && settings[i].def[0] != '/' &&
		    set_value(c, &settings[i], settings[i].def, dir, e) != 0)
			goto out;
	if (validate(c, e) != 0) {
		err_prefix(e, "%s: ", path);
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	free(tmp);
	free(text);
	config_free(c);
	return rc;
}

void config_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < NSETTINGS; i++)
		if (settings[i].type == T_STRING || settings[i].type == T_PATH)
			free(*str_field(c, &settings[i]));
	free(c->path);
	free(c);
}

int config_read_pin(const struct config *c, char *out, size_t outlen,
    struct err *e)
{
	const char *env = getenv("SIGNET_PIN");

	if (env != NULL && *env != '\0') {
		if (strlen(env) >= outlen)
			return err_set(e, ERR_CONFIG, "SIGNET_PIN: too long");
		strcpy(out, env);
		return 0;
	}
	if (c->pin_file == NULL)
		return err_set(e, ERR_CONFIG,
		    "pin_file: not set and SIGNET_PIN is empty");
	if (util_read_secret(c->pin_file, out, outlen, e) != 0) {
		err_prefix(e, "pin_file: ");
		return -1;
	}
	return 0;
}

void config_write_reference(FILE *f)
{
	fprintf(f, "| setting | type | default | range | meaning |\n"
	    "| --- | --- | --- | --- | --- |\n");
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *type = s->type == T_INT ? "integer" :
		    s->type == T_DURATION ? "duration" :
		    s->type == T_PATH ? "path" : "string";
		char range[64] = "";

		if (s->type == T_INT || s->type == T_DURATION)
			snprintf(range, sizeof(range), "%lld..%lld%s", s->min,
			    s->max, s->type == T_DURATION ? " s" : "");
		fprintf(f, "| `%s` | %s | %s | %s | %s |\n", s->name, type,
		    s->def ? s->def : (s->required ? "(required)" : "(none)"),
		    range, s->help);
	}
}

int config_split_hostport(const char *s, char *host, size_t hostlen,
    unsigned *port, struct err *e)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	long p;

	if (s == NULL || *s == '\0')
		return err_set(e, ERR_CONFIG, "empty address");
	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return err_set(e, ERR_CONFIG, "\"%s\": want [v6addr]:port", s);
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return err_set(e, ERR_CONFIG, "\"%s\": want host:port", s);
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return err_set(e, ERR_CONFIG, "\"%s\": bad host", s);
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p < 1 || p > 65535)
		return err_set(e, ERR_CONFIG, "\"%s\": port must be 1..65535", s);
	*port = (unsigned)p;
	return 0;
}
