#include "common/http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <openssl/rand.h>

#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/tls_creds.h"

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_server_opts opts;
	struct tls_creds *creds;
	char *trust;
};

/* Per-request state, kept in MHD's *req_cls until completion. */
struct req_state {
	struct timespec start;
	char id[17];
	char *body;
	size_t len, cap;
	int too_big;
	size_t limit;   /* the route's max_body, else the server's */
};

/* Request ids: unique within the process and, with a random prefix
 * drawn once (the high 40 bits; the low 24 count on), across processes
 * and restarts.  Not a secret, so a counter rather than a DRBG call per
 * request, which showed in OCSP profiles. */
static atomic_uint_least64_t next_request_id;
static pthread_once_t request_id_once = PTHREAD_ONCE_INIT;

static void seed_request_ids(void)
{
	unsigned char rnd[5];
	uint64_t v = 0;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		v = v << 8 | rnd[i];
	atomic_store(&next_request_id, v << 24);
}

static void request_id(char out[17])
{
	uint64_t v;

	pthread_once(&request_id_once, seed_request_ids);
	v = atomic_fetch_add(&next_request_id, 1);
	snprintf(out, 17, "%016llx", (unsigned long long)v);
}

static double elapsed(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) +
	    (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

void http_respond_owned(struct http_response *resp, int status,
    const char *content_type, char *data, size_t len)
{
	free(resp->body);
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s",
	    content_type);
	resp->body = data;
	resp->body_len = len;
}

void http_respond(struct http_response *resp, int status,
    const char *content_type, const void *data, size_t len)
{
	char *copy = malloc(len ? len : 1);

	if (copy == NULL) {
		http_respond_owned(resp, 500, "text/plain", NULL, 0);
		return;
	}
	memcpy(copy, data, len);
	http_respond_owned(resp, status, content_type, copy, len);
}

void http_add_header(struct http_response *resp, const char *name,
    const char *value)
{
	size_t n = strlen(resp->extra_headers);

	snprintf(resp->extra_headers + n, sizeof(resp->extra_headers) - n,
	    "%s: %s\n", name, value);
}

void http_problem(struct http_response *resp, const struct err *e)
{
	int status = err_http_status(e->kind);
	char type[128], title[64];
	json_t *j;
	char *text;

	snprintf(type, sizeof(type), "urn:signet:problem:%s",
	    err_type_slug(e->kind));
	snprintf(title, sizeof(title), "%s", err_type_slug(e->kind));
	j = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", title,
	    "status", status, "detail", e->msg[0] ? e->msg : title);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text == NULL) {
		http_respond(resp, 500, "text/plain", "internal error\n", 15);
		return;
	}
	http_respond_owned(resp, status, "application/problem+json", text,
	    strlen(text));
	snprintf(resp->log_detail, sizeof(resp->log_detail), "problem=%s",
	    err_type_slug(e->kind));
}

int http_content_type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	return ct != NULL && strncasecmp(ct, type, n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

int http_json_body(const struct http_request *req, void **out, int *status,
    struct err *e)
{
	json_error_t je;
	json_t *body;

	if (!http_content_type_is(req->content_type, "application/json")) {
		*status = 415;
		return err_set(e, ERR_INVALID, "Content-Type must be application/json");
	}
	body = json_loadb(req->body ? req->body : "", req->body_len,
	    JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(body)) {
		*status = 400;
		err_set(e, ERR_INVALID, "body is not a JSON object: %s",
		    body ? "wrong type" : je.text);
		json_decref(body);
		return -1;
	}
	*out = body;
	return 0;
}

int http_json_request(const struct http_request *req,
    struct http_response *resp, void **out, struct err *e)
{
	int status;

	if (http_json_body(req, out, &status, e) == 0)
		return 0;
	if (status != 415)
		return -1;
	http_problem(resp, e);
	resp->status = 415;
	return 1;
}

const char *http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int http_peer_cert(const struct http_request *req, const unsigned char **der,
    size_t *len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn,
	    MHD_CONNECTION_INFO_GNUTLS_SESSION);
	const gnutls_datum_t *peers;
	unsigned n = 0;

	if (ci == NULL || ci->tls_session == NULL)
		return -1;
	/* GnuTLS checked the client's signature over the handshake (its
	 * CertificateVerify): whoever sent this certificate holds its key.
	 * Whether the certificate is any good is the handler's question. */
	peers = gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session,
	    &n);
	if (peers == NULL || n == 0)
		return -1;
	*der = peers[0].data;
	*len = peers[0].size;
	return 0;
}

