/*
 * ca/ocsp_signer.c: issue a delegated OCSP signing certificate for a new
 * key on the token.
 */
#include "ca/ocsp_signer.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "ca/issue.h"
#include "ca/x509util.h"
#include "db/db.h"
#include "db/ocsp_db.h"

/* The issuing key's type: responses signed by the delegate should be no
 * weaker (nor stranger to clients) than the CA's own signatures. */
static int key_type_of(EVP_PKEY *pub, enum hsm_key_type *t, struct err *e)
{
	char group[64];
	size_t glen = 0;

	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
		if (!EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME,
		    group, sizeof(group), &glen))
			return err_ossl(e, ERR_INTERNAL, "issuing key curve");
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			*t = HSM_KEY_EC_P256;
		else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			*t = HSM_KEY_EC_P384;
		else
			return err_set(e, ERR_CONFIG, "issuing key curve %s: no OCSP "
			    "key type for it", group);
		return 0;
	}
	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) {
		int bits = EVP_PKEY_get_bits(pub);
		*t = bits <= 2048 ? HSM_KEY_RSA_2048 : bits <= 3072 ?
		    HSM_KEY_RSA_3072 : HSM_KEY_RSA_4096;
		return 0;
	}
	return err_set(e, ERR_CONFIG, "issuing key type: no OCSP key type for it");
}

static int build_cert(X509 *issuer, EVP_PKEY *pub, long n, long long lifetime,
    X509 **out, char serial[SERIAL_HEX_MAX], struct err *e)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	char cn[64];
	time_t now = time(NULL), na = now + lifetime;
	int rc = -1;

	snprintf(cn, sizeof(cn), "signet OCSP Responder %ld", n);
	if (x == NULL || name == NULL ||
	    X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
	    (const unsigned char *)"signet", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1 ||
	    X509_set_pubkey(x, pub) != 1) {
		err_ossl(e, ERR_INTERNAL, "building the OCSP signing certificate");
		goto out;
	}
	if (na > x509_not_after(issuer))
		na = x509_not_after(issuer);
	/* RFC 6960 4.2.2.2: id-kp-OCSPSigning from the CA itself; 4.2.2.2.1:
	 * id-pkix-ocsp-nocheck, so clients do not ask about the responder
	 * (which is why it is short-lived and rotated). */
	if (x509_random_serial(x, serial, e) != 0 ||
	    x509_set_validity(x, now - 60, na, e) != 0 ||
	    x509_add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE", e) ||
	    x509_add_ext(x, issuer, NID_key_usage, "critical,digitalSignature", e) ||
	    x509_add_ext(x, issuer, NID_ext_key_usage, "OCSPSigning", e) ||
	    x509_add_ext(x, issuer, NID_id_pkix_OCSP_noCheck, "ignored", e) ||
	    x509_add_ext(x, issuer, NID_subject_key_identifier, "hash", e) ||
	    x509_add_ext(x, issuer, NID_authority_key_identifier, "keyid:always", e))
		goto out;
	*out = x;
	x = NULL;
	rc = 0;
out:
	X509_NAME_free(name);
	X509_free(x);
	return rc;
}

int ocsp_signer_create(struct hsm *h, PGconn *c, int issuer_id,
    X509 *issuer, struct hsm_key *issuer_key, long long lifetime, int *id,
    struct err *e)
{
	enum hsm_key_type t = HSM_KEY_EC_P256;
	struct hsm_key *key = NULL;
	char label[64], serial[SERIAL_HEX_MAX];
	unsigned char *der = NULL;
	size_t len = 0;
	X509 *x = NULL;
	long n = 0;
	int exists, rc = -1;

	if (key_type_of(hsm_key_public(issuer_key), &t, e) != 0 ||
	    db_ocsp_signer_next_number(c, &n, e) != 0)
		return -1;
	snprintf(label, sizeof(label), "signet-ocsp-%ld", n);
	/* A key with this label belongs to no recorded signer (the number is
	 * new to the table): a leftover of a failed attempt or of another
	 * database on this token.  Replace it. */
	if ((exists = hsm_key_exists(h, label, e)) < 0 ||
	    (exists && hsm_destroy_key(h, label, e) != 0) ||
	    hsm_generate_key(h, label, t, e) != 0 ||
	    hsm_find_key(h, label, &key, e) != 0)
		return -1;
	if (build_cert(issuer, hsm_key_public(key), n, lifetime, &x, serial, e) != 0 ||
	    ca_sign_cert(issuer_key, x, e) != 0 ||
	    x509_to_der(x, &der, &len, e) != 0)
		goto out;
	if (db_begin(c, e) != 0)
		goto out;
	if (db_ocsp_signer_add(c, issuer_id, label, serial,
	    time(NULL) - 60, x509_not_after(x), der, len, id, e) != 0 ||
	    db_commit(c, e) != 0) {
		db_rollback(c);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(der);
	X509_free(x);
	return rc;
}
