/*
 * signet init: create a CA.  The root key is generated on the root token,
 * the issuing and audit keys on the online token, all on the token itself
 * and non-extractable.  Writes DIR/signet.conf, roots.pem, chain.pem and
 * the HTTPS listener's certificate and key, and records the issuers.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/issue.h"
#include "ca/ocsp_signer.h"
#include "ca/x509util.h"
#include "cli/cli.h"
#include "common/util.h"

#define MAX_PERMITS 32

struct init_opts {
	const char *dir, *db, *module, *token, *pin_file, *root_token;
	const char *root_pin_file, *https_listen, *http_listen, *public_url;
	const char *key_type, *audit_label;
	const char *permit[MAX_PERMITS];
	int npermit;
	long long root_lifetime, issuer_lifetime, server_lifetime;
	int force;
};

static void init_usage(FILE *f)
{
	fprintf(f,
	    "usage: signet init --dir D --db CONNINFO --pkcs11-module PATH --token LABEL\n"
	    "         --pin-file F --root-token LABEL --root-pin-file F\n"
	    "         --https-listen H:P --http-listen H:P --public-url URL\n"
	    "         [--key-type ec-p256|ec-p384|rsa-3072] [--permit-dns SUFFIX]...\n"
	    "         [--permit-ip CIDR]... [--permit-uri HOST]... [--root-lifetime D]\n"
	    "         [--issuer-lifetime D] [--server-lifetime D] [--force]\n");
}

static int open_token(const char *module, const char *label,
    const char *pin_file, const char *what, struct hsm **out, struct err *e)
{
	char pin[256];
	int rc;

	if (util_read_secret(pin_file, pin, sizeof(pin), e) != 0) {
		err_prefix(e, "%s: ", what);
		return -1;
	}
	rc = hsm_open(module, label, pin, out, e);
	OPENSSL_cleanse(pin, sizeof(pin));
	return rc;
}

/* Generate a fresh key labelled label; with force, replace one there. */
static int fresh_key(struct hsm *h, const char *label, enum hsm_key_type t,
    int force, struct hsm_key **out, struct err *e)
{
	int exists = hsm_key_exists(h, label, e);

	if (exists < 0)
		return -1;
	if (exists && !force)
		return err_set(e, ERR_CONFLICT, "the token already holds a key "
		    "labelled \"%s\": a CA exists; pass --force to replace it",
		    label);
	if (exists && hsm_destroy_key(h, label, e) != 0)
		return -1;
	if (hsm_generate_key(h, label, t, e) != 0)
		return -1;
	return hsm_find_key(h, label, out, e);
}

/* Turn --permit-* values into an OpenSSL nameConstraints value. */
static int name_constraints(const struct init_opts *o, char *out, size_t len,
    struct err *e)
{
	size_t n = (size_t)snprintf(out, len, "critical");

	for (int i = 0; i < o->npermit; i++) {
		const char *p = o->permit[i];
		char buf[256];

		if (strncmp(p, "IP:", 3) == 0) {
			/* CIDR -> addr/netmask, the form OpenSSL's parser wants. */
			unsigned char addr[16], mask[16] = { 0 };
			char a[64], m[64], *slash;
			int af, bits, max;

			snprintf(a, sizeof(a), "%s", p + 3);
			if ((slash = strchr(a, '/')) == NULL)
				return err_set(e, ERR_CONFIG, "--permit-ip %s: want CIDR", p + 3);
			*slash = '\0';
			bits = atoi(slash + 1);
			af = strchr(a, ':') ? AF_INET6 : AF_INET;
			max = af == AF_INET ? 32 : 128;
			if (inet_pton(af, a, addr) != 1 || bits < 0 || bits > max)
				return err_set(e, ERR_CONFIG, "--permit-ip %s: want CIDR", p + 3);
			for (int b = 0; b < bits; b++)
				mask[b / 8] |= (unsigned char)(0x80 >> (b % 8));
			inet_ntop(af, mask, m, sizeof(m));
			snprintf(buf, sizeof(buf), "permitted;IP:%s/%s", a, m);
		} else {
			snprintf(buf, sizeof(buf), "permitted;%s", p);
		}
		n += (size_t)snprintf(out + n, n < len ? len - n : 0, ",%s", buf);
	}
	if (n >= len)
		return err_set(e, ERR_CONFIG, "too many name constraints");
	return 0;
}

