/* crl: reason names, serials, building and signing CRLs; the proof of
 * possession checks that need no database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca/crl.h"
#include "ca/pop.h"
#include "ca/token.h"
#include "ca/x509util.h"

static void test_reasons(void **state)
{
	static const struct { const char *name; int code; } ok[] = {
		{ "unspecified", 0 }, { "keyCompromise", 1 }, { "cACompromise", 2 },
		{ "affiliationChanged", 3 }, { "superseded", 4 },
		{ "cessationOfOperation", 5 }, { "privilegeWithdrawn", 9 },
		{ "aACompromise", 10 }, { "KEYCOMPROMISE", 1 },
	};
	struct err e;
	int code;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		code = -1;
		assert_int_equal(crl_reason_parse(ok[i].name, &code, &e), 0);
		assert_int_equal(code, ok[i].code);
		assert_true(strcasecmp(crl_reason_name(code), ok[i].name) == 0);
	}
	assert_int_equal(crl_reason_parse("certificateHold", &code, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_non_null(strstr(e.msg, "certificateHold"));
	assert_int_equal(crl_reason_parse("removeFromCRL", &code, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_int_equal(crl_reason_parse("stolen", &code, &e), -1);
	assert_non_null(strstr(e.msg, "superseded"));
	assert_int_equal(crl_reason_parse("", &code, &e), -1);
	assert_int_equal(crl_reason_parse(NULL, &code, &e), -1);
	assert_string_equal(crl_reason_name(6), "certificateHold");
	assert_string_equal(crl_reason_name(77), "unknown");
}

static void test_serials(void **state)
{
	char out[SERIAL_HEX_MAX];
	struct err e;
	char long_serial[42];

	(void)state;
	assert_int_equal(crl_serial_normalize("00ABc", out, &e), 0);
	assert_string_equal(out, "abc");
	assert_int_equal(crl_serial_normalize("0", out, &e), 0);
	assert_string_equal(out, "0");
	assert_int_equal(crl_serial_normalize("xyz", out, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_int_equal(crl_serial_normalize("", out, &e), -1);
	assert_int_equal(crl_serial_normalize(NULL, out, &e), -1);
	memset(long_serial, 'a', 41);
	long_serial[41] = '\0';
	assert_int_equal(crl_serial_normalize(long_serial, out, &e), -1);
}

/* A throwaway self-signed CA with an SKI, signed in software. */
static X509 *make_ca(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	char serial[SERIAL_HEX_MAX];
	struct err e;

	assert_non_null(x);
	X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)"test CA", -1, -1, 0);
	X509_set_version(x, X509_VERSION_3);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, key);
	assert_int_equal(x509_random_serial(x, serial, &e), 0);
	assert_int_equal(x509_set_validity(x, time(NULL) - 60,
	    time(NULL) + 3600, &e), 0);
	assert_int_equal(x509_add_ext(x, NULL, NID_subject_key_identifier,
	    "hash", &e), 0);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return x;
}

static X509_REVOKED *find(X509_CRL *crl, long serial)
{
	STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);

	for (int i = 0; i < sk_X509_REVOKED_num(revs); i++) {
		X509_REVOKED *r = sk_X509_REVOKED_value(revs, i);
		if (ASN1_INTEGER_get(X509_REVOKED_get0_serialNumber(r)) == serial)
			return r;
	}
	return NULL;
}

/* The same entry added to ref the plain OpenSSL way, for comparison. */
static void ref_add(X509_CRL *ref, const char *hex, time_t t, int reason)
{
	X509_REVOKED *r = X509_REVOKED_new();
	BIGNUM *bn = NULL;
	ASN1_INTEGER *serial;
	ASN1_TIME *when = ASN1_TIME_set(NULL, t);

	assert_non_null(r);
	assert_non_null(when);
	assert_true(BN_hex2bn(&bn, hex) > 0);
	assert_non_null(serial = BN_to_ASN1_INTEGER(bn, NULL));
	assert_int_equal(X509_REVOKED_set_serialNumber(r, serial), 1);
	assert_int_equal(X509_REVOKED_set_revocationDate(r, when), 1);
	if (reason != CRL_REASON_UNSPECIFIED) {
		ASN1_ENUMERATED *code = ASN1_ENUMERATED_new();

		assert_non_null(code);
		assert_int_equal(ASN1_ENUMERATED_set(code, reason), 1);
		assert_int_equal(X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, code,
		    0, 0), 1);
		ASN1_ENUMERATED_free(code);
	}
	assert_int_equal(X509_CRL_add0_revoked(ref, r), 1);
	ASN1_TIME_free(when);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
}

