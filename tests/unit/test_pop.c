/* pop: a proof of possession made by pop_sign (the client, signet renew
 * --pop) is one pop_verify (the CA) accepts, for each key type it can
 * carry; what it must not accept, it does not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/pop.h"

#define AUD "https://ca.test:8443/v1/renew"

struct pair {
	EVP_PKEY *key;
	unsigned char *der;
	size_t der_len;
};

/* A key and a self-signed certificate for it, as DER. */
static void make_pair(struct pair *p, const char *alg, const char *param,
    size_t bits)
{
	X509 *x = X509_new();
	unsigned char *der = NULL;
	int n;

	if (strcmp(alg, "RSA") == 0)
		p->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
	else if (param != NULL)
		p->key = EVP_PKEY_Q_keygen(NULL, NULL, alg, param);
	else
		p->key = EVP_PKEY_Q_keygen(NULL, NULL, alg);
	assert_non_null(p->key);
	assert_non_null(x);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)"pop.test", -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
	assert_int_equal(X509_set_pubkey(x, p->key), 1);
	assert_true(X509_sign(x, p->key, strcmp(alg, "ED25519") == 0 ? NULL :
	    EVP_sha256()) > 0);
	n = i2d_X509(x, &der);
	assert_true(n > 0);
	p->der = der;
	p->der_len = (size_t)n;
	X509_free(x);
}

static void free_pair(struct pair *p)
{
	EVP_PKEY_free(p->key);
	OPENSSL_free(p->der);
}

static void round_trip(const char *alg, const char *param, size_t bits)
{
	struct pair p, other;
	struct err e = { 0 };
	char *tok = NULL, jti[129];
	long long exp = 0;
	time_t now = time(NULL);

	make_pair(&p, alg, param, bits);
	assert_int_equal(pop_sign(p.key, p.der, p.der_len, AUD, 120, now, &tok,
	    &e), 0);
	assert_true(pop_present(tok, strlen(tok)));
	assert_int_equal(pop_verify(tok, strlen(tok), p.der, p.der_len, AUD, 5,
	    now, jti, &exp, &e), 0);
	assert_int_equal(exp, (long long)now + 120);
	assert_true(strlen(jti) >= 16);
	/* Another audience, another certificate, too late: refused. */
	assert_int_equal(pop_verify(tok, strlen(tok), p.der, p.der_len,
	    "https://ca.test:8443/v1/revoke", 5, now, jti, &exp, &e), -1);
	assert_int_equal(e.kind, ERR_AUTH);
	make_pair(&other, alg, param, bits);
	assert_int_equal(pop_verify(tok, strlen(tok), other.der, other.der_len,
	    AUD, 5, now, jti, &exp, &e), -1);
	assert_int_equal(pop_verify(tok, strlen(tok), p.der, p.der_len, AUD, 5,
	    now + 600, jti, &exp, &e), -1);
	free(tok);
	free_pair(&other);
	free_pair(&p);
}

static void test_ec_p256(void **state)
{
	(void)state;
	round_trip("EC", "P-256", 0);
}

static void test_ec_p384(void **state)
{
	(void)state;
	round_trip("EC", "P-384", 0);
}

static void test_rsa(void **state)
{
	(void)state;
	round_trip("RSA", NULL, 2048);
}

static void test_ed25519_refused(void **state)
{
	struct pair p;
	struct err e = { 0 };
	char *tok = NULL;

	(void)state;
	make_pair(&p, "ED25519", NULL, 0);
	assert_int_equal(pop_sign(p.key, p.der, p.der_len, AUD, 120, time(NULL),
	    &tok, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "Ed25519"));
	assert_null(tok);
	free_pair(&p);
}

static void test_ttl_bounds(void **state)
{
	struct pair p;
	struct err e = { 0 };
	char *tok = NULL;

	(void)state;
	make_pair(&p, "EC", "P-256", 0);
	assert_int_equal(pop_sign(p.key, p.der, p.der_len, AUD, 0, time(NULL),
	    &tok, &e), -1);
	assert_int_equal(pop_sign(p.key, p.der, p.der_len, AUD, POP_MAX_TTL + 1,
	    time(NULL), &tok, &e), -1);
	assert_null(tok);
	free_pair(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ec_p256),
		cmocka_unit_test(test_ec_p384),
		cmocka_unit_test(test_rsa),
		cmocka_unit_test(test_ed25519_refused),
		cmocka_unit_test(test_ttl_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
