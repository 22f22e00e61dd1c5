/* acme_validate: http-01, dns-01 and tls-alpn-01 challenge validation. */
#include "ca/acme_validate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjose/cjose.h>
#include <curl/curl.h>
#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unbound.h>

#include "common/util.h"

/* RFC 8737 6.2: the ALPN protocol name, and 6.1: id-pe-acmeIdentifier. */
#define ACME_TLS_1 "acme-tls/1"
#define OID_ACME_IDENTIFIER "1.3.6.1.5.5.7.1.31"
/* Bounds of the arguments (the token is ours: RFC 8555 8.1 wants at least
 * 128 bits, 22 base64url characters; thumbprints are 43). */
#define TOKEN_MIN 22
#define TOKEN_MAX 128
#define THUMB_MAX 128
/* Most TXT records looked at, and bytes of one kept for comparing. */
#define TXT_MAX_RECORDS 64
#define TXT_MAX_VALUE 512
/* Most certificate bytes accepted in a tls-alpn-01 handshake. */
#define TLS_CERT_LIST_MAX 65536
/* DNS record types and class (RFC 1035, RFC 3596). */
#define RR_A 1
#define RR_TXT 16
#define RR_AAAA 28
#define RR_CLASS_IN 1

struct acme_validate {
	const struct config *cfg;
	SSL_CTX *tls;              /* tls-alpn-01 client: shared, read-only */
	ASN1_OBJECT *acme_id_oid;  /* id-pe-acmeIdentifier */
	long long timeout_ms;
};

/* A checked identifier. */
struct ident {
	int is_ip;
	int family;                /* is_ip: AF_INET or AF_INET6 */
	unsigned char ip[16];
	char value[254];           /* the name, or the address as given */
};

/* One address to connect to. */
struct addr {
	int family;
	unsigned char b[16];
	char text[INET6_ADDRSTRLEN];
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Set *atype and e; e->kind follows from the type.  Always -1. */
static int fail(const char **atype, const char *type, struct err *e,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(const char **atype, const char *type, struct err *e,
    const char *fmt, ...)
{
	char msg[sizeof(e->msg)];
	enum err_kind kind = ERR_POLICY;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(type, "serverInternal") == 0)
		kind = ERR_INTERNAL;
	else if (strcmp(type, "rejectedIdentifier") == 0)
		kind = ERR_INVALID;
	*atype = type;
	return err_set(e, kind, "%s", msg);
}

/* Copy at most max bytes of untrusted data into out (max + 4 bytes) for a
 * detail, control and non-ASCII bytes as '?', "..." when cut. */
static void printable(const char *in, size_t len, char *out, size_t max)
{
	size_t i, n = len < max ? len : max;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];

		out[i] = ch < 0x20 || ch >= 0x7f || ch == '"' ? '?' : (char)ch;
	}
	if (len > max) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

static int b64url_chars(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return 0;
	}
	return 1;
}

static int check_ident(const char *ident_type, const char *ident_value,
    struct ident *id, const char **atype, struct err *e)
{
	size_t n;

	memset(id, 0, sizeof(*id));
	if (ident_type == NULL || ident_value == NULL)
		return fail(atype, "serverInternal", e, "acme_validate: no "
		    "identifier");
	n = strnlen(ident_value, 254);
	if (strcmp(ident_type, "dns") == 0) {
		char shown[64 + 4];

		if (!util_dns_name_ok(ident_value, n)) {
			printable(ident_value, n, shown, 64);
			return fail(atype, "rejectedIdentifier", e, "identifier "
			    "\"%s\" is not a DNS name (1..253 bytes of lowercase "
			    "a-z, 0-9, '-' and '.', labels of 1..63)", shown);
		}
		memcpy(id->value, ident_value, n + 1);
		return 0;
	}
	if (strcmp(ident_type, "ip") == 0) {
		char shown[64 + 4];

		id->is_ip = 1;
		if (n < INET6_ADDRSTRLEN) {
			if (inet_pton(AF_INET, ident_value, id->ip) == 1)
				id->family = AF_INET;
			else if (inet_pton(AF_INET6, ident_value, id->ip) == 1)
				id->family = AF_INET6;
		}
		if (id->family == 0) {
			printable(ident_value, n, shown, 64);
			return fail(atype, "rejectedIdentifier", e, "RFC 8738 3: "
			    "identifier \"%s\" is not an IPv4 or IPv6 address",
			    shown);
		}
		memcpy(id->value, ident_value, n + 1);
		return 0;
	}
	return fail(atype, "serverInternal", e, "acme_validate: identifier "
	    "type must be dns or ip");
}

static int check_token(const char *token, const char *key_authz,
    const char **atype, struct err *e)
{
	size_t tl, kl;

	if (token == NULL || key_authz == NULL)
		return fail(atype, "serverInternal", e, "acme_validate: no token "
		    "or key authorization");
	tl = strnlen(token, TOKEN_MAX + 1);
	kl = strnlen(key_authz, TOKEN_MAX + THUMB_MAX + 2);
	if (tl < TOKEN_MIN || tl > TOKEN_MAX || !b64url_chars(token, tl))
		return fail(atype, "serverInternal", e, "acme_validate: the token "
		    "must be %d..%d base64url characters", TOKEN_MIN, TOKEN_MAX);
	/* RFC 8555 8.1: keyAuthorization = token || '.' || thumbprint */
	if (kl <= tl + 1 || kl > tl + 1 + THUMB_MAX ||
	    strncmp(key_authz, token, tl) != 0 || key_authz[tl] != '.' ||
	    !b64url_chars(key_authz + tl + 1, kl - tl - 1))
		return fail(atype, "serverInternal", e, "acme_validate: the key "
		    "authorization must be the token, '.' and a base64url "
		    "thumbprint");
	return 0;
}

