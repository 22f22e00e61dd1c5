/* monitor_revocation: the CA's issuers, and a leaf's status from the
 * database or over OCSP. */
#include "cli/monitor_revocation.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "ca/x509util.h"
#include "cli/client.h"
#include "cli/monitor_probe.h"
#include "db/db.h"
#include "db/ocsp_db.h"
#include "ocsp/ocsp.h"

/* Longest AIA OCSP URL used. */
#define OCSP_URL_MAX 1024

struct monitor_issuers {
	X509 *cert[MONITOR_ISSUERS_MAX];
	int id[MONITOR_ISSUERS_MAX];   /* database id; 0 from a file */
	int n;
};

void monitor_issuers_free(struct monitor_issuers *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < s->n; i++)
		X509_free(s->cert[i]);
	free(s);
}

int monitor_issuers_from_db(PGconn *c, struct monitor_issuers **out,
    struct err *e)
{
	struct monitor_issuers *s = calloc(1, sizeof(*s));
	PGresult *r = NULL;
	unsigned char *der = NULL;
	size_t len;
	int rc = -1;

	if (s == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	/* Not db_issuers_load: that one returns only active issuers, and a
	 * retired intermediate's certificates may still be in service. */
	if (db_exec(c, "SELECT id, der FROM issuers WHERE kind = 'intermediate'"
	    " ORDER BY id DESC LIMIT 256", 0, NULL, &r, e) != 0)
		goto out;
	for (int i = 0; i < PQntuples(r) && s->n < MONITOR_ISSUERS_MAX; i++) {
		X509 *x;
		if (db_get_bytea(r, i, 1, &der, &len, e) != 0)
			goto out;
		x = x509_from_der(der, len, e);
		free(der);
		der = NULL;
		if (x == NULL) {
			err_prefix(e, "issuer %s in the database: ", PQgetvalue(r, i, 0));
			goto out;
		}
		/* Cache the extensions now, before threads share x. */
		X509_check_purpose(x, -1, 0);
		s->cert[s->n] = x;
		s->id[s->n++] = atoi(PQgetvalue(r, i, 0));
	}
	*out = s;
	s = NULL;
	rc = 0;
out:
	PQclear(r);
	monitor_issuers_free(s);
	return rc;
}

int monitor_issuers_from_file(const char *path, struct monitor_issuers **out,
    struct err *e)
{
	struct monitor_issuers *s;
	X509 **v = NULL;
	int n = 0;

	if (x509_read_pem_file(path, &v, &n, e) != 0)
		return -1;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		x509_free_list(v, n);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	for (int i = 0; i < n && i < MONITOR_ISSUERS_MAX; i++) {
		X509_check_purpose(v[i], -1, 0);
		s->cert[s->n++] = v[i];
		v[i] = NULL;
	}
	x509_free_list(v, n);
	*out = s;
	return 0;
}

int monitor_issuers_match(const struct monitor_issuers *s, X509 *leaf)
{
	if (s == NULL)
		return -1;
	for (int i = 0; i < s->n; i++) {
		EVP_PKEY *k = X509_get0_pubkey(s->cert[i]);
		/* Names, key identifiers and keyCertSign first (cheap), then
		 * the signature itself. */
		if (X509_check_issued(s->cert[i], leaf) == X509_V_OK && k != NULL &&
		    X509_verify(leaf, k) == 1)
			return i;
	}
	ERR_clear_error();
	return -1;
}

int monitor_revocation_db(PGconn *c, const struct monitor_issuers *s,
    int idx, X509 *leaf, struct monitor_revocation *out, struct err *e)
{
	struct db_cert_state st;
	struct err e2 = { 0 };
	char serial[SERIAL_HEX_MAX];

	memset(out, 0, sizeof(*out));
	out->reason = -1;
	if (x509_serial_hex(leaf, serial, e) != 0)
		return -1;
	if (db_ocsp_cert_state(c, s->id[idx], serial, &st, &e2) != 0) {
		if (e2.kind != ERR_NOTFOUND) {
			*e = e2;
			return -1;
		}
		out->state = MONITOR_REV_UNKNOWN;
	} else if (st.revoked) {
		out->state = MONITOR_REV_REVOKED;
		out->revoked_at = st.revoked_at;
		out->reason = st.reason;
	} else
		out->state = MONITOR_REV_GOOD;
	out->source = "database";
	return 0;
}

/* ---- OCSP ---- */

/* The first http(s) OCSP URL in leaf's AIA. */
static int ocsp_url(X509 *leaf, char *out, size_t len, struct err *e)
{
	STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(leaf);
	int found = 0;

	for (int i = 0; urls != NULL && i < sk_OPENSSL_STRING_num(urls); i++) {
		const char *u = sk_OPENSSL_STRING_value(urls, i);
		if ((strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) &&
		    strlen(u) < len && strlen(u) <= OCSP_URL_MAX) {
			snprintf(out, len, "%s", u);
			found = 1;
			break;
		}
	}
	X509_email_free(urls);
	if (!found)
		return err_set(e, ERR_INVALID, "the certificate names no http(s) "
		    "OCSP URL in its AIA");
	return 0;
}

static int ocsp_post(const char *url, const unsigned char *req, size_t reqlen,
    long long deadline_ms, struct client_body *b, struct err *e)
{
	CURL *cu = curl_easy_init();
	struct curl_slist *hdr = NULL;
	char cerr[CURL_ERROR_SIZE] = "";
	long long left = deadline_ms - monitor_now_ms();
	long status = 0;
	CURLcode rc;
	int ret = -1;

	if (left <= 0) {
		err_set(e, ERR_UNAVAILABLE, "timed out before the OCSP query");
		goto out;
	}
	if (cu == NULL ||
	    (hdr = curl_slist_append(hdr, "Content-Type: application/ocsp-request")) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDS, (const char *)req);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)reqlen);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, client_body_write);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, cerr);
	/* The probe's deadline covers the query; threads must not use
	 * signals for DNS timeouts. */
	curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
	if ((rc = curl_easy_perform(cu)) != CURLE_OK) {
		err_set(e, ERR_UNAVAILABLE, "OCSP %s: %s", url,
		    rc == CURLE_WRITE_ERROR ? "answer larger than 64 KiB" :
		    cerr[0] ? cerr : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		err_set(e, ERR_UNAVAILABLE, "OCSP %s: HTTP %ld", url, status);
		goto out;
	}
	ret = 0;
out:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(cu);
	return ret;
}

