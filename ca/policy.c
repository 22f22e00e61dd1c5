#include "ca/policy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

struct policy *policy_new(void)
{
	return calloc(1, sizeof(struct policy));
}

void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->ndns; i++)
		free(p->allow_dns[i]);
	for (int i = 0; i < p->nip; i++)
		free(p->allow_ip[i]);
	for (int i = 0; i < p->nuri; i++)
		free(p->allow_uri[i]);
	for (int i = 0; i < p->ntrust; i++)
		free(p->acme_trust[i]);
	free(p);
}

static int push(char **v, int *n, const char *s, const char *what,
    struct err *e)
{
	if (*n >= POLICY_MAX_RULES)
		return err_set(e, ERR_INVALID, "more than %d %s rules",
		    POLICY_MAX_RULES, what);
	if ((v[*n] = strdup(s)) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	(*n)++;
	return 0;
}

int policy_add_dns(struct policy *p, const char *pattern, struct err *e)
{
	char norm[SAN_VALUE_MAX];

	/* A pattern is a DNS name, possibly with a leading "*." label. */
	if (san_normalize(SAN_DNS, pattern, norm, e) != 0) {
		err_prefix(e, "allow-dns: ");
		return -1;
	}
	return push(p->allow_dns, &p->ndns, norm, "DNS", e);
}

int policy_add_acme_trust(struct policy *p, const char *pattern,
    struct err *e)
{
	char norm[SAN_VALUE_MAX];

	if (san_normalize(SAN_DNS, pattern, norm, e) != 0) {
		err_prefix(e, "acme-trust: ");
		return -1;
	}
	return push(p->acme_trust, &p->ntrust, norm, "ACME trust", e);
}

static int dns_match(const char *pattern, const char *name);

int policy_acme_trusts(const struct policy *p, const char *name)
{
	for (int i = 0; i < p->ntrust; i++)
		if (dns_match(p->acme_trust[i], name))
			return 1;
	return 0;
}

/* Parse "addr/len" (or a bare address) into bytes and prefix length. */
static int parse_cidr(const char *s, unsigned char addr[16], int *family,
    int *bits, struct err *e)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	char *end;
	long b;

	if (n == 0 || n >= sizeof(buf))
		return err_set(e, ERR_INVALID, "\"%s\" is not a CIDR range", s);
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		*family = AF_INET6;
	else
		return err_set(e, ERR_INVALID, "\"%s\" is not a CIDR range", s);
	b = *family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		long max = b;
		b = strtol(slash + 1, &end, 10);
		if (*end != '\0' || end == slash + 1 || b < 0 || b > max)
			return err_set(e, ERR_INVALID,
			    "\"%s\": prefix length must be 0..%ld", s, max);
	}
	*bits = (int)b;
	return 0;
}

int policy_add_ip(struct policy *p, const char *cidr, struct err *e)
{
	unsigned char addr[16];
	int family, bits;

	if (parse_cidr(cidr, addr, &family, &bits, e) != 0) {
		err_prefix(e, "allow-ip: ");
		return -1;
	}
	return push(p->allow_ip, &p->nip, cidr, "IP", e);
}

int policy_add_uri(struct policy *p, const char *prefix, struct err *e)
{
	char norm[SAN_VALUE_MAX];

	if (san_normalize(SAN_URI, prefix, norm, e) != 0) {
		err_prefix(e, "allow-uri: ");
		return -1;
	}
	return push(p->allow_uri, &p->nuri, prefix, "URI", e);
}

int policy_set_profiles(struct policy *p, const char *list, struct err *e)
{
	char buf[128], *tok, *save = NULL;
	enum profile prof;

	if (strlen(list) >= sizeof(buf))
		return err_set(e, ERR_INVALID, "profiles: list too long");
	strcpy(buf, list);
	p->profiles = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (profile_parse(tok, &prof, e) != 0)
			return -1;
		p->profiles |= 1u << prof;
	}
	if (p->profiles == 0)
		return err_set(e, ERR_INVALID, "profiles: empty list");
	return 0;
}

static const struct {
	const char *name;
	unsigned bit;
} key_types[] = {
	{ "ec-p256", POLICY_KEY_EC_P256 }, { "ec-p384", POLICY_KEY_EC_P384 },
	{ "rsa", POLICY_KEY_RSA }, { "ed25519", POLICY_KEY_ED25519 },
};

