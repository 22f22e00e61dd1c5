#include "ca/crl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include "common/util.h"
#include "db/db.h"

static const struct {
	const char *name;
	int code;
	int allowed;
} reasons[] = {
	{ "unspecified", 0, 1 },
	{ "keyCompromise", 1, 1 },
	{ "cACompromise", 2, 1 },
	{ "affiliationChanged", 3, 1 },
	{ "superseded", 4, 1 },
	{ "cessationOfOperation", 5, 1 },
	{ "certificateHold", 6, 0 },
	{ "removeFromCRL", 8, 0 },
	{ "privilegeWithdrawn", 9, 1 },
	{ "aACompromise", 10, 1 },
};
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

int crl_reason_parse(const char *name, int *code, struct err *e)
{
	if (name == NULL || *name == '\0')
		return err_set(e, ERR_INVALID, "a revocation reason is required");
	for (size_t i = 0; i < NREASONS; i++) {
		if (strcasecmp(name, reasons[i].name) != 0)
			continue;
		if (!reasons[i].allowed)
			return err_set(e, ERR_INVALID, "reason %s is not supported: "
			    "signet revocations are final (no certificateHold, "
			    "hence no removeFromCRL; RFC 5280 5.3.1)",
			    reasons[i].name);
		*code = reasons[i].code;
		return 0;
	}
	return err_set(e, ERR_INVALID, "unknown revocation reason \"%.40s\": "
	    "want unspecified, keyCompromise, cACompromise, affiliationChanged, "
	    "superseded, cessationOfOperation, privilegeWithdrawn or "
	    "aACompromise (RFC 5280 5.3.1)", name);
}

const char *crl_reason_name(int code)
{
	for (size_t i = 0; i < NREASONS; i++)
		if (reasons[i].code == code)
			return reasons[i].name;
	return "unknown";
}

int crl_serial_normalize(const char *in, char out[SERIAL_HEX_MAX],
    struct err *e)
{
	size_t k = 0;

	if (in == NULL || !util_is_hex(in, 40))
		return err_set(e, ERR_INVALID, "serial \"%.64s\" is not 1..40 hex "
		    "digits", in ? in : "");
	while (in[0] == '0' && in[1] != '\0')
		in++;
	for (; in[k] != '\0'; k++)
		out[k] = (char)(in[k] >= 'A' && in[k] <= 'F' ? in[k] + 32 : in[k]);
	out[k] = '\0';
	return 0;
}

static int set_time(X509_CRL *crl, time_t t,
    int (*set)(X509_CRL *, const ASN1_TIME *))
{
	ASN1_TIME *at = ASN1_TIME_set(NULL, t);
	int ok = at != NULL && set(crl, at) == 1;

	ASN1_TIME_free(at);
	return ok;
}

int crl_new(X509 *issuer, long long number, time_t this_update,
    time_t next_update, X509_CRL **out, struct err *e)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_INTEGER *num = NULL;
	X509_EXTENSION *aki = NULL;
	X509V3_CTX ctx;
	int rc = -1;

	if (crl == NULL || (num = ASN1_INTEGER_new()) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (number < 0 || next_update <= this_update) {
		err_set(e, ERR_INTERNAL, "CRL number %lld or validity is wrong",
		    number);
		goto out;
	}
	/* v2 (value 1): CRLs with extensions must be v2 (RFC 5280 5.1.2.1). */
	if (X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) != 1 ||
	    !set_time(crl, this_update, X509_CRL_set1_lastUpdate) ||
	    !set_time(crl, next_update, X509_CRL_set1_nextUpdate) ||
	    ASN1_INTEGER_set_int64(num, number) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1) {
		err_ossl(e, ERR_INTERNAL, "building CRL");
		goto out;
	}
	/* AKI from the issuer's SKI (RFC 5280 5.2.1: MUST). */
	X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
	if ((aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    "keyid:always")) == NULL || X509_CRL_add_ext(crl, aki, -1) != 1) {
		err_ossl(e, ERR_INTERNAL, "CRL authorityKeyIdentifier");
		goto out;
	}
	*out = crl;
	crl = NULL;
	rc = 0;
out:
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	return rc;
}

