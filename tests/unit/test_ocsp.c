/*
 * Unit tests for ocsp/: request parsing (DER and GET, both base64
 * flavours), the malformed inputs, issuer matching, signed responses
 * checked with OpenSSL's own client-side verification, the unsigned error
 * responses and the HTTP caching headers.  Everything is made in memory:
 * a CA, a delegated OCSP signer, a foreign CA and leaves; requests come
 * from OpenSSL's OCSP_REQUEST API, as a real client makes them.  The last
 * test runs the `openssl ocsp` command on a response (skipped without it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "ca/x509util.h"
#include "common/util.h"
#include "hsm/hsm.h"
#include "ocsp/ocsp.h"

/* ------------------------------------------------------------------
 * Fixture: CA, delegated signer, foreign CA, leaves
 */

static EVP_PKEY *ca_key, *signer_key, *foreign_key, *leaf_key;
static X509 *ca, *signer, *signer_nocheck_missing, *foreign, *leaf1, *leaf2,
    *leaf_lowserial, *foreign_leaf;

static void add_ext(X509 *x, X509 *iss, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, iss != NULL ? iss : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* kind: 0 CA, 1 OCSP signer, 2 OCSP signer without nocheck, 3 leaf. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *iss,
    EVP_PKEY *iss_key, const char *serial_hex, int kind)
{
	X509 *x = X509_new();
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai;

	assert_non_null(x);
	X509_set_version(x, 2);
	assert_true(BN_hex2bn(&bn, serial_hex) > 0);
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	X509_set_serialNumber(x, ai);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName,
	    MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(iss != NULL ? iss : x));
	X509_set_pubkey(x, key);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	add_ext(x, iss, NID_subject_key_identifier, "hash");
	if (iss != NULL)
		add_ext(x, iss, NID_authority_key_identifier, "keyid");
	switch (kind) {
	case 0:
		add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
		break;
	case 1:
	case 2:
		add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, iss, NID_key_usage, "critical,digitalSignature");
		add_ext(x, iss, NID_ext_key_usage, "OCSPSigning");
		if (kind == 1)
			add_ext(x, iss, NID_id_pkix_OCSP_noCheck, "ignored");
		break;
	default:
		add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, iss, NID_ext_key_usage, "serverAuth");
		break;
	}
	assert_true(X509_sign(x, iss_key, EVP_sha256()) > 0);
	/* Hand out a freshly parsed copy, as a client would hold it: the
	 * object we built cached its extension flags midway. */
	{
		unsigned char *der = NULL;
		const unsigned char *p;
		int len = i2d_X509(x, &der);
		X509 *copy;

		assert_true(len > 0);
		p = der;
		copy = d2i_X509(NULL, &p, len);
		assert_non_null(copy);
		OPENSSL_free(der);
		X509_free(x);
		return copy;
	}
}

static int setup(void **state)
{
	(void)state;
	ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	signer_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	foreign_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!ca_key || !signer_key || !foreign_key || !leaf_key)
		return -1;
	ca = make_cert("Test Issuing CA", ca_key, NULL, ca_key, "01", 0);
	signer = make_cert("Test OCSP", signer_key, ca, ca_key, "02", 1);
	signer_nocheck_missing = make_cert("Test OCSP 2", signer_key, ca, ca_key,
	    "03", 2);
	foreign = make_cert("Foreign CA", foreign_key, NULL, foreign_key, "01", 0);
	/* A 127-bit serial like signet's, one with the top bit set (DER needs
	 * a 0x00 octet) and a small one. */
	leaf1 = make_cert("leaf1", leaf_key, ca, ca_key,
	    "4f1e2d3c4b5a69788796a5b4c3d2e1f0", 3);
	leaf2 = make_cert("leaf2", leaf_key, ca, ca_key,
	    "ff00112233445566778899aabbccddee", 3);
	leaf_lowserial = make_cert("leaf3", leaf_key, ca, ca_key, "0a", 3);
	foreign_leaf = make_cert("foreign leaf", leaf_key, foreign, foreign_key,
	    "4f1e2d3c4b5a69788796a5b4c3d2e1f0", 3);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	X509_free(ca);
	X509_free(signer);
	X509_free(signer_nocheck_missing);
	X509_free(foreign);
	X509_free(leaf1);
	X509_free(leaf2);
	X509_free(leaf_lowserial);
	X509_free(foreign_leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(signer_key);
	EVP_PKEY_free(foreign_key);
	EVP_PKEY_free(leaf_key);
	return 0;
}

/* ------------------------------------------------------------------
 * Helpers
 */

/* A request for certs[i] (issued by issuers[i]) with mds[i], plus a
 * nonce of nonce_len bytes when nonce_len > 0.  DER into *der (free()). */
static OCSP_REQUEST *make_req(X509 **certs, X509 **issuers, const EVP_MD **mds,
    int n, int nonce_len)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	int i;

	assert_non_null(req);
	for (i = 0; i < n; i++) {
		OCSP_CERTID *id = OCSP_cert_to_id(mds[i], certs[i], issuers[i]);
		assert_non_null(id);
		assert_non_null(OCSP_request_add0_id(req, id));
	}
	if (nonce_len > 0)
		assert_int_equal(OCSP_request_add1_nonce(req, NULL, nonce_len), 1);
	return req;
}

static unsigned char *req_der(OCSP_REQUEST *req, size_t *len)
{
	unsigned char *der = NULL;
	int l = i2d_OCSP_REQUEST(req, &der);

	assert_true(l > 0);
	*len = (size_t)l;
	return der;
}

static unsigned char *one_req_der(X509 *cert, X509 *iss, const EVP_MD *md,
    int nonce_len, size_t *len)
{
	OCSP_REQUEST *req = make_req(&cert, &iss, &md, 1, nonce_len);
	unsigned char *der = req_der(req, len);

	OCSP_REQUEST_free(req);
	return der;
}

/* Standard base64 (no newlines) of der, malloc'ed. */
static char *b64(const unsigned char *der, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, der, (int)len);
	return out;
}