static time_t gtime(const ASN1_GENERALIZEDTIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

int monitor_revocation_ocsp(const struct monitor_issuers *s, int idx,
    X509 *leaf, X509_STORE *roots, long long deadline_ms,
    struct monitor_revocation *out, struct err *e)
{
	OCSP_CERTID *id = NULL, *qid = NULL;
	OCSP_REQUEST *req = NULL;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	STACK_OF(X509) *certs = NULL;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	struct client_body b = { NULL, 0, OCSP_RESPONSE_MAX };
	unsigned char *der = NULL;
	const unsigned char *p;
	char url[OCSP_URL_MAX + 1];
	int len, status, reason = -1, rc = -1;

	memset(out, 0, sizeof(*out));
	out->reason = -1;
	if (ocsp_url(leaf, url, sizeof(url), e) != 0)
		goto out;
	/* SHA-1 CertIDs: what RFC 5019 2.1.1 asks clients to send. */
	if ((id = OCSP_cert_to_id(NULL, leaf, s->cert[idx])) == NULL ||
	    (qid = OCSP_CERTID_dup(id)) == NULL ||
	    (req = OCSP_REQUEST_new()) == NULL ||
	    OCSP_request_add0_id(req, qid) == NULL) {
		err_ossl(e, ERR_INTERNAL, "OCSP request");
		goto out;
	}
	qid = NULL; /* req owns it now */
	if ((len = i2d_OCSP_REQUEST(req, &der)) <= 0) {
		err_ossl(e, ERR_INTERNAL, "OCSP request");
		goto out;
	}
	if (ocsp_post(url, der, (size_t)len, deadline_ms, &b, e) != 0)
		goto out;
	p = (const unsigned char *)b.p;
	if (b.len == 0 || (resp = d2i_OCSP_RESPONSE(NULL, &p, (long)b.len)) == NULL ||
	    p != (const unsigned char *)b.p + b.len) {
		err_ossl(e, ERR_INVALID, "OCSP %s: the answer is not an OCSP "
		    "response", url);
		goto out;
	}
	status = OCSP_response_status(resp);
	if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		err_set(e, ERR_UNAVAILABLE, "OCSP %s: the responder answered %s", url,
		    OCSP_response_status_str(status));
		goto out;
	}
	if ((bs = OCSP_response_get1_basic(resp)) == NULL) {
		err_ossl(e, ERR_INVALID, "OCSP %s: no basic response", url);
		goto out;
	}
	/* The issuer helps build the responder's chain up to the roots; the
	 * responder must be the issuer or hold its OCSPSigning delegation
	 * (RFC 6960 4.2.2.2), which OCSP_basic_verify checks. */
	if ((certs = sk_X509_new_null()) == NULL ||
	    sk_X509_push(certs, s->cert[idx]) == 0) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (OCSP_basic_verify(bs, certs, roots, 0) <= 0) {
		err_ossl(e, ERR_INVALID, "OCSP %s: the response does not verify "
		    "against the roots", url);
		goto out;
	}
	if (OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd,
	    &nextupd) != 1) {
		err_set(e, ERR_INVALID, "OCSP %s: the response does not answer "
		    "for this certificate", url);
		goto out;
	}
	if (OCSP_check_validity(thisupd, nextupd, 300, -1) != 1) {
		err_ossl(e, ERR_INVALID, "OCSP %s: the response is not current", url);
		goto out;
	}
	out->source = "ocsp";
	switch (status) {
	case V_OCSP_CERTSTATUS_GOOD:
		out->state = MONITOR_REV_GOOD;
		break;
	case V_OCSP_CERTSTATUS_REVOKED:
		out->state = MONITOR_REV_REVOKED;
		out->revoked_at = gtime(rev);
		out->reason = reason;
		break;
	default:
		out->state = MONITOR_REV_UNKNOWN;
		break;
	}
	rc = 0;
out:
	ERR_clear_error();
	sk_X509_free(certs);   /* the issuer stays s's */
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(qid);
	OCSP_CERTID_free(id);
	OPENSSL_free(der);
	free(b.p);
	return rc;
}
