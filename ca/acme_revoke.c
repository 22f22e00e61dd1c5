/* acme_revoke: revokeCert (RFC 8555 7.6). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/acme_call.h"
#include "ca/crl.h"
#include "ca/x509util.h"
#include "common/log.h"
#include "db/db.h"

/* Largest certificate accepted: far above any signet issues. */
#define ACME_MAX_CERT_DER 16384
/* Most subjectAltNames looked at for the authorization check. */
#define ACME_REVOKE_MAX_NAMES 100

/* The certificate's identifiers as acme_authzs holds them, a JSON array
 * of {"type", "value"} into *out (malloc'ed text): DNS names lowercased,
 * a wildcard by its base name, IP addresses as inet_ntop writes them.
 * *out is NULL when the certificate names something no ACME
 * authorization can cover (a URI, an e-mail address, no name at all). */
static int cert_idents(X509 *x, char **out, struct err *e)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	json_t *arr = json_array();
	char buf[256];
	int n, i, rc = -1;

	*out = NULL;
	if (arr == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	n = gens ? sk_GENERAL_NAME_num(gens) : 0;
	if (n <= 0 || n > ACME_REVOKE_MAX_NAMES) {
		rc = 0;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		int len, j;

		if (g->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(g->d.dNSName);
			len = ASN1_STRING_length(g->d.dNSName);
			if (len > 2 && d[0] == '*' && d[1] == '.') {
				d += 2;
				len -= 2;
			}
			if (len <= 0 || len >= (int)sizeof(buf)) {
				rc = 0;
				goto out;
			}
			for (j = 0; j < len; j++)
				buf[j] = (char)(d[j] >= 'A' && d[j] <= 'Z' ? d[j] + 32 : d[j]);
			buf[len] = '\0';
			if (strlen(buf) != (size_t)len) {
				rc = 0;
				goto out;
			}
			json_array_append_new(arr, json_pack("{s:s, s:s}", "type", "dns",
			    "value", buf));
		} else if (g->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(g->d.iPAddress);
			len = ASN1_STRING_length(g->d.iPAddress);
			if ((len != 4 && len != 16) || inet_ntop(len == 4 ? AF_INET :
			    AF_INET6, d, buf, sizeof(buf)) == NULL) {
				rc = 0;
				goto out;
			}
			json_array_append_new(arr, json_pack("{s:s, s:s}", "type", "ip",
			    "value", buf));
		} else {
			rc = 0;
			goto out;
		}
	}
	if (json_array_size(arr) != (size_t)n ||
	    (*out = json_dumps(arr, JSON_COMPACT)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	json_decref(arr);
	return rc;
}

/* RFC 8555 7.6, kid form: the account that ordered the certificate, or
 * one holding valid authorizations for all its identifiers.  *ok 1 if
 * k->acct is either. */
static int account_may_revoke(struct acme_call *k, X509 *x,
    const char *serial, int *ok, struct err *e)
{
	char *idents = NULL;
	int rc = -1;

	if (db_acme_cert_ordered_by(k->c, k->prov, serial, k->acct.id, ok,
	    e) != 0)
		return -1;
	if (*ok)
		return 0;
	if (cert_idents(x, &idents, e) != 0)
		return -1;
	if (idents == NULL)
		return 0;
	rc = db_acme_authz_cover(k->c, k->acct.id, idents, ok, e);
	free(idents);
	return rc;
}

/* RFC 8555 7.6, jwk form: post() verified the JWS with its jwk; that key
 * must be the certificate's.  *ok 1 if it is. */
static int key_is_certs(struct acme_call *k, X509 *x, int *ok)
{
	json_t *cert_jwk = NULL;
	EVP_PKEY *pk = X509_get0_pubkey(x);
	struct err e;

	*ok = 0;
	/* A key that cannot be a JWK here (Ed25519, P-521) signed nothing. */
	if (pk == NULL || acme_jwk_from_pkey(pk, &cert_jwk, &e) != 0)
		return 0;
	*ok = acme_jwk_same(cert_jwk, acme_jws_jwk(k->jws));
	json_decref(cert_jwk);
	return 0;
}

/* POST revoke-cert (RFC 8555 7.6), verified, kid or jwk form:
 * {"certificate": base64url DER, "reason": RFC 5280 code}.  Answers 200
 * with an empty body. */
void acme_revoke_cert(struct acme_call *k, json_t *payload)
{
	struct db_cert_rec rec;
	struct db_revoke rv;
	struct db_revoke_result res;
	char serial[SERIAL_HEX_MAX], actor[ACME_MAX_PROV + 48], detail[320];
	json_t *jc, *jr;
	uint8_t *der = NULL;
	size_t der_len = 0;
	X509 *x = NULL;
	struct err e;
	int ok = 0, by_key = acme_jws_kid(k->jws) == NULL;
	json_int_t reason = CRL_REASON_UNSPECIFIED;

	memset(&rec, 0, sizeof(rec));
	memset(&rv, 0, sizeof(rv));
	jc = json_object_get(payload, "certificate");
	jr = json_object_get(payload, "reason");
	if (!json_is_string(jc)) {
		acme_problem(k, 400, "malformed", "RFC 8555 7.6: revokeCert needs "
		    "{\"certificate\": base64url DER, \"reason\": optional int}");
		goto out;
	}
	if (jr != NULL && (!json_is_integer(jr) ||
	    !crl_reason_allowed(reason = json_integer_value(jr)))) {
		acme_problem(k, 400, "badRevocationReason", "RFC 8555 7.6: reason "
		    "must be an RFC 5280 5.3.1 code signet records: 0-5, 9 or 10 "
		    "(no certificateHold: revocations are final)");
		goto out;
	}
	if (acme_b64url_decode(json_string_value(jc), json_string_length(jc),
	    ACME_MAX_CERT_DER, &der, &der_len, &e) != 0 ||
	    (x = x509_from_der(der, der_len, &e)) == NULL ||
	    x509_serial_hex(x, serial, &e) != 0) {
		snprintf(detail, sizeof(detail), "RFC 8555 7.6: certificate must "
		    "be one DER certificate, base64url: %.200s", e.msg);
		acme_problem(k, 400, "malformed", detail);
		goto out;
	}
	/* Byte for byte one that signet issued: a certificate with a known
	 * serial but other bytes (another CA's) is not ours to revoke. */
	if (db_cert_get(k->c, serial, &rec, &e) != 0 && e.kind != ERR_NOTFOUND) {
		acme_problem_internal(k, &e);
		goto out;
	}
	if (rec.der == NULL || rec.der_len != der_len ||
	    memcmp(rec.der, der, der_len) != 0) {
		acme_problem(k, 404, "malformed", "this CA issued no such "
		    "certificate");
		goto out;
	}
	if (strcmp(rec.provisioner, k->prov) != 0) {
		snprintf(detail, sizeof(detail), "certificate %s was not issued "
		    "through provisioner %s: its ACME directory may revoke only "
		    "the certificates it issued", serial, k->prov);
		acme_problem(k, 403, "unauthorized", detail);
		goto out;
	}
	if ((by_key ? key_is_certs(k, x, &ok) :
	    account_may_revoke(k, x, serial, &ok, &e)) != 0) {
		acme_problem_internal(k, &e);
		goto out;
	}
	if (!ok) {
		acme_problem(k, 403, "unauthorized", by_key ? "RFC 8555 7.6: the "
		    "JWS key is not the certificate's key" : "RFC 8555 7.6: this "
		    "account neither ordered the certificate nor holds valid "
		    "authorizations for all its identifiers");
		goto out;
	}
	if (by_key)
		snprintf(actor, sizeof(actor), "acme:%s/certificate-key", k->prov);
	else
		snprintf(actor, sizeof(actor), "acme:%s/acct/%lld", k->prov,
		    k->acct.id);
	rv.serial = serial;
	rv.reason = (int)reason;
	rv.actor = actor;
	rv.via = "acme";
	rv.only_provisioner = k->prov;
	if (db_cert_revoke(k->c, &rv, &res, &e) != 0) {
		if (e.kind == ERR_POLICY)
			acme_problem(k, 403, "unauthorized", e.msg);
		else if (e.kind == ERR_NOTFOUND || e.kind == ERR_CONFLICT)
			acme_problem(k, 404, "malformed", e.msg);
		else
			acme_problem_internal(k, &e);
		goto out;
	}
	if (res.already) {
		snprintf(detail, sizeof(detail), "certificate %s was revoked at %s "
		    "(%s)", serial, res.revoked_at, crl_reason_name(res.reason));
		acme_problem(k, 400, "alreadyRevoked", detail);
		goto out;
	}
	log_info("msg=\"acme certificate revoked\" id=%s provisioner=%s "
	    "serial=%s reason=%s by=%s", k->req->request_id, k->prov, serial,
	    crl_reason_name(rv.reason), actor);
	http_respond(k->resp, 200, "text/plain", "", 0);
out:
	X509_free(x);
	free(der);
	db_cert_rec_clear(&rec);
}
