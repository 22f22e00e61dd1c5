#include "ca/profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "ca/csr.h"
#include "ca/x509util.h"

static const char *names[PROFILE_COUNT] = { "server", "client", "both" };

int profile_parse(const char *name, enum profile *out, struct err *e)
{
	for (int i = 0; i < PROFILE_COUNT; i++)
		if (name != NULL && strcmp(name, names[i]) == 0) {
			*out = (enum profile)i;
			return 0;
		}
	return err_set(e, ERR_INVALID,
	    "unknown profile \"%.32s\": want server, client or both",
	    name ? name : "");
}

const char *profile_name(enum profile p)
{
	return (unsigned)p < PROFILE_COUNT ? names[p] : "?";
}

/* subjectAltName, built as GENERAL_NAMES rather than through OpenSSL's
 * config-string parser, where a comma in a URI would split the list. */
static int add_sans(X509 *leaf, const struct san_list *sans, int critical,
    struct err *e)
{
	GENERAL_NAMES *gens = san_list_to_general_names(sans, e);
	int rc = 0;

	if (gens == NULL)
		return -1;
	if (X509_add1_ext_i2d(leaf, NID_subject_alt_name, gens, critical,
	    X509V3_ADD_REPLACE) != 1)
		rc = err_ossl(e, ERR_INTERNAL, "subjectAltName");
	GENERAL_NAMES_free(gens);
	return rc;
}

int profile_apply(X509 *leaf, X509 *issuer, enum profile p,
    const struct san_list *sans, int subject_empty, const char *public_url,
    const char *issuer_name, struct err *e)
{
	/* From the algorithm OID: asking for the EVP_PKEY would decode it. */
	int rsa = x509_key_nid(leaf) == NID_rsaEncryption;
	char aia[1024], cdp[1024];
	const char *ku, *eku;

	/* keyEncipherment only where it means something: RSA key transport
	 * in TLS 1.2 server certificates. */
	ku = rsa && p != PROFILE_CLIENT ?
	    "critical,digitalSignature,keyEncipherment" :
	    "critical,digitalSignature";
	eku = p == PROFILE_SERVER ? "serverAuth" :
	    p == PROFILE_CLIENT ? "clientAuth" : "serverAuth,clientAuth";
	snprintf(aia, sizeof(aia), "OCSP;URI:%s/ocsp,caIssuers;URI:%s/ca/%s.cer",
	    public_url, public_url, issuer_name);
	snprintf(cdp, sizeof(cdp), "URI:%s/crl/%s.crl", public_url, issuer_name);
	if (sans->n == 0)
		return err_set(e, ERR_INVALID, "a certificate needs at least one name");
	if (x509_add_ext(leaf, issuer, NID_basic_constraints, "critical,CA:FALSE", e) ||
	    x509_add_ext(leaf, issuer, NID_key_usage, ku, e) ||
	    x509_add_ext(leaf, issuer, NID_ext_key_usage, eku, e) ||
	    x509_add_ext(leaf, issuer, NID_subject_key_identifier, "hash", e) ||
	    x509_add_ext(leaf, issuer, NID_authority_key_identifier, "keyid:always", e) ||
	    add_sans(leaf, sans, subject_empty, e) ||
	    x509_add_ext(leaf, issuer, NID_info_access, aia, e) ||
	    x509_add_ext(leaf, issuer, NID_crl_distribution_points, cdp, e))
		return -1;
	return 0;
}