/* ---- DNS through libunbound ---- */

struct dnsq {
	int type;
	int done;
	int err;                   /* libunbound's error, 0 when answered */
	struct ub_result *res;
};

static void dns_done(void *data, int err, struct ub_result *res)
{
	struct dnsq *q = data;

	q->done = 1;
	q->err = err;
	q->res = res;
}

static const char *rr_name(int type)
{
	return type == RR_A ? "A" : type == RR_AAAA ? "AAAA" : "TXT";
}

static const char *rcode_name(int rcode)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL",
	    "NXDOMAIN", "NOTIMP", "REFUSED" };

	return rcode >= 0 && rcode < 6 ? names[rcode] : "an error rcode";
}

/*
 * A libunbound context for one call.  Not one shared context: ub_resolve
 * has no time limit, so each call resolves asynchronously and polls until
 * its own deadline, and a context whose callbacks only this thread runs
 * can be deleted at that deadline with queries outstanding; and a fresh
 * context has no cache, so a retry sees a TXT record added since the
 * last attempt rather than a cached NXDOMAIN.  Threaded, not forked:
 * signetd is multithreaded.
 */
static int dns_ctx(const struct acme_validate *v, struct ub_ctx **out,
    const char **atype, struct err *e)
{
	static const char *const passthrough[] = { "test. transparent",
	    "home.arpa. transparent" };
	const char *r = v->cfg->acme_resolver;
	struct ub_ctx *ctx;
	int rc;

	*out = NULL;
	if ((ctx = ub_ctx_create()) == NULL)
		return fail(atype, "serverInternal", e, "libunbound: cannot "
		    "create a resolver context");
	if ((rc = ub_ctx_async(ctx, 1)) != 0 ||
	    /* A resolver on loopback (127.0.0.53, a test server) is fine. */
	    (rc = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0 ||
	    /* One call asks at most three questions. */
	    (rc = ub_ctx_set_option(ctx, "outgoing-range:", "64")) != 0 ||
	    (rc = ub_ctx_set_option(ctx, "num-queries-per-thread:", "16")) != 0)
		goto bad;
	/* libunbound answers names under test. and home.arpa. itself
	 * (NXDOMAIN, RFC 6761, RFC 8375); private networks use them, so the
	 * resolver is asked instead ("nodefault" is ignored when set through
	 * ub_ctx_set_option in 1.17; an empty transparent zone passes every
	 * query on). */
	for (size_t i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++)
		if ((rc = ub_ctx_set_option(ctx, "local-zone:", passthrough[i])) != 0)
			goto bad;
	if (r != NULL) {
		if ((rc = ub_ctx_set_fwd(ctx, r)) != 0)
			goto bad;
	} else if ((rc = ub_ctx_resolvconf(ctx, NULL)) != 0 ||
	    (rc = ub_ctx_hosts(ctx, NULL)) != 0) {
		goto bad;
	}
	*out = ctx;
	return 0;
bad:
	ub_ctx_delete(ctx);
	return fail(atype, "serverInternal", e, "libunbound: configuring the "
	    "resolver%s%s: %s", r ? " " : "", r ? r : "", ub_strerror(rc));
}

/* Ask n questions about name at once; wait for every answer until the
 * deadline.  On failure the queries' results are whatever arrived. */
static int dns_ask(struct ub_ctx *ctx, const char *name, struct dnsq *q,
    int n, long long deadline, const char **atype, struct err *e)
{
	int i, fd = ub_fd(ctx), rc;

	for (i = 0; i < n; i++) {
		int id;

		if ((rc = ub_resolve_async(ctx, name, q[i].type, RR_CLASS_IN,
		    &q[i], dns_done, &id)) != 0)
			return fail(atype, "serverInternal", e, "libunbound: "
			    "asking %s %s: %s", rr_name(q[i].type), name,
			    ub_strerror(rc));
	}
	/* Bounded by the deadline: each turn waits at most what is left. */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left;
		int all = 1, r;

		for (i = 0; i < n; i++)
			all &= q[i].done;
		if (all)
			return 0;
		if ((left = deadline - now_ms()) <= 0)
			return fail(atype, "dns", e, "DNS: no answer for %s%s%s "
			    "of %s within acme_validation_timeout",
			    rr_name(q[0].type), n > 1 ? " and " : "",
			    n > 1 ? rr_name(q[1].type) : "", name);
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno != EINTR)
			return fail(atype, "serverInternal", e, "poll: %s",
			    strerror(errno));
		if (r > 0 && (rc = ub_process(ctx)) != 0)
			return fail(atype, "serverInternal", e, "libunbound: %s",
			    ub_strerror(rc));
	}
}

