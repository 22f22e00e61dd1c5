/*
 * monitor_probe: one target's chain, within a deadline.  Sockets are
 * non-blocking and every wait is a poll() bounded by what is left of the
 * deadline; the one call that cannot be bounded that way, getaddrinfo(),
 * runs in a detached thread that the probe stops waiting for.
 */
#include "cli/monitor_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

/* Addresses of one name tried at most (each gets a share of the time). */
#define ADDRS_MAX 16
/* SMTP: RFC 5321 4.5.3.1.5 caps a reply line at 512 octets; we allow
 * more, but not without bound. */
#define SMTP_LINE_MAX 1024
#define SMTP_LINES_MAX 100

long long monitor_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

SSL_CTX *monitor_probe_ctx_new(struct err *e)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		err_ossl(e, ERR_INTERNAL, "TLS client context");
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_max_cert_list(ctx, MONITOR_CERT_LIST_MAX);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

/* Wait until fd is ready for events, or fail at the deadline. */
static int wait_fd(int fd, short events, long long deadline,
    const char *stage, struct err *e)
{
	struct pollfd p = { .fd = fd, .events = events };
	long long left;
	int r;

	for (;;) {
		left = deadline - monitor_now_ms();
		if (left <= 0)
			return err_set(e, ERR_UNAVAILABLE, "timed out %s", stage);
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set(e, ERR_INTERNAL, "poll: %s", strerror(errno));
		if (r > 0)
			return 0;
	}
}

/* ---- name lookup with a deadline ---- */

/* Shared by the prober and the lookup thread; whoever drops the last
 * reference frees it, so a prober that gave up leaves nothing behind. */
struct lookup {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs, done, rc;
	struct addrinfo *res;
	char host[MONITOR_HOST_MAX + 1], port[8];
};

