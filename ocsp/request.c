/*
 * ocsp/request.c: strict, bounded parsing of OCSP requests (RFC 6960 4.1,
 * RFC 5019 2.1, RFC 8954) into a plain struct.  DER goes through
 * d2i_OCSP_REQUEST with an explicit length; base64 through OpenSSL's
 * EVP_Decode*.  The only thing decoded by hand is %XX, with a bound.
 */
#include "ocsp/ocsp.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

/* base64 of OCSP_REQUEST_MAX bytes, padded: the longest GET path we read
 * once %-decoded; the raw path may be three times that (all escaped). */
#define B64_MAX (((OCSP_REQUEST_MAX + 2) / 3) * 4)
#define GET_RAW_MAX (3 * B64_MAX)

static int hash_size(int nid)
{
	switch (nid) {
	case NID_sha1: return 20;
	case NID_sha224: return 28;
	case NID_sha256: return 32;
	case NID_sha384: return 48;
	case NID_sha512: return 64;
	default: return -1;
	}
}

/* Lowercase hex without leading zeros, the form ca/x509util.c's
 * x509_serial_hex writes and the database keys on. */
static int serial_hex(const ASN1_INTEGER *ai, char out[OCSP_SERIAL_HEX_MAX],
    struct err *e)
{
	BIGNUM *bn = NULL;
	char *h = NULL;
	const char *s;
	size_t i;
	int rc = -1;

	if (ASN1_STRING_type(ai) == V_ASN1_NEG_INTEGER) {
		err_set(e, ERR_INVALID, "RFC 5280 4.1.2.2: negative serial number");
		goto out;
	}
	if (ASN1_STRING_length(ai) > 20) {
		/* OpenSSL keeps the magnitude, without DER's 0x00 sign octet. */
		err_set(e, ERR_INVALID, "RFC 5280 4.1.2.2: serial number longer than 20 octets");
		goto out;
	}
	if ((bn = ASN1_INTEGER_to_BN(ai, NULL)) == NULL ||
	    (h = BN_bn2hex(bn)) == NULL) {
		err_ossl(e, ERR_INVALID, "reading the serial number");
		goto out;
	}
	s = h;
	while (s[0] == '0' && s[1] != '\0')
		s++;
	if (strlen(s) >= OCSP_SERIAL_HEX_MAX) {
		err_set(e, ERR_INVALID, "RFC 5280 4.1.2.2: serial number longer than 20 octets");
		goto out;
	}
	for (i = 0; s[i] != '\0'; i++)
		out[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] + 32 : s[i]);
	out[i] = '\0';
	rc = 0;
out:
	OPENSSL_free(h);
	BN_free(bn);
	return rc;
}

/* Fill one struct ocsp_certid from OpenSSL's parsed CertID. */
static int read_certid(OCSP_CERTID *cid, struct ocsp_certid *out,
    struct err *e)
{
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
	ASN1_OBJECT *md = NULL;
	ASN1_INTEGER *serial = NULL;
	unsigned char *p;
	int nid, hl, dl;

	if (!OCSP_id_get0_info(&nh, &md, &kh, &serial, cid) || nh == NULL ||
	    md == NULL || kh == NULL || serial == NULL)
		return err_ossl(e, ERR_INVALID, "RFC 6960 4.1.1: incomplete CertID");
	nid = OBJ_obj2nid(md);
	if ((hl = hash_size(nid)) < 0)
		return err_set(e, ERR_INVALID,
		    "RFC 6960 4.1.1: CertID hash algorithm not recognised (SHA-1, SHA-2 only)");
	if (ASN1_STRING_length(nh) != hl || ASN1_STRING_length(kh) != hl)
		return err_set(e, ERR_INVALID,
		    "RFC 6960 4.1.1: CertID hash lengths do not match %s",
		    OBJ_nid2sn(nid));
	out->hash_nid = nid;
	out->hash_len = (size_t)hl;
	memcpy(out->name_hash, ASN1_STRING_get0_data(nh), (size_t)hl);
	memcpy(out->key_hash, ASN1_STRING_get0_data(kh), (size_t)hl);
	if (serial_hex(serial, out->serial, e) != 0)
		return -1;
	/* Kept to echo the CertID exactly as asked (RFC 6960 4.2.1); bounded
	 * so odd hash parameters cannot make it large. */
	dl = i2d_OCSP_CERTID(cid, NULL);
	if (dl <= 0 || dl > OCSP_CERTID_DER_MAX)
		return err_set(e, ERR_INVALID, "RFC 6960 4.1.1: CertID too large");
	p = out->der;
	if (i2d_OCSP_CERTID(cid, &p) != dl)
		return err_ossl(e, ERR_INTERNAL, "encoding the CertID");
	out->der_len = (size_t)dl;
	/* OpenSSL re-encodes some odd hash parameters (found by fuzzing: a
	 * constructed tag 0 of length 0) into DER it will not parse back.
	 * Only a freshly signed response reads this DER, and the response
	 * builder refuses such a CertID as malformed there: a cached answer
	 * never needs it, so the check is not paid per request. */
	return 0;
}