static void dns_free(struct dnsq *q, int n)
{
	for (int i = 0; i < n; i++) {
		ub_resolve_free(q[i].res);
		q[i].res = NULL;
	}
}

/*
 * The addresses to connect to for id: an ip identifier's own; else the
 * acme_hosts entry; else A then AAAA records (asked at once), at most
 * ACME_VALIDATE_MAX_ADDRS.
 */
static int resolve_host(const struct acme_validate *v, const struct ident *id,
    long long deadline, struct addr *addrs, int *naddrs, const char **atype,
    struct err *e)
{
	struct dnsq q[2] = { { .type = RR_A }, { .type = RR_AAAA } };
	struct ub_ctx *ctx = NULL;
	int n = 0, rc = -1, i;
	char why[160] = "";

	*naddrs = 0;
	if (id->is_ip) {
		addrs[0].family = id->family;
		memcpy(addrs[0].b, id->ip, sizeof(id->ip));
		inet_ntop(id->family, id->ip, addrs[0].text, sizeof(addrs[0].text));
		*naddrs = 1;
		return 0;
	}
	for (i = 0; i < v->cfg->acme_nhosts; i++) {
		const struct config_acme_host *h = &v->cfg->acme_host[i];

		if (strcmp(h->name, id->value) != 0)
			continue;
		/* config_load checked the address. */
		addrs[0].family = strchr(h->addr, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(addrs[0].family, h->addr, addrs[0].b) != 1)
			return fail(atype, "serverInternal", e, "acme_hosts: bad "
			    "address for %s", h->name);
		snprintf(addrs[0].text, sizeof(addrs[0].text), "%s", h->addr);
		*naddrs = 1;
		return 0;
	}
	if (dns_ctx(v, &ctx, atype, e) != 0)
		return -1;
	if (dns_ask(ctx, id->value, q, 2, deadline, atype, e) != 0)
		goto out;
	for (i = 0; i < 2; i++) {
		struct ub_result *res = q[i].res;
		size_t want = q[i].type == RR_A ? 4 : 16;

		if (q[i].err != 0 || res->rcode != 0) {
			size_t w = strlen(why);

			snprintf(why + w, sizeof(why) - w, "%s%s: %s", w ? ", " : "",
			    rr_name(q[i].type), q[i].err != 0 ?
			    ub_strerror(q[i].err) : rcode_name(res->rcode));
			continue;
		}
		for (int j = 0; res->havedata && res->data[j] != NULL &&
		    n < ACME_VALIDATE_MAX_ADDRS; j++) {
			if ((size_t)res->len[j] != want)
				continue;
			addrs[n].family = want == 4 ? AF_INET : AF_INET6;
			memcpy(addrs[n].b, res->data[j], want);
			inet_ntop(addrs[n].family, addrs[n].b, addrs[n].text,
			    sizeof(addrs[n].text));
			n++;
		}
	}
	if (n == 0) {
		fail(atype, "dns", e, "DNS: no A or AAAA record for %s%s%s",
		    id->value, why[0] ? ": " : "", why);
		goto out;
	}
	*naddrs = n;
	rc = 0;
out:
	dns_free(q, 2);
	ub_ctx_delete(ctx);
	return rc;
}

/* ---- http-01 (RFC 8555 8.3) ---- */

struct body {
	char buf[ACME_VALIDATE_MAX_BODY];
	size_t len;
	int too_big;
};

static size_t body_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (n > sizeof(b->buf) - b->len) {
		/* Stop reading: returning short makes curl fail the transfer. */
		b->too_big = 1;
		return 0;
	}
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	return n;
}

/* One GET of url on id's addresses (port, https or not): 0 with
 * *status, the body and *location (the absolute redirect target,
 * malloc'ed, or NULL) once a server answered; -1 with atype and e when
 * none could be reached or the body was too long.  used receives the
 * address that answered. */