/* Build and HSM-sign a CA certificate; subject signs itself when issuer is
 * NULL. */
static int make_ca_cert(const char *cn, EVP_PKEY *pub, X509 *issuer,
    struct hsm_key *signer, long long lifetime, const char *bc,
    const char *nc, const char *public_url, const char *parent_name,
    X509 **out, struct err *e)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	char serial[SERIAL_HEX_MAX], url[1024];
	time_t now = time(NULL), na = now + lifetime;
	int rc = -1;

	if (x == NULL || name == NULL ||
	    X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
	    (const unsigned char *)"signet", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) != 1 ||
	    X509_set_pubkey(x, pub) != 1) {
		err_ossl(e, ERR_INTERNAL, "building %s", cn);
		goto out;
	}
	if (issuer != NULL && na > x509_not_after(issuer))
		na = x509_not_after(issuer);
	if (x509_random_serial(x, serial, e) != 0 ||
	    x509_set_validity(x, now - 60, na, e) != 0 ||
	    x509_add_ext(x, issuer, NID_basic_constraints, bc, e) != 0 ||
	    x509_add_ext(x, issuer, NID_key_usage, issuer ?
	    "critical,digitalSignature,keyCertSign,cRLSign" :
	    "critical,keyCertSign,cRLSign", e) != 0 ||
	    x509_add_ext(x, issuer, NID_subject_key_identifier, "hash", e) != 0)
		goto out;
	if (issuer != NULL) {
		if (x509_add_ext(x, issuer, NID_authority_key_identifier,
		    "keyid:always", e) != 0)
			goto out;
		snprintf(url, sizeof(url), "caIssuers;URI:%s/ca/%s.cer", public_url,
		    parent_name);
		if (x509_add_ext(x, issuer, NID_info_access, url, e) != 0)
			goto out;
		snprintf(url, sizeof(url), "URI:%s/crl/%s.crl", public_url,
		    parent_name);
		if (x509_add_ext(x, issuer, NID_crl_distribution_points, url, e) != 0)
			goto out;
		if (nc != NULL && x509_add_ext(x, issuer, NID_name_constraints, nc, e) != 0)
			goto out;
	}
	if (ca_sign_cert(signer, x, e) != 0)
		goto out;
	*out = x;
	x = NULL;
	rc = 0;
out:
	X509_NAME_free(name);
	X509_free(x);
	return rc;
}

static int record_issuer(PGconn *c, const char *name, const char *kind,
    int parent, const char *label, const char *token, X509 *x, int *id,
    struct err *e)
{
	unsigned char ski[20], spki[32], *der = NULL;
	size_t len;
	char *subject = x509_name_oneline(X509_get_subject_name(x));
	int rc = -1;

	if (subject == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (x509_key_id(X509_get0_pubkey(x), ski, e) != 0 ||
	    x509_spki_sha256(X509_get0_pubkey(x), spki, e) != 0 ||
	    x509_to_der(x, &der, &len, e) != 0)
		goto out;
	rc = db_issuer_add(c, name, kind, parent, label, token, subject, ski,
	    sizeof(ski), spki, time(NULL) - 60, x509_not_after(x), der, len, id, e);
out:
	free(subject);
	OPENSSL_free(der);
	return rc;
}

static int write_pem_certs(const char *path, X509 **certs, int n,
    struct err *e)
{
	char *all = NULL, *pem;
	size_t len = 0;
	int rc = -1;