/* der's tbsCertList is, byte for byte and to its end, the one OpenSSL
 * encodes for ref once X509_CRL_sort has put its entries in order. */
static void assert_tbs_is(const unsigned char *der, size_t len, X509_CRL *ref)
{
	unsigned char *tbs = NULL;
	const unsigned char *p = der, *q;
	long content_len;
	int tbs_len, tag, cls;

	assert_int_equal(X509_CRL_sort(ref), 1);
	tbs_len = i2d_re_X509_CRL_tbs(ref, &tbs);
	assert_true(tbs_len > 0 && (size_t)tbs_len < len);
	assert_int_equal(ASN1_get_object(&p, &content_len, &tag, &cls,
	    (long)len) & 0x80, 0);
	assert_int_equal(tag, V_ASN1_SEQUENCE);
	q = p;
	assert_int_equal(ASN1_get_object(&q, &content_len, &tag, &cls,
	    (long)len - (p - der)) & 0x80, 0);
	assert_int_equal(tag, V_ASN1_SEQUENCE);
	assert_int_equal((q - p) + content_len, tbs_len);
	assert_memory_equal(p, tbs, (size_t)tbs_len);
	OPENSSL_free(tbs);
}

static void test_build_sign(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *ca;
	X509_CRL *crl = NULL, *back = NULL, *ref = NULL;
	ASN1_INTEGER *num;
	ASN1_ENUMERATED *reason;
	AUTHORITY_KEYID *aki;
	X509_REVOKED *r;
	unsigned char *der = NULL, *again = NULL;
	const unsigned char *p;
	time_t now = time(NULL);
	struct crl_key k;
	struct crl_builder *b = NULL;
	struct err e;
	size_t len = 0;
	int again_len;

	(void)state;
	assert_non_null(key);
	k.hsm = NULL;
	k.pkey = key;
	ca = make_ca(key);
	assert_int_equal(crl_new(ca, 7, now, now, &k, &crl, &e), -1);
	assert_int_equal(crl_new(ca, 7, now, now + 3600, &k, &crl, &e), 0);
	/* The same CRL, its entries added by OpenSSL, for comparison. */
	assert_int_equal(crl_new(ca, 7, now, now + 3600, &k, &ref, &e), 0);
	assert_int_equal(crl_builder_new(crl, &b, &e), 0);
	assert_int_equal(crl_builder_add(b, "1f", now - 10, CRL_REASON_UNSPECIFIED, &e), 0);
	assert_int_equal(crl_builder_add(b, "a", now - 5, CRL_REASON_KEY_COMPROMISE, &e), 0);
	assert_int_equal(crl_builder_add(b, "2", now, 4, &e), 0);
	assert_int_equal(crl_builder_add(b, "7fffffffffffffffffffffffffffffffffffffff", now, 0, &e), 0);
	assert_int_equal(crl_builder_add(b, "nothex", now, 4, &e), -1);
	assert_int_equal(crl_builder_add(b, "1ffffffffffffffffffffffffffffffffffffffff", now, 4, &e), -1);
	ref_add(ref, "1f", now - 10, CRL_REASON_UNSPECIFIED);
	ref_add(ref, "a", now - 5, CRL_REASON_KEY_COMPROMISE);
	ref_add(ref, "2", now, 4);
	ref_add(ref, "7fffffffffffffffffffffffffffffffffffffff", now, 0);
	assert_int_equal(crl_finish(b, &k, &der, &len, &e), 0);
	crl_builder_free(b);

	/* Through DER and back, as a relying party sees it. */
	assert_true(len > 0);
	p = der;
	back = d2i_X509_CRL(NULL, &p, (long)len);
	assert_non_null(back);
	assert_ptr_equal(p, der + len);
	assert_int_equal(X509_CRL_verify(back, key), 1);
	/* What crl_finish put together is what OpenSSL itself encodes for
	 * that CRL, byte for byte: the same tbsCertList, algorithm and
	 * signature. */
	again_len = i2d_X509_CRL(back, &again);
	assert_int_equal(again_len, (int)len);
	assert_memory_equal(again, der, len);
	assert_tbs_is(der, len, ref);
	assert_int_equal(X509_CRL_get_version(back), X509_CRL_VERSION_2);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(back),
	    X509_get_subject_name(ca)), 0);
	num = X509_CRL_get_ext_d2i(back, NID_crl_number, NULL, NULL);
	assert_non_null(num);
	assert_int_equal(ASN1_INTEGER_get(num), 7);
	ASN1_INTEGER_free(num);
	aki = X509_CRL_get_ext_d2i(back, NID_authority_key_identifier, NULL, NULL);
	assert_non_null(aki);
	assert_non_null(aki->keyid);
	assert_int_equal(ASN1_STRING_cmp(aki->keyid, X509_get0_subject_key_id(ca)), 0);
	AUTHORITY_KEYID_free(aki);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(back)), 4);
	/* Sorted by serial. */
	assert_int_equal(ASN1_INTEGER_get(X509_REVOKED_get0_serialNumber(
	    sk_X509_REVOKED_value(X509_CRL_get_REVOKED(back), 0))), 2);
	/* The 160-bit serial, byte for byte (the largest, so the last). */
	{
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(
		    sk_X509_REVOKED_value(X509_CRL_get_REVOKED(back), 3)), NULL);
		char *hex = BN_bn2hex(bn);

		assert_string_equal(hex, "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF");
		OPENSSL_free(hex);
		BN_free(bn);
	}
	/* unspecified: no reasonCode at all. */
	assert_non_null(r = find(back, 0x1f));
	assert_int_equal(X509_REVOKED_get_ext_by_NID(r, NID_crl_reason, -1), -1);
	assert_non_null(r = find(back, 0x0a));
	reason = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
	assert_non_null(reason);
	assert_int_equal(ASN1_ENUMERATED_get(reason), 1);
	ASN1_ENUMERATED_free(reason);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(r),
	    now - 5), 0);

	OPENSSL_free(der);
	OPENSSL_free(again);
	X509_CRL_free(back);
	X509_CRL_free(crl);
	X509_CRL_free(ref);
	X509_free(ca);
	EVP_PKEY_free(key);
}

