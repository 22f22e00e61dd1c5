/* profile: every extension of a leaf comes from the profile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <openssl/x509v3.h>

#include "ca/csr.h"
#include "ca/profile.h"
#include "ca/x509util.h"

static X509 *issuer(EVP_PKEY *k)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	char serial[SERIAL_HEX_MAX];
	struct err e;

	X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)"Test CA", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	x509_random_serial(x, serial, &e);
	x509_set_validity(x, 0, 4000000000, &e);
	x509_add_ext(x, NULL, NID_subject_key_identifier, "hash", &e);
	X509_sign(x, k, EVP_sha256());
	return x;
}

static X509 *leaf(EVP_PKEY *ca_key, X509 *ca, EVP_PKEY *key, enum profile p,
    int empty_subject)
{
	X509 *x = X509_new();
	struct san_list sans;
	struct san s;
	struct err e;
	char serial[SERIAL_HEX_MAX];

	memset(&sans, 0, sizeof(sans));
	san_parse("web.corp", &s, &e);
	san_list_add(&sans, &s, &e);
	if (!empty_subject)
		X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName,
		    MBSTRING_UTF8, (const unsigned char *)"web", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_set_pubkey(x, key);
	x509_random_serial(x, serial, &e);
	assert_int_equal(strlen(serial) > 16, 1);
	x509_set_validity(x, 0, 3000000000, &e);
	assert_int_equal(profile_apply(x, ca, p, &sans, empty_subject,
	    "http://ca.test", "issuing-1", &e), 0);
	X509_sign(x, ca_key, EVP_sha256());
	return x;
}

static int crit(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);
	return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static void test_server_leaf(void **state)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *ca = issuer(k), *x = leaf(k, ca, k, PROFILE_SERVER, 0);
	EXTENDED_KEY_USAGE *eku;

	(void)state;
	assert_int_equal(crit(x, NID_basic_constraints), 1);
	assert_int_equal(crit(x, NID_key_usage), 1);
	assert_int_equal(crit(x, NID_subject_alt_name), 0);
	assert_true(crit(x, NID_info_access) >= 0);
	assert_true(crit(x, NID_crl_distribution_points) >= 0);
	assert_true(crit(x, NID_authority_key_identifier) >= 0);
	assert_int_equal(X509_check_ca(x), 0);
	assert_true(X509_get_extension_flags(x) & EXFLAG_XKUSAGE);
	assert_true(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
	assert_false(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
	assert_false(X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
	eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
	EXTENDED_KEY_USAGE_free(eku);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(k);
}

static void test_both_and_empty_subject(void **state)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *ca = issuer(k), *x = leaf(k, ca, k, PROFILE_BOTH, 1);

	(void)state;
	/* RFC 5280 4.2.1.6: critical SAN when the subject is empty. */
	assert_int_equal(crit(x, NID_subject_alt_name), 1);
	assert_true(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
	assert_true(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(k);
}

static void test_parse(void **state)
{
	enum profile p;
	struct err e;

	(void)state;
	assert_int_equal(profile_parse("client", &p, &e), 0);
	assert_int_equal(p, PROFILE_CLIENT);
	assert_int_equal(profile_parse("ca", &p, &e), -1);
	assert_int_equal(profile_parse(NULL, &p, &e), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_leaf),
		cmocka_unit_test(test_both_and_empty_subject),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests_name("profile", tests, NULL, NULL);
}
