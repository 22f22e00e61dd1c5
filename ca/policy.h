/*
 * policy: what one provisioner's tokens may ask for.  Kept in the database
 * as JSON: {"allow_dns": ["*.svc.corp", "api.corp"], "allow_ip":
 * ["10.0.0.0/8"], "allow_uri": ["spiffe://corp/"], "profiles": ["server"],
 * "default_lifetime": 86400, "max_lifetime": 604800, "may_revoke": false,
 * "key_types": ["ec-p256", "ec-p384", "rsa", "ed25519"], "acme": true,
 * "acme_eab": true, "acme_trust": ["*.internal.corp"]}.
 *
 * ACME (docs/acme.md): "acme" opens the provisioner's ACME directory;
 * "acme_eab" makes new accounts need External Account Binding; names
 * matching an "acme_trust" pattern are authorized without a challenge
 * for accounts bound by EAB (the policy is trusted instead).
 *
 * DNS patterns: an exact name, or "*.suffix", which matches any name
 * ending in ".suffix" (at any depth).  An empty allow list allows nothing
 * of that type.
 */
#ifndef SIGNET_POLICY_H
#define SIGNET_POLICY_H

#include "ca/csr.h"
#include "ca/profile.h"
#include "common/err.h"

#define POLICY_MAX_RULES 64

struct policy {
	char *allow_dns[POLICY_MAX_RULES];
	int ndns;
	char *allow_ip[POLICY_MAX_RULES];
	int nip;
	char *allow_uri[POLICY_MAX_RULES];
	int nuri;
	unsigned profiles;          /* bit (1 << enum profile) */
	long long default_lifetime; /* seconds; 0: the config's */
	long long max_lifetime;     /* seconds; 0: the config's */
	int may_revoke;
	unsigned key_types;         /* bits: POLICY_KEY_* ; 0 means all */
	int acme;                   /* ACME directory open */
	int acme_eab;               /* ACME accounts need EAB */
	char *acme_trust[POLICY_MAX_RULES];  /* DNS patterns, as allow_dns */
	int ntrust;
};

#define POLICY_KEY_EC_P256 1u
#define POLICY_KEY_EC_P384 2u
#define POLICY_KEY_RSA 4u
#define POLICY_KEY_ED25519 8u

/* Parse the JSON form; every rule is checked (a bad CIDR, pattern or
 * profile is ERR_INVALID).  Free with policy_free. */
int policy_from_json(const char *json, struct policy **out, struct err *e);
/* The JSON form, malloc'ed. */
char *policy_to_json(const struct policy *p);
struct policy *policy_new(void);
void policy_free(struct policy *p);

/* Add a rule, checking it (CLI: --allow-dns etc). */
int policy_add_dns(struct policy *p, const char *pattern, struct err *e);
int policy_add_ip(struct policy *p, const char *cidr, struct err *e);
int policy_add_uri(struct policy *p, const char *prefix, struct err *e);
/* An "acme_trust" pattern (the allow_dns syntax). */
int policy_add_acme_trust(struct policy *p, const char *pattern,
    struct err *e);
/* 1 if the DNS name matches an acme_trust pattern. */
int policy_acme_trusts(const struct policy *p, const char *name);
/* "server,client,both". */
int policy_set_profiles(struct policy *p, const char *list, struct err *e);
/* "ec-p256,ec-p384,rsa,ed25519". */
int policy_set_key_types(struct policy *p, const char *list, struct err *e);

/* ERR_POLICY naming the first name the policy does not allow. */
int policy_check_name(const struct policy *p, const struct san *s,
    struct err *e);
int policy_check_profile(const struct policy *p, enum profile prof,
    struct err *e);
int policy_check_key_type(const struct policy *p, const char *key_type,
    struct err *e);

/* What a request that names no profile or lifetime gets: server when
 * the policy allows it, else client, else both; the policy's default
 * lifetime, else cfg_default.  And the longest lifetime allowed: the
 * smaller of the policy's maximum (if any) and cfg_max. */
enum profile policy_default_profile(const struct policy *p);
long long policy_default_lifetime(const struct policy *p,
    long long cfg_default);
long long policy_max_lifetime(const struct policy *p, long long cfg_max);

#endif