static void test_pop_refusals(void **state)
{
	char jti[129], *priv = NULL, *pub = NULL, *tok = NULL;
	unsigned char der[4] = { 0x30, 0x02, 0x05, 0x00 };
	struct san_list sans;
	struct san s;
	long long exp;
	struct err e;

	(void)state;
	assert_int_equal(pop_verify("garbage", 7, der, sizeof(der),
	    "https://ca/v1/revoke", 60, time(NULL), jti, &exp, &e), -1);
	assert_int_equal(e.kind, ERR_AUTH);
	assert_int_equal(pop_verify(NULL, 0, der, sizeof(der),
	    "https://ca/v1/revoke", 60, time(NULL), jti, &exp, &e), -1);
	assert_int_equal(e.kind, ERR_AUTH);
	assert_int_equal(pop_present("garbage", 7), 0);

	/* A well-formed JWS without x5c (a provisioner token) is no proof
	 * of possession. */
	memset(&sans, 0, sizeof(sans));
	assert_int_equal(san_parse("a.test", &s, &e), 0);
	assert_int_equal(san_list_add(&sans, &s, &e), 0);
	assert_int_equal(token_new_key("ci", &priv, &pub, &e), 0);
	assert_int_equal(token_mint(priv, "ci", NULL, &sans, NULL, 0,
	    "https://ca/v1/revoke", 60, time(NULL), &tok, &e), 0);
	assert_int_equal(pop_present(tok, strlen(tok)), 0);
	assert_int_equal(pop_verify(tok, strlen(tok), der, sizeof(der),
	    "https://ca/v1/revoke", 60, time(NULL), jti, &exp, &e), -1);
	assert_int_equal(e.kind, ERR_AUTH);
	assert_non_null(strstr(e.msg, "x5c"));
	free(tok);
	free(priv);
	free(pub);
}

/* Enough entries for the two-thread sort: every one listed once, in
 * ascending serial order, and the signature good. */