int policy_set_key_types(struct policy *p, const char *list, struct err *e)
{
	char buf[128], *tok, *save = NULL;
	size_t i;

	if (strlen(list) >= sizeof(buf))
		return err_set(e, ERR_INVALID, "key types: list too long");
	strcpy(buf, list);
	p->key_types = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
			if (strcmp(tok, key_types[i].name) == 0)
				break;
		if (i == sizeof(key_types) / sizeof(key_types[0]))
			return err_set(e, ERR_INVALID, "unknown key type \"%.32s\": "
			    "want ec-p256, ec-p384, rsa or ed25519", tok);
		p->key_types |= key_types[i].bit;
	}
	return 0;
}

static int add_list(json_t *arr, const char *what, struct policy *p,
    int (*add)(struct policy *, const char *, struct err *), struct err *e)
{
	size_t i;
	json_t *v;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr))
		return err_set(e, ERR_INVALID, "policy: %s is not a list", what);
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v))
			return err_set(e, ERR_INVALID, "policy: %s holds a non-string",
			    what);
		if (add(p, json_string_value(v), e) != 0)
			return -1;
	}
	return 0;
}

int policy_from_json(const char *json, struct policy **out, struct err *e)
{
	json_error_t je;
	json_t *root = json_loads(json, 0, &je), *v;
	struct policy *p = policy_new();
	int rc = -1;

	if (p == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (!json_is_object(root)) {
		err_set(e, ERR_INVALID, "policy is not a JSON object");
		goto out;
	}
	if (add_list(json_object_get(root, "allow_dns"), "allow_dns", p,
	    policy_add_dns, e) ||
	    add_list(json_object_get(root, "allow_ip"), "allow_ip", p,
	    policy_add_ip, e) ||
	    add_list(json_object_get(root, "allow_uri"), "allow_uri", p,
	    policy_add_uri, e) ||
	    add_list(json_object_get(root, "acme_trust"), "acme_trust", p,
	    policy_add_acme_trust, e))
		goto out;
	p->profiles = 1u << PROFILE_SERVER | 1u << PROFILE_CLIENT |
	    1u << PROFILE_BOTH;
	if ((v = json_object_get(root, "profiles")) != NULL) {
		size_t i;
		json_t *s;
		enum profile prof;

		p->profiles = 0;
		json_array_foreach(v, i, s) {
			if (profile_parse(json_string_value(s), &prof, e) != 0)
				goto out;
			p->profiles |= 1u << prof;
		}
	}
	if ((v = json_object_get(root, "key_types")) != NULL) {
		size_t i;
		json_t *s;
		unsigned all = 0;

		json_array_foreach(v, i, s) {
			if (!json_is_string(s) ||
			    policy_set_key_types(p, json_string_value(s), e) != 0)
				goto out;
			all |= p->key_types;
		}
		p->key_types = all;
	}
	p->default_lifetime = json_integer_value(json_object_get(root,
	    "default_lifetime"));
	p->max_lifetime = json_integer_value(json_object_get(root, "max_lifetime"));
	p->may_revoke = json_is_true(json_object_get(root, "may_revoke"));
	p->acme = json_is_true(json_object_get(root, "acme"));
	p->acme_eab = json_is_true(json_object_get(root, "acme_eab"));
	*out = p;
	p = NULL;
	rc = 0;
out:
	json_decref(root);
	policy_free(p);
	return rc;
}

char *policy_to_json(const struct policy *p)
{
	json_t *root = json_object(), *dns = json_array(), *ip = json_array(),
	    *uri = json_array(), *profs = json_array(), *kt = json_array(),
	    *trust = json_array();
	char *out = NULL;

	if (!root || !dns || !ip || !uri || !profs || !kt || !trust)
		goto out;
	for (int i = 0; i < p->ntrust; i++)
		json_array_append_new(trust, json_string(p->acme_trust[i]));
	for (int i = 0; i < p->ndns; i++)
		json_array_append_new(dns, json_string(p->allow_dns[i]));
	for (int i = 0; i < p->nip; i++)
		json_array_append_new(ip, json_string(p->allow_ip[i]));
	for (int i = 0; i < p->nuri; i++)
		json_array_append_new(uri, json_string(p->allow_uri[i]));
	for (int i = 0; i < PROFILE_COUNT; i++)
		if (p->profiles & (1u << i))
			json_array_append_new(profs, json_string(profile_name((enum profile)i)));
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (p->key_types == 0 || (p->key_types & key_types[i].bit))
			json_array_append_new(kt, json_string(key_types[i].name));
	json_object_set(root, "allow_dns", dns);
	json_object_set(root, "allow_ip", ip);
	json_object_set(root, "allow_uri", uri);
	json_object_set(root, "profiles", profs);
	json_object_set(root, "key_types", kt);
	json_object_set_new(root, "default_lifetime",
	    json_integer(p->default_lifetime));
	json_object_set_new(root, "max_lifetime", json_integer(p->max_lifetime));
	json_object_set_new(root, "may_revoke", json_boolean(p->may_revoke));
	json_object_set_new(root, "acme", json_boolean(p->acme));
	json_object_set_new(root, "acme_eab", json_boolean(p->acme_eab));
	json_object_set(root, "acme_trust", trust);
	out = json_dumps(root, JSON_COMPACT);
out:
	json_decref(dns);
	json_decref(ip);
	json_decref(uri);
	json_decref(profs);
	json_decref(kt);
	json_decref(trust);
	json_decref(root);
	return out;
}

static int dns_match(const char *pattern, const char *name)
{
	size_t pl, nl;

	if (strcmp(pattern, name) == 0)
		return 1;
	if (pattern[0] != '*' || pattern[1] != '.')
		return 0;
	/* "*.suffix": any name ending in ".suffix", at any depth. */
	pl = strlen(pattern + 1);
	nl = strlen(name);
	return nl > pl && strcmp(name + nl - pl, pattern + 1) == 0;
}

static int ip_match(const char *cidr, const char *ip)
{
	unsigned char net[16], addr[16];
	int family, bits, full;

	if (parse_cidr(cidr, net, &family, &bits, NULL) != 0)
		return 0;
	if (inet_pton(family, ip, addr) != 1)
		return 0;
	full = bits / 8;
	if (memcmp(net, addr, (size_t)full) != 0)
		return 0;
	if (bits % 8) {
		unsigned char mask = (unsigned char)(0xff << (8 - bits % 8));
		if ((net[full] & mask) != (addr[full] & mask))
			return 0;
	}
	return 1;
}

int policy_check_name(const struct policy *p, const struct san *s,
    struct err *e)
{
	switch (s->type) {
	case SAN_DNS:
		for (int i = 0; i < p->ndns; i++)
			if (dns_match(p->allow_dns[i], s->value))
				return 0;
		break;
	case SAN_IP:
		for (int i = 0; i < p->nip; i++)
			if (ip_match(p->allow_ip[i], s->value))
				return 0;
		break;
	case SAN_URI:
		for (int i = 0; i < p->nuri; i++)
			if (strncmp(s->value, p->allow_uri[i],
			    strlen(p->allow_uri[i])) == 0)
				return 0;
		break;
	}
	return err_set(e, ERR_POLICY,
	    "%s name \"%s\" is not allowed by the provisioner's policy",
	    san_type_name(s->type), s->value);
}

int policy_check_profile(const struct policy *p, enum profile prof,
    struct err *e)
{
	if (p->profiles & (1u << prof))
		return 0;
	return err_set(e, ERR_POLICY,
	    "profile \"%s\" is not allowed by the provisioner's policy",
	    profile_name(prof));
}

int policy_check_key_type(const struct policy *p, const char *key_type,
    struct err *e)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strcmp(key_type, key_types[i].name) == 0) {
			if (p->key_types == 0 || (p->key_types & key_types[i].bit))
				return 0;
			break;
		}
	return err_set(e, ERR_POLICY,
	    "key type %s is not allowed by the provisioner's policy", key_type);
}

enum profile policy_default_profile(const struct policy *p)
{
	if (p->profiles & (1u << PROFILE_SERVER))
		return PROFILE_SERVER;
	return (p->profiles & (1u << PROFILE_CLIENT)) ? PROFILE_CLIENT :
	    PROFILE_BOTH;
}

long long policy_default_lifetime(const struct policy *p,
    long long cfg_default)
{
	return p->default_lifetime > 0 ? p->default_lifetime : cfg_default;
}

long long policy_max_lifetime(const struct policy *p, long long cfg_max)
{
	return p->max_lifetime > 0 && p->max_lifetime < cfg_max ?
	    p->max_lifetime : cfg_max;
}