int http_server_set_tls(struct http_server *s, const char *cert_pem,
    const char *key_pem, struct err *e)
{
	if (s->creds == NULL)
		return err_set(e, ERR_INTERNAL, "%s listener has no TLS",
		    s->opts.name);
	return tls_creds_replace(s->creds, cert_pem, key_pem, e);
}

static const struct http_route *route(const struct http_route *routes,
    const char *method, const char *path, int *method_mismatch)
{
	*method_mismatch = 0;
	for (const struct http_route *r = routes; r->method != NULL; r++) {
		size_t n = strlen(r->path);
		int match = r->path[n - 1] == '*' ?
		    strncmp(path, r->path, n - 1) == 0 :
		    strcmp(path, r->path) == 0;
		if (!match)
			continue;
		if (strcmp(r->method, method) == 0 ||
		    (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0))
			return r;
		*method_mismatch = 1;
	}
	return NULL;
}

static void remote_addr(struct MHD_Connection *c, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, len, "-");
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    out, (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    out, (socklen_t)len);
}

static enum MHD_Result send_response(struct http_server *s,
    struct MHD_Connection *conn, struct req_state *st, const char *method,
    const char *path, const struct http_route *r, struct http_response *resp)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;
	char remote[64], labels[128], ep[64];
	double secs;

	mr = MHD_create_response_from_buffer(resp->body_len,
	    resp->body ? resp->body : (void *)"", resp->body ?
	    MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (mr == NULL) {
		free(resp->body);
		return MHD_NO;
	}
	resp->body = NULL;
	MHD_add_response_header(mr, "Content-Type", resp->content_type);
	MHD_add_response_header(mr, "X-Request-Id", st->id);
	for (char *line = resp->extra_headers, *nl; *line; line = nl + 1) {
		char *colon;
		if ((nl = strchr(line, '\n')) == NULL)
			break;
		*nl = '\0';
		if ((colon = strchr(line, ':')) != NULL) {
			*colon = '\0';
			MHD_add_response_header(mr, line, colon + 2);
		}
	}
	ret = MHD_queue_response(conn, (unsigned)resp->status, mr);
	MHD_destroy_response(mr);

	secs = elapsed(&st->start);
	metrics_label(r ? r->endpoint : "other", ep, sizeof(ep));
	snprintf(labels, sizeof(labels), "endpoint=\"%s\"", ep);
	metrics_observe("signet_http_request_duration_seconds", labels, secs);
	remote_addr(conn, remote, sizeof(remote));
	log_info("msg=request listener=%s id=%s remote=%s method=%.16s "
	    "path=\"%.128s\" status=%d bytes=%zu dur_ms=%.2f %s",
	    s->opts.name, st->id, remote, method, path, resp->status,
	    resp->body_len, secs * 1000, resp->log_detail);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct http_server *s = cls;
	struct req_state *st = *req_cls;
	struct http_response resp;
	struct http_request req;
	const struct http_route *r;
	struct err e;
	int mismatch;
	enum MHD_Result ret;
	char remote[64];

	memset(&resp, 0, sizeof(resp));
	if (st == NULL) {
		const char *cl;

		if ((st = calloc(1, sizeof(*st))) == NULL)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &st->start);
		request_id(st->id);
		*req_cls = st;
		/* A route may read less than the server's max_body. */
		r = route(s->opts.routes, method, url, &mismatch);
		st->limit = r != NULL && r->max_body > 0 &&
		    r->max_body < s->opts.max_body ? r->max_body : s->opts.max_body;
		/* Refuse early what we will not read (413 before the body). */
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) > st->limit)
			st->too_big = 1;
		else
			return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!st->too_big && st->len + *upload_data_size <= st->limit) {
			if (st->len + *upload_data_size + 1 > st->cap) {
				size_t ncap = st->len + *upload_data_size + 1;
				if (ncap < 4096)
					ncap = 4096;
				char *nb = realloc(st->body, ncap);
				if (nb == NULL)
					return MHD_NO;
				st->body = nb;
				st->cap = ncap;
			}
			memcpy(st->body + st->len, upload_data, *upload_data_size);
			st->len += *upload_data_size;
			st->body[st->len] = '\0';
		} else {
			st->too_big = 1;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	(void)version;
	r = route(s->opts.routes, method, url, &mismatch);
	if (st->too_big) {
		err_set(&e, ERR_TOOBIG, "request body larger than %zu bytes",
		    st->limit);
		http_problem(&resp, &e);
		MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 1);
	} else if (r == NULL) {
		err_set(&e, mismatch ? ERR_INVALID : ERR_NOTFOUND,
		    mismatch ? "method %.16s not allowed on %.128s" :
		    "no such resource: %.128s", method, url);
		http_problem(&resp, &e);
		if (mismatch)
			resp.status = 405;
	} else {
		memset(&req, 0, sizeof(req));
		remote_addr(conn, remote, sizeof(remote));
		req.method = method;
		req.path = url;
		req.content_type = MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
		req.body = st->body;
		req.body_len = st->len;
		req.request_id = st->id;
		req.remote = remote;
		req.conn = conn;
		resp.status = 500;
		r->fn(r->arg, &req, &resp);
		if (resp.content_type[0] == '\0')
			snprintf(resp.content_type, sizeof(resp.content_type),
			    "text/plain");
	}
	ret = send_response(s, conn, st, method, url, r, &resp);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn,
    void **req_cls, enum MHD_RequestTerminationCode toe)
{
	struct req_state *st = *req_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (st == NULL)
		return;
	free(st->body);
	free(st);
	*req_cls = NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("msg=\"libmicrohttpd: %s\"", msg);
}

