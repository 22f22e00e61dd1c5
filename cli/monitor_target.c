/* monitor_target: parse and collect what `signet monitor` watches. */
#include "cli/monitor_target.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct monitor_targets {
	struct monitor_target *v;
	size_t n, cap;
};

static const struct {
	const char *prefix;
	enum monitor_proto proto;
} schemes[] = {
	{ "tls://", MONITOR_TLS },
	{ "smtp://", MONITOR_SMTP },
	{ "postgres://", MONITOR_POSTGRES },
	{ "postgresql://", MONITOR_POSTGRES },
};

int monitor_target_check_name(const char *what, const char *name,
    struct err *e)
{
	size_t len = strlen(name), label = 0;

	if (len == 0 || len > MONITOR_HOST_MAX)
		return err_set(e, ERR_CONFIG, "%s \"%.64s\": a name has 1..%d "
		    "characters", what, name, MONITOR_HOST_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch == '.') {
			/* RFC 1035 2.3.4: no empty label, none over 63. */
			if (label == 0)
				return err_set(e, ERR_CONFIG, "%s \"%.64s\": empty "
				    "label", what, name);
			label = 0;
			continue;
		}
		if (!isalnum(ch) && ch != '-' && ch != '_')
			return err_set(e, ERR_CONFIG, "%s \"%.64s\": only letters, "
			    "digits, '-', '_' and '.' are allowed in a name", what, name);
		if (++label > 63)
			return err_set(e, ERR_CONFIG, "%s \"%.64s\": a label has at "
			    "most 63 characters", what, name);
	}
	return 0;
}

/* "1".."65535", digits only. */
static int parse_port(const char *s, const char *target, unsigned *out,
    struct err *e)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (!isdigit((unsigned char)s[i]) || i >= 5)
			break;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == 0 || s[i] != '\0' || v < 1 || v > 65535)
		return err_set(e, ERR_CONFIG, "target \"%.80s\": the port must be "
		    "1..65535", target);
	*out = (unsigned)v;
	return 0;
}

int monitor_target_parse(const char *s, const char *default_sni,
    struct monitor_target *out, struct err *e)
{
	char buf[MONITOR_TARGET_MAX + 1], *hp, *comma, *colon, *host;
	unsigned char addr[16];
	size_t len = strlen(s);

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return err_set(e, ERR_CONFIG, "empty target: want HOST:PORT");
	if (len > MONITOR_TARGET_MAX)
		return err_set(e, ERR_CONFIG, "target \"%.80s...\": longer than %d "
		    "characters", s, MONITOR_TARGET_MAX);
	memcpy(out->text, s, len + 1);
	memcpy(buf, s, len + 1);
	hp = buf;
	out->proto = MONITOR_TLS;
	if (strstr(buf, "://") != NULL) {
		size_t k;
		for (k = 0; k < sizeof(schemes) / sizeof(schemes[0]); k++)
			if (strncmp(buf, schemes[k].prefix, strlen(schemes[k].prefix)) == 0)
				break;
		if (k == sizeof(schemes) / sizeof(schemes[0]))
			return err_set(e, ERR_CONFIG, "target \"%.80s\": the scheme must "
			    "be tls://, smtp:// or postgres://", s);
		out->proto = schemes[k].proto;
		hp += strlen(schemes[k].prefix);
	}
	if ((comma = strchr(hp, ',')) != NULL) {
		*comma = '\0';
		if (monitor_target_check_name("SNI of target", comma + 1, e) != 0)
			return -1;
		snprintf(out->sni, sizeof(out->sni), "%s", comma + 1);
	}
	if (*hp == '[') {
		char *rb = strchr(hp, ']');
		if (rb == NULL || rb[1] != ':')
			return err_set(e, ERR_CONFIG, "target \"%.80s\": want [IPv6]:PORT",
			    s);
		*rb = '\0';
		host = hp + 1;
		colon = rb + 1;
		if (inet_pton(AF_INET6, host, addr) != 1)
			return err_set(e, ERR_CONFIG, "target \"%.80s\": \"%.64s\" is not "
			    "an IPv6 address", s, host);
		out->host_is_ip = 1;
	} else {
		host = hp;
		if ((colon = strrchr(hp, ':')) == NULL)
			return err_set(e, ERR_CONFIG, "target \"%.80s\": no port: want "
			    "HOST:PORT", s);
		*colon = '\0';
		if (strchr(host, ':') != NULL)
			return err_set(e, ERR_CONFIG, "target \"%.80s\": an IPv6 address "
			    "goes in brackets: [ADDR]:PORT", s);
		if (inet_pton(AF_INET, host, addr) == 1)
			out->host_is_ip = 1;
		else if (host[strspn(host, "0123456789.")] == '\0' && *host != '\0')
			return err_set(e, ERR_CONFIG, "target \"%.80s\": \"%.64s\" is not "
			    "an IPv4 address", s, host);
		else if (monitor_target_check_name("host of target", host, e) != 0)
			return -1;
	}
	if (parse_port(colon + 1, s, &out->port, e) != 0)
		return -1;
	/* Checked above: a name is at most MONITOR_HOST_MAX, an address
	 * shorter still. */
	if (strlen(host) > MONITOR_HOST_MAX)
		return err_set(e, ERR_CONFIG, "target \"%.80s\": host too long", s);
	memcpy(out->host, host, strlen(host) + 1);
	if (out->sni[0] == '\0') {
		if (default_sni != NULL)
			snprintf(out->sni, sizeof(out->sni), "%s", default_sni);
		else if (!out->host_is_ip)
			snprintf(out->sni, sizeof(out->sni), "%s", out->host);
	}
	return 0;
}