static int http_fetch(struct acme_validate *v, CURL *c,
    const struct ident *id, long port, int https, const char *url,
    long long deadline, struct body *body, long *status, char **location,
    char *used, size_t used_len, const char **atype, struct err *e)
{
	struct addr addrs[ACME_VALIDATE_MAX_ADDRS];
	struct curl_slist *pin = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", why[200] = "";
	char tried[ACME_VALIDATE_MAX_ADDRS * (INET6_ADDRSTRLEN + 2)] = "";
	int naddrs, rc = -1, i;

	*status = 0;
	*location = NULL;
	if (resolve_host(v, id, deadline, addrs, &naddrs, atype, e) != 0)
		return -1;
	for (i = 0; i < naddrs; i++) {
		long long left = deadline - now_ms();
		curl_off_t connected = 0;
		char *loc = NULL;
		CURLcode cc;
		char pinned[320];

		if (left <= 0)
			break;
		curl_easy_reset(c);
		curl_slist_free_all(pin);
		pin = NULL;
		/* libcurl connects to the address we resolved, never looks
		 * the name up itself (the Host header stays the name). */
		if (!id->is_ip) {
			snprintf(pinned, sizeof(pinned), "%s:%ld:%s%s%s", id->value,
			    port, addrs[i].family == AF_INET6 ? "[" : "",
			    addrs[i].text, addrs[i].family == AF_INET6 ? "]" : "");
			if ((pin = curl_slist_append(NULL, pinned)) == NULL) {
				fail(atype, "serverInternal", e, "out of memory");
				goto out;
			}
		}
		body->len = 0;
		body->too_big = 0;
		errbuf[0] = '\0';
		if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
		    (pin != NULL && curl_easy_setopt(c, CURLOPT_RESOLVE, pin) != CURLE_OK) ||
		    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, https ? "https" :
		    "http") != CURLE_OK ||
		    /* Redirects are followed by http01 itself, which resolves
		     * and checks each target (acme_validate.h). */
		    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
		    /* An https redirect target is not authenticated: http-01
		     * proves control by the body (as Let's Encrypt does). */
		    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK ||
		    /* No proxy from the environment: validate the name itself. */
		    curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_NOPROXY, "*") != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left) != CURLE_OK ||
		    /* Leave time for the addresses still to try. */
		    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
		    (long)(left / (naddrs - i))) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)ACME_VALIDATE_MAX_BODY) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_WRITEDATA, body) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_USERAGENT,
		    "signet-acme-validation") != CURLE_OK) {
			fail(atype, "serverInternal", e, "libcurl: setting options");
			goto out;
		}
		cc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connected);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		if (cc != CURLE_OK && connected == 0 && *status == 0) {
			/* Never connected: try the next address. */
			snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried),
			    "%s%s", tried[0] ? ", " : "", addrs[i].text);
			snprintf(why, sizeof(why), "%s", errbuf[0] ? errbuf :
			    curl_easy_strerror(cc));
			continue;
		}
		snprintf(used, used_len, "%s", addrs[i].text);
		if (body->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
			fail(atype, "incorrectResponse", e, "http-01: GET %s (%s): "
			    "the body is longer than %d bytes", url, addrs[i].text,
			    ACME_VALIDATE_MAX_BODY);
			goto out;
		}
		if (cc != CURLE_OK) {
			fail(atype, "connection", e, "http-01: GET %s (%s): %s", url,
			    addrs[i].text, errbuf[0] ? errbuf : curl_easy_strerror(cc));
			goto out;
		}
		if (*status >= 300 && *status < 400 &&
		    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK &&
		    loc != NULL && strlen(loc) < 2048 &&
		    (*location = strdup(loc)) == NULL) {
			fail(atype, "serverInternal", e, "out of memory");
			goto out;
		}
		rc = 0;
		goto out;
	}
	/* No address answered. */
	fail(atype, "connection", e, "http-01: GET %s: cannot connect to %s "
	    "(%s): %s", url, tried[0] ? tried : addrs[0].text,
	    id->is_ip ? "the identifier" : "resolved", why[0] ? why :
	    "acme_validation_timeout reached");
out:
	curl_slist_free_all(pin);
	return rc;
}

/* Where a redirect leads (RFC 8555 8.3: the server SHOULD follow
 * redirects): an http or https URL (libcurl's URL parser), to a host
 * name or address signet would validate, on port 80 or 443 or the
 * configured validation ports.  0 with *id, *port, *https and url (the
 * normalized URL) set; -1 with atype (unauthorized) and e. */
static int redirect_target(const struct acme_validate *v, const char *from,
    const char *location, struct ident *id, long *port, int *https,
    char *url, size_t url_len, const char **atype, struct err *e)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port_s = NULL, *full = NULL;
	char shown[200 + 4], h[INET6_ADDRSTRLEN + 2];
	unsigned char buf[16];
	int rc = -1;
	size_t n;

	printable(location, strlen(location), shown, 200);
	if (u == NULL) {
		fail(atype, "serverInternal", e, "out of memory");
		goto out;
	}
	if (curl_url_set(u, CURLUPART_URL, location, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port_s, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) {
		fail(atype, "unauthorized", e, "http-01: %s redirects to \"%s\", "
		    "which is not a URL", from, shown);
		goto out;
	}
	*https = strcmp(scheme, "https") == 0;
	*port = strtol(port_s, NULL, 10);
	if ((!*https && strcmp(scheme, "http") != 0) ||
	    (*port != 80 && *port != 443 &&
	    *port != (long)v->cfg->acme_http01_port &&
	    *port != (long)v->cfg->acme_tlsalpn01_port)) {
		fail(atype, "unauthorized", e, "http-01: %s redirects to \"%s\": "
		    "only http and https on ports 80, 443 and the validation "
		    "ports are followed", from, shown);
		goto out;
	}
	/* An IPv6 address comes in brackets. */
	n = strlen(host);
	if (n > 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(h)) {
		memcpy(h, host + 1, n - 2);
		h[n - 2] = '\0';
	} else {
		snprintf(h, sizeof(h), "%.*s", (int)(sizeof(h) - 1), host);
	}
	/* Not to an address (as Let's Encrypt): a redirect would otherwise
	 * point signetd at any internal service by number. */
	if (inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1) {
		fail(atype, "unauthorized", e, "http-01: %s redirects to \"%s\": "
		    "redirects to IP addresses are not followed", from, shown);
		goto out;
	}
	for (char *p = host; *p; p++)   /* host names compare lowercase */
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (check_ident("dns", host, id, atype, e) != 0) {
		fail(atype, "unauthorized", e, "http-01: %s redirects to \"%s\", "
		    "which is not a host name", from, shown);
		goto out;
	}
	if (strlen(full) >= url_len) {
		fail(atype, "unauthorized", e, "http-01: %s redirects to a URL "
		    "longer than %zu bytes", from, url_len - 1);
		goto out;
	}
	snprintf(url, url_len, "%s", full);
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port_s);
	curl_free(full);
	curl_url_cleanup(u);
	return rc;
}