int http_server_start(const struct http_server_opts *o,
    struct http_server **out, struct err *e)
{
	struct http_server *s = NULL;
	struct addrinfo hints, *ai = NULL;
	char host[256], portstr[8];
	unsigned port;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_USE_ERROR_LOG;
	int rc = -1, gai;

	if (config_split_hostport(o->listen, host, sizeof(host), &port, e) != 0)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	if ((gai = getaddrinfo(host, portstr, &hints, &ai)) != 0)
		return err_set(e, ERR_CONFIG, "%s: %s", o->listen,
		    gai_strerror(gai));
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	s->opts = *o;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (o->tls_cert_pem != NULL) {
		flags |= MHD_USE_TLS;
		if (tls_creds_new(o->tls_cert_pem, o->tls_key_pem, &s->creds,
		    e) != 0) {
			err_prefix(e, "%s_listen: ", o->name);
			goto out;
		}
		/* A trust list makes libmicrohttpd ask for (not require) a
		 * client certificate. */
		if (o->tls_client_ca_pem != NULL &&
		    (s->trust = strdup(o->tls_client_ca_pem)) == NULL) {
			err_set(e, ERR_INTERNAL, "out of memory");
			goto out;
		}
	}
	s->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL,
	    on_request, s,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	    MHD_OPTION_THREAD_POOL_SIZE, o->threads,
	    MHD_OPTION_CONNECTION_TIMEOUT, o->timeout,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    o->conn_memory > 0 ? o->conn_memory : (size_t)65536,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, s,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	    o->tls_cert_pem ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END,
	    &tls_creds_retrieve,
	    MHD_OPTION_HTTPS_PRIORITIES,
	    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
	    s->trust ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, s->trust,
	    MHD_OPTION_END);
	if (s->daemon == NULL) {
		err_set(e, ERR_CONFIG,
		    "%s_listen: cannot listen on %s (address in use, not local, "
		    "or bad TLS certificate/key)", o->name, o->listen);
		goto out;
	}
	*out = s;
	s = NULL;
	rc = 0;
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	http_server_stop(s);
	return rc;
}

void http_server_stop(struct http_server *s)
{
	if (s == NULL)
		return;
	if (s->daemon != NULL)
		MHD_stop_daemon(s->daemon);
	tls_creds_free(s->creds);
	free(s->trust);
	free(s);
}
