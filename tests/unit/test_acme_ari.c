/* acme_ari: RFC 9773 4.1's example certID parses to its keyIdentifier and
 * serial, and a certificate with that keyIdentifier and serial encodes to
 * it; malformed certIDs (no or two dots, padding, the "+/" alphabet,
 * stray trailing bits, a superfluous or missing leading zero byte,
 * negative and zero serials, parts too long, a huge input) are refused;
 * the suggested window is 37/60..43/60 of the lifetime (signet renew's
 * 2/3 +- 5%), a revoked certificate's has begun, end always follows
 * start, and Retry-After stays within its bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/acme_ari.h"

/* RFC 9773 4.1 and its Appendix A certificate. */
static const char rfc_cert_id[] = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";
static const unsigned char rfc_aki[20] = { 0x69, 0x88, 0x5B, 0x6B, 0x87,
	0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE,
	0x01, 0xC8, 0xD4 };

static void test_rfc_example(void **state)
{
	struct acme_ari_id id;
	struct err e;

	(void)state;
	assert_int_equal(acme_ari_parse(rfc_cert_id, &id, &e), 0);
	assert_int_equal(id.aki_len, sizeof(rfc_aki));
	assert_memory_equal(id.aki, rfc_aki, sizeof(rfc_aki));
	/* The leading zero byte is the INTEGER's, not the number's. */
	assert_string_equal(id.serial, "87654321");
}

/* A bare certificate with serial hex (and a keyIdentifier unless aki is
 * NULL): all acme_ari_cert_id reads. */
static X509 *cert_with(const char *hex, const unsigned char *aki,
    size_t aki_len)
{
	X509 *x = X509_new();
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	AUTHORITY_KEYID *akid = NULL;

	assert_non_null(x);
	assert_true(BN_hex2bn(&bn, hex) > 0);
	assert_non_null(ai = BN_to_ASN1_INTEGER(bn, NULL));
	assert_int_equal(X509_set_serialNumber(x, ai), 1);
	if (aki != NULL) {
		assert_non_null(akid = AUTHORITY_KEYID_new());
		assert_non_null(akid->keyid = ASN1_OCTET_STRING_new());
		assert_int_equal(ASN1_OCTET_STRING_set(akid->keyid, aki,
		    (int)aki_len), 1);
		assert_int_equal(X509_add1_ext_i2d(x, NID_authority_key_identifier,
		    akid, 0, X509V3_ADD_DEFAULT), 1);
		AUTHORITY_KEYID_free(akid);
	}
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return x;
}