	for (int i = 0; i < n; i++) {
		if (x509_to_pem(certs[i], &pem, e) != 0)
			goto out;
		char *na = realloc(all, len + strlen(pem) + 1);
		if (na == NULL) {
			free(pem);
			err_set(e, ERR_INTERNAL, "out of memory");
			goto out;
		}
		all = na;
		memcpy(all + len, pem, strlen(pem) + 1);
		len += strlen(pem);
		free(pem);
	}
	rc = util_write_file(path, all, len, 0644, e);
out:
	free(all);
	return rc;
}

/* The HTTPS listener's key (a file, as DESIGN.md allows) and certificate
 * issued by the new intermediate, for the listen host. */
static int server_cert(struct ca *ca, const struct init_opts *o,
    X509 **cert, EVP_PKEY **key, struct err *e)
{
	char host[256];
	unsigned port;
	struct san_list sans;
	struct san s;
	struct ca_request r;
	char serial[SERIAL_HEX_MAX];

	memset(&sans, 0, sizeof(sans));
	if (config_split_hostport(o->https_listen, host, sizeof(host), &port, e) != 0)
		return -1;
	if (san_parse(host, &s, e) != 0 || san_list_add(&sans, &s, e) != 0)
		return -1;
	if (strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
	    strcmp(host, "localhost") == 0) {
		san_parse("DNS:localhost", &s, e);
		san_list_add(&sans, &s, e);
		san_parse("IP:127.0.0.1", &s, e);
		san_list_add(&sans, &s, e);
	}
	if ((*key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		return err_ossl(e, ERR_INTERNAL, "server key");
	memset(&r, 0, sizeof(r));
	r.pubkey = *key;
	r.cn = host;
	r.sans = &sans;
	r.profile = PROFILE_SERVER;
	r.lifetime = o->server_lifetime;
	r.requester = "signet init";
	return ca_issue(ca, &r, cert, serial, e);
}

static int write_config(const struct init_opts *o, const char *pin_abs,
    struct err *e)
{
	char path[PATH_MAX], host[256], text[8192];
	unsigned port;
	int n;

	if (config_split_hostport(o->https_listen, host, sizeof(host), &port, e) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/signet.conf", o->dir);
	n = snprintf(text, sizeof(text),
	    "# signet.conf, written by `signet init`.  Reference: docs/configuration.md\n"
	    "# Relative paths are relative to this file's directory.\n\n"
	    "# PostgreSQL (libpq connection string).\n"
	    "db = %s\n\n"
	    "# The online token: issuing, OCSP and audit keys.  The root token is\n"
	    "# deliberately not named here: signetd never holds the root key.\n"
	    "pkcs11_module = %s\n"
	    "token = %s\n"
	    "# First line is the PIN; mode 0600.  $SIGNET_PIN overrides it.\n"
	    "pin_file = %s\n"
	    "audit_key_label = %s\n\n"
	    "# Listeners: HTTPS for enrollment, plain HTTP for OCSP, CRLs and CA\n"
	    "# certificates (relying parties fetch those without TLS).\n"
	    "https_listen = %s\n"
	    "http_listen = %s\n"
	    "# Where clients reach the listeners; tokens carry aud = ca_url/v1/sign,\n"
	    "# certificates carry AIA and CRL URLs under public_url.\n"
	    "ca_url = https://%s%s%s:%u\n"
	    "public_url = %s\n\n"
	    "# The HTTPS listener's certificate (issued by this CA) and key.\n"
	    "tls_cert = server.pem\n"
	    "tls_key = server.key\n"
	    "roots_file = roots.pem\n"
	    "chain_file = chain.pem\n\n"
	    "# Limits and lifetimes.\n"
	    "threads = 16\n"
	    "max_body = 65536\n"
	    "request_timeout = 15s\n"
	    "default_lifetime = 24h\n"
	    "max_lifetime = 30d\n",
	    o->db, o->module, o->token, pin_abs, o->audit_label, o->https_listen,
	    o->http_listen, strchr(host, ':') ? "[" : "", host,
	    strchr(host, ':') ? "]" : "", port, o->public_url);
	if (n < 0 || (size_t)n >= sizeof(text))
		return err_set(e, ERR_CONFIG, "config too long");
	return util_write_file(path, text, (size_t)n, 0644, e);
}

static int check_opts(const struct init_opts *o, struct err *e)
{
	const struct { const char *v, *flag; } req[] = {
		{ o->dir, "--dir" }, { o->db, "--db" },
		{ o->module, "--pkcs11-module" }, { o->token, "--token" },
		{ o->pin_file, "--pin-file" }, { o->root_token, "--root-token" },
		{ o->root_pin_file, "--root-pin-file" },
		{ o->https_listen, "--https-listen" },
		{ o->http_listen, "--http-listen" }, { o->public_url, "--public-url" },
	};
	char host[256];
	unsigned port;

	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		if (req[i].v == NULL || *req[i].v == '\0')
			return err_set(e, ERR_CONFIG, "init: %s is required", req[i].flag);
	if (config_split_hostport(o->https_listen, host, sizeof(host), &port, e) ||
	    config_split_hostport(o->http_listen, host, sizeof(host), &port, e))
		return -1;
	if (strncmp(o->public_url, "http://", 7) != 0 &&
	    strncmp(o->public_url, "https://", 8) != 0)
		return err_set(e, ERR_CONFIG, "--public-url must be an http:// URL");
	if (o->public_url[strlen(o->public_url) - 1] == '/')
		return err_set(e, ERR_CONFIG, "--public-url must not end with /");
	if (access(o->module, R_OK) != 0)
		return err_set(e, ERR_CONFIG, "--pkcs11-module %s: not readable",
		    o->module);
	return 0;
}

static int parse_opts(int argc, char **argv, struct init_opts *o,
    struct err *e)
{
	enum { O_DIR = 256, O_DB, O_MOD, O_TOK, O_PIN, O_RTOK, O_RPIN, O_HTTPS,
	    O_HTTP, O_URL, O_KT, O_PDNS, O_PIP, O_PURI, O_FORCE, O_RLIFE,
	    O_ILIFE, O_SLIFE, O_HELP };
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, O_DIR },
		{ "db", required_argument, NULL, O_DB },
		{ "pkcs11-module", required_argument, NULL, O_MOD },
		{ "token", required_argument, NULL, O_TOK },
		{ "pin-file", required_argument, NULL, O_PIN },
		{ "root-token", required_argument, NULL, O_RTOK },
		{ "root-pin-file", required_argument, NULL, O_RPIN },
		{ "https-listen", required_argument, NULL, O_HTTPS },
		{ "http-listen", required_argument, NULL, O_HTTP },
		{ "public-url", required_argument, NULL, O_URL },
		{ "key-type", required_argument, NULL, O_KT },
		{ "permit-dns", required_argument, NULL, O_PDNS },
		{ "permit-ip", required_argument, NULL, O_PIP },
		{ "permit-uri", required_argument, NULL, O_PURI },
		{ "root-lifetime", required_argument, NULL, O_RLIFE },
		{ "issuer-lifetime", required_argument, NULL, O_ILIFE },
		{ "server-lifetime", required_argument, NULL, O_SLIFE },
		{ "force", no_argument, NULL, O_FORCE },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	static char permits[MAX_PERMITS][300];
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		long long *life = NULL;
		const char *prefix = NULL;

		switch (ch) {
		case O_DIR: o->dir = optarg; break;
		case O_DB: o->db = optarg; break;
		case O_MOD: o->module = optarg; break;
		case O_TOK: o->token = optarg; break;
		case O_PIN: o->pin_file = optarg; break;
		case O_RTOK: o->root_token = optarg; break;
		case O_RPIN: o->root_pin_file = optarg; break;
		case O_HTTPS: o->https_listen = optarg; break;
		case O_HTTP: o->http_listen = optarg; break;
		case O_URL: o->public_url = optarg; break;
		case O_KT: o->key_type = optarg; break;
		case O_FORCE: o->force = 1; break;
		case O_RLIFE: life = &o->root_lifetime; break;
		case O_ILIFE: life = &o->issuer_lifetime; break;
		case O_SLIFE: life = &o->server_lifetime; break;
		case O_PDNS: prefix = "DNS:"; break;
		case O_PIP: prefix = "IP:"; break;
		case O_PURI: prefix = "URI:"; break;
		case O_HELP:
			init_usage(stdout);
			exit(0);
		default:
			init_usage(stderr);
			return err_set(e, ERR_CONFIG, "init: bad arguments");
		}
		if (life != NULL &&
		    util_parse_duration(optarg, 100LL * 366 * 86400, life, e) != 0)
			return -1;
		if (prefix != NULL) {
			if (o->npermit >= MAX_PERMITS || strlen(optarg) > 250)
				return err_set(e, ERR_CONFIG, "init: too many or too long "
				    "--permit-* values");
			snprintf(permits[o->npermit], sizeof(permits[0]), "%s%s",
			    prefix, optarg);
			o->permit[o->npermit] = permits[o->npermit];
			o->npermit++;
		}
	}
	if (optind != argc)
		return err_set(e, ERR_CONFIG, "init: unexpected argument \"%s\"",
		    argv[optind]);
	return check_opts(o, e);
}

int cmd_init(struct cli_ctx *ctx, int argc, char **argv)
{
	struct init_opts o;
	struct err e = { 0 };
	struct hsm *root_hsm = NULL, *online = NULL;
	struct hsm_key *root_key = NULL, *issuing_key = NULL, *audit_key = NULL;
	struct db *db = NULL;
	struct ca *ca = NULL;
	PGconn *c = NULL;
	X509 *root = NULL, *inter = NULL, *server = NULL;
	EVP_PKEY *server_key = NULL;
	enum hsm_key_type kt = HSM_KEY_EC_P256;
	char path[PATH_MAX], pin_abs[PATH_MAX], nc[4096], bc[64];
	char root_name[32], inter_name[32], root_label[64], inter_label[64];
	char root_cn[64], inter_cn[64];
	long count = 0;
	int root_id = 0, inter_id = 0, rc = 3, exists;
	X509 *chain[2];

	(void)ctx;
	memset(&o, 0, sizeof(o));
	o.root_lifetime = 3650LL * 86400;
	o.issuer_lifetime = 1095LL * 86400;
	o.server_lifetime = 365LL * 86400;
	o.audit_label = "signet-audit";
	if (parse_opts(argc, argv, &o, &e) != 0)
		return cli_report(&e);
	if (o.key_type != NULL &&
	    (strcmp(o.key_type, "ec-p256") && strcmp(o.key_type, "ec-p384") &&
	    strcmp(o.key_type, "rsa-3072"))) {
		err_set(&e, ERR_CONFIG, "--key-type %s: want ec-p256, ec-p384 or "
		    "rsa-3072", o.key_type);
		return cli_report(&e);
	}
	if (o.key_type != NULL && hsm_key_type_parse(o.key_type, &kt, &e) != 0)
		return cli_report(&e);
	if (realpath(o.pin_file, pin_abs) == NULL) {
		err_set(&e, ERR_CONFIG, "--pin-file %s: not found", o.pin_file);
		return cli_report(&e);
	}
	if (mkdir(o.dir, 0755) != 0 && access(o.dir, W_OK) != 0) {
		err_set(&e, ERR_CONFIG, "--dir %s: cannot create or write", o.dir);
		return cli_report(&e);
	}
	snprintf(path, sizeof(path), "%s/signet.conf", o.dir);
	if (access(path, F_OK) == 0 && !o.force) {
		err_set(&e, ERR_CONFLICT, "%s exists: a CA was created here already; "
		    "pass --force to replace it", path);
		return cli_report(&e);
	}
	if (name_constraints(&o, nc, sizeof(nc), &e) != 0)
		return cli_report(&e);

	/* Database first: nothing on the tokens changes if it is unusable. */
	if (db_open(o.db, 1, &db, &e) != 0 || (c = db_acquire(db, &e)) == NULL ||
	    db_migrate(c, NULL, &e) != 0 || db_issuers_count(c, &count, &e) != 0)
		goto fail;
	if (count > 0 && !o.force) {
		err_set(&e, ERR_CONFLICT, "the database holds a CA already (%ld "
		    "issuers); pass --force to add a new one beside it", count);
		goto fail;
	}
	/* With --force the old issuers retire; certificates keep theirs. */
	if (count > 0 && db_exec(c, "UPDATE issuers SET status = 'retired'"
	    " WHERE status <> 'retired'", 0, NULL, NULL, &e) != 0)
		goto fail;
	snprintf(root_name, sizeof(root_name), "root-%ld", count / 2 + 1);
	snprintf(inter_name, sizeof(inter_name), "issuing-%ld", count / 2 + 1);
	snprintf(root_label, sizeof(root_label), "signet-%s", root_name);
	snprintf(inter_label, sizeof(inter_label), "signet-%s", inter_name);
	snprintf(root_cn, sizeof(root_cn), "signet Root CA %ld", count / 2 + 1);
	snprintf(inter_cn, sizeof(inter_cn), "signet Issuing CA %ld", count / 2 + 1);

	if (open_token(o.module, o.root_token, o.root_pin_file, "--root-pin-file",
	    &root_hsm, &e) != 0 ||
	    open_token(o.module, o.token, o.pin_file, "--pin-file", &online, &e) != 0)
		goto fail;
	if (fresh_key(root_hsm, root_label, kt, o.force, &root_key, &e) != 0 ||
	    fresh_key(online, inter_label, kt, o.force, &issuing_key, &e) != 0)
		goto fail;
	/* The audit key outlives CAs: keep it so old checkpoints verify. */
	if ((exists = hsm_key_exists(online, o.audit_label, &e)) < 0 ||
	    (!exists && hsm_generate_key(online, o.audit_label, HSM_KEY_EC_P256,
	    &e) != 0) || hsm_find_key(online, o.audit_label, &audit_key, &e) != 0)
		goto fail;

	if (make_ca_cert(root_cn, hsm_key_public(root_key), NULL, root_key,
	    o.root_lifetime, "critical,CA:TRUE", NULL, o.public_url, NULL, &root,
	    &e) != 0)
		goto fail;
	snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:0");
	if (make_ca_cert(inter_cn, hsm_key_public(issuing_key), root, root_key,
	    o.issuer_lifetime, bc, o.npermit ? nc : NULL, o.public_url, root_name,
	    &inter, &e) != 0)
		goto fail;
	if (db_begin(c, &e) != 0 ||
	    record_issuer(c, root_name, "root", 0, root_label, o.root_token, root,
	    &root_id, &e) != 0 ||
	    record_issuer(c, inter_name, "intermediate", root_id, inter_label,
	    o.token, inter, &inter_id, &e) != 0 ||
	    db_audit_add(c, "admin", "ca.init", inter_name, NULL, &e) != 0 ||
	    db_commit(c, &e) != 0) {
		db_rollback(c);
		goto fail;
	}
	/* The delegated OCSP signer: its own key on the online token and a
	 * short-lived certificate from the new intermediate; signetd
	 * replaces it before it expires. */
	{
		struct config *defs = config_defaults();
		int ocsp_id = 0;

		if (defs == NULL) {
			err_set(&e, ERR_INTERNAL, "out of memory");
			goto fail;
		}
		if (ocsp_signer_create(online, c, inter_id, inter, issuing_key,
		    defs->ocsp_cert_lifetime, &ocsp_id, &e) != 0) {
			config_free(defs);
			goto fail;
		}
		config_free(defs);
	}
	db_release(db, c);
	c = NULL;
	if (ca_open(db, online, o.public_url, &ca, &e) != 0 ||
	    server_cert(ca, &o, &server, &server_key, &e) != 0)
		goto fail;

	chain[0] = root;
	snprintf(path, sizeof(path), "%s/roots.pem", o.dir);
	if (write_pem_certs(path, chain, 1, &e) != 0)
		goto fail;
	chain[0] = inter;
	snprintf(path, sizeof(path), "%s/chain.pem", o.dir);
	if (write_pem_certs(path, chain, 1, &e) != 0)
		goto fail;
	chain[0] = server;
	chain[1] = inter;
	snprintf(path, sizeof(path), "%s/server.pem", o.dir);
	if (write_pem_certs(path, chain, 2, &e) != 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/server.key", o.dir);
	if (x509_write_key(path, server_key, &e) != 0 || write_config(&o, pin_abs, &e) != 0)
		goto fail;
	/* A CRL for each CA from the start: relying parties such as nginx
	 * ssl_crl want one for every CA in the chain, and only init and
	 * `signet root crl` hold the root key.  DIR/crl is the default
	 * crl_publish_dir. */
	snprintf(path, sizeof(path), "%s/crl", o.dir);
	if (cli_crl_first(db, root_id, root_name, root, root_key,
	    365LL * 86400, path, &e) != 0 ||
	    cli_crl_first(db, inter_id, inter_name, inter, issuing_key,
	    86400, path, &e) != 0)
		goto fail;
	printf("created CA in %s\n"
	    "  root:    %s (key %s on token %s)\n"
	    "  issuing: %s (key %s on token %s)\n"
	    "  config:  %s/signet.conf\n"
	    "next: signetd -c %s/signet.conf\n",
	    o.dir, root_cn, root_label, o.root_token, inter_cn, inter_label,
	    o.token, o.dir, o.dir);
	rc = 0;
	goto out;
fail:
	rc = cli_report(&e);
out:
	if (c != NULL)
		db_release(db, c);
	ca_free(ca);
	X509_free(root);
	X509_free(inter);
	X509_free(server);
	EVP_PKEY_free(server_key);
	db_free(db);
	hsm_free(root_hsm);
	hsm_free(online);
	return rc;
}