static void test_sort_large(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *ca;
	X509_CRL *crl = NULL, *back;
	struct crl_builder *b = NULL;
	struct crl_key k = { NULL, key };
	STACK_OF(X509_REVOKED) *revs;
	unsigned char *der = NULL, rnd[16];
	const unsigned char *p;
	char hex[33];
	size_t len = 0;
	time_t now = time(NULL);
	struct err e;
	const int n = 10007;

	(void)state;
	ca = make_ca(key);
	assert_int_equal(crl_new(ca, 1, now, now + 60, &k, &crl, &e), 0);
	assert_int_equal(crl_builder_new(crl, &b, &e), 0);
	for (int i = 0; i < n; i++) {
		assert_int_equal(RAND_bytes(rnd, sizeof(rnd)), 1);
		rnd[0] = (unsigned char)((rnd[0] & 0x7f) | 0x01);
		/* Short ones too: order is by value, not by text. */
		for (int j = 0; j < 16; j++)
			snprintf(hex + 2 * j, 3, "%02x", rnd[j]);
		assert_int_equal(crl_builder_add(b, hex + (i % 7) * 4, now, i % 3,
		    &e), 0);
	}
	assert_int_equal(crl_finish(b, &k, &der, &len, &e), 0);
	crl_builder_free(b);
	X509_CRL_free(crl);
	p = der;
	assert_non_null(back = d2i_X509_CRL(NULL, &p, (long)len));
	assert_int_equal(X509_CRL_verify(back, key), 1);
	revs = X509_CRL_get_REVOKED(back);
	assert_int_equal(sk_X509_REVOKED_num(revs), n);
	for (int i = 1; i < n; i++)
		assert_true(ASN1_INTEGER_cmp(
		    X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revs, i - 1)),
		    X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revs, i))) < 0);
	X509_CRL_free(back);
	OPENSSL_free(der);
	X509_free(ca);
	EVP_PKEY_free(key);
}

/* A random serial of 1..20 bytes as signet stores it (lowercase hex,
 * no leading zeros), not one of the n in have. */
static void fresh_serial(char out[SERIAL_HEX_MAX], char (*have)[SERIAL_HEX_MAX],
    int n, int bytes)
{
	unsigned char rnd[20];
	char hex[41];
	const char *s;
	int dup;

	do {
		assert_int_equal(RAND_bytes(rnd, bytes), 1);
		for (int j = 0; j < bytes; j++)
			snprintf(hex + 2 * j, 3, "%02x", rnd[j]);
		for (s = hex; s[0] == '0' && s[1] != '\0'; s++)
			;
		dup = 0;
		for (int i = 0; i < n && !dup; i++)
			dup = strcmp(have[i], s) == 0;
	} while (dup);
	snprintf(out, SERIAL_HEX_MAX, "%s", s);
}

/* A few thousand entries of every serial length (with and without the
 * sign byte DER adds when the top bit is set), every reason and times on
 * both sides of 2050 (UTCTime, GeneralizedTime), added in random order:
 * the CRL is the one OpenSSL builds from X509_REVOKEDs, X509_CRL_sort's
 * and signs, byte for byte, signature included (RSA PKCS#1 v1.5 signs
 * alike twice). */
