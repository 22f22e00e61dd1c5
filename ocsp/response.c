/*
 * ocsp/response.c: issuer hashes and CertID matching, signed
 * BasicOCSPResponses (RFC 6960 4.2, RFC 5019 2.2) through a signing
 * callback, the unsigned error responses, and reading a response's times
 * back for the cache and the HTTP headers.
 */
#include "ocsp/ocsp.h"

#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

/* ------------------------------------------------------------------
 * Issuers and CertIDs
 */

static int digest_pair(const X509 *issuer, const EVP_MD *md,
    unsigned char *name, unsigned char *key, struct err *e)
{
	unsigned int nl = 0, kl = 0;

	/* RFC 6960 4.1.1: the hash of the DER issuer name, and of the value
	 * of the BIT STRING subjectPublicKey (without tag, length and unused
	 * bits octet): what X509_NAME_digest and X509_pubkey_digest hash. */
	if (!X509_NAME_digest(X509_get_subject_name(issuer), md, name, &nl) ||
	    !X509_pubkey_digest(issuer, md, key, &kl) ||
	    nl != (unsigned)EVP_MD_get_size(md) || kl != nl)
		return err_ossl(e, ERR_INTERNAL, "hashing the issuer for OCSP");
	return 0;
}

int ocsp_issuer_hashes(const X509 *issuer, struct ocsp_issuer_hashes *out,
    struct err *e)
{
	memset(out, 0, sizeof(*out));
	if (issuer == NULL)
		return err_set(e, ERR_INTERNAL, "no issuer certificate");
	if (digest_pair(issuer, EVP_sha1(), out->sha1_name, out->sha1_key, e) != 0 ||
	    digest_pair(issuer, EVP_sha256(), out->sha256_name, out->sha256_key,
	    e) != 0)
		return -1;
	return 0;
}

int ocsp_certid_match(const struct ocsp_certid *id,
    const struct ocsp_issuer_hashes *h)
{
	/* Public values: no need for a constant-time compare. */
	if (id->hash_nid == NID_sha1 && id->hash_len == 20)
		return memcmp(id->name_hash, h->sha1_name, 20) == 0 &&
		    memcmp(id->key_hash, h->sha1_key, 20) == 0;
	if (id->hash_nid == NID_sha256 && id->hash_len == 32)
		return memcmp(id->name_hash, h->sha256_name, 32) == 0 &&
		    memcmp(id->key_hash, h->sha256_key, 32) == 0;
	return 0;
}

size_t ocsp_request_match(const struct ocsp_request *req,
    const struct ocsp_issuer_hashes *issuers, size_t n_issuers,
    int match[OCSP_SINGLE_CEILING])
{
	size_t i, j, found = 0;

	for (i = 0; i < OCSP_SINGLE_CEILING; i++)
		match[i] = -1;
	for (i = 0; i < req->n && i < OCSP_SINGLE_CEILING; i++) {
		for (j = 0; j < n_issuers; j++) {
			if (ocsp_certid_match(&req->ids[i], &issuers[j])) {
				match[i] = (int)j;
				found++;
				break;
			}
		}
	}
	return found;
}

int ocsp_certid_for(const X509 *issuer, const char *serial_hex, int hash_nid,
    struct ocsp_certid *out, struct err *e)
{
	const EVP_MD *md;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	OCSP_CERTID *cid = NULL;
	unsigned char *p;
	size_t i, sl;
	int dl, rc = -1;