static int http01(struct acme_validate *v, const struct ident *first,
    const char *token, const char *key_authz, long long deadline,
    const char **atype, struct err *e)
{
	struct ident id = *first;
	struct body *body = NULL;
	CURL *c = NULL;
	char url[2048], host[260], used[INET6_ADDRSTRLEN + 1] = "";
	char *location = NULL;
	long port = (long)v->cfg->acme_http01_port, status = 0;
	int https = 0, hops = 0, rc = -1;

	if (id.is_ip && id.family == AF_INET6)
		snprintf(host, sizeof(host), "[%s]", id.value);
	else
		snprintf(host, sizeof(host), "%s", id.value);
	snprintf(url, sizeof(url), "http://%s:%ld/.well-known/acme-challenge/%s",
	    host, port, token);
	if ((body = calloc(1, sizeof(*body))) == NULL ||
	    (c = curl_easy_init()) == NULL) {
		fail(atype, "serverInternal", e, "out of memory");
		goto out;
	}
	for (;;) {
		free(location);
		location = NULL;
		if (http_fetch(v, c, &id, port, https, url, deadline, body,
		    &status, &location, used, sizeof(used), atype, e) != 0)
			goto out;
		if (location == NULL)
			break;
		if (++hops > ACME_VALIDATE_MAX_REDIRECTS) {
			fail(atype, "unauthorized", e, "http-01: more than %d "
			    "redirects (the last from %s)", ACME_VALIDATE_MAX_REDIRECTS,
			    url);
			goto out;
		}
		{
			char from[sizeof(url)];

			snprintf(from, sizeof(from), "%s", url);
			if (redirect_target(v, from, location, &id, &port, &https, url,
			    sizeof(url), atype, e) != 0)
				goto out;
		}
	}
	if (status != 200) {
		fail(atype, "unauthorized", e, "http-01: GET %s (%s): HTTP %ld, "
		    "want 200", url, used, status);
		goto out;
	}
	/* RFC 8555 8.3: whitespace at the end of the body is ignored. */
	while (body->len > 0 && (body->buf[body->len - 1] == ' ' ||
	    body->buf[body->len - 1] == '\t' ||
	    body->buf[body->len - 1] == '\r' ||
	    body->buf[body->len - 1] == '\n'))
		body->len--;
	if (body->len != strlen(key_authz) ||
	    memcmp(body->buf, key_authz, body->len) != 0) {
		char shown[80 + 4] = "(not shown: reached by a redirect)";

		/* What a redirect target says goes to no client: the challenge
		 * error is the client's to read. */
		if (hops == 0)
			printable(body->buf, body->len, shown, 80);
		fail(atype, "incorrectResponse", e, "http-01: GET %s (%s): the body "
		    "is not the key authorization; got \"%s\" (%zu bytes)", url,
		    used, shown, body->len);
		goto out;
	}
	rc = 0;
out:
	free(location);
	curl_easy_cleanup(c);
	free(body);
	return rc;
}

/* ---- dns-01 (RFC 8555 8.4) ---- */

static int dns01(struct acme_validate *v, const struct ident *id,
    const char *key_authz, long long deadline, const char **atype,
    struct err *e)
{
	struct dnsq q = { .type = RR_TXT };
	struct ub_ctx *ctx = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char name[300], *want = NULL, first[64 + 4] = "";
	size_t wantlen = 0;
	cjose_err ce;
	int rc = -1, nrec = 0;