/* Percent-escape '+', '/' and '=' (what a careful client sends). */
static char *pct(const char *s, int lower)
{
	char *out = malloc(3 * strlen(s) + 1), *o = out;

	assert_non_null(out);
	for (; *s; s++) {
		if (*s == '+' || *s == '/' || *s == '=')
			o += sprintf(o, lower ? "%%%02x" : "%%%02X", (unsigned char)*s);
		else
			*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* URL-safe alphabet, padding dropped. */
static char *urlsafe(const char *s)
{
	char *out = strdup(s), *o;

	assert_non_null(out);
	for (o = out; *o; o++) {
		if (*o == '+')
			*o = '-';
		else if (*o == '/')
			*o = '_';
		else if (*o == '=') {
			*o = '\0';
			break;
		}
	}
	return out;
}

static void serial_of(X509 *x, char hex[SERIAL_HEX_MAX])
{
	struct err e;

	assert_int_equal(x509_serial_hex(x, hex, &e), 0);
}

static struct ocsp_responder delegated(void)
{
	struct ocsp_responder r = {
		.issuer = ca, .cert = signer, .md = NULL,
		.sign = ocsp_sign_with_pkey, .key = signer_key,
	};
	return r;
}

static OCSP_BASICRESP *parse_basic(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	OCSP_BASICRESP *bs;

	assert_non_null(resp);
	assert_ptr_equal(p, der + len);
	assert_int_equal(OCSP_response_status(resp),
	    OCSP_RESPONSE_STATUS_SUCCESSFUL);
	bs = OCSP_response_get1_basic(resp);
	assert_non_null(bs);
	OCSP_RESPONSE_free(resp);
	return bs;
}

/* OCSP_basic_verify against a store holding only the CA, as a client. */
static int verify_basic(OCSP_BASICRESP *bs, X509 *anchor)
{
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509) *extra = sk_X509_new_null();
	int ok;

	X509_STORE_add_cert(st, anchor);
	/* The CA signs without including itself: give it as a candidate. */
	sk_X509_push(extra, anchor);
	ok = OCSP_basic_verify(bs, extra, st, 0);
	ERR_clear_error();
	sk_X509_free(extra);
	X509_STORE_free(st);
	return ok;
}

static int find(OCSP_BASICRESP *bs, X509 *cert, X509 *iss, const EVP_MD *md,
    int *reason, time_t *rev)
{
	OCSP_CERTID *id = OCSP_cert_to_id(md, cert, iss);
	ASN1_GENERALIZEDTIME *rt = NULL, *tu = NULL, *nu = NULL;
	int status = -2;

	assert_non_null(id);
	if (OCSP_resp_find_status(bs, id, &status, reason, &rt, &tu, &nu) != 1)
		status = -2;
	else {
		assert_int_equal(OCSP_check_validity(tu, nu, 300, -1), 1);
		if (rev != NULL && rt != NULL) {
			struct tm tm;
			assert_int_equal(ASN1_TIME_to_tm(rt, &tm), 1);
			*rev = timegm(&tm);
		}
	}
	OCSP_CERTID_free(id);
	return status;
}

/* ------------------------------------------------------------------
 * Request parsing
 */

static void test_parse_sha1(void **state)
{
	struct ocsp_request r;
	struct ocsp_issuer_hashes h;
	struct err e;
	char want[SERIAL_HEX_MAX];
	size_t len;
	unsigned char *der = one_req_der(leaf1, ca, EVP_sha1(), 0, &len);

	(void)state;
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ids[0].hash_nid, NID_sha1);
	assert_int_equal(r.ids[0].hash_len, 20);
	serial_of(leaf1, want);
	assert_string_equal(r.ids[0].serial, want);
	assert_int_equal(r.has_nonce, 0);
	assert_int_equal(r.was_signed, 0);
	assert_int_equal(ocsp_issuer_hashes(ca, &h, &e), 0);
	assert_memory_equal(r.ids[0].name_hash, h.sha1_name, 20);
	assert_memory_equal(r.ids[0].key_hash, h.sha1_key, 20);
	assert_int_equal(ocsp_certid_match(&r.ids[0], &h), 1);
	OPENSSL_free(der);
}

static void test_parse_sha256_nonce_several(void **state)
{
	X509 *certs[3] = { leaf1, leaf2, leaf_lowserial };
	X509 *iss[3] = { ca, ca, ca };
	const EVP_MD *mds[3] = { EVP_sha256(), EVP_sha1(), EVP_sha256() };
	OCSP_REQUEST *req = make_req(certs, iss, mds, 3, 32);
	struct ocsp_request r;
	struct ocsp_issuer_hashes h;
	struct err e;
	char want[SERIAL_HEX_MAX];
	size_t len, i;
	unsigned char *der = req_der(req, &len);
	int idx = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1);
	ASN1_OCTET_STRING *inner;
	const unsigned char *p;

	(void)state;
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(ocsp_issuer_hashes(ca, &h, &e), 0);
	for (i = 0; i < 3; i++) {
		serial_of(certs[i], want);
		assert_string_equal(r.ids[i].serial, want);
		assert_int_equal(ocsp_certid_match(&r.ids[i], &h), 1);
	}
	assert_int_equal(r.ids[0].hash_nid, NID_sha256);
	assert_int_equal(r.ids[1].hash_nid, NID_sha1);
	assert_memory_equal(r.ids[0].name_hash, h.sha256_name, 32);
	/* Serials in signet's form: ff00.. keeps no 00 octet, 0a is "a". */
	assert_string_equal(r.ids[1].serial, "ff00112233445566778899aabbccddee");
	assert_string_equal(r.ids[2].serial, "a");
	/* The nonce is the content of the inner OCTET STRING. */
	assert_int_equal(r.has_nonce, 1);
	assert_int_equal(r.nonce_len, 32);
	assert_true(idx >= 0);
	p = ASN1_STRING_get0_data(X509_EXTENSION_get_data(
	    OCSP_REQUEST_get_ext(req, idx)));
	inner = d2i_ASN1_OCTET_STRING(NULL, &p, 64);
	assert_non_null(inner);
	assert_memory_equal(r.nonce, ASN1_STRING_get0_data(inner), 32);
	ASN1_OCTET_STRING_free(inner);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

static void check_get(const char *path, const unsigned char *der, size_t len)
{
	struct ocsp_request a, b;
	struct err e;

	assert_int_equal(ocsp_request_parse_der(der, len, 8, &a, &e), 0);
	if (ocsp_request_parse_get(path, strlen(path), 8, &b, &e) != 0)
		fail_msg("GET %s: %s", path, e.msg);
	assert_memory_equal(&a, &b, sizeof(a));
}