static void lookup_unref(struct lookup *l)
{
	int refs;

	pthread_mutex_lock(&l->mu);
	refs = --l->refs;
	pthread_mutex_unlock(&l->mu);
	if (refs > 0)
		return;
	if (l->res != NULL)
		freeaddrinfo(l->res);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

static void *lookup_thread(void *arg)
{
	struct lookup *l = arg;
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(l->host, l->port, &hints, &res);
	pthread_mutex_lock(&l->mu);
	l->rc = rc;
	l->res = rc == 0 ? res : NULL;
	l->done = 1;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	lookup_unref(l);
	return NULL;
}

static int resolve(const struct monitor_target *t, long long deadline,
    struct addrinfo **out, struct err *e)
{
	struct addrinfo hints;
	struct lookup *l = NULL;
	pthread_condattr_t ca;
	pthread_attr_t ta;
	pthread_t th;
	struct timespec ts;
	char port[8];
	int rc, started = 0;

	snprintf(port, sizeof(port), "%u", t->port);
	if (t->host_is_ip) {
		/* A literal needs no lookup: nothing can stall. */
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		if ((rc = getaddrinfo(t->host, port, &hints, out)) != 0)
			return err_set(e, ERR_INVALID, "%s: %s", t->host, gai_strerror(rc));
		return 0;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	snprintf(l->host, sizeof(l->host), "%s", t->host);
	snprintf(l->port, sizeof(l->port), "%s", port);
	l->refs = 2;
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	started = pthread_create(&th, &ta, lookup_thread, l) == 0;
	pthread_attr_destroy(&ta);
	if (!started) {
		l->refs = 1;
		lookup_unref(l);
		return err_set(e, ERR_INTERNAL, "cannot start a lookup thread");
	}
	ts.tv_sec = (time_t)(deadline / 1000);
	ts.tv_nsec = (long)(deadline % 1000) * 1000000;
	pthread_mutex_lock(&l->mu);
	while (!l->done)
		if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT)
			break;
	rc = l->done ? 0 : -1;
	if (l->done && l->rc != 0)
		err_set(e, ERR_UNAVAILABLE, "cannot resolve %s: %s", t->host,
		    gai_strerror(l->rc));
	else if (!l->done)
		err_set(e, ERR_UNAVAILABLE, "timed out resolving %s", t->host);
	if (l->done && l->rc == 0) {
		*out = l->res;
		l->res = NULL;
	} else
		rc = -1;
	pthread_mutex_unlock(&l->mu);
	lookup_unref(l);
	return rc;
}

/* ---- TCP ---- */

static void addr_text(const struct addrinfo *a, char *out, size_t len)
{
	char h[NI_MAXHOST], p[NI_MAXSERV];

	if (getnameinfo(a->ai_addr, a->ai_addrlen, h, sizeof(h), p, sizeof(p),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(out, len, "?");
	else if (a->ai_family == AF_INET6)
		snprintf(out, len, "[%s]:%s", h, p);
	else
		snprintf(out, len, "%s:%s", h, p);
}

/* Try each address in turn; each gets an equal share of what is left,
 * the last one all of it, so one black hole does not eat the others'
 * time. */
static int connect_any(const struct addrinfo *list, long long deadline,
    int *out, struct err *e)
{
	const struct addrinfo *a;
	char where[NI_MAXHOST + NI_MAXSERV + 4];
	int n = 0, i = 0, fd = -1, soerr;
	socklen_t sl;

	for (a = list; a != NULL && n < ADDRS_MAX; a = a->ai_next)
		n++;
	err_set(e, ERR_UNAVAILABLE, "no address to connect to");
	for (a = list; a != NULL && i < n; a = a->ai_next, i++) {
		long long now = monitor_now_ms();
		long long until = now + (deadline - now) / (n - i);

		addr_text(a, where, sizeof(where));
		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    a->ai_protocol);
		if (fd < 0) {
			err_set(e, ERR_UNAVAILABLE, "socket: %s", strerror(errno));
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 &&
		    errno != EINPROGRESS) {
			err_set(e, ERR_UNAVAILABLE, "connect to %s: %s", where,
			    strerror(errno));
			goto next;
		}
		if (wait_fd(fd, POLLOUT, until, "connecting", e) != 0) {
			err_prefix(e, "%s: ", where);
			goto next;
		}
		sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
			soerr = errno;
		if (soerr != 0) {
			err_set(e, ERR_UNAVAILABLE, "connect to %s: %s", where,
			    strerror(soerr));
			goto next;
		}
		*out = fd;
		return 0;
next:
		close(fd);
		fd = -1;
	}
	return -1;
}

static int send_all(int fd, const void *buf, size_t len, long long deadline,
    const char *stage, struct err *e)
{
	const char *p = buf;
	ssize_t r;

	while (len > 0) {
		r = send(fd, p, len, MSG_NOSIGNAL);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline, stage, e) != 0)
				return -1;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set(e, ERR_UNAVAILABLE, "%s: %s", stage, strerror(errno));
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Read what is there (at most len bytes, at least one), waiting until the
 * deadline; the peer closing is an error. */
static int recv_some(int fd, void *buf, size_t len, long long deadline,
    const char *stage, size_t *got, struct err *e)
{
	ssize_t r;

	for (;;) {
		r = recv(fd, buf, len, 0);
		if (r > 0) {
			*got = (size_t)r;
			return 0;
		}
		if (r == 0)
			return err_set(e, ERR_UNAVAILABLE, "the peer closed the "
			    "connection %s", stage);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return err_set(e, ERR_UNAVAILABLE, "%s: %s", stage, strerror(errno));
		if (wait_fd(fd, POLLIN, deadline, stage, e) != 0)
			return -1;
	}
}

/* ---- SMTP STARTTLS (RFC 3207) ---- */

struct smtp_buf {
	char b[SMTP_LINE_MAX * 2];
	size_t len;
};

/* Read one reply, every line of it (RFC 5321 4.2.1: "CODE-text" lines
 * until "CODE text").  *code is its code; *starttls tells whether a line
 * after the first is the STARTTLS keyword (an EHLO reply offering it). */
static int smtp_reply(int fd, struct smtp_buf *sb, long long deadline,
    const char *stage, int *code, int *starttls, char *first,
    size_t firstlen, struct err *e)
{
	int lines = 0;
	size_t got;
	char *nl, line[SMTP_LINE_MAX + 1];

	if (starttls != NULL)
		*starttls = 0;
	for (;;) {
		nl = memchr(sb->b, '\n', sb->len);
		if (nl == NULL) {
			if (sb->len >= SMTP_LINE_MAX)
				return err_set(e, ERR_INVALID, "SMTP reply line longer than "
				    "%d bytes %s", SMTP_LINE_MAX, stage);
			if (recv_some(fd, sb->b + sb->len, sizeof(sb->b) - sb->len,
			    deadline, stage, &got, e) != 0)
				return -1;
			sb->len += got;
			continue;
		}
		{
			size_t ll = (size_t)(nl - sb->b);
			if (ll > SMTP_LINE_MAX)
				return err_set(e, ERR_INVALID, "SMTP reply line longer than "
				    "%d bytes %s", SMTP_LINE_MAX, stage);
			memcpy(line, sb->b, ll);
			line[ll] = '\0';
			if (ll > 0 && line[ll - 1] == '\r')
				line[ll - 1] = '\0';
			memmove(sb->b, nl + 1, sb->len - ll - 1);
			sb->len -= ll + 1;
		}
		if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' ||
		    (line[3] != '\0' && line[3] != ' ' && line[3] != '-'))
			return err_set(e, ERR_INVALID, "not an SMTP reply %s: \"%.80s\"",
			    stage, line);
		if (lines == 0) {
			*code = atoi(line);
			snprintf(first, firstlen, "%s", line);
		} else if (atoi(line) != *code)
			return err_set(e, ERR_INVALID, "SMTP reply %s changes its code",
			    stage);
		else if (starttls != NULL && line[3] != '\0' &&
		    strncasecmp(line + 4, "STARTTLS", 8) == 0 &&
		    (line[12] == '\0' || line[12] == ' '))
			*starttls = 1;
		if (++lines > SMTP_LINES_MAX)
			return err_set(e, ERR_INVALID, "SMTP reply %s of more than %d "
			    "lines", stage, SMTP_LINES_MAX);
		if (line[3] != '-')
			return 0;
	}
}

static int smtp_starttls(int fd, long long deadline, struct err *e)
{
	struct smtp_buf *sb = calloc(1, sizeof(*sb));
	char first[SMTP_LINE_MAX + 1], ehlo[300], me[256];
	int code = 0, offered = 0, rc = -1;

	if (sb == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	/* RFC 5321 4.1.1.1: EHLO names the client; our host name will do. */
	if (gethostname(me, sizeof(me)) != 0 || me[0] == '\0' ||
	    monitor_target_check_name("local host name", me, NULL) != 0)
		snprintf(me, sizeof(me), "localhost");
	snprintf(ehlo, sizeof(ehlo), "EHLO %s\r\n", me);
	if (smtp_reply(fd, sb, deadline, "waiting for the SMTP greeting", &code,
	    NULL, first, sizeof(first), e) != 0)
		goto out;
	if (code != 220) {
		err_set(e, ERR_INVALID, "SMTP greeting: \"%.120s\"", first);
		goto out;
	}
	if (send_all(fd, ehlo, strlen(ehlo), deadline, "sending EHLO", e) != 0 ||
	    smtp_reply(fd, sb, deadline, "waiting for the EHLO reply", &code,
	    &offered, first, sizeof(first), e) != 0)
		goto out;
	if (code != 250) {
		err_set(e, ERR_INVALID, "SMTP EHLO: \"%.120s\"", first);
		goto out;
	}
	if (!offered) {
		err_set(e, ERR_INVALID, "the SMTP server does not offer STARTTLS");
		goto out;
	}
	if (send_all(fd, "STARTTLS\r\n", 10, deadline, "sending STARTTLS", e) != 0 ||
	    smtp_reply(fd, sb, deadline, "waiting for the STARTTLS reply", &code,
	    NULL, first, sizeof(first), e) != 0)
		goto out;
	if (code != 220) {
		err_set(e, ERR_INVALID, "SMTP STARTTLS: \"%.120s\"", first);
		goto out;
	}
	/* Plaintext after the 220 would be read as if it came over TLS
	 * (the STARTTLS injection of CVE-2011-0411): refuse. */
	if (sb->len != 0) {
		err_set(e, ERR_INVALID, "the SMTP server sent data after its "
		    "STARTTLS reply");
		goto out;
	}
	rc = 0;
out:
	free(sb);
	return rc;
}

/* ---- PostgreSQL SSLRequest (protocol 3, "SSL Session Encryption") ---- */

static int postgres_sslrequest(int fd, long long deadline, struct err *e)
{
	/* Length 8, then the SSLRequest code 80877103 (1234 << 16 | 5679). */
	static const unsigned char req[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
	unsigned char answer;
	size_t got;

	if (send_all(fd, req, sizeof(req), deadline, "sending the SSLRequest",
	    e) != 0)
		return -1;
	/* Exactly one byte: anything the server sent beyond it would be
	 * plaintext the TLS layer must never see (CVE-2021-23222). */
	if (recv_some(fd, &answer, 1, deadline, "waiting for the SSLRequest "
	    "answer", &got, e) != 0)
		return -1;
	if (answer == 'S')
		return 0;
	if (answer == 'N')
		return err_set(e, ERR_INVALID, "the PostgreSQL server does not "
		    "accept SSL");
	return err_set(e, ERR_INVALID, "the PostgreSQL server answered the "
	    "SSLRequest with '%c'", answer >= 0x20 && answer < 0x7f ? answer : '?');
}

/* ---- TLS ---- */

static int handshake(SSL *ssl, int fd, long long deadline, struct err *e)
{
	int r, se;

	for (;;) {
		ERR_clear_error();
		r = SSL_connect(ssl);
		if (r == 1)
			return 0;
		se = SSL_get_error(ssl, r);
		if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE) {
			if (wait_fd(fd, se == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
			    deadline, "during the TLS handshake", e) != 0)
				return -1;
			continue;
		}
		if (ERR_peek_error() != 0)
			return err_ossl(e, ERR_UNAVAILABLE, "TLS handshake");
		if (se == SSL_ERROR_SYSCALL && errno != 0)
			return err_set(e, ERR_UNAVAILABLE, "TLS handshake: %s",
			    strerror(errno));
		return err_set(e, ERR_UNAVAILABLE, "the peer closed the connection "
		    "during the TLS handshake");
	}
}

int monitor_probe(SSL_CTX *ctx, const struct monitor_target *t,
    long long deadline_ms, STACK_OF(X509) **chain, char *version,
    size_t versionlen, char *note, size_t notelen, struct err *e)
{
	struct addrinfo *addrs = NULL;
	STACK_OF(X509) *peer, *copy = NULL;
	SSL *ssl = NULL;
	int fd = -1, rc = -1, n;

	*chain = NULL;
	if (notelen > 0)
		note[0] = '\0';
	if (resolve(t, deadline_ms, &addrs, e) != 0 ||
	    connect_any(addrs, deadline_ms, &fd, e) != 0)
		goto out;
	if (t->proto == MONITOR_SMTP && smtp_starttls(fd, deadline_ms, e) != 0)
		goto out;
	if (t->proto == MONITOR_POSTGRES &&
	    postgres_sslrequest(fd, deadline_ms, e) != 0)
		goto out;
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1) {
		err_ossl(e, ERR_INTERNAL, "TLS connection");
		goto out;
	}
	if (t->sni[0] != '\0' && SSL_set_tlsext_host_name(ssl, t->sni) != 1) {
		err_ossl(e, ERR_INTERNAL, "SNI %s", t->sni);
		goto out;
	}
	if (handshake(ssl, fd, deadline_ms, e) != 0) {
		/* The server's certificate may have come before the end. */
		peer = SSL_get_peer_cert_chain(ssl);
		if (peer == NULL || sk_X509_num(peer) == 0)
			goto out;
		snprintf(note, notelen, "%s", e->msg);
	}
	/* On the client side the chain includes the leaf. */
	peer = SSL_get_peer_cert_chain(ssl);
	n = peer ? sk_X509_num(peer) : 0;
	if (n == 0) {
		err_set(e, ERR_INVALID, "the server sent no certificate");
		goto out;
	}
	if (n > MONITOR_CHAIN_MAX) {
		err_set(e, ERR_INVALID, "the server sent %d certificates; at most "
		    "%d are accepted", n, MONITOR_CHAIN_MAX);
		goto out;
	}
	if ((copy = sk_X509_new_null()) == NULL)
		goto oom;
	for (int i = 0; i < n; i++) {
		X509 *x = sk_X509_value(peer, i);
		if (X509_up_ref(x) != 1)
			goto oom;
		if (sk_X509_push(copy, x) == 0) {
			X509_free(x);
			goto oom;
		}
	}
	snprintf(version, versionlen, "%s", SSL_get_version(ssl));
	/* A polite close_notify; whether it went out does not matter. */
	(void)SSL_shutdown(ssl);
	*chain = copy;
	copy = NULL;
	rc = 0;
	goto out;
oom:
	err_set(e, ERR_INTERNAL, "out of memory");
out:
	ERR_clear_error();
	sk_X509_pop_free(copy, X509_free);
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	if (addrs != NULL)
		freeaddrinfo(addrs);
	return rc;
}