	if (id->is_ip)
		return fail(atype, "rejectedIdentifier", e, "RFC 8738 7: dns-01 "
		    "does not apply to an ip identifier");
	/* The expected value: base64url(SHA-256(key authorization)). */
	if (EVP_Digest(key_authz, strlen(key_authz), md, &mdlen, EVP_sha256(),
	    NULL) != 1 || !cjose_base64url_encode(md, mdlen, &want, &wantlen, &ce))
		return fail(atype, "serverInternal", e, "hashing the key "
		    "authorization failed");
	snprintf(name, sizeof(name), "_acme-challenge.%s", id->value);
	if (dns_ctx(v, &ctx, atype, e) != 0 ||
	    dns_ask(ctx, name, &q, 1, deadline, atype, e) != 0)
		goto out;
	if (q.err != 0) {
		fail(atype, "dns", e, "dns-01: looking up TXT %s: %s", name,
		    ub_strerror(q.err));
		goto out;
	}
	if (q.res->nxdomain || q.res->rcode == 3) {
		fail(atype, "unauthorized", e, "dns-01: no TXT record at %s "
		    "(NXDOMAIN)", name);
		goto out;
	}
	if (q.res->rcode != 0) {
		fail(atype, "dns", e, "dns-01: looking up TXT %s: %s", name,
		    rcode_name(q.res->rcode));
		goto out;
	}
	if (!q.res->havedata) {
		fail(atype, "unauthorized", e, "dns-01: no TXT record at %s", name);
		goto out;
	}
	for (int i = 0; i < TXT_MAX_RECORDS && q.res->data[i] != NULL; i++) {
		const unsigned char *d = (const unsigned char *)q.res->data[i];
		size_t len = (size_t)q.res->len[i], pos = 0, vlen = 0;
		char value[TXT_MAX_VALUE];
		int cut = 0;

		/* RFC 1035 3.3.14: TXT-DATA is one or more <character-string>
		 * (a length byte, then that many bytes); a value split into
		 * several strings is their concatenation (as RFC 7208 3.3
		 * reads TXT). */
		while (pos < len) {
			size_t l = d[pos++];

			if (l > len - pos) {
				cut = 1;  /* malformed: matches nothing */
				break;
			}
			if (l > sizeof(value) - vlen) {
				cut = 1;  /* longer than any right value */
				l = sizeof(value) - vlen;
			}
			memcpy(value + vlen, d + pos, l);
			vlen += l;
			pos += l;
			if (cut)
				break;
		}
		nrec++;
		if (!cut && vlen == wantlen && memcmp(value, want, wantlen) == 0) {
			rc = 0;
			goto out;
		}
		if (first[0] == '\0')
			printable(value, vlen, first, 64);
	}
	fail(atype, "incorrectResponse", e, "dns-01: none of the %d TXT "
	    "record(s) at %s is base64url(SHA-256(key authorization)) \"%s\"; "
	    "found \"%s\"", nrec, name, want, first);
out:
	free(want);
	dns_free(&q, 1);
	ub_ctx_delete(ctx);
	return rc;
}

/* ---- tls-alpn-01 (RFC 8737) ---- */

/* Wait until fd is ready for events, at most until the deadline.  0
 * ready, -1 timed out (errno ETIMEDOUT) or failed. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		long long left = deadline - now_ms();
		int r;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* A non-blocking TCP connection to a:port, at most until `until`. */
static int tcp_connect(const struct addr *a, unsigned port, long long until,
    int *out, char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, soerr = 0;
	socklen_t el = sizeof(soerr);

	memset(&ss, 0, sizeof(ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		memcpy(&s4->sin_addr, a->b, 4);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		memcpy(&s6->sin6_addr, a->b, 16);
		sl = sizeof(*s6);
	}
	fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
		if (errno != EINPROGRESS) {
			snprintf(why, whylen, "%s", strerror(errno));
			goto bad;
		}
		if (wait_fd(fd, POLLOUT, until) != 0) {
			snprintf(why, whylen, "%s", errno == ETIMEDOUT ?
			    "timed out" : strerror(errno));
			goto bad;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) != 0 ||
		    soerr != 0) {
			snprintf(why, whylen, "%s", strerror(soerr ? soerr : errno));
			goto bad;
		}
	}
	*out = fd;
	return 0;
bad:
	close(fd);
	return -1;
}

/* RFC 8738 6: the SNI of an ip identifier is its reverse-DNS name. */
static void reverse_name(const struct ident *id, char *out, size_t outlen)
{
	size_t o = 0;

	if (id->family == AF_INET) {
		snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", id->ip[3],
		    id->ip[2], id->ip[1], id->ip[0]);
		return;
	}
	for (int i = 15; i >= 0 && o + 4 < outlen; i--)
		o += (size_t)snprintf(out + o, outlen - o, "%x.%x.",
		    id->ip[i] & 0xf, id->ip[i] >> 4);
	snprintf(out + o, outlen - o, "ip6.arpa");
}

/* OpenSSL's queue, drained into buf (one line), for a detail. */
static void ossl_why(char *buf, size_t len)
{
	unsigned long code = ERR_get_error();

	if (code == 0)
		snprintf(buf, len, "the peer closed the connection");
	else
		ERR_error_string_n(code, buf, len);
	err_ossl_clear();
}

static int tls_handshake(SSL *ssl, int fd, long long deadline, char *why,
    size_t whylen)
{
	/* Bounded by the deadline: each turn waits at most what is left. */
	for (;;) {
		int r, se;

		ERR_clear_error();
		errno = 0;
		if ((r = SSL_connect(ssl)) == 1)
			return 0;
		se = SSL_get_error(ssl, r);
		if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE) {
			if (wait_fd(fd, se == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
			    deadline) != 0) {
				snprintf(why, whylen, "%s", errno == ETIMEDOUT ?
				    "timed out" : strerror(errno));
				return -1;
			}
			continue;
		}
		if (se == SSL_ERROR_SYSCALL && errno != 0)
			snprintf(why, whylen, "%s", strerror(errno));
		else
			ossl_why(why, whylen);
		return -1;
	}
}

/* The challenge certificate (RFC 8737 3): exactly one subjectAltName, a
 * dNSName (iPAddress for ip, RFC 8738 6) equal to the identifier, and one
 * critical acmeIdentifier whose value is the DER OCTET STRING of
 * SHA-256(key authorization). */