/* RFC 8954: Nonce ::= OCTET STRING inside extnValue, 1..32 octets. */
static int read_nonce(X509_EXTENSION *ext, struct ocsp_request *out,
    struct err *e)
{
	ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
	ASN1_OCTET_STRING *n = NULL;
	const unsigned char *p;
	long len;
	int rc = -1;

	if (v == NULL || ASN1_STRING_length(v) <= 0)
		return err_set(e, ERR_INVALID, "RFC 8954 2.1: empty nonce");
	p = ASN1_STRING_get0_data(v);
	len = ASN1_STRING_length(v);
	if ((n = d2i_ASN1_OCTET_STRING(NULL, &p, len)) == NULL ||
	    p != ASN1_STRING_get0_data(v) + len) {
		err_ossl(e, ERR_INVALID, "RFC 8954 2.1: nonce is not one OCTET STRING");
		goto out;
	}
	if (ASN1_STRING_length(n) < 1 ||
	    ASN1_STRING_length(n) > OCSP_NONCE_MAX) {
		err_set(e, ERR_INVALID,
		    "RFC 8954 2.1: nonce of %d octets (1..%d allowed)",
		    ASN1_STRING_length(n), OCSP_NONCE_MAX);
		goto out;
	}
	out->nonce_len = (size_t)ASN1_STRING_length(n);
	memcpy(out->nonce, ASN1_STRING_get0_data(n), out->nonce_len);
	out->has_nonce = 1;
	rc = 0;
out:
	ASN1_OCTET_STRING_free(n);
	return rc;
}

/* RFC 6960 4.4: unrecognised extensions are ignored unless critical. */
static int check_exts(OCSP_REQUEST *req, struct ocsp_request *out,
    struct err *e)
{
	int i, count = OCSP_REQUEST_get_ext_count(req);

	for (i = 0; i < count; i++) {
		X509_EXTENSION *ext = OCSP_REQUEST_get_ext(req, i);
		int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));

		if (nid == NID_id_pkix_OCSP_Nonce) {
			if (out->has_nonce)
				return err_set(e, ERR_INVALID, "RFC 5280 4.2: nonce extension twice");
			if (read_nonce(ext, out, e) != 0)
				return -1;
		} else if (X509_EXTENSION_get_critical(ext)) {
			return err_set(e, ERR_INVALID,
			    "RFC 6960 4.4: unsupported critical request extension");
		}
	}
	return 0;
}

static int check_onereq_exts(OCSP_ONEREQ *one, struct err *e)
{
	if (OCSP_ONEREQ_get_ext_by_critical(one, 1, -1) >= 0)
		return err_set(e, ERR_INVALID,
		    "RFC 6960 4.4: unsupported critical singleRequest extension");
	return 0;
}

int ocsp_request_parse_der(const unsigned char *der, size_t len,
    size_t max_single, struct ocsp_request *out, struct err *e)
{
	OCSP_REQUEST *req = NULL;
	const unsigned char *p = der;
	int i, count, rc = -1;

	memset(out, 0, sizeof(*out));
	if (max_single < 1 || max_single > OCSP_SINGLE_CEILING)
		return err_set(e, ERR_INTERNAL, "max_single must be 1..%d",
		    OCSP_SINGLE_CEILING);
	if (der == NULL || len == 0)
		return err_set(e, ERR_INVALID, "empty OCSP request");
	if (len > OCSP_REQUEST_MAX)
		return err_set(e, ERR_TOOBIG, "OCSP request of %zu bytes (at most %d)",
		    len, OCSP_REQUEST_MAX);
	if ((req = d2i_OCSP_REQUEST(NULL, &p, (long)len)) == NULL) {
		err_ossl(e, ERR_INVALID, "RFC 6960 4.1.1: not a DER OCSPRequest");
		goto out;
	}
	if (p != der + len) {
		err_set(e, ERR_INVALID, "RFC 6960 4.1.1: %zu bytes after the OCSPRequest",
		    (size_t)(der + len - p));
		goto out;
	}
	count = OCSP_request_onereq_count(req);
	if (count < 1) {
		err_set(e, ERR_INVALID, "RFC 6960 4.1.1: requestList is empty");
		goto out;
	}
	if ((size_t)count > max_single) {
		err_set(e, ERR_INVALID, "%d CertIDs in one request (at most %zu)",
		    count, max_single);
		goto out;
	}
	for (i = 0; i < count; i++) {
		OCSP_ONEREQ *one = OCSP_request_onereq_get0(req, i);

		if (one == NULL) {
			err_set(e, ERR_INVALID, "RFC 6960 4.1.1: unreadable Request");
			goto out;
		}
		if (check_onereq_exts(one, e) != 0 ||
		    read_certid(OCSP_onereq_get0_id(one), &out->ids[i], e) != 0)
			goto out;
	}
	out->n = (size_t)count;
	if (check_exts(req, out, e) != 0)
		goto out;
	/* RFC 5019 2.1.2: a responder may ignore the signature; we do, and
	 * the requestorName with it (it is not authenticated for us). */
	out->was_signed = OCSP_request_is_signed(req);
	rc = 0;
out:
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		err_ossl_clear();
	}
	OCSP_REQUEST_free(req);
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* %-decode path into buf (B64_MAX + 1 bytes), then normalise to the
 * standard alphabet with padding.  Only the base64 alphabet of one flavour
 * and trailing '=' survive; anything else is junk. */
