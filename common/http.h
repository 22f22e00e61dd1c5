/*
 * http: the libmicrohttpd glue both listeners share.  A server is a bound
 * address, optional TLS (GnuTLS, PEM in memory), a worker thread pool and
 * a table of routes.  Bodies are accumulated up to max_body (larger: 413
 * before the body is read when Content-Length says so); every response
 * carries X-Request-Id and is logged as one line; errors are RFC 7807
 * problem+json.
 */
#ifndef SIGNET_HTTP_H
#define SIGNET_HTTP_H

#include <stddef.h>

#include "common/err.h"

struct http_request {
	const char *method;
	const char *path;          /* without the query string */
	const char *content_type;  /* NULL if absent */
	const char *body;          /* NUL-terminated copy; NULL if none */
	size_t body_len;
	const char *request_id;
	const char *remote;        /* client address, for logs */
	void *conn;                /* struct MHD_Connection *, for headers */
};

struct http_response {
	int status;
	char content_type[64];
	char *body;                /* malloc'ed; freed by the server */
	size_t body_len;
	char extra_headers[1024];  /* "Name: value\n" lines */
	char log_detail[256];      /* added to the request's log line */
};

typedef void (*http_handler)(void *arg, const struct http_request *req,
    struct http_response *resp);

struct http_route {
	const char *method;        /* "GET", "POST"; NULL ends the table */
	const char *path;          /* exact path, or prefix if it ends in '*' */
	http_handler fn;
	void *arg;
	const char *endpoint;      /* label for the duration metric */
	size_t max_body;           /* 0: the server's max_body; else the
	                              smaller of the two */
};

struct http_server_opts {
	const char *listen;        /* host:port (IPv4, [IPv6] or a name) */
	const char *tls_cert_pem;  /* NULL: plain HTTP */
	const char *tls_key_pem;
	const char *tls_client_ca_pem; /* non-NULL: ask clients for a
	                                  certificate (optional; handlers
	                                  judge it, see http_peer_cert) */
	unsigned threads;
	size_t max_body;
	unsigned timeout;          /* idle seconds */
	size_t conn_memory;        /* per-connection buffer pool (request
	                              line, headers, read buffer); 0: 64 KiB.
	                              libmicrohttpd clears what a request
	                              used of it before the next one */
	const struct http_route *routes;
	const char *name;          /* "https" / "http", for logs */
};

struct http_server;

/* Bind and start serving.  Bind failure names the address. */
int http_server_start(const struct http_server_opts *o,
    struct http_server **out, struct err *e);
/* Stop accepting, finish requests in flight, free.  NULL is fine. */
void http_server_stop(struct http_server *s);

/* Fill resp with a problem+json for e. */
void http_problem(struct http_response *resp, const struct err *e);
/* Fill resp with a copy of data. */
void http_respond(struct http_response *resp, int status,
    const char *content_type, const void *data, size_t len);
/* Take ownership of a malloc'ed body. */
void http_respond_owned(struct http_response *resp, int status,
    const char *content_type, char *data, size_t len);
/* Add a response header. */
void http_add_header(struct http_response *resp, const char *name,
    const char *value);
/* 1 if the Content-Type header ct names the media type type (any case),
 * with or without parameters. */
int http_content_type_is(const char *ct, const char *type);

/* The body as a JSON object (json_t *, to json_decref): Content-Type must
 * be application/json, else *status is 415; the body an object without
 * duplicate keys, else 400.  On failure e says why. */
int http_json_body(const struct http_request *req, void **out, int *status,
    struct err *e);

/* http_json_body for a handler: 0 with *out set; 1 when the Content-Type
 * was wrong and resp already holds the 415 problem (the handler is done);
 * -1 with e set for a body that is not a JSON object (the handler answers
 * it on its failure path, 400). */
int http_json_request(const struct http_request *req,
    struct http_response *resp, void **out, struct err *e);

/* A request header, or NULL. */
const char *http_header(const struct http_request *req, const char *name);

/* The client certificate (DER, borrowed for the request) the TLS peer
 * presented and proved it holds the key of; -1 if none.  Not verified
 * against anything: the caller decides what it is worth. */
int http_peer_cert(const struct http_request *req, const unsigned char **der,
    size_t *len);

/* Serve a new certificate chain and key from the next handshake on, with
 * no restart and no connection dropped. */
int http_server_set_tls(struct http_server *s, const char *cert_pem,
    const char *key_pem, struct err *e);

#endif
