/*
 * ocsp: the OCSP core (RFC 6960, RFC 5019 profile, RFC 8954 nonces) as pure
 * functions: parse a request (POST body or GET path), match its CertIDs
 * against the issuers we serve, build and sign responses through a
 * callback (the key lives on the HSM), the unsigned error responses, and
 * the HTTP caching headers of RFC 5019 6.2.  No I/O, no database, no
 * globals but the read-only error responses.  All ASN.1 goes through
 * OpenSSL's OCSP API.  docs/ocsp.md explains the decisions.
 *
 * Every function returns 0 on success and -1 on failure with e filled
 * (e may be NULL); ocsp_err_status() maps a failure to the OCSP response
 * status to answer with.
 */
#ifndef SIGNET_OCSP_H
#define SIGNET_OCSP_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/err.h"

/* Largest request accepted (DER bytes, POST body or decoded GET). */
#define OCSP_REQUEST_MAX 8192
/* Hard ceiling on CertIDs per request; the configured limit is <= this. */
#define OCSP_SINGLE_CEILING 16
/* RFC 8954 2.1: nonces of 1..32 octets; longer is malformedRequest. */
#define OCSP_NONCE_MAX 32
/* Largest hash in a CertID we recognise (SHA-512). */
#define OCSP_HASH_MAX 64
/* Largest re-encoded CertID kept for echoing (SHA-512 hashes, a 21-byte
 * serial, NULL hash parameters fit with room to spare). */
#define OCSP_CERTID_DER_MAX 192
/* Serial as lowercase hex without leading zeros, as ca/x509util writes
 * it (same size as SERIAL_HEX_MAX): at most 20 octets (RFC 5280 4.1.2.2). */
#define OCSP_SERIAL_HEX_MAX 41
/* Largest response ocsp_response_times()/ocsp_http_headers() will read. */
#define OCSP_RESPONSE_MAX 65536

/* ------------------------------------------------------------------
 * Requests
 */

/* One CertID of a request, as the client sent it. */
struct ocsp_certid {
	int hash_nid;       /* NID_sha1, NID_sha256 (matchable), or NID_sha224,
	                       NID_sha384, NID_sha512 (well-formed, never ours) */
	size_t hash_len;    /* digest size of hash_nid: both hashes have it */
	unsigned char name_hash[OCSP_HASH_MAX]; /* issuerNameHash */
	unsigned char key_hash[OCSP_HASH_MAX];  /* issuerKeyHash */
	char serial[OCSP_SERIAL_HEX_MAX];       /* lowercase hex, no leading 0s */
	/* The CertID re-encoded by OpenSSL, echoed unchanged in a response. */
	unsigned char der[OCSP_CERTID_DER_MAX];
	size_t der_len;
};

/* A parsed request: plain data, no pointers, nothing to free. */
struct ocsp_request {
	size_t n;                                  /* 1..max_single CertIDs */
	struct ocsp_certid ids[OCSP_SINGLE_CEILING];
	int has_nonce;                             /* RFC 8954 nonce present */
	size_t nonce_len;                          /* 1..OCSP_NONCE_MAX */
	unsigned char nonce[OCSP_NONCE_MAX];
	int was_signed;    /* had optionalSignature: ignored (RFC 5019 2.1.2) */
};

/* Parse a DER OCSPRequest (a POST body) of len bytes.  At most
 * OCSP_REQUEST_MAX bytes (else ERR_TOOBIG) and max_single CertIDs
 * (1..OCSP_SINGLE_CEILING); no trailing data; unknown critical extensions,
 * bad nonces, unrecognised hash algorithms, hash lengths that do not match
 * the algorithm, hash parameters that do not survive re-encoding, negative
 * or over-long serials are ERR_INVALID.  *out is
 * fully written on success and zeroed on failure. */
int ocsp_request_parse_der(const unsigned char *der, size_t len,
    size_t max_single, struct ocsp_request *out, struct err *e);

/* Parse the GET form: path is what follows "/ocsp/" in the URL (len bytes,
 * need not be NUL-terminated).  %XX escapes are decoded (a second decode
 * after the HTTP server's is harmless: base64 has no '%'), then base64 of
 * either flavour: standard (+ / =) or URL-safe (- _), padding optional;
 * a space is read as '+' (a form-decoding proxy's doing).  The decoded DER
 * goes through ocsp_request_parse_der().  Junk is ERR_INVALID. */
