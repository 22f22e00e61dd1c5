/* csr: parsing and refusing hostile or unacceptable requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/csr.h"

/* A PEM CSR for key with the given SAN and extra extension (OpenSSL
 * config syntax, may be NULL). */
static char *make(EVP_PKEY *key, const char *cn, const char *san,
    int ext_nid, const char *ext_value, int corrupt)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_REQ_get_subject_name(req);
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	if (cn)
		X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
		    (const unsigned char *)cn, -1, -1, 0);
	if (san)
		sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL,
		    NID_subject_alt_name, san));
	if (ext_value)
		sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL,
		    ext_nid, ext_value));
	X509_REQ_set_pubkey(req, key);
	if (sk_X509_EXTENSION_num(exts) > 0)
		X509_REQ_add_extensions(req, exts);
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	if (corrupt) {
		const ASN1_BIT_STRING *sig;
		X509_REQ_get0_signature(req, &sig, NULL);
		((unsigned char *)ASN1_STRING_get0_data(sig))[10] ^= 0x55;
	}
	PEM_write_bio_X509_REQ(b, req);
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return out;
}

static int parse(const char *pem, struct csr **c, struct err *e)
{
	return csr_parse_pem(pem, strlen(pem), c, e);
}

static void test_good_ec(void **state)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char *pem = make(k, "web", "DNS:Web.Svc.Corp,IP:10.0.0.1,URI:spiffe://corp/web",
	    0, NULL, 0);
	struct csr *c = NULL;
	struct err e;

	(void)state;
	assert_int_equal(parse(pem, &c, &e), 0);
	assert_string_equal(c->key_type, "ec-p256");
	assert_string_equal(c->cn, "web");
	assert_int_equal(c->sans.n, 3);
	assert_string_equal(c->sans.v[0].value, "web.svc.corp");
	assert_int_equal(c->sans.v[1].type, SAN_IP);
	assert_string_equal(c->sans.v[2].value, "spiffe://corp/web");
	csr_free(c);
	csr_free(NULL);
	free(pem);
	EVP_PKEY_free(k);
}

static void test_ed25519_and_p384(void **state)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509_REQ *req = X509_REQ_new();
	struct csr *c = NULL;
	struct err e;
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	char *pem = make(p384, NULL, "DNS:a.corp", 0, NULL, 0);

	(void)state;
	X509_REQ_set_pubkey(req, k);
	assert_true(X509_REQ_sign(req, k, NULL) > 0);
	assert_int_equal(csr_from_req(req, &c, &e), 0);
	assert_string_equal(c->key_type, "ed25519");
	csr_free(c);
	assert_int_equal(parse(pem, &c, &e), 0);
	assert_string_equal(c->key_type, "ec-p384");
	csr_free(c);
	free(pem);
	EVP_PKEY_free(k);
	EVP_PKEY_free(p384);
}

static void test_refusals(void **state)
{
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	struct {
		char *pem;
		enum err_kind kind;
		const char *want;
	} cases[] = {
		{ make(rsa1024, "x", "DNS:a.corp", 0, NULL, 0), ERR_POLICY, "1024" },
		{ make(p521, "x", "DNS:a.corp", 0, NULL, 0), ERR_POLICY, "secp521r1" },
		{ make(ec, "x", "DNS:a.corp", 0, NULL, 1), ERR_INVALID, "signature" },
		{ make(ec, "x", "DNS:a.corp", NID_basic_constraints,
		    "critical,CA:TRUE", 0), ERR_POLICY, "CA:TRUE" },
		{ make(ec, "x", "DNS:a.corp", NID_key_usage,
		    "critical,keyCertSign", 0), ERR_POLICY, "keyCertSign" },
		{ make(ec, "x", "email:a@corp", 0, NULL, 0), ERR_POLICY, "only DNS" },
		{ make(ec, "x", "DNS:bad..name", 0, NULL, 0), ERR_INVALID, "DNS" },
	};
	struct csr *c = NULL;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(cases[i].pem, &c, &e), -1);
		if (e.kind != cases[i].kind || !strstr(e.msg, cases[i].want))
			fail_msg("case %zu: kind %d \"%s\"", i, e.kind, e.msg);
		free(cases[i].pem);
	}
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(p521);
}

static void test_not_pem(void **state)
{
	static const char truncated[] = "-----BEGIN CERTIFICATE REQUEST-----\n"
	    "AAAA\n-----END CERTIFICATE REQUEST-----\n";
	const char *bad[] = { "hello", truncated,
	    "-----BEGIN CERTIFICATE REQUEST-----\n" };
	struct csr *c = NULL;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &c, &e), -1);
		assert_int_equal(e.kind, ERR_INVALID);
	}
	assert_int_equal(csr_parse_pem("", 0, &c, &e), -1);
}

static void test_san_parse(void **state)
{
	struct san s;
	struct err e;

	(void)state;
	assert_int_equal(san_parse("10.0.0.1", &s, &e), 0);
	assert_int_equal(s.type, SAN_IP);
	assert_int_equal(san_parse("::1", &s, &e), 0);
	assert_int_equal(s.type, SAN_IP);
	assert_int_equal(san_parse("spiffe://corp/x", &s, &e), 0);
	assert_int_equal(s.type, SAN_URI);
	assert_int_equal(san_parse("*.corp", &s, &e), 0);
	assert_int_equal(san_parse("a b", &s, &e), -1);
	assert_int_equal(san_parse("-a.corp", &s, &e), -1);
	assert_int_equal(san_parse("IP:999.1.1.1", &s, &e), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_ec),
		cmocka_unit_test(test_ed25519_and_p384),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_not_pem),
		cmocka_unit_test(test_san_parse),
	};
	return cmocka_run_group_tests_name("csr", tests, NULL, NULL);
}