static int check_alpn_cert(const struct acme_validate *v, X509 *cert,
    const struct ident *id, const char *key_authz, char *why, size_t whylen)
{
	GENERAL_NAMES *sans = NULL;
	ASN1_OCTET_STRING *inner = NULL;
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int mdlen = 0;
	const unsigned char *p;
	const ASN1_OCTET_STRING *val;
	X509_EXTENSION *ext;
	GENERAL_NAME *gn;
	int crit = -1, loc, rc = -1, derlen;

	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	if (sans == NULL) {
		snprintf(why, whylen, "%s", crit == -2 ? "the certificate has "
		    "more than one subjectAltName extension" : "the certificate "
		    "has no (readable) subjectAltName");
		goto out;
	}
	if (sk_GENERAL_NAME_num(sans) != 1) {
		snprintf(why, whylen, "the certificate has %d subjectAltNames, "
		    "want exactly one", sk_GENERAL_NAME_num(sans));
		goto out;
	}
	gn = sk_GENERAL_NAME_value(sans, 0);
	if (id->is_ip) {
		size_t n = id->family == AF_INET ? 4 : 16;

		if (gn->type != GEN_IPADD ||
		    ASN1_STRING_length(gn->d.iPAddress) != (int)n ||
		    memcmp(ASN1_STRING_get0_data(gn->d.iPAddress), id->ip, n) != 0) {
			snprintf(why, whylen, "the subjectAltName is not the "
			    "iPAddress %s", id->value);
			goto out;
		}
	} else {
		size_t n = strlen(id->value);

		if (gn->type != GEN_DNS ||
		    ASN1_STRING_length(gn->d.dNSName) != (int)n ||
		    strncasecmp((const char *)ASN1_STRING_get0_data(gn->d.dNSName),
		    id->value, n) != 0) {
			snprintf(why, whylen, "the subjectAltName is not the "
			    "dNSName %s", id->value);
			goto out;
		}
	}
	if ((loc = X509_get_ext_by_OBJ(cert, v->acme_id_oid, -1)) < 0) {
		snprintf(why, whylen, "the certificate has no acmeIdentifier "
		    "extension (%s)", OID_ACME_IDENTIFIER);
		goto out;
	}
	if (X509_get_ext_by_OBJ(cert, v->acme_id_oid, loc) >= 0) {
		snprintf(why, whylen, "the certificate has two acmeIdentifier "
		    "extensions");
		goto out;
	}
	ext = X509_get_ext(cert, loc);
	if (X509_EXTENSION_get_critical(ext) != 1) {
		snprintf(why, whylen, "the acmeIdentifier extension is not "
		    "critical");
		goto out;
	}
	val = X509_EXTENSION_get_data(ext);
	p = ASN1_STRING_get0_data(val);
	inner = d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(val));
	/* DER: nothing after it, and it encodes back to the same bytes. */
	if (inner == NULL || p != ASN1_STRING_get0_data(val) + ASN1_STRING_length(val) ||
	    (derlen = i2d_ASN1_OCTET_STRING(inner, &der)) != ASN1_STRING_length(val) ||
	    memcmp(der, ASN1_STRING_get0_data(val), (size_t)derlen) != 0) {
		err_ossl_clear();
		snprintf(why, whylen, "the acmeIdentifier value is not a DER "
		    "OCTET STRING");
		goto out;
	}
	if (EVP_Digest(key_authz, strlen(key_authz), md, &mdlen, EVP_sha256(),
	    NULL) != 1) {
		err_ossl_clear();
		snprintf(why, whylen, "hashing the key authorization failed");
		goto out;
	}
	if ((unsigned int)ASN1_STRING_length(inner) != mdlen ||
	    memcmp(ASN1_STRING_get0_data(inner), md, mdlen) != 0) {
		snprintf(why, whylen, "the acmeIdentifier is not SHA-256 of the "
		    "key authorization");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(der);
	ASN1_OCTET_STRING_free(inner);
	GENERAL_NAMES_free(sans);
	return rc;
}

static int tlsalpn01(struct acme_validate *v, const struct ident *id,
    const char *key_authz, long long deadline, const char **atype,
    struct err *e)
{
	struct addr addrs[ACME_VALIDATE_MAX_ADDRS];
	unsigned port = (unsigned)v->cfg->acme_tlsalpn01_port;
	char sni[256], why[256] = "", where[INET6_ADDRSTRLEN + 16];
	char tried[ACME_VALIDATE_MAX_ADDRS * (INET6_ADDRSTRLEN + 2)] = "";
	const unsigned char *proto = NULL;
	unsigned int protolen = 0;
	X509 *cert = NULL;
	SSL *ssl = NULL;
	int naddrs, i, fd = -1, rc = -1;