struct monitor_targets *monitor_targets_new(void)
{
	return calloc(1, sizeof(struct monitor_targets));
}

void monitor_targets_free(struct monitor_targets *l)
{
	if (l == NULL)
		return;
	free(l->v);
	free(l);
}

int monitor_targets_add(struct monitor_targets *l, const char *s,
    const char *default_sni, struct err *e)
{
	struct monitor_target t;

	if (monitor_target_parse(s, default_sni, &t, e) != 0)
		return -1;
	/* Linear, but bounded: at most MONITOR_TARGETS_MAX^2/2 short
	 * compares, well under a second, and only once per run. */
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].text, t.text) == 0)
			return 0;
	if (l->n >= MONITOR_TARGETS_MAX)
		return err_set(e, ERR_CONFIG, "more than %d targets", MONITOR_TARGETS_MAX);
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct monitor_target *nv = realloc(l->v, cap * sizeof(*nv));
		if (nv == NULL)
			return err_set(e, ERR_INTERNAL, "out of memory");
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = t;
	return 0;
}

int monitor_targets_add_file(struct monitor_targets *l, const char *path,
    const char *default_sni, struct err *e)
{
	/* Room for the most targets, each as long as allowed, with CRLF. */
	const size_t max = (size_t)MONITOR_TARGETS_MAX * (MONITOR_TARGET_MAX + 2);
	char *text = NULL, *line, *next;
	int lineno = 0, rc = -1;

	if (util_read_file(path, max, &text, NULL, e) != 0) {
		err_prefix(e, "--targets-file: ");
		e->kind = ERR_CONFIG;
		goto out;
	}
	for (line = text; line != NULL; line = next) {
		char *end;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' ||
		    end[-1] == '\r'))
			*--end = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		if (monitor_targets_add(l, line, default_sni, e) != 0) {
			err_prefix(e, "%s line %d: ", path, lineno);
			goto out;
		}
	}
	rc = 0;
out:
	free(text);
	return rc;
}

size_t monitor_targets_count(const struct monitor_targets *l)
{
	return l->n;
}

const struct monitor_target *monitor_targets_get(
    const struct monitor_targets *l, size_t i)
{
	return &l->v[i];
}