static void test_identity_mixed(void **state)
{
	static const int codes[] = { 0, 1, 2, 3, 4, 5, 9, 10 };
	static const char *edges[] = { "1", "7f", "80", "ff", "100", "8000",
	    "7fffffffffffffffffffffffffffffffffffffff",
	    "ffffffffffffffffffffffffffffffffffffffff" };
	const int n = 3001, nedges = (int)(sizeof(edges) / sizeof(edges[0]));
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	X509 *ca;
	X509_CRL *crl = NULL, *ref = NULL;
	struct crl_builder *b = NULL;
	struct crl_key k = { NULL, key };
	char (*serials)[SERIAL_HEX_MAX] = calloc((size_t)n, SERIAL_HEX_MAX);
	unsigned char *der = NULL, *want = NULL;
	time_t now = time(NULL), t;
	size_t len = 0;
	int want_len, reason;
	struct err e;

	(void)state;
	assert_non_null(key);
	assert_non_null(serials);
	ca = make_ca(key);
	assert_int_equal(crl_new(ca, 12345678901LL, now, now + 86400, &k, &crl,
	    &e), 0);
	assert_int_equal(crl_new(ca, 12345678901LL, now, now + 86400, &k, &ref,
	    &e), 0);
	assert_int_equal(crl_builder_new(crl, &b, &e), 0);
	for (int i = 0; i < n; i++) {
		if (i < nedges)
			snprintf(serials[i], SERIAL_HEX_MAX, "%s", edges[i]);
		else
			fresh_serial(serials[i], serials, i, 1 + i % 20);
		reason = codes[(i / 3) % 8];
		/* 2050-01-01 and later are GeneralizedTime (RFC 5280 5.1.2.6). */
		t = i % 5 == 0 ? (time_t)2524608000LL + i * 3600 : now - i * 97;
		/* Upper case and leading zeros once in a while: the builder
		 * takes both. */
		if (i % 11 == 0) {
			char odd[SERIAL_HEX_MAX + 2];

			snprintf(odd, sizeof(odd), "00%s", serials[i]);
			for (char *c = odd; *c != '\0'; c++)
				if (*c >= 'a' && *c <= 'f')
					*c = (char)(*c - 32);
			assert_int_equal(crl_builder_add(b, odd, t, reason, &e), 0);
		} else {
			assert_int_equal(crl_builder_add(b, serials[i], t, reason, &e),
			    0);
		}
		ref_add(ref, serials[i], t, reason);
	}
	assert_int_equal(crl_finish(b, &k, &der, &len, &e), 0);
	assert_tbs_is(der, len, ref);
	assert_int_equal(X509_CRL_sort(ref), 1);
	assert_true(X509_CRL_sign(ref, key, x509_sign_md(key)) > 0);
	want_len = i2d_X509_CRL(ref, &want);
	assert_int_equal(want_len, (int)len);
	assert_memory_equal(der, want, len);
	{
		const unsigned char *p = der;
		X509_CRL *back = d2i_X509_CRL(NULL, &p, (long)len);

		assert_non_null(back);
		assert_int_equal(X509_CRL_verify(back, key), 1);
		assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(back)), n);
		X509_CRL_free(back);
	}
	crl_builder_free(b);
	OPENSSL_free(der);
	OPENSSL_free(want);
	X509_CRL_free(crl);
	X509_CRL_free(ref);
	free(serials);
	X509_free(ca);
	EVP_PKEY_free(key);
}

/* No entries: no revokedCertificates at all (RFC 5280 5.1.2.6), as
 * OpenSSL encodes an X509_CRL that never had one; and a builder that has
 * been finished starts empty again. */
static void test_empty(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *ca;
	X509_CRL *crl = NULL, *ref = NULL, *back;
	struct crl_builder *b = NULL;
	struct crl_key k = { NULL, key };
	unsigned char *der = NULL;
	const unsigned char *p;
	time_t now = time(NULL);
	size_t len = 0;
	struct err e;

	(void)state;
	ca = make_ca(key);
	assert_int_equal(crl_new(ca, 3, now, now + 60, &k, &crl, &e), 0);
	assert_int_equal(crl_new(ca, 3, now, now + 60, &k, &ref, &e), 0);
	assert_int_equal(crl_builder_new(crl, &b, &e), 0);
	assert_int_equal(crl_builder_add(b, "abc", now, 1, &e), 0);
	assert_int_equal(crl_finish(b, &k, &der, &len, &e), 0);
	OPENSSL_free(der);
	der = NULL;
	assert_int_equal(crl_finish(b, &k, &der, &len, &e), 0);
	assert_tbs_is(der, len, ref);
	p = der;
	assert_non_null(back = d2i_X509_CRL(NULL, &p, (long)len));
	assert_null(X509_CRL_get_REVOKED(back));
	assert_int_equal(X509_CRL_verify(back, key), 1);
	X509_CRL_free(back);
	crl_builder_free(b);
	crl_builder_free(NULL);
	OPENSSL_free(der);
	X509_CRL_free(crl);
	X509_CRL_free(ref);
	X509_free(ca);
	EVP_PKEY_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_serials),
		cmocka_unit_test(test_build_sign),
		cmocka_unit_test(test_sort_large),
		cmocka_unit_test(test_identity_mixed),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_pop_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