int ocsp_request_parse_get(const char *path, size_t len, size_t max_single,
    struct ocsp_request *out, struct err *e);

/* The OCSPResponseStatus to answer a failed parse or build with:
 * malformedRequest for ERR_INVALID/ERR_TOOBIG/ERR_LIMIT, tryLater for
 * ERR_UNAVAILABLE, internalError for the rest. */
int ocsp_err_status(const struct err *e);

/* ------------------------------------------------------------------
 * Issuers
 */

/* What a request's CertID is compared with: the hashes of an issuer's
 * subject name (DER) and of its subjectPublicKey BIT STRING contents
 * (RFC 6960 4.1.1), for both hash algorithms we answer. */
struct ocsp_issuer_hashes {
	unsigned char sha1_name[20], sha1_key[20];
	unsigned char sha256_name[32], sha256_key[32];
};

int ocsp_issuer_hashes(const X509 *issuer, struct ocsp_issuer_hashes *out,
    struct err *e);

/* 1 if id names a certificate of this issuer (SHA-1 or SHA-256 CertID
 * whose both hashes match), 0 if not. */
int ocsp_certid_match(const struct ocsp_certid *id,
    const struct ocsp_issuer_hashes *h);

/* For each CertID of req, the index into issuers[0..n_issuers) that it
 * names, or -1 (match[] has req->n entries).  Returns how many matched.
 * Policy (docs/ocsp.md): none matched -> answer the unsigned
 * `unauthorized` (RFC 5019 2.2.3); some matched -> a signed response in
 * which the others are `unknown` (RFC 6960 2.2).  A response is signed by
 * one responder, so a request naming certificates of two issuers is
 * answered for the first issuer and `unknown` for the rest: the caller
 * decides, this only reports. */
size_t ocsp_request_match(const struct ocsp_request *req,
    const struct ocsp_issuer_hashes *issuers, size_t n_issuers,
    int match[OCSP_SINGLE_CEILING]);

/* Build the CertID for the certificate of issuer with serial (lowercase
 * or uppercase hex, no sign), hash NID_sha1 or NID_sha256.  The hash
 * algorithm carries NULL parameters, as OpenSSL and most clients send it. */
int ocsp_certid_for(const X509 *issuer, const char *serial_hex, int hash_nid,
    struct ocsp_certid *out, struct err *e);

/* ------------------------------------------------------------------
 * Responses
 */

enum ocsp_cert_state {
	OCSP_CERT_GOOD,
	OCSP_CERT_REVOKED,
	OCSP_CERT_UNKNOWN,
};

struct ocsp_cert_status {
	enum ocsp_cert_state state;
	time_t revoked_at;  /* OCSP_CERT_REVOKED only */
	/* RFC 5280 CRLReason 0..10 except 7 (OCSP_REVOKED_STATUS_*), or -1.
	 * unspecified (0) and -1 leave revocationReason out (DESIGN.md). */
	int reason;
};

/* The signing callback, hsm_sign_fn's shape: sign with pkey, return 1 on
 * success and 0 on failure (OpenSSL's convention). */
typedef int (*ocsp_sign_cb)(EVP_PKEY *pkey, void *arg);

/* Runs cb(pkey, arg) with the responder's private key.  For the HSM:
 *   static int via_hsm(void *k, ocsp_sign_cb cb, void *arg, struct err *e)
 *   { return hsm_sign(k, cb, arg, e); }
 * with key = the struct hsm_key *.  Returns 0 or -1. */
typedef int (*ocsp_signer_fn)(void *key, ocsp_sign_cb cb, void *arg,
    struct err *e);

/* An ocsp_signer_fn for a key held in memory: key is an EVP_PKEY *. */
int ocsp_sign_with_pkey(void *key, ocsp_sign_cb cb, void *arg, struct err *e);

struct ocsp_responder {
	X509 *issuer;        /* the CA whose certificates are answered for */
	/* The certificate that signs: a delegated OCSP signing certificate
	 * issued by issuer (id-kp-OCSPSigning, id-pkix-ocsp-nocheck), which is
	 * then included in responses, or the issuer itself (nothing included). */
	X509 *cert;
	const EVP_MD *md;    /* NULL: SHA-384 for a P-384 key, else SHA-256 */
	ocsp_signer_fn sign;
	void *key;           /* handed to sign */
};