static void test_parse_get_flavours(void **state)
{
	size_t len;
	int tries = 0, saw_plus = 0, saw_pad = 0;

	(void)state;
	/* Random nonces vary the base64 until both '+'/'/' and '=' have been
	 * exercised (and always at least a few rounds). */
	while (tries < 200 && (tries < 8 || !saw_plus || !saw_pad)) {
		unsigned char *der = one_req_der(leaf1, ca,
		    tries % 2 ? EVP_sha1() : EVP_sha256(), 16 + tries % 17, &len);
		char *std = b64(der, len), *esc = pct(std, 0), *lesc = pct(std, 1);
		char *url = urlsafe(std), *spaced = strdup(std), *c;

		saw_plus |= strpbrk(std, "+/") != NULL;
		saw_pad |= strchr(std, '=') != NULL;
		check_get(std, der, len);     /* unescaped standard */
		check_get(esc, der, len);     /* %2B %2F %3D */
		check_get(lesc, der, len);    /* %2b %2f %3d */
		check_get(url, der, len);     /* - _ no padding */
		for (c = spaced; *c; c++)
			if (*c == '+')
				*c = ' ';
		check_get(spaced, der, len);  /* a proxy turned + into space */
		free(spaced);
		free(url);
		free(lesc);
		free(esc);
		free(std);
		OPENSSL_free(der);
		tries++;
	}
	assert_true(saw_plus);
	assert_true(saw_pad);
}

static void expect_malformed_der(const unsigned char *der, size_t len,
    size_t max_single, enum err_kind kind)
{
	struct ocsp_request r;
	struct err e;

	memset(&r, 0xa5, sizeof(r));
	assert_int_equal(ocsp_request_parse_der(der, len, max_single, &r, &e), -1);
	assert_int_equal(e.kind, kind);
	assert_int_equal(ocsp_err_status(&e), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	assert_int_equal(r.n, 0);
}

static void expect_malformed_get(const char *path, size_t len)
{
	struct ocsp_request r;
	struct err e;

	if (ocsp_request_parse_get(path, len, 8, &r, &e) != -1)
		fail_msg("GET path accepted: %.*s", (int)len, path);
	assert_int_equal(ocsp_err_status(&e), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
}

static void test_malformed_der(void **state)
{
	size_t len, i;
	unsigned char *der = one_req_der(leaf1, ca, EVP_sha1(), 16, &len);
	unsigned char *big = calloc(1, 1 << 20), *trail = malloc(len + 1);

	(void)state;
	assert_non_null(big);
	assert_non_null(trail);
	expect_malformed_der(NULL, 0, 8, ERR_INVALID);
	expect_malformed_der(der, 0, 8, ERR_INVALID);
	for (i = 1; i < len; i++)          /* every truncation */
		expect_malformed_der(der, i, 8, ERR_INVALID);
	memcpy(trail, der, len);
	trail[len] = 0;                    /* one byte of trailing garbage */
	expect_malformed_der(trail, len + 1, 8, ERR_INVALID);
	memcpy(big, der, len);             /* a valid request inside 1 MiB */
	expect_malformed_der(big, 1 << 20, 8, ERR_TOOBIG);
	expect_malformed_der((const unsigned char *)"\x30\x00", 2, 8, ERR_INVALID);
	expect_malformed_der((const unsigned char *)"junk", 4, 8, ERR_INVALID);

	free(trail);
	free(big);
	OPENSSL_free(der);
}

static void test_malformed_get(void **state)
{
	size_t len, big_len = 1 << 20;
	unsigned char *der = one_req_der(leaf1, ca, EVP_sha1(), 0, &len);
	char *std = b64(der, len), *url = urlsafe(std), *mixed, *big;

	(void)state;
	expect_malformed_get("", 0);
	expect_malformed_get("!!!!", 4);
	expect_malformed_get("MEIw?QDA", 8);
	expect_malformed_get("MEIw\nQDA", 8);
	expect_malformed_get("%zz", 3);
	expect_malformed_get("MEIw%4", 6);
	expect_malformed_get("MEIw%", 5);
	expect_malformed_get("A", 1);             /* impossible length */
	expect_malformed_get("====", 4);
	expect_malformed_get("QQ===", 5);
	expect_malformed_get("QQ==QQ==", 8);      /* data after padding */
	expect_malformed_get("MEIwQDA%00", 10);   /* NUL */
	expect_malformed_get("QUJD", 4);          /* base64 fine, not DER */
	/* The whole path, NUL included, is length-bounded, not NUL-ended. */
	{
		size_t cut = strlen(std);
		while (std[cut - 1] == '=')
			cut--;
		expect_malformed_get(std, cut - 1);
	}
	/* One alphabet per string: std with its first + or / made URL-safe
	 * (a 32-byte nonce makes sure there are two of them). */
	mixed = strdup("MEIwQDA+PjA8MAkGBSsOAwIaBQAEFO_/");
	assert_non_null(mixed);
	expect_malformed_get(mixed, strlen(mixed));
	big = malloc(big_len);
	assert_non_null(big);
	memset(big, 'A', big_len);
	{
		struct ocsp_request r;
		struct err e;
		assert_int_equal(ocsp_request_parse_get(big, big_len, 8, &r, &e), -1);
		assert_int_equal(e.kind, ERR_TOOBIG);
	}
	free(big);
	free(mixed);
	free(url);
	free(std);
	OPENSSL_free(der);
}

static void test_too_many_certids(void **state)
{
	X509 *certs[3] = { leaf1, leaf2, leaf_lowserial };
	X509 *iss[3] = { ca, ca, ca };
	const EVP_MD *mds[3] = { EVP_sha1(), EVP_sha1(), EVP_sha1() };
	OCSP_REQUEST *req = make_req(certs, iss, mds, 3, 0);
	OCSP_REQUEST *empty = OCSP_REQUEST_new();
	struct ocsp_request r;
	struct err e;
	size_t len, elen;
	unsigned char *der = req_der(req, &len), *eder = req_der(empty, &elen);

	(void)state;
	expect_malformed_der(der, len, 2, ERR_INVALID);
	assert_int_equal(ocsp_request_parse_der(der, len, 3, &r, &e), 0);
	expect_malformed_der(eder, elen, 8, ERR_INVALID);  /* empty requestList */
	/* The configured limit itself is checked. */
	assert_int_equal(ocsp_request_parse_der(der, len, 0, &r, &e), -1);
	assert_int_equal(ocsp_request_parse_der(der, len, OCSP_SINGLE_CEILING + 1,
	    &r, &e), -1);
	OPENSSL_free(eder);
	OPENSSL_free(der);
	OCSP_REQUEST_free(empty);
	OCSP_REQUEST_free(req);
}

/* A request for leaf1 with a nonce extension whose extnValue is raw. */
static unsigned char *req_with_ext(int nid, const unsigned char *val, int len,
    int crit, size_t *outlen)
{
	OCSP_REQUEST *req = make_req(&leaf1, &ca, (const EVP_MD *[]){ EVP_sha1() },
	    1, 0);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext;
	unsigned char *der;

	ASN1_OCTET_STRING_set(os, val, len);
	ext = X509_EXTENSION_create_by_NID(NULL, nid, crit, os);
	assert_non_null(ext);
	assert_int_equal(OCSP_REQUEST_add_ext(req, ext, -1), 1);
	der = req_der(req, outlen);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	OCSP_REQUEST_free(req);
	return der;
}

static void test_nonce_limits(void **state)
{
	struct ocsp_request r;
	struct err e;
	size_t len;
	unsigned char *der;
	/* DER OCTET STRINGs of 33, 0 and 1 octets, and a bare INTEGER. */
	unsigned char n33[35] = { 0x04, 33 }, n0[2] = { 0x04, 0 },
	    n1[3] = { 0x04, 1, 0x42 }, notos[3] = { 0x02, 1, 1 };

	(void)state;
	der = one_req_der(leaf1, ca, EVP_sha1(), 33, &len);    /* OpenSSL's */
	expect_malformed_der(der, len, 8, ERR_INVALID);
	OPENSSL_free(der);
	der = one_req_der(leaf1, ca, EVP_sha1(), 32, &len);
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	assert_int_equal(r.nonce_len, 32);
	OPENSSL_free(der);
	der = req_with_ext(NID_id_pkix_OCSP_Nonce, n33, sizeof(n33), 0, &len);
	expect_malformed_der(der, len, 8, ERR_INVALID);
	OPENSSL_free(der);
	der = req_with_ext(NID_id_pkix_OCSP_Nonce, n0, sizeof(n0), 0, &len);
	expect_malformed_der(der, len, 8, ERR_INVALID);
	OPENSSL_free(der);
	der = req_with_ext(NID_id_pkix_OCSP_Nonce, notos, sizeof(notos), 0, &len);
	expect_malformed_der(der, len, 8, ERR_INVALID);
	OPENSSL_free(der);
	der = req_with_ext(NID_id_pkix_OCSP_Nonce, n1, sizeof(n1), 0, &len);
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	assert_int_equal(r.nonce_len, 1);
	assert_int_equal(r.nonce[0], 0x42);
	OPENSSL_free(der);
	/* RFC 6960 4.4: an unknown extension is ignored unless critical. */
	der = req_with_ext(NID_id_pkix_OCSP_CrlID, n1, sizeof(n1), 0, &len);
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	OPENSSL_free(der);
	der = req_with_ext(NID_id_pkix_OCSP_CrlID, n1, sizeof(n1), 1, &len);
	expect_malformed_der(der, len, 8, ERR_INVALID);
	OPENSSL_free(der);
}

/* A request for serial (hex, "-" for negative) of ca's, SHA-1. */
static unsigned char *serial_req(const char *hex, size_t *len)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai;
	OCSP_CERTID *id;
	unsigned char *der;

	assert_true(BN_hex2bn(&bn, hex) > 0);
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(ca),
	    X509_get0_pubkey_bitstr(ca), ai);
	assert_non_null(id);
	assert_non_null(OCSP_request_add0_id(req, id));
	der = req_der(req, len);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	OCSP_REQUEST_free(req);
	return der;
}

