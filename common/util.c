#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int util_parse_duration(const char *s, long long max_seconds, long long *out,
    struct err *e)
{
	char *end;
	long long v, mul = 1;

	if (s == NULL || *s == '\0' || !isdigit((unsigned char)*s))
		return err_set(e, ERR_INVALID,
		    "bad duration \"%s\": want N[smhd], e.g. 24h", s ? s : "");
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0)
		return err_set(e, ERR_INVALID, "bad duration \"%s\": out of range", s);
	if (*end != '\0') {
		switch (*end) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default:
			return err_set(e, ERR_INVALID,
			    "bad duration \"%s\": unit must be s, m, h or d", s);
		}
		if (end[1] != '\0')
			return err_set(e, ERR_INVALID,
			    "bad duration \"%s\": want N[smhd]", s);
	}
	if (v > LLONG_MAX / mul || v * mul > max_seconds)
		return err_set(e, ERR_INVALID,
		    "duration \"%s\" is longer than the limit of %llds", s,
		    max_seconds);
	*out = v * mul;
	return 0;
}

void util_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int util_read_file(const char *path, size_t max, char **out, size_t *len,
    struct err *e)
{
	int fd = -1, rc = -1;
	char *buf = NULL;
	size_t n = 0;
	ssize_t r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err_set(e, ERR_CONFIG, "%s: %s", path, strerror(errno));
		goto out;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (;;) {
		r = read(fd, buf + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set(e, ERR_CONFIG, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			err_set(e, ERR_TOOBIG, "%s: larger than %zu bytes", path, max);
			goto out;
		}
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	if (len != NULL)
		*len = n;
	rc = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

int util_write_file(const char *path, const void *data, size_t len,
    unsigned mode, struct err *e)
{
	char tmp[PATH_MAX];
	int fd = -1, rc = -1;
	const char *p = data;
	ssize_t w;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return err_set(e, ERR_INVALID, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		err_set(e, ERR_INTERNAL, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fchmod(fd, mode) != 0) {
		err_set(e, ERR_INTERNAL, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	while (len > 0) {
		w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err_set(e, ERR_INTERNAL, "%s: %s", tmp, strerror(errno));
			goto out;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		err_set(e, ERR_INTERNAL, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		err_set(e, ERR_INTERNAL, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int util_read_secret(const char *path, char *out, size_t outlen,
    struct err *e)
{
	struct stat st;
	char *buf = NULL;
	size_t n;
	int rc = -1;

	if (stat(path, &st) != 0)
		return err_set(e, ERR_CONFIG, "%s: %s", path, strerror(errno));
	if (st.st_mode & 077)
		return err_set(e, ERR_CONFIG,
		    "%s: readable by group or others (mode %03o); chmod 600 it",
		    path, (unsigned)(st.st_mode & 0777));
	if (util_read_file(path, 4096, &buf, &n, e) != 0)
		return -1;
	n = strcspn(buf, "\r\n");
	if (n == 0) {
		err_set(e, ERR_CONFIG, "%s: empty", path);
		goto out;
	}
	if (n >= outlen) {
		err_set(e, ERR_CONFIG, "%s: longer than %zu bytes", path, outlen - 1);
		goto out;
	}
	memcpy(out, buf, n);
	out[n] = '\0';
	rc = 0;
out:
	if (buf != NULL) {
		memset(buf, 0, strlen(buf));
		free(buf);
	}
	return rc;
}

void util_rfc3339(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int util_parse_rfc3339(const char *s, time_t *out)
{
	struct tm tm;
	const char *p;
	long off = 0;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strlen(s) > 40 ||
	    (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	if (*p == '.') {   /* fractions of a second are dropped */
		size_t n = strspn(p + 1, "0123456789");
		if (n == 0 || n > 9)
			return -1;
		p += 1 + n;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' &&
	    strspn(p + 1, "0123456789") == 2 && strspn(p + 4, "0123456789") == 2) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600L +
		    ((p[4] - '0') * 10 + (p[5] - '0')) * 60L;
		if (*p == '-')
			off = -off;
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	*out = timegm(&tm) - off;
	return 0;
}

int util_dns_name_ok(const char *s, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-') || ++label > 63)
			return 0;
	}
	return label > 0;
}

int util_is_hex(const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; s[n] != '\0'; n++)
		if (n >= max || !isxdigit((unsigned char)s[n]))
			return 0;
	return 1;
}