int crl_add(X509_CRL *crl, const char *serial_hex, time_t revoked_at,
    int reason, struct err *e)
{
	X509_REVOKED *rev = X509_REVOKED_new();
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *t = NULL;
	ASN1_ENUMERATED *rc_enum = NULL;
	BIGNUM *bn = NULL;
	int rc = -1;

	if (rev == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (!util_is_hex(serial_hex, 40) || BN_hex2bn(&bn, serial_hex) == 0 ||
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    X509_REVOKED_set_serialNumber(rev, serial) != 1 ||
	    (t = ASN1_TIME_set(NULL, revoked_at)) == NULL ||
	    X509_REVOKED_set_revocationDate(rev, t) != 1) {
		err_ossl(e, ERR_INTERNAL, "CRL entry %.40s", serial_hex);
		goto out;
	}
	/* unspecified is encoded by leaving reasonCode out (RFC 5280
	 * 5.3.1: SHOULD be absent rather than unspecified). */
	if (reason != CRL_REASON_UNSPECIFIED &&
	    ((rc_enum = ASN1_ENUMERATED_new()) == NULL ||
	    ASN1_ENUMERATED_set(rc_enum, reason) != 1 ||
	    X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, rc_enum, 0, 0) != 1)) {
		err_ossl(e, ERR_INTERNAL, "CRL entry %.40s reasonCode", serial_hex);
		goto out;
	}
	if (X509_CRL_add0_revoked(crl, rev) != 1) {
		err_ossl(e, ERR_INTERNAL, "CRL entry %.40s", serial_hex);
		goto out;
	}
	rev = NULL;
	rc = 0;
out:
	ASN1_ENUMERATED_free(rc_enum);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	X509_REVOKED_free(rev);
	return rc;
}

int crl_sign_pkey(X509_CRL *crl, EVP_PKEY *pkey, struct err *e)
{
	/* Entries in serial order, as `openssl ca` writes them: a reader
	 * may search, and two CRLs of the same state encode alike. */
	if (X509_CRL_sort(crl) != 1 ||
	    X509_CRL_sign(crl, pkey, x509_sign_md(pkey)) <= 0)
		return err_ossl(e, ERR_UNAVAILABLE, "signing CRL");
	return 0;
}

static int sign_cb(EVP_PKEY *pkey, void *arg)
{
	X509_CRL *crl = arg;

	return X509_CRL_sign(crl, pkey, x509_sign_md(pkey)) > 0;
}

int crl_sign(X509_CRL *crl, struct hsm_key *key, struct err *e)
{
	if (X509_CRL_sort(crl) != 1)
		return err_ossl(e, ERR_INTERNAL, "sorting CRL entries");
	return hsm_sign(key, sign_cb, crl, e);
}

static int add_entry(void *arg, const char *serial, long long revoked_at,
    int reason, struct err *e)
{
	return crl_add(arg, serial, (time_t)revoked_at, reason, e);
}

int crl_generate(PGconn *c, X509 *issuer, int issuer_id, struct hsm_key *key,
    long long validity, int scheduled, struct crl_result *out,
    struct err *e)
{
	X509_CRL *crl = NULL;
	unsigned char *der = NULL;
	time_t now = time(NULL);
	long n = 0;
	int len, rc = -1;

	memset(out, 0, sizeof(*out));
	if (db_begin(c, e) != 0)
		return -1;
	out->this_update = now;
	out->next_update = now + validity;
	if (db_crl_next_number(c, issuer_id, &out->number, e) != 0 ||
	    crl_new(issuer, out->number, out->this_update, out->next_update,
	    &crl, e) != 0 ||
	    db_crl_entries_each(c, issuer_id, now, scheduled, add_entry, crl,
	    &n, e) != 0)
		goto fail;
	out->entries = (int)n;
	if (crl_sign(crl, key, e) != 0)
		goto fail;
	if ((len = i2d_X509_CRL(crl, &der)) <= 0) {
		err_ossl(e, ERR_INTERNAL, "encoding CRL");
		goto fail;
	}
	/* The CRL's structure is no longer needed: free it before the
	 * store, which copies the DER into a query. */
	X509_CRL_free(crl);
	crl = NULL;
	if (db_crl_store(c, issuer_id, out->number, der, (size_t)len,
	    out->this_update, out->next_update, scheduled, e) != 0 ||
	    db_commit(c, e) != 0)
		goto fail;
	out->der = der;
	out->der_len = (size_t)len;
	der = NULL;
	rc = 0;
	goto out;
fail:
	db_rollback(c);
out:
	OPENSSL_free(der);
	X509_CRL_free(crl);
	return rc;
}

void crl_result_free(struct crl_result *r)
{
	if (r == NULL)
		return;
	OPENSSL_free(r->der);
	r->der = NULL;
	r->der_len = 0;
}

int crl_write(const char *dir, const char *name, const unsigned char *der,
    size_t len, char *path, size_t pathlen, struct err *e)
{
	char buf[4096];

	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return err_set(e, ERR_CONFIG, "crl_publish_dir %s: %s", dir,
		    strerror(errno));
	if ((size_t)snprintf(buf, sizeof(buf), "%s/%s.crl", dir, name) >=
	    sizeof(buf))
		return err_set(e, ERR_CONFIG, "crl_publish_dir: path too long");
	if (path != NULL)
		snprintf(path, pathlen, "%s", buf);
	return util_write_file(buf, der, len, 0644, e);
}