static void test_encode_round_trip(void **state)
{
	static const char *const serials[] = { "87654321", "a", "7f",
	    "80", "1234567890abcdef1234567890abcdef",
	    "ffffffffffffffffffffffffffffffffffffff", NULL };
	char id_text[ACME_ARI_CERT_ID_MAX + 1];
	struct acme_ari_id id;
	struct err e;
	X509 *x;

	(void)state;
	x = cert_with("87654321", rfc_aki, sizeof(rfc_aki));
	if (acme_ari_cert_id(x, id_text, sizeof(id_text), &e) != 0)
		fail_msg("%s", e.msg);
	assert_string_equal(id_text, rfc_cert_id);
	/* Too small an output buffer is an error, not a truncation. */
	assert_int_equal(acme_ari_cert_id(x, id_text, 10, &e), -1);
	X509_free(x);
	for (int i = 0; serials[i] != NULL; i++) {
		x = cert_with(serials[i], rfc_aki, sizeof(rfc_aki));
		assert_int_equal(acme_ari_cert_id(x, id_text, sizeof(id_text), &e),
		    0);
		assert_int_equal(acme_ari_parse(id_text, &id, &e), 0);
		assert_string_equal(id.serial, serials[i]);
		assert_memory_equal(id.aki, rfc_aki, sizeof(rfc_aki));
		X509_free(x);
	}
	/* No authorityKeyIdentifier: no certID (RFC 9773 2). */
	x = cert_with("01", NULL, 0);
	assert_int_equal(acme_ari_cert_id(x, id_text, sizeof(id_text), &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	X509_free(x);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		".",
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ",              /* no dot */
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.",             /* no serial */
		".AIdlQyE",                                 /* no keyIdentifier */
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdl.QyE",     /* two dots */
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ=.AIdlQyE",     /* padding */
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE=",
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE==",
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdl+yE",      /* base64, not url */
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdl/yE",
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdl QyE",
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdl%51yE",
		"aYhba4dGQEHhs3uEe6CuLN4ByNR.AIdlQyE",      /* trailing bits */
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyF",
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.A",            /* 6 bits */
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AAE",          /* 00 01: padding */
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AACHZUMh",     /* 00 00 87 ... */
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.h2VDIQ",       /* 87 ...: negative */
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.gA",           /* 80: negative */
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ._4c",          /* ff 87 */
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AA",           /* zero */
		/* 21 serial octets (RFC 5280 4.1.2.2: at most 20) */
		"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AQEBAQEBAQEBAQEBAQEBAQEBAQEB",
		/* a keyIdentifier of 65 bytes */
		"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBA"
		"QEBAQEBAQEBAQEBAQEBAQE.AIdlQyE",
		NULL
	};
	char huge[10001];
	struct acme_ari_id id;
	struct err e;

	(void)state;
	for (int i = 0; bad[i] != NULL; i++) {
		e.kind = ERR_NONE;
		if (acme_ari_parse(bad[i], &id, &e) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_int_equal(e.kind, ERR_INVALID);
		assert_non_null(strstr(e.msg, "RFC"));
	}
	memset(huge, 'A', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	huge[20] = '.';
	assert_int_equal(acme_ari_parse(huge, &id, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	/* The largest accepted: 64-byte keyIdentifier, 20-octet serial. */
	assert_int_equal(acme_ari_parse("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ"
	    "EBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ.f_________________________8",
	    &id, &e), 0);
	assert_int_equal(id.aki_len, 64);
	assert_string_equal(id.serial, "7fffffffffffffffffffffffffffffffffffffff");
}

static void test_window(void **state)
{
	struct acme_ari_window w;
	const time_t nb = 1800000000;

	(void)state;
	/* A day: 37/60 and 43/60 of 86400 s; looked at on issue. */
	acme_ari_window(nb, nb + 86400, 0, nb + 60, &w);
	assert_int_equal(w.start, nb + 53280);
	assert_int_equal(w.end, nb + 61920);
	assert_int_equal(w.retry_after, 8640);           /* a tenth */
	/* Ten days: six hours at most. */
	acme_ari_window(nb, nb + 864000, 0, nb + 60, &w);
	assert_int_equal(w.retry_after, ACME_ARI_RETRY_MAX);
	/* Close to the window: ask again when it begins. */
	acme_ari_window(nb, nb + 86400, 0, nb + 53000, &w);
	assert_int_equal(w.retry_after, 280);
	/* Inside or past it, and expired: the same window, in the past. */
	acme_ari_window(nb, nb + 86400, 0, nb + 90000, &w);
	assert_int_equal(w.start, nb + 53280);
	assert_int_equal(w.retry_after, 8640);
	/* Revoked: begun already, ends soon after now. */
	acme_ari_window(nb, nb + 86400, 1, nb + 100, &w);
	assert_true(w.start < nb + 100);
	assert_true(w.end > nb + 100);
	assert_true(w.end - (nb + 100) <= ACME_ARI_REVOKED_AFTER);
	/* Short lifetimes: Retry-After never under a minute; end > start
	 * even where sixtieths round to the same second. */
	acme_ari_window(nb, nb + 300, 0, nb, &w);
	assert_int_equal(w.start, nb + 185);
	assert_int_equal(w.end, nb + 215);
	assert_int_equal(w.retry_after, ACME_ARI_RETRY_MIN);
	for (int life = 0; life < 12; life++) {
		acme_ari_window(nb, nb + life, 0, nb, &w);
		assert_true(w.end > w.start);
		assert_true(w.retry_after >= ACME_ARI_RETRY_MIN);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_example),
		cmocka_unit_test(test_encode_round_trip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