	if (resolve_host(v, id, deadline, addrs, &naddrs, atype, e) != 0)
		return -1;
	if (id->is_ip)
		reverse_name(id, sni, sizeof(sni));
	else
		snprintf(sni, sizeof(sni), "%s", id->value);
	for (i = 0; i < naddrs && fd < 0; i++) {
		long long now = now_ms();

		if (now >= deadline)
			break;
		/* Leave time for the addresses still to try. */
		if (tcp_connect(&addrs[i], port, now + (deadline - now) /
		    (naddrs - i), &fd, why, sizeof(why)) != 0)
			snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried),
			    "%s%s", tried[0] ? ", " : "", addrs[i].text);
	}
	if (fd < 0) {
		fail(atype, "connection", e, "tls-alpn-01: cannot connect to %s "
		    "port %u (%s): %s", id->value, port, tried[0] ? tried :
		    addrs[0].text, why[0] ? why : "timed out");
		goto out;
	}
	i--;
	snprintf(where, sizeof(where), "%s%s%s:%u",
	    addrs[i].family == AF_INET6 ? "[" : "", addrs[i].text,
	    addrs[i].family == AF_INET6 ? "]" : "", port);
	if ((ssl = SSL_new(v->tls)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_tlsext_host_name(ssl, sni) != 1) {
		err_ossl_clear();
		fail(atype, "serverInternal", e, "tls-alpn-01: cannot set up a "
		    "TLS connection");
		goto out;
	}
	if (tls_handshake(ssl, fd, deadline, why, sizeof(why)) != 0) {
		fail(atype, "tls", e, "tls-alpn-01: TLS handshake with %s (SNI "
		    "%s, ALPN %s): %s", where, sni, ACME_TLS_1, why);
		goto out;
	}
	/* RFC 8737 3: the server must have chosen acme-tls/1. */
	SSL_get0_alpn_selected(ssl, &proto, &protolen);
	if (protolen != strlen(ACME_TLS_1) ||
	    memcmp(proto, ACME_TLS_1, protolen) != 0) {
		char shown[32 + 4];

		printable((const char *)proto, protolen, shown, 32);
		fail(atype, "tls", e, "tls-alpn-01: %s (SNI %s) did not select "
		    "the ALPN protocol %s (selected: %s)", where, sni, ACME_TLS_1,
		    protolen ? shown : "none");
		goto out;
	}
	if ((cert = SSL_get1_peer_certificate(ssl)) == NULL) {
		fail(atype, "tls", e, "tls-alpn-01: %s (SNI %s) presented no "
		    "certificate", where, sni);
		goto out;
	}
	if (check_alpn_cert(v, cert, id, key_authz, why, sizeof(why)) != 0) {
		fail(atype, "incorrectResponse", e, "tls-alpn-01: %s (SNI %s): "
		    "%s", where, sni, why);
		goto out;
	}
	rc = 0;
out:
	X509_free(cert);
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	err_ossl_clear();
	return rc;
}

/* ---- the interface ---- */

int acme_validate_new(const struct config *cfg, struct acme_validate **out,
    struct err *e)
{
	static const unsigned char alpn[] = "\x0a" ACME_TLS_1;
	struct acme_validate *v;

	*out = NULL;
	if (cfg == NULL)
		return err_set(e, ERR_INTERNAL, "acme_validate_new: no config");
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	v->cfg = cfg;
	v->timeout_ms = cfg->acme_validation_timeout * 1000;
	/* Before any thread: curl_global_init is not thread safe (it is
	 * reference-counted, so acme_validate_free undoes only ours). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(v);
		return err_set(e, ERR_INTERNAL, "curl_global_init failed");
	}
	if ((v->acme_id_oid = OBJ_txt2obj(OID_ACME_IDENTIFIER, 1)) == NULL ||
	    (v->tls = SSL_CTX_new(TLS_client_method())) == NULL ||
	    /* RFC 8737 4: TLS 1.2 or later. */
	    SSL_CTX_set_min_proto_version(v->tls, TLS1_2_VERSION) != 1 ||
	    /* set_alpn_protos returns 0 on success. */
	    SSL_CTX_set_alpn_protos(v->tls, alpn, sizeof(alpn) - 1) != 0) {
		acme_validate_free(v);
		return err_ossl(e, ERR_INTERNAL, "tls-alpn-01 TLS client");
	}
	/* The challenge certificate is self-signed: no chain to verify. */
	SSL_CTX_set_verify(v->tls, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_max_cert_list(v->tls, TLS_CERT_LIST_MAX);
	SSL_CTX_set_session_cache_mode(v->tls, SSL_SESS_CACHE_OFF);
	*out = v;
	return 0;
}

void acme_validate_free(struct acme_validate *v)
{
	if (v == NULL)
		return;
	SSL_CTX_free(v->tls);
	ASN1_OBJECT_free(v->acme_id_oid);
	curl_global_cleanup();
	free(v);
}

int acme_validate_challenge(struct acme_validate *v, const char *type,
    const char *ident_type, const char *ident_value, const char *token,
    const char *key_authz, const char **atype, struct err *e)
{
	struct ident id;
	long long deadline;

	*atype = NULL;
	if (v == NULL || type == NULL)
		return fail(atype, "serverInternal", e, "acme_validate: no "
		    "validator or challenge type");
	if (check_ident(ident_type, ident_value, &id, atype, e) != 0 ||
	    check_token(token, key_authz, atype, e) != 0)
		return -1;
	deadline = now_ms() + v->timeout_ms;
	if (strcmp(type, "http-01") == 0)
		return http01(v, &id, token, key_authz, deadline, atype, e);
	if (strcmp(type, "dns-01") == 0)
		return dns01(v, &id, key_authz, deadline, atype, e);
	if (strcmp(type, "tls-alpn-01") == 0)
		return tlsalpn01(v, &id, key_authz, deadline, atype, e);
	return fail(atype, "serverInternal", e, "acme_validate: unknown "
	    "challenge type (http-01, dns-01, tls-alpn-01)");
}