	memset(out, 0, sizeof(*out));
	md = hash_nid == NID_sha1 ? EVP_sha1() :
	    hash_nid == NID_sha256 ? EVP_sha256() : NULL;
	if (md == NULL)
		return err_set(e, ERR_INTERNAL, "CertID hash must be SHA-1 or SHA-256");
	sl = serial_hex != NULL ? strnlen(serial_hex, OCSP_SERIAL_HEX_MAX) : 0;
	if (sl == 0 || sl >= OCSP_SERIAL_HEX_MAX)
		return err_set(e, ERR_INVALID, "serial must be 1..40 hex digits");
	for (i = 0; i < sl; i++) {
		char c = serial_hex[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F')))
			return err_set(e, ERR_INVALID, "serial is not hex");
	}
	if (!BN_hex2bn(&bn, serial_hex) ||
	    (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) {
		err_ossl(e, ERR_INTERNAL, "encoding the serial");
		goto out;
	}
	/* OCSP_cert_id_new hashes issuer name and key as digest_pair does. */
	if ((cid = OCSP_cert_id_new(md, X509_get_subject_name(issuer),
	    X509_get0_pubkey_bitstr(issuer), ai)) == NULL) {
		err_ossl(e, ERR_INTERNAL, "building the CertID");
		goto out;
	}
	out->hash_nid = hash_nid;
	out->hash_len = (size_t)EVP_MD_get_size(md);
	if (digest_pair(issuer, md, out->name_hash, out->key_hash, e) != 0)
		goto out;
	/* Same form as the request parser writes: lowercase, no leading 0. */
	{
		const char *s = serial_hex;
		while (s[0] == '0' && s[1] != '\0')
			s++;
		for (i = 0; s[i] != '\0'; i++)
			out->serial[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ?
			    s[i] + 32 : s[i]);
		out->serial[i] = '\0';
	}
	dl = i2d_OCSP_CERTID(cid, NULL);
	if (dl <= 0 || dl > OCSP_CERTID_DER_MAX) {
		err_set(e, ERR_INTERNAL, "CertID too large");
		goto out;
	}
	p = out->der;
	if (i2d_OCSP_CERTID(cid, &p) != dl) {
		err_ossl(e, ERR_INTERNAL, "encoding the CertID");
		goto out;
	}
	out->der_len = (size_t)dl;
	rc = 0;
out:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	OCSP_CERTID_free(cid);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return rc;
}

/* ------------------------------------------------------------------
 * Signing
 */

int ocsp_sign_with_pkey(void *key, ocsp_sign_cb cb, void *arg, struct err *e)
{
	if (key == NULL)
		return err_set(e, ERR_INTERNAL, "no signing key");
	if (cb((EVP_PKEY *)key, arg) != 1)
		return err_ossl(e, ERR_INTERNAL, "signing the OCSP response");
	return 0;
}

static const EVP_MD *pick_md(const struct ocsp_responder *r)
{
	EVP_PKEY *pub = X509_get0_pubkey(r->cert);

	if (r->md != NULL)
		return r->md;
	if (pub != NULL && EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC &&
	    EVP_PKEY_get_bits(pub) == 384)
		return EVP_sha384();
	return EVP_sha256();
}

int ocsp_responder_check(const struct ocsp_responder *r, struct err *e)
{
	EVP_PKEY *ipub;
	int id;

	if (r == NULL || r->issuer == NULL || r->cert == NULL || r->sign == NULL)
		return err_set(e, ERR_CONFIG, "OCSP responder incomplete");
	if (X509_cmp(r->issuer, r->cert) == 0)
		return 0;
	ipub = X509_get0_pubkey(r->issuer);
	if (X509_check_issued(r->issuer, r->cert) != X509_V_OK || ipub == NULL ||
	    X509_verify(r->cert, ipub) != 1)
		return err_ossl(e, ERR_CONFIG,
		    "RFC 6960 4.2.2.2: the OCSP signing certificate is not issued by the CA");
	if (!(X509_get_extension_flags(r->cert) & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(r->cert) & XKU_OCSP_SIGN))
		return err_set(e, ERR_CONFIG,
		    "RFC 6960 4.2.2.2: the OCSP signing certificate lacks id-kp-OCSPSigning");
	/* Without nocheck a client would have to check the responder's own
	 * status: RFC 6960 4.2.2.2.1.  Not fatal to OpenSSL, but we require it. */
	if ((id = X509_get_ext_by_NID(r->cert, NID_id_pkix_OCSP_noCheck, -1)) < 0)
		return err_set(e, ERR_CONFIG,
		    "RFC 6960 4.2.2.2.1: the OCSP signing certificate lacks id-pkix-ocsp-nocheck");
	return 0;
}

struct sign_job {
	OCSP_BASICRESP *bs;
	X509 *cert;
	const EVP_MD *md;
	unsigned long flags;
};

/* Runs where the key is (inside hsm_sign): only the signature. */
static int sign_cb(EVP_PKEY *pkey, void *arg)
{
	struct sign_job *j = arg;

	return OCSP_basic_sign(j->bs, j->cert, pkey, j->md, NULL, j->flags) == 1;
}

static ASN1_GENERALIZEDTIME *gtime(time_t t)
{
	return ASN1_GENERALIZEDTIME_set(NULL, t);
}

static int valid_reason(int reason)
{
	return reason == OCSP_REVOKED_STATUS_NOSTATUS ||
	    (reason >= OCSP_REVOKED_STATUS_UNSPECIFIED &&
	    reason <= OCSP_REVOKED_STATUS_AACOMPROMISE && reason != 7);
}

int ocsp_response_build(const struct ocsp_certid *ids,
    const struct ocsp_cert_status *st, size_t n,
    const unsigned char *nonce, size_t nonce_len,
    const struct ocsp_responder *r, time_t this_update, time_t next_update,
    unsigned char **der, size_t *len, struct err *e)
{
	OCSP_BASICRESP *bs = NULL;
	OCSP_RESPONSE *resp = NULL;
	OCSP_CERTID *cid = NULL;
	ASN1_GENERALIZEDTIME *tu = NULL, *nu = NULL, *rt = NULL;
	struct sign_job job;
	unsigned char *out = NULL;
	size_t i;
	int l, rc = -1;

	*der = NULL;
	*len = 0;
	if (r == NULL || r->issuer == NULL || r->cert == NULL || r->sign == NULL)
		return err_set(e, ERR_INTERNAL, "OCSP responder incomplete");
	if (ids == NULL || st == NULL || n < 1 || n > OCSP_SINGLE_CEILING)
		return err_set(e, ERR_INTERNAL, "1..%d statuses per response",
		    OCSP_SINGLE_CEILING);
	if (next_update <= this_update)
		return err_set(e, ERR_INTERNAL, "nextUpdate must follow thisUpdate");
	if (nonce != NULL && (nonce_len < 1 || nonce_len > OCSP_NONCE_MAX))
		return err_set(e, ERR_INTERNAL, "nonce of %zu bytes", nonce_len);
	if ((bs = OCSP_BASICRESP_new()) == NULL ||
	    (tu = gtime(this_update)) == NULL || (nu = gtime(next_update)) == NULL) {
		err_ossl(e, ERR_INTERNAL, "allocating the OCSP response");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const unsigned char *p = ids[i].der;
		int status, reason = OCSP_REVOKED_STATUS_NOSTATUS;

		if (ids[i].der_len == 0 || ids[i].der_len > OCSP_CERTID_DER_MAX ||
		    (cid = d2i_OCSP_CERTID(NULL, &p, (long)ids[i].der_len)) == NULL ||
		    p != ids[i].der + ids[i].der_len) {
			/* The request's CertID as OpenSSL re-encoded it does not
			 * parse back (odd hash parameters): the request's fault. */
			OCSP_CERTID_free(cid);
			cid = NULL;
			err_ossl(e, ERR_INVALID, "RFC 6960 4.1.1: CertID %zu hash "
			    "algorithm parameters unreadable", i);
			goto out;
		}
		switch (st[i].state) {
		case OCSP_CERT_GOOD:
			status = V_OCSP_CERTSTATUS_GOOD;
			break;
		case OCSP_CERT_UNKNOWN:
			status = V_OCSP_CERTSTATUS_UNKNOWN;
			break;
		case OCSP_CERT_REVOKED:
			status = V_OCSP_CERTSTATUS_REVOKED;
			if (!valid_reason(st[i].reason)) {
				err_set(e, ERR_INTERNAL, "revocation reason %d", st[i].reason);
				goto out;
			}
			/* DESIGN.md: unspecified is encoded by leaving reasonCode out. */
			if (st[i].reason != OCSP_REVOKED_STATUS_UNSPECIFIED)
				reason = st[i].reason;
			ASN1_GENERALIZEDTIME_free(rt);
			if ((rt = gtime(st[i].revoked_at)) == NULL) {
				err_ossl(e, ERR_INTERNAL, "revocation time");
				goto out;
			}
			break;
		default:
			err_set(e, ERR_INTERNAL, "certificate state %d", (int)st[i].state);
			goto out;
		}
		if (OCSP_basic_add1_status(bs, cid, status, reason,
		    status == V_OCSP_CERTSTATUS_REVOKED ? rt : NULL, tu, nu) == NULL) {
			err_ossl(e, ERR_INTERNAL, "adding a status to the OCSP response");
			goto out;
		}
		OCSP_CERTID_free(cid);
		cid = NULL;
	}
	/* RFC 8954 / RFC 6960 4.4.1: the nonce as an OCTET STRING, echoed. */
	if (nonce != NULL &&
	    OCSP_basic_add1_nonce(bs, (unsigned char *)nonce, (int)nonce_len) != 1) {
		err_ossl(e, ERR_INTERNAL, "adding the nonce");
		goto out;
	}
	job.bs = bs;
	job.cert = r->cert;
	job.md = pick_md(r);
	/* RFC 5019 2.2.2: responderID byKey.  A delegated signer's
	 * certificate goes into certs so the client can verify it; the CA's
	 * own is known to the client already. */
	job.flags = OCSP_RESPID_KEY;
	if (X509_cmp(r->cert, r->issuer) == 0)
		job.flags |= OCSP_NOCERTS;
	if (r->sign(r->key, sign_cb, &job, e) != 0) {
		err_prefix(e, "signing the OCSP response: ");
		goto out;
	}
	if ((resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs)) == NULL ||
	    (l = i2d_OCSP_RESPONSE(resp, &out)) <= 0) {
		err_ossl(e, ERR_INTERNAL, "encoding the OCSP response");
		goto out;
	}
	*der = out;
	*len = (size_t)l;
	out = NULL;
	rc = 0;
out:
	OPENSSL_free(out);
	OCSP_CERTID_free(cid);
	ASN1_GENERALIZEDTIME_free(rt);
	ASN1_GENERALIZEDTIME_free(nu);
	ASN1_GENERALIZEDTIME_free(tu);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	if (rc != 0)
		err_ossl_clear();
	return rc;
}

int ocsp_response_presign(const struct ocsp_responder *r,
    const char *serial_hex, int hash_nid, const struct ocsp_cert_status *st,
    time_t this_update, time_t next_update,
    unsigned char **der, size_t *len, struct err *e)
{
	struct ocsp_certid id;

	*der = NULL;
	*len = 0;
	if (r == NULL || r->issuer == NULL)
		return err_set(e, ERR_INTERNAL, "OCSP responder incomplete");
	if (ocsp_certid_for(r->issuer, serial_hex, hash_nid, &id, e) != 0)
		return -1;
	return ocsp_response_build(&id, st, 1, NULL, 0, r, this_update,
	    next_update, der, len, e);
}

/* ------------------------------------------------------------------
 * Unsigned error responses
 */

static const int error_statuses[] = {
	OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
	OCSP_RESPONSE_STATUS_INTERNALERROR,
	OCSP_RESPONSE_STATUS_TRYLATER,
	OCSP_RESPONSE_STATUS_SIGREQUIRED,
	OCSP_RESPONSE_STATUS_UNAUTHORIZED,
};
#define N_ERRORS (sizeof(error_statuses) / sizeof(error_statuses[0]))
/* OCSPResponse ::= SEQUENCE { ENUMERATED }: 5 bytes; room to spare. */
#define ERROR_DER_MAX 16
static unsigned char error_der[N_ERRORS][ERROR_DER_MAX];
static size_t error_len[N_ERRORS];
static pthread_once_t error_once = PTHREAD_ONCE_INIT;

static void encode_errors(void)
{
	size_t i;

	for (i = 0; i < N_ERRORS; i++) {
		OCSP_RESPONSE *r = OCSP_response_create(error_statuses[i], NULL);
		unsigned char *p = error_der[i];
		int l = r != NULL ? i2d_OCSP_RESPONSE(r, NULL) : -1;

		/* Left at length 0 (ocsp_error_der returns NULL) on failure. */
		if (l > 0 && l <= ERROR_DER_MAX && i2d_OCSP_RESPONSE(r, &p) == l)
			error_len[i] = (size_t)l;
		OCSP_RESPONSE_free(r);
	}
	err_ossl_clear();
}

const unsigned char *ocsp_error_der(int status, size_t *len)
{
	size_t i;

	*len = 0;
	if (pthread_once(&error_once, encode_errors) != 0)
		return NULL;
	for (i = 0; i < N_ERRORS; i++) {
		if (error_statuses[i] == status && error_len[i] > 0) {
			*len = error_len[i];
			return error_der[i];
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------
 * Reading a response back
 */

static int to_time_t(const ASN1_GENERALIZEDTIME *g, time_t *out)
{
	struct tm tm;

	if (g == NULL || !ASN1_TIME_to_tm(g, &tm))
		return -1;
	*out = timegm(&tm);
	return 0;
}

int ocsp_response_times(const unsigned char *der, size_t len,
    time_t *this_update, time_t *next_update, struct err *e)
{
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	const unsigned char *p = der;
	time_t tu_max = 0, nu_min = 0;
	int i, count, rc = -1;

	if (der == NULL || len == 0 || len > OCSP_RESPONSE_MAX)
		return err_set(e, ERR_INVALID, "OCSP response of %zu bytes", len);
	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		err_ossl(e, ERR_INVALID, "not one DER OCSPResponse");
		goto out;
	}
	if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    (bs = OCSP_response_get1_basic(resp)) == NULL) {
		err_set(e, ERR_INVALID, "not a successful basic OCSP response");
		goto out;
	}
	if ((count = OCSP_resp_count(bs)) < 1) {
		err_set(e, ERR_INVALID, "OCSP response without SingleResponses");
		goto out;
	}
	for (i = 0; i < count; i++) {
		ASN1_GENERALIZEDTIME *rev = NULL, *tu = NULL, *nu = NULL;
		time_t t, n;
		int reason;

		if (OCSP_single_get0_status(OCSP_resp_get0(bs, i), &reason, &rev,
		    &tu, &nu) < 0 || to_time_t(tu, &t) != 0 || nu == NULL ||
		    to_time_t(nu, &n) != 0) {
			err_set(e, ERR_INVALID, "SingleResponse %d without thisUpdate/nextUpdate", i);
			goto out;
		}
		if (i == 0 || t > tu_max)
			tu_max = t;
		if (i == 0 || n < nu_min)
			nu_min = n;
	}
	*this_update = tu_max;
	*next_update = nu_min;
	rc = 0;
out:
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	if (rc != 0)
		err_ossl_clear();
	return rc;
}