static void test_serial_bounds(void **state)
{
	struct ocsp_request r;
	struct err e;
	size_t len;
	unsigned char *der;
	const char *max20 = "ffeeddccbbaa99887766554433221100ffeeddcc";

	(void)state;
	der = serial_req(max20, &len);     /* 20 octets (21 in DER) */
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	assert_string_equal(r.ids[0].serial, max20);
	OPENSSL_free(der);
	der = serial_req("01ffeeddccbbaa99887766554433221100ffeeddcc", &len);
	expect_malformed_der(der, len, 8, ERR_INVALID);
	OPENSSL_free(der);
	der = serial_req("-05", &len);
	expect_malformed_der(der, len, 8, ERR_INVALID);
	OPENSSL_free(der);
	der = serial_req("0", &len);
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	assert_string_equal(r.ids[0].serial, "0");
	OPENSSL_free(der);
}

static void test_hash_algorithms(void **state)
{
	struct ocsp_request r;
	struct ocsp_issuer_hashes h[2];
	struct err e;
	int match[OCSP_SINGLE_CEILING];
	size_t len;
	unsigned char *der;

	(void)state;
	assert_int_equal(ocsp_issuer_hashes(foreign, &h[0], &e), 0);
	assert_int_equal(ocsp_issuer_hashes(ca, &h[1], &e), 0);
	/* SHA-384: well-formed, never ours. */
	der = one_req_der(leaf1, ca, EVP_sha384(), 0, &len);
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	assert_int_equal(r.ids[0].hash_nid, NID_sha384);
	assert_int_equal(ocsp_request_match(&r, h, 2, match), 0);
	assert_int_equal(match[0], -1);
	OPENSSL_free(der);
	/* MD5: not a hash we recognise. */
	der = one_req_der(leaf1, ca, EVP_md5(), 0, &len);
	expect_malformed_der(der, len, 8, ERR_INVALID);
	OPENSSL_free(der);
}