static int to_std_b64(const char *path, size_t len, char *buf, size_t *outlen,
    struct err *e)
{
	size_t i, n = 0, pad = 0;
	int std = 0, url = 0;

	for (i = 0; i < len; i++) {
		char c = path[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return err_set(e, ERR_INVALID, "GET path: truncated %%-escape");
			hi = hexval(path[i + 1]);
			lo = hexval(path[i + 2]);
			if (hi < 0 || lo < 0)
				return err_set(e, ERR_INVALID, "GET path: bad %%-escape");
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (n >= B64_MAX)
			return err_set(e, ERR_TOOBIG, "GET path: request longer than %d bytes",
			    OCSP_REQUEST_MAX);
		if (c == ' ')
			c = '+';
		if (c == '=') {
			pad++;
			buf[n++] = c;
			continue;
		}
		if (pad > 0)
			return err_set(e, ERR_INVALID, "GET path: data after base64 padding");
		if (c == '+' || c == '/')
			std = 1;
		else if (c == '-' || c == '_') {
			url = 1;
			c = c == '-' ? '+' : '/';
		} else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9')))
			return err_set(e, ERR_INVALID,
			    "GET path: character 0x%02x is not base64", (unsigned char)c);
		buf[n++] = c;
	}
	if (std && url)
		return err_set(e, ERR_INVALID, "GET path: mixes the two base64 alphabets");
	if (pad > 2 || n == pad || (pad > 0 && n % 4 != 0))
		return err_set(e, ERR_INVALID, "GET path: bad base64 padding");
	if (n % 4 == 1)
		return err_set(e, ERR_INVALID, "GET path: base64 length is impossible");
	/* URL-safe base64 (RFC 4648 5) usually drops the padding. */
	while (n % 4 != 0) {
		if (n >= B64_MAX)
			return err_set(e, ERR_TOOBIG, "GET path: request too long");
		buf[n++] = '=';
	}
	buf[n] = '\0';
	*outlen = n;
	return 0;
}

int ocsp_request_parse_get(const char *path, size_t len, size_t max_single,
    struct ocsp_request *out, struct err *e)
{
	char *b64 = NULL;
	unsigned char *der = NULL;
	EVP_ENCODE_CTX *ctx = NULL;
	size_t n = 0;
	int outl = 0, finl = 0, rc = -1;

	memset(out, 0, sizeof(*out));
	if (path == NULL || len == 0)
		return err_set(e, ERR_INVALID, "GET path: empty OCSP request");
	if (len > GET_RAW_MAX)
		return err_set(e, ERR_TOOBIG, "GET path of %zu bytes (at most %d)",
		    len, GET_RAW_MAX);
	if ((b64 = OPENSSL_malloc(B64_MAX + 1)) == NULL ||
	    (der = OPENSSL_malloc(B64_MAX / 4 * 3)) == NULL ||
	    (ctx = EVP_ENCODE_CTX_new()) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (to_std_b64(path, len, b64, &n, e) != 0)
		goto out;
	/* The alphabet was checked above, so EVP_Decode* sees no whitespace,
	 * no '-' (its PEM end marker) and padding only at the end. */
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, der, &outl, (const unsigned char *)b64,
	    (int)n) < 0 || EVP_DecodeFinal(ctx, der + outl, &finl) != 1) {
		err_ossl(e, ERR_INVALID, "GET path: bad base64");
		goto out;
	}
	rc = ocsp_request_parse_der(der, (size_t)outl + (size_t)finl, max_single,
	    out, e);
out:
	EVP_ENCODE_CTX_free(ctx);
	OPENSSL_free(der);
	OPENSSL_free(b64);
	return rc;
}

int ocsp_err_status(const struct err *e)
{
	if (e == NULL)
		return OCSP_RESPONSE_STATUS_INTERNALERROR;
	switch (e->kind) {
	case ERR_INVALID:
	case ERR_TOOBIG:
	case ERR_LIMIT:
		return OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
	case ERR_UNAVAILABLE:
		return OCSP_RESPONSE_STATUS_TRYLATER;
	default:
		return OCSP_RESPONSE_STATUS_INTERNALERROR;
	}
}