/* Check r: cert is the issuer, or a certificate issued by it (signature
 * verifies) with the OCSPSigning EKU, and its key suits signing. */
int ocsp_responder_check(const struct ocsp_responder *r, struct err *e);

/* Build and sign a successful BasicOCSPResponse answering ids[0..n) with
 * st[0..n) (1 <= n <= OCSP_SINGLE_CEILING): responderID byKey (RFC 5019),
 * producedAt now (OpenSSL sets it), thisUpdate/nextUpdate as given
 * (next_update > this_update), the nonce echoed when nonce != NULL
 * (1..OCSP_NONCE_MAX bytes).  *der is OPENSSL_malloc'ed: OPENSSL_free(). */
int ocsp_response_build(const struct ocsp_certid *ids,
    const struct ocsp_cert_status *st, size_t n,
    const unsigned char *nonce, size_t nonce_len,
    const struct ocsp_responder *r, time_t this_update, time_t next_update,
    unsigned char **der, size_t *len, struct err *e);

/* The pre-signed response for one certificate of r->issuer (serial hex)
 * and one CertID hash (NID_sha1 or NID_sha256), no nonce: what the
 * daemon's cache holds under (issuer, hash_nid, serial).  As
 * ocsp_response_build() otherwise. */
int ocsp_response_presign(const struct ocsp_responder *r,
    const char *serial_hex, int hash_nid, const struct ocsp_cert_status *st,
    time_t this_update, time_t next_update,
    unsigned char **der, size_t *len, struct err *e);

/* The unsigned response with status (OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
 * _INTERNALERROR, _TRYLATER, _SIGREQUIRED, _UNAUTHORIZED), encoded once by
 * OpenSSL and kept read-only: do not free.  NULL for any other status.
 * Thread-safe. */
const unsigned char *ocsp_error_der(int status, size_t *len);

/* thisUpdate and nextUpdate of a successful response: the latest
 * thisUpdate and earliest nextUpdate of its SingleResponses.  ERR_INVALID
 * for unsuccessful responses, responses without nextUpdate, or more than
 * OCSP_RESPONSE_MAX bytes. */
int ocsp_response_times(const unsigned char *der, size_t len,
    time_t *this_update, time_t *next_update, struct err *e);

/* ------------------------------------------------------------------
 * HTTP
 */

/* Header values (without the name) for a GET response, RFC 5019 6.2. */
struct ocsp_http_headers {
	char cache_control[96];  /* "max-age=N, public, no-transform, must-revalidate" */
	char expires[32];        /* IMF-fixdate of nextUpdate */
	char last_modified[32];  /* IMF-fixdate of thisUpdate */
	char etag[72];           /* "\"" + hex SHA-256 of the DER + "\"" */
};

/* Fill h for the successful response der at time now.  max-age is the time
 * left until nextUpdate (0 once past), capped at max_age_cap seconds when
 * max_age_cap > 0.  Unsuccessful responses (no nextUpdate) are ERR_INVALID:
 * send them with "Cache-Control: no-store". */
int ocsp_http_headers(const unsigned char *der, size_t len, time_t now,
    long max_age_cap, struct ocsp_http_headers *h, struct err *e);
/* The same when the caller knows thisUpdate and nextUpdate already (it
 * signed the response): no parsing, which for a response carrying the
 * signer's certificate means no certificate decode per request. */
int ocsp_http_headers_at(const unsigned char *der, size_t len, time_t tu,
    time_t nu, time_t now, long max_age_cap, struct ocsp_http_headers *h,
    struct err *e);

/* Only Cache-Control, which depends on the time: the rest of h stays as
 * it was for the same response. */
void ocsp_http_cache_control(time_t nu, time_t now, long max_age_cap,
    struct ocsp_http_headers *h);

/* Whether a conditional GET (RFC 7232) for a response with headers h and
 * thisUpdate this_update gets 304 Not Modified: If-None-Match lists its
 * ETag (or "*"), or, without If-None-Match, If-Modified-Since is at or
 * after thisUpdate.  Either header may be NULL; malformed ones match
 * nothing. */
int ocsp_http_not_modified(const char *if_none_match,
    const char *if_modified_since, const struct ocsp_http_headers *h,
    time_t this_update);

#endif
