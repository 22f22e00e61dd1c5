/*
 * config: signet.conf, "key = value" lines and # comments, described by one
 * table (type, bounds, default, help) from which the parser, the validator
 * and the reference in docs/configuration.md all come.  Relative paths are
 * resolved against the directory holding the config file.
 */
#ifndef SIGNET_CONFIG_H
#define SIGNET_CONFIG_H

#include <stdio.h>

#include "common/err.h"

/* Most expiry notification thresholds (notify_thresholds). */
#define CONFIG_MAX_THRESHOLDS 8
/* Most name=address pairs in acme_hosts. */
#define CONFIG_MAX_ACME_HOSTS 64

/* One acme_hosts pair: a lowercase DNS name and a numeric IPv4 or IPv6
 * address (as inet_pton reads it). */
struct config_acme_host {
	char name[254];
	char addr[46];
};

struct config {
	char *path;              /* the file this came from */
	char *db;                /* libpq conninfo */
	long long db_pool_size;
	char *pkcs11_module;
	char *token;             /* online token label */
	char *pin_file;          /* PIN file; SIGNET_PIN in the environment wins */
	char *audit_key_label;
	char *https_listen;      /* host:port */
	char *http_listen;       /* host:port */
	char *public_url;        /* base URL of the plain HTTP listener */
	char *ca_url;            /* base URL of the HTTPS listener */
	char *tls_cert;
	char *tls_key;
	char *roots_file;
	char *chain_file;
	long long threads;
	long long http_threads;   /* 0: 2 x online CPUs */
	long long max_body;
	long long request_timeout;
	long long token_skew;
	long long default_lifetime;
	long long max_lifetime;
	long long reconcile_after;
	long long audit_seal_interval;
	long long audit_checkpoint_interval;
	char *log_level;
	long long crl_validity;  /* nextUpdate - thisUpdate of issuing CRLs */
	long long crl_refresh;   /* a scheduled CRL at least this often */
	char *crl_publish_dir;   /* where {issuer}.crl files are written */
	char *ocsp_signer;       /* "delegated" or "ca" */
	long long ocsp_cert_lifetime;
	long long ocsp_validity; /* nextUpdate - thisUpdate of OCSP responses */
	long long ocsp_poll;     /* fallback poll for revocations made elsewhere */
	char *ocsp_nonce;        /* "yes" or "no" */
	long long ocsp_max_certids;
	char *notify_webhook_url;  /* NULL: no expiry notifications */
	char *notify_webhook_ca;   /* NULL: the system's CAs */
	char *notify_thresholds;   /* as written; parsed into: */
	long long notify_threshold[CONFIG_MAX_THRESHOLDS]; /* seconds, descending */
	int notify_nthresholds;
	long long notify_interval;
	long long notify_timeout;
	/* ACME: challenge validation (ca/acme_validate), orders, rate limits. */
	char *acme_resolver;      /* "IP" or "IP@PORT"; NULL: /etc/resolv.conf */
	char *acme_hosts;         /* as written; parsed into: */
	struct config_acme_host acme_host[CONFIG_MAX_ACME_HOSTS];
	int acme_nhosts;
	long long acme_http01_port;
	long long acme_tlsalpn01_port;
	long long acme_validation_timeout;
	long long acme_validation_attempts;
	long long acme_validation_retry;
	long long acme_validation_threads;
	long long acme_order_lifetime;
	long long acme_rate_window;
	long long acme_rate_orders_per_account;      /* 0: unlimited */
	long long acme_rate_orders_per_provisioner;  /* 0: unlimited */
};

/* Load and validate path.  On failure e names the line, the setting and the
 * problem.  The result must be passed to config_free(). */
int config_load(const char *path, struct config **out, struct err *e);

/* A config holding only defaults (for commands that need none). */
struct config *config_defaults(void);

/* Safe to call with NULL. */
void config_free(struct config *c);

/* Read the PIN: $SIGNET_PIN if set, else the first line of c->pin_file. */
int config_read_pin(const struct config *c, char *out, size_t outlen,
    struct err *e);

/* Write the settings reference as Markdown (for docs/configuration.md). */
void config_write_reference(FILE *f);

/* Split "host:port" or "[v6]:port" into host and port. */
int config_split_hostport(const char *s, char *host, size_t hostlen,
    unsigned *port, struct err *e);

#endif