static void test_match_issuers(void **state)
{
	X509 *certs[3] = { foreign_leaf, leaf1, foreign_leaf };
	X509 *iss[3] = { foreign, ca, ca };  /* the last: right serial, wrong CA */
	const EVP_MD *mds[3] = { EVP_sha256(), EVP_sha1(), EVP_sha1() };
	OCSP_REQUEST *req = make_req(certs, iss, mds, 3, 0);
	struct ocsp_request r;
	struct ocsp_issuer_hashes h[2];
	struct err e;
	int match[OCSP_SINGLE_CEILING];
	size_t len;
	unsigned char *der = req_der(req, &len);

	(void)state;
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	assert_int_equal(ocsp_issuer_hashes(ca, &h[0], &e), 0);
	assert_int_equal(ocsp_issuer_hashes(foreign, &h[1], &e), 0);
	/* OCSP_cert_to_id takes the name from the leaf's issuer field and the
	 * key from the CA given: the third CertID matches neither issuer. */
	assert_int_equal(ocsp_request_match(&r, h, 2, match), 2);
	assert_int_equal(match[0], 1);
	assert_int_equal(match[1], 0);
	assert_int_equal(match[2], -1);
	assert_int_equal(match[3], -1);
	assert_int_equal(ocsp_request_match(&r, h, 1, match), 1);
	assert_int_equal(match[0], -1);
	assert_int_equal(ocsp_request_match(&r, h + 1, 1, match), 1);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

static void test_certid_for(void **state)
{
	struct ocsp_certid id;
	struct ocsp_request r;
	struct err e;
	size_t len;
	unsigned char *der;

	(void)state;
	/* What ocsp_certid_for builds is what an OpenSSL client sends. */
	der = one_req_der(leaf2, ca, EVP_sha1(), 0, &len);
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	assert_int_equal(ocsp_certid_for(ca, "FF00112233445566778899AABBCCDDEE",
	    NID_sha1, &id, &e), 0);
	assert_memory_equal(&id, &r.ids[0], sizeof(id));
	OPENSSL_free(der);
	der = one_req_der(leaf_lowserial, ca, EVP_sha256(), 0, &len);
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	assert_int_equal(ocsp_certid_for(ca, "000a", NID_sha256, &id, &e), 0);
	assert_memory_equal(&id, &r.ids[0], sizeof(id));
	OPENSSL_free(der);
	assert_int_equal(ocsp_certid_for(ca, "xyz", NID_sha1, &id, &e), -1);
	assert_int_equal(ocsp_certid_for(ca, "", NID_sha1, &id, &e), -1);
	assert_int_equal(ocsp_certid_for(ca, "01", NID_sha384, &id, &e), -1);
	assert_int_equal(ocsp_certid_for(ca,
	    "0123456789012345678901234567890123456789a", NID_sha1, &id, &e), -1);
}

/* ------------------------------------------------------------------
 * Responses
 */

static void test_response_statuses(void **state)
{
	X509 *certs[3] = { leaf1, leaf2, leaf_lowserial };
	X509 *iss[3] = { ca, ca, ca };
	const EVP_MD *mds[3] = { EVP_sha1(), EVP_sha256(), EVP_sha1() };
	OCSP_REQUEST *req = make_req(certs, iss, mds, 3, 16);
	struct ocsp_request r;
	struct ocsp_responder resp = delegated();
	struct ocsp_cert_status st[3] = {
		{ .state = OCSP_CERT_GOOD, .reason = -1 },
		{ .state = OCSP_CERT_REVOKED, .revoked_at = 1700000000,
		  .reason = OCSP_REVOKED_STATUS_KEYCOMPROMISE },
		{ .state = OCSP_CERT_UNKNOWN, .reason = -1 },
	};
	struct err e;
	time_t now = time(NULL), rev = 0;
	size_t len, rlen;
	unsigned char *der = req_der(req, &len), *rder = NULL;
	OCSP_BASICRESP *bs;
	const ASN1_OCTET_STRING *keyid = NULL;
	const X509_NAME *name = NULL;
	int reason = 99;

	(void)state;
	assert_int_equal(ocsp_responder_check(&resp, &e), 0);
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	if (ocsp_response_build(r.ids, st, r.n, r.nonce, r.nonce_len, &resp,
	    now - 60, now + 3600, &rder, &rlen, &e) != 0)
		fail_msg("%s", e.msg);
	bs = parse_basic(rder, rlen);
	assert_int_equal(verify_basic(bs, ca), 1);
	assert_int_equal(OCSP_check_nonce(req, bs), 1);
	/* RFC 5019 2.2.2: byKey; the delegated certificate is included. */
	assert_int_equal(OCSP_resp_get0_id(bs, &keyid, &name), 1);
	assert_non_null(keyid);
	assert_null(name);
	assert_int_equal(sk_X509_num(OCSP_resp_get0_certs(bs)), 1);
	assert_int_equal(X509_cmp(sk_X509_value(OCSP_resp_get0_certs(bs), 0),
	    signer), 0);
	assert_int_equal(find(bs, leaf1, ca, EVP_sha1(), &reason, NULL),
	    V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(find(bs, leaf2, ca, EVP_sha256(), &reason, &rev),
	    V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
	assert_int_equal(rev, 1700000000);
	assert_int_equal(find(bs, leaf_lowserial, ca, EVP_sha1(), &reason, NULL),
	    V_OCSP_CERTSTATUS_UNKNOWN);
	/* Not asked, so not answered. */
	assert_int_equal(find(bs, leaf1, ca, EVP_sha256(), &reason, NULL), -2);
	/* The issuer of someone else cannot verify it. */
	assert_int_equal(verify_basic(bs, foreign), 0);
	{
		time_t tu, nu;
		assert_int_equal(ocsp_response_times(rder, rlen, &tu, &nu, &e), 0);
		assert_int_equal(tu, now - 60);
		assert_int_equal(nu, now + 3600);
	}
	OCSP_BASICRESP_free(bs);
	OPENSSL_free(rder);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

static void test_response_ca_signed_unspecified(void **state)
{
	size_t len, rlen;
	unsigned char *der = one_req_der(leaf1, ca, EVP_sha256(), 0, &len),
	    *rder = NULL;
	struct ocsp_request r;
	struct ocsp_responder resp = {
		.issuer = ca, .cert = ca, .sign = ocsp_sign_with_pkey, .key = ca_key,
	};
	struct ocsp_cert_status st = {
		.state = OCSP_CERT_REVOKED, .revoked_at = 1600000000,
		.reason = OCSP_REVOKED_STATUS_UNSPECIFIED,
	};
	struct err e;
	time_t now = time(NULL);
	OCSP_BASICRESP *bs;
	int reason = 99;

	(void)state;
	assert_int_equal(ocsp_responder_check(&resp, &e), 0);
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	if (ocsp_response_build(r.ids, &st, 1, NULL, 0, &resp, now, now + 600,
	    &rder, &rlen, &e) != 0)
		fail_msg("%s", e.msg);
	bs = parse_basic(rder, rlen);
	assert_int_equal(verify_basic(bs, ca), 1);
	/* The CA signs: no certs field at all. */
	assert_true(sk_X509_num(OCSP_resp_get0_certs(bs)) <= 0);
	assert_int_equal(OCSP_BASICRESP_get_ext_by_NID(bs, NID_id_pkix_OCSP_Nonce,
	    -1), -1);
	assert_int_equal(find(bs, leaf1, ca, EVP_sha256(), &reason, NULL),
	    V_OCSP_CERTSTATUS_REVOKED);
	/* unspecified: reasonCode left out. */
	assert_int_equal(reason, OCSP_REVOKED_STATUS_NOSTATUS);
	OCSP_BASICRESP_free(bs);
	OPENSSL_free(rder);
	OPENSSL_free(der);
}

static void test_presign(void **state)
{
	struct ocsp_responder resp = delegated();
	struct ocsp_cert_status good = { .state = OCSP_CERT_GOOD, .reason = -1 };
	struct err e;
	char serial[SERIAL_HEX_MAX];
	time_t now = time(NULL);
	int nids[2] = { NID_sha1, NID_sha256 }, i;
	const EVP_MD *mds[2] = { EVP_sha1(), EVP_sha256() };

	(void)state;
	serial_of(leaf1, serial);
	for (i = 0; i < 2; i++) {
		unsigned char *rder = NULL;
		size_t rlen;
		OCSP_BASICRESP *bs;
		int reason;

		assert_int_equal(ocsp_response_presign(&resp, serial, nids[i], &good,
		    now, now + 86400, &rder, &rlen, &e), 0);
		bs = parse_basic(rder, rlen);
		assert_int_equal(verify_basic(bs, ca), 1);
		assert_int_equal(OCSP_resp_count(bs), 1);
		/* What a client asks with OpenSSL finds it. */
		assert_int_equal(find(bs, leaf1, ca, mds[i], &reason, NULL),
		    V_OCSP_CERTSTATUS_GOOD);
		assert_int_equal(find(bs, leaf1, ca, mds[1 - i], &reason, NULL), -2);
		OCSP_BASICRESP_free(bs);
		OPENSSL_free(rder);
	}
}

static int failing_signer(void *key, ocsp_sign_cb cb, void *arg, struct err *e)
{
	(void)key;
	(void)cb;
	(void)arg;
	return err_set(e, ERR_UNAVAILABLE, "token gone");
}

/* Found by fuzz_ocsp_response: SHA-1 with parameters "20 00" (a
 * constructed tag 0), which OpenSSL parses but re-encodes into a CertID
 * it cannot read back.  The request parses (a cached answer never needs
 * that encoding); a response built for it fails as malformedRequest. */
static void test_odd_hash_params(void **state)
{
	static const unsigned char odd_params[] = {
		0x30, 0x43, 0x30, 0x41, 0x30, 0x3f, 0x30, 0x3d, 0x30, 0x3b,
		0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x20,
		0x00, 0x04, 0x14, 0xc4, 0x83, 0x81, 0xa8, 0x9b, 0x80, 0xde,
		0xd5, 0x2e, 0x1e, 0x75, 0x0c, 0xb9, 0x52, 0x2d, 0x4c, 0x91,
		0xda, 0x72, 0xf9, 0x04, 0x14, 0x13, 0x16, 0x99, 0xa7, 0x82,
		0x91, 0xe1, 0x7c, 0xb1, 0xfe, 0x2f, 0xaa, 0xc6, 0xa3, 0x08,
		0xd3, 0x53, 0xa4, 0x14, 0x43, 0x02, 0x02, 0x00, 0xff,
	};
	struct ocsp_responder resp = delegated();
	struct ocsp_cert_status st = { .state = OCSP_CERT_UNKNOWN, .reason = -1 };
	struct ocsp_request r;
	unsigned char *der = NULL;
	size_t len = 0;
	time_t now = time(NULL);
	struct err e;

	(void)state;
	assert_int_equal(ocsp_request_parse_der(odd_params, sizeof(odd_params), 8,
	    &r, &e), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(ocsp_response_build(r.ids, &st, 1, NULL, 0, &resp, now,
	    now + 60, &der, &len, &e), -1);
	assert_null(der);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_int_equal(ocsp_err_status(&e), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
}

static void test_build_rejects(void **state)
{
	struct ocsp_responder resp = delegated();
	struct ocsp_cert_status st = { .state = OCSP_CERT_GOOD, .reason = -1 };
	struct ocsp_certid id;
	struct err e;
	unsigned char *der = (unsigned char *)"x", nonce[40] = { 0 };
	size_t len = 1;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(ocsp_certid_for(ca, "01", NID_sha1, &id, &e), 0);
	assert_int_equal(ocsp_response_build(&id, &st, 0, NULL, 0, &resp, now,
	    now + 60, &der, &len, &e), -1);
	assert_null(der);
	assert_int_equal(len, 0);
	assert_int_equal(ocsp_response_build(&id, &st, 1, NULL, 0, &resp, now,
	    now, &der, &len, &e), -1);
	assert_int_equal(ocsp_response_build(&id, &st, 1, nonce, 33, &resp, now,
	    now + 60, &der, &len, &e), -1);
	assert_int_equal(ocsp_response_build(&id, &st, 1, nonce, 0, &resp, now,
	    now + 60, &der, &len, &e), -1);
	st.state = OCSP_CERT_REVOKED;
	st.reason = 7;
	assert_int_equal(ocsp_response_build(&id, &st, 1, NULL, 0, &resp, now,
	    now + 60, &der, &len, &e), -1);
	st.reason = 11;
	assert_int_equal(ocsp_response_build(&id, &st, 1, NULL, 0, &resp, now,
	    now + 60, &der, &len, &e), -1);
	st.state = OCSP_CERT_GOOD;
	/* A signer that fails (the HSM is gone): its error comes through. */
	resp.sign = failing_signer;
	assert_int_equal(ocsp_response_build(&id, &st, 1, NULL, 0, &resp, now,
	    now + 60, &der, &len, &e), -1);
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	assert_int_equal(ocsp_err_status(&e), OCSP_RESPONSE_STATUS_TRYLATER);
	/* A key that does not belong to the certificate. */
	resp = delegated();
	resp.key = ca_key;
	assert_int_equal(ocsp_response_build(&id, &st, 1, NULL, 0, &resp, now,
	    now + 60, &der, &len, &e), -1);
	assert_int_equal(ocsp_err_status(&e), OCSP_RESPONSE_STATUS_INTERNALERROR);
	/* A corrupted CertID. */
	resp = delegated();
	id.der[0] = 0x31;
	assert_int_equal(ocsp_response_build(&id, &st, 1, NULL, 0, &resp, now,
	    now + 60, &der, &len, &e), -1);
}

static void test_responder_check(void **state)
{
	struct ocsp_responder r = delegated();
	struct err e;

	(void)state;
	assert_int_equal(ocsp_responder_check(&r, &e), 0);
	r.cert = leaf1;           /* no OCSPSigning */
	assert_int_equal(ocsp_responder_check(&r, &e), -1);
	r.cert = signer_nocheck_missing;
	assert_int_equal(ocsp_responder_check(&r, &e), -1);
	assert_non_null(strstr(e.msg, "nocheck"));
	r.cert = foreign_leaf;    /* another CA's */
	assert_int_equal(ocsp_responder_check(&r, &e), -1);
	r.cert = NULL;
	assert_int_equal(ocsp_responder_check(&r, &e), -1);
	assert_int_equal(ocsp_responder_check(NULL, &e), -1);
}

static void test_p384_signer_digest(void **state)
{
	struct ocsp_responder r = {
		.issuer = foreign, .cert = foreign, .sign = ocsp_sign_with_pkey,
		.key = foreign_key,
	};
	struct ocsp_cert_status st = { .state = OCSP_CERT_GOOD, .reason = -1 };
	struct err e;
	unsigned char *der = NULL;
	size_t len;
	time_t now = time(NULL);
	OCSP_BASICRESP *bs;
	const X509_ALGOR *alg;

	(void)state;
	assert_int_equal(ocsp_response_presign(&r, "4f1e2d3c4b5a69788796a5b4c3d2e1f0",
	    NID_sha1, &st, now, now + 60, &der, &len, &e), 0);
	bs = parse_basic(der, len);
	alg = OCSP_resp_get0_tbs_sigalg(bs);
	assert_int_equal(OBJ_obj2nid(alg->algorithm), NID_ecdsa_with_SHA384);
	assert_int_equal(verify_basic(bs, foreign), 1);
	OCSP_BASICRESP_free(bs);
	OPENSSL_free(der);
}

static void test_error_responses(void **state)
{
	static const int statuses[] = {
		OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
		OCSP_RESPONSE_STATUS_INTERNALERROR,
		OCSP_RESPONSE_STATUS_TRYLATER,
		OCSP_RESPONSE_STATUS_SIGREQUIRED,
		OCSP_RESPONSE_STATUS_UNAUTHORIZED,
	};
	size_t i, len;
	struct err e;
	time_t tu, nu;

	(void)state;
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		const unsigned char *der = ocsp_error_der(statuses[i], &len), *p;
		OCSP_RESPONSE *resp;

		assert_non_null(der);
		p = der;
		resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
		assert_non_null(resp);
		assert_ptr_equal(p, der + len);
		assert_int_equal(OCSP_response_status(resp), statuses[i]);
		assert_null(OCSP_response_get1_basic(resp));
		OCSP_RESPONSE_free(resp);
		assert_int_equal(ocsp_response_times(der, len, &tu, &nu, &e), -1);
	}
	/* RFC 6960 4.2.1: SEQUENCE { ENUMERATED 6 }. */
	assert_memory_equal(ocsp_error_der(OCSP_RESPONSE_STATUS_UNAUTHORIZED, &len),
	    "\x30\x03\x0a\x01\x06", 5);
	assert_int_equal(len, 5);
	assert_null(ocsp_error_der(OCSP_RESPONSE_STATUS_SUCCESSFUL, &len));
	assert_int_equal(len, 0);
	assert_null(ocsp_error_der(4, &len));
	assert_null(ocsp_error_der(-1, &len));
}

/* ------------------------------------------------------------------
 * HTTP headers
 */

static void test_http_headers(void **state)
{
	struct ocsp_responder resp = delegated();
	struct ocsp_cert_status st = { .state = OCSP_CERT_GOOD, .reason = -1 };
	struct ocsp_http_headers h;
	struct err e;
	unsigned char *der = NULL, digest[32];
	char hex[65], want[70];
	size_t len, elen;
	/* 1700000000 is Tue, 14 Nov 2023 22:13:20 GMT. */
	const time_t tu = 1700000000, nu = tu + 7200;
	const unsigned char *eder;

	(void)state;
	assert_int_equal(ocsp_response_presign(&resp, "a", NID_sha1, &st, tu, nu,
	    &der, &len, &e), 0);
	assert_int_equal(ocsp_http_headers(der, len, tu + 600, 0, &h, &e), 0);
	assert_string_equal(h.cache_control,
	    "max-age=6600, public, no-transform, must-revalidate");
	assert_string_equal(h.last_modified, "Tue, 14 Nov 2023 22:13:20 GMT");
	assert_string_equal(h.expires, "Wed, 15 Nov 2023 00:13:20 GMT");
	SHA256(der, len, digest);
	util_hex(digest, 32, hex);
	snprintf(want, sizeof(want), "\"%s\"", hex);
	assert_string_equal(h.etag, want);
	/* Capped. */
	assert_int_equal(ocsp_http_headers(der, len, tu + 600, 300, &h, &e), 0);
	assert_string_equal(h.cache_control,
	    "max-age=300, public, no-transform, must-revalidate");
	/* Past nextUpdate: not cacheable any more. */
	assert_int_equal(ocsp_http_headers(der, len, nu + 1, 300, &h, &e), 0);
	assert_string_equal(h.cache_control,
	    "max-age=0, public, no-transform, must-revalidate");
	/* Garbage and unsuccessful responses have no caching headers. */
	assert_int_equal(ocsp_http_headers(der, len - 1, tu, 0, &h, &e), -1);
	assert_int_equal(h.etag[0], '\0');
	eder = ocsp_error_der(OCSP_RESPONSE_STATUS_TRYLATER, &elen);
	assert_int_equal(ocsp_http_headers(eder, elen, tu, 0, &h, &e), -1);
	OPENSSL_free(der);
}

/* ------------------------------------------------------------------
 * The real client
 */

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static void write_pem(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	assert_int_equal(fclose(f), 0);
}

static void test_openssl_client(void **state)
{
	char dir[] = "/tmp/test_ocsp.XXXXXX", cmd[2048], path[512], line[512];
	struct ocsp_responder resp = delegated();
	struct ocsp_request r;
	struct ocsp_cert_status st = {
		.state = OCSP_CERT_REVOKED, .revoked_at = 1700000000,
		.reason = OCSP_REVOKED_STATUS_SUPERSEDED,
	};
	struct err e;
	unsigned char *der, *rder = NULL;
	size_t len, rlen;
	time_t now = time(NULL);
	FILE *p;
	int saw_revoked = 0, saw_reason = 0, saw_ok = 0, status;

	(void)state;
	if (system("openssl version >/dev/null 2>&1") != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	der = one_req_der(leaf2, ca, EVP_sha1(), 16, &len);
	assert_int_equal(ocsp_request_parse_der(der, len, 8, &r, &e), 0);
	assert_int_equal(ocsp_response_build(r.ids, &st, 1, r.nonce, r.nonce_len,
	    &resp, now - 10, now + 3600, &rder, &rlen, &e), 0);
	snprintf(path, sizeof(path), "%s/req.der", dir);
	assert_int_equal(write_file(path, der, len), 0);
	snprintf(path, sizeof(path), "%s/resp.der", dir);
	assert_int_equal(write_file(path, rder, rlen), 0);
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	write_pem(path, ca);
	/* -reqin makes it check the nonce too (-cert would make a new
	 * request with a nonce of its own). */
	snprintf(cmd, sizeof(cmd),
	    "cd %s && openssl ocsp -reqin req.der -respin resp.der "
	    "-CAfile ca.pem -resp_text 2>&1", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) != NULL) {
		saw_ok |= strstr(line, "Response verify OK") != NULL;
		saw_revoked |= strstr(line, "Cert Status: revoked") != NULL;
		saw_reason |= strstr(line, "Revocation Reason: superseded") != NULL;
	}
	status = pclose(p);
	assert_int_equal(status, 0);
	assert_true(saw_ok);
	assert_true(saw_revoked);
	assert_true(saw_reason);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	OPENSSL_free(rder);
	OPENSSL_free(der);
}

/* ------------------------------------------------------------------
 * Signing on the token, as signetd will (skipped without SoftHSM)
 */

static int via_hsm(void *key, ocsp_sign_cb cb, void *arg, struct err *e)
{
	return hsm_sign(key, cb, arg, e);
}

/* One signer key type on the token: EC P-256 or RSA (signet init may make
 * either). */
static void hsm_signer_type(struct hsm *h, enum hsm_key_type type)
{
	struct hsm_key *k = NULL;
	struct err e;
	char label[64];
	X509 *hsm_signer;
	struct ocsp_responder r;
	struct ocsp_cert_status st = { .state = OCSP_CERT_GOOD, .reason = -1 };
	unsigned char *der = NULL;
	size_t len;
	time_t now = time(NULL);
	OCSP_BASICRESP *bs;

	snprintf(label, sizeof(label), "test-ocsp-%ld-%d", (long)getpid(),
	    (int)type);
	if (hsm_generate_key(h, label, type, &e) != 0 ||
	    hsm_find_key(h, label, &k, &e) != 0)
		fail_msg("%s", e.msg);
	/* OCSP_basic_sign checks the token's key against the certificate. */
	hsm_signer = make_cert("Test OCSP on token", hsm_key_public(k), ca, ca_key,
	    "04", 1);
	r = (struct ocsp_responder){
		.issuer = ca, .cert = hsm_signer, .sign = via_hsm, .key = k,
	};
	assert_int_equal(ocsp_responder_check(&r, &e), 0);
	if (ocsp_response_presign(&r, "a", NID_sha1, &st, now, now + 60, &der,
	    &len, &e) != 0)
		fail_msg("%s: %s", hsm_key_type_name(type), e.msg);
	bs = parse_basic(der, len);
	assert_int_equal(verify_basic(bs, ca), 1);
	assert_int_equal(find(bs, leaf_lowserial, ca, EVP_sha1(), NULL, NULL),
	    V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(hsm_key_sign_count(k), 1);
	OCSP_BASICRESP_free(bs);
	OPENSSL_free(der);
	X509_free(hsm_signer);
	assert_int_equal(hsm_destroy_key(h, label, &e), 0);
}

static void test_hsm_signer(void **state)
{
	const char *module = getenv("SIGNET_TEST_PKCS11_MODULE");
	const char *token = getenv("SIGNET_TEST_TOKEN");
	const char *pin = getenv("SIGNET_TEST_PIN");
	struct hsm *h = NULL;
	struct err e;

	(void)state;
	if (module == NULL || token == NULL || pin == NULL)
		skip();
	if (hsm_open(module, token, pin, &h, &e) != 0)
		fail_msg("%s", e.msg);
	hsm_signer_type(h, HSM_KEY_EC_P256);
	hsm_signer_type(h, HSM_KEY_RSA_2048);
	hsm_free(h);
}

/* Conditional GETs: which validators a cache may send back get 304. */
static void test_not_modified(void **state)
{
	struct ocsp_http_headers h;
	time_t tu = 1795600000;   /* Thu, 26 Nov 2026 ... */
	char same[64], later[64], earlier[64];
	struct tm tm;

	(void)state;
	memset(&h, 0, sizeof(h));
	snprintf(h.etag, sizeof(h.etag), "\"%s\"", "ab12");
	assert_true(ocsp_http_not_modified("\"ab12\"", NULL, &h, tu));
	assert_true(ocsp_http_not_modified("W/\"ab12\"", NULL, &h, tu));
	assert_true(ocsp_http_not_modified("\"x\", \"ab12\"", NULL, &h, tu));
	assert_true(ocsp_http_not_modified("*", NULL, &h, tu));
	assert_false(ocsp_http_not_modified("\"ab1\"", NULL, &h, tu));
	assert_false(ocsp_http_not_modified("ab12", NULL, &h, tu));
	assert_false(ocsp_http_not_modified("\"ab12", NULL, &h, tu));
	assert_false(ocsp_http_not_modified("", NULL, &h, tu));
	assert_false(ocsp_http_not_modified(NULL, NULL, &h, tu));
	/* If-Modified-Since: at or after thisUpdate. */
	gmtime_r(&tu, &tm);
	strftime(same, sizeof(same), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	tu += 10;
	gmtime_r(&tu, &tm);
	strftime(later, sizeof(later), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	tu -= 20;
	gmtime_r(&tu, &tm);
	strftime(earlier, sizeof(earlier), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	tu += 10;
	assert_true(ocsp_http_not_modified(NULL, same, &h, tu));
	assert_true(ocsp_http_not_modified(NULL, later, &h, tu));
	assert_false(ocsp_http_not_modified(NULL, earlier, &h, tu));
	assert_false(ocsp_http_not_modified(NULL, "yesterday", &h, tu));
	assert_false(ocsp_http_not_modified(NULL, "Thu, 26 Nov 2026 25:00:00 GMT",
	    &h, tu));
	/* If-None-Match decides alone when present (RFC 7232 6). */
	assert_false(ocsp_http_not_modified("\"other\"", later, &h, tu));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_sha1),
		cmocka_unit_test(test_parse_sha256_nonce_several),
		cmocka_unit_test(test_parse_get_flavours),
		cmocka_unit_test(test_malformed_der),
		cmocka_unit_test(test_malformed_get),
		cmocka_unit_test(test_too_many_certids),
		cmocka_unit_test(test_nonce_limits),
		cmocka_unit_test(test_serial_bounds),
		cmocka_unit_test(test_hash_algorithms),
		cmocka_unit_test(test_match_issuers),
		cmocka_unit_test(test_certid_for),
		cmocka_unit_test(test_response_statuses),
		cmocka_unit_test(test_response_ca_signed_unspecified),
		cmocka_unit_test(test_presign),
		cmocka_unit_test(test_build_rejects),
		cmocka_unit_test(test_odd_hash_params),
		cmocka_unit_test(test_responder_check),
		cmocka_unit_test(test_p384_signer_digest),
		cmocka_unit_test(test_error_responses),
		cmocka_unit_test(test_http_headers),
		cmocka_unit_test(test_not_modified),
		cmocka_unit_test(test_openssl_client),
		cmocka_unit_test(test_hsm_signer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
