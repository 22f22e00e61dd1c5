/*
 * libFuzzer target: the whole response path on a fuzzed request.
 * parse (DER, else GET form) -> match against our issuer -> build and sign
 * a response with an in-memory key (statuses chosen from the serial, the
 * nonce echoed) -> parse it back as a client would and check it.
 *
 * Reaches: ocsp_request_parse_der/_get (see fuzz_ocsp_request.c),
 * ocsp_issuer_hashes, ocsp_request_match, ocsp_certid_match,
 * ocsp_response_build (d2i_OCSP_CERTID of the kept CertIDs,
 * OCSP_basic_add1_status, OCSP_basic_add1_nonce, sign_cb through
 * ocsp_sign_with_pkey, OCSP_basic_sign), ocsp_response_presign,
 * ocsp_certid_for, ocsp_response_times, ocsp_http_headers, ocsp_error_der.
 * On the way back: d2i_OCSP_RESPONSE, OCSP_basic_verify against the CA,
 * OCSP_resp_count, the nonce.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "ocsp/ocsp.h"

static EVP_PKEY *ca_key, *signer_key;
static X509 *ca, *signer;
static struct ocsp_issuer_hashes ca_hashes;
static X509_STORE *store;
static STACK_OF(X509) *extra;

static void add_ext(X509 *x, X509 *iss, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, iss, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL ||
	    !X509_add_ext(x, ext, -1))
		abort();
	X509_EXTENSION_free(ext);
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *iss,
    EVP_PKEY *iss_key, long serial, int is_ca)
{
	X509 *x = X509_new();
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *copy;
	int len;

	if (x == NULL)
		abort();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName,
	    MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(iss != NULL ? iss : x));
	X509_set_pubkey(x, key);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400);
	if (is_ca) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, iss, NID_key_usage, "critical,digitalSignature");
		add_ext(x, iss, NID_ext_key_usage, "OCSPSigning");
		add_ext(x, iss, NID_id_pkix_OCSP_noCheck, "ignored");
	}
	if (X509_sign(x, iss_key, EVP_sha256()) <= 0 ||
	    (len = i2d_X509(x, &der)) <= 0)
		abort();
	p = der;
	if ((copy = d2i_X509(NULL, &p, len)) == NULL)
		abort();
	OPENSSL_free(der);
	X509_free(x);
	return copy;
}

static void init(void)
{
	struct err e;

	ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	signer_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (ca_key == NULL || signer_key == NULL)
		abort();
	ca = make_cert("Fuzz CA", ca_key, NULL, ca_key, 1, 1);
	signer = make_cert("Fuzz OCSP", signer_key, ca, ca_key, 2, 0);
	if (ocsp_issuer_hashes(ca, &ca_hashes, &e) != 0)
		abort();
	store = X509_STORE_new();
	extra = sk_X509_new_null();
	if (store == NULL || extra == NULL || !X509_STORE_add_cert(store, ca) ||
	    !sk_X509_push(extra, ca))
		abort();
}

/* A client's view: parses, verifies (vflags for OCSP_basic_verify), has
 * n answers and the nonce when req asked for one. */
static void check_response(const unsigned char *der, size_t len, size_t n,
    const struct ocsp_request *req, unsigned long vflags)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	OCSP_BASICRESP *bs;
	struct ocsp_http_headers h;
	struct err e;
	time_t tu, nu;
	int idx;

	if (resp == NULL || p != der + len ||
	    OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    (bs = OCSP_response_get1_basic(resp)) == NULL)
		abort();
	if (OCSP_basic_verify(bs, extra, store, vflags) != 1 ||
	    OCSP_resp_count(bs) != (int)n)
		abort();
	idx = OCSP_BASICRESP_get_ext_by_NID(bs, NID_id_pkix_OCSP_Nonce, -1);
	if ((req != NULL && req->has_nonce) != (idx >= 0))
		abort();
	if (ocsp_response_times(der, len, &tu, &nu, &e) != 0 || nu <= tu ||
	    ocsp_http_headers(der, len, tu, 3600, &h, &e) != 0 ||
	    h.etag[0] != '"')
		abort();
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocsp_request req;
	struct ocsp_cert_status st[OCSP_SINGLE_CEILING];
	struct ocsp_responder r = {
		.issuer = NULL, .cert = NULL, .sign = ocsp_sign_with_pkey,
	};
	struct err e;
	int match[OCSP_SINGLE_CEILING];
	unsigned char *der = NULL;
	size_t len, i, found;
	const time_t now = 1700000000;

	if (ca == NULL)
		init();
	memset(&e, 0, sizeof(e));
	if (ocsp_request_parse_der(data, size, 8, &req, &e) != 0 &&
	    ocsp_request_parse_get((const char *)data, size, 8, &req, &e) != 0) {
		if (ocsp_error_der(ocsp_err_status(&e), &len) == NULL)
			abort();
		return 0;
	}
	found = ocsp_request_match(&req, &ca_hashes, 1, match);
	if (found == 0) {
		/* RFC 5019 2.2.3: not our issuer. */
		if (ocsp_error_der(OCSP_RESPONSE_STATUS_UNAUTHORIZED, &len) == NULL)
			abort();
	}
	/* Sign anyway, half the time with the CA itself: the builder must
	 * cope with whatever CertIDs parsed. */
	r.issuer = ca;
	r.cert = (req.ids[0].serial[0] & 1) ? ca : signer;
	r.key = r.cert == ca ? ca_key : signer_key;
	for (i = 0; i < req.n; i++) {
		unsigned char c = (unsigned char)req.ids[i].serial[0];

		memset(&st[i], 0, sizeof(st[i]));
		st[i].reason = -1;
		st[i].state = match[i] < 0 ? OCSP_CERT_UNKNOWN :
		    c % 3 == 0 ? OCSP_CERT_GOOD :
		    c % 3 == 1 ? OCSP_CERT_REVOKED : OCSP_CERT_UNKNOWN;
		if (st[i].state == OCSP_CERT_REVOKED) {
			st[i].revoked_at = now - 86400;
			st[i].reason = (int)(c % 11) == 7 ? 1 : (int)(c % 11);
		}
	}
	if (ocsp_response_build(req.ids, st, req.n,
	    req.has_nonce ? req.nonce : NULL, req.nonce_len, &r, now,
	    now + 3600, &der, &len, &e) != 0) {
		/* Only a CertID whose hash parameters OpenSSL cannot read
		 * back may fail here, and as the requester's fault. */
		if (e.kind != ERR_INVALID || der != NULL ||
		    ocsp_err_status(&e) != OCSP_RESPONSE_STATUS_MALFORMEDREQUEST)
			abort();
		return 0;
	}
	/* A CertID not of our CA makes a client refuse the signer as not
	 * authorised for it (RFC 6960 4.2.2.2): check the rest then. */
	check_response(der, len, req.n, &req,
	    found == req.n ? 0 : OCSP_NOCHECKS);
	OPENSSL_free(der);
	/* The cache's path for a CertID of ours. */
	for (i = 0; i < req.n; i++) {
		if (match[i] < 0)
			continue;
		if (ocsp_response_presign(&r, req.ids[i].serial,
		    req.ids[i].hash_nid, &st[i], now, now + 3600, &der, &len,
		    &e) != 0)
			abort();
		check_response(der, len, 1, NULL, 0);
		OPENSSL_free(der);
		break;
	}
	return 0;
}
