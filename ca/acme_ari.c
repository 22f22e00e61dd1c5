/* acme_ari: ACME Renewal Information (RFC 9773): GET renewal-info/{certID}
 * and the certID of newOrder's "replaces". */
#include "ca/acme_ari.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include "ca/acme_call.h"
#include "common/util.h"
#include "db/acme_ari_db.h"

/* ---- the certID (pure) ---- */

/* One part of a certID into out (at most max bytes).  cjose decodes; the
 * part must then be exactly what cjose encodes from the bytes again, which
 * refuses padding, the "+/" alphabet, characters cjose might skip and
 * non-zero trailing bits: one certificate, one certID. */
static int b64url_part(const char *s, size_t len, const char *what,
    unsigned char *out, size_t max, size_t *out_len, struct err *e)
{
	uint8_t *raw = NULL;
	char *again = NULL;
	size_t raw_len = 0, again_len = 0;
	cjose_err ce;
	int rc = -1;

	if (len == 0 || len > ACME_ARI_B64LEN(max)) {
		err_set(e, ERR_INVALID, "RFC 9773 4.1: the certID's %s must be "
		    "1 to %zu bytes, base64url-encoded", what, max);
		goto out;
	}
	if (!cjose_base64url_decode(s, len, &raw, &raw_len, &ce) ||
	    raw_len == 0 || raw_len > max) {
		err_set(e, ERR_INVALID, "RFC 9773 4.1: the certID's %s is not "
		    "base64url without padding (RFC 4648 5)", what);
		goto out;
	}
	if (!cjose_base64url_encode(raw, raw_len, &again, &again_len, &ce)) {
		err_set(e, ERR_INTERNAL, "base64url encoding failed");
		goto out;
	}
	if (again_len != len || memcmp(again, s, len) != 0) {
		err_set(e, ERR_INVALID, "RFC 9773 4.1: the certID's %s is not "
		    "base64url without padding (RFC 4648 5)", what);
		goto out;
	}
	memcpy(out, raw, raw_len);
	*out_len = raw_len;
	rc = 0;
out:
	free(raw);
	free(again);
	return rc;
}

/* The serial's content octets as the lowercase hex certificates stores.
 * OpenSSL parses them, as the INTEGER they are the content of (tag and
 * length written by ASN1_put_object); the INTEGER must encode back to the
 * same bytes (DER: no superfluous leading zero byte) and be positive (a
 * first byte with its high bit set needs a zero byte before it). */
static int serial_hex(const unsigned char *content, size_t len,
    char hex[SERIAL_HEX_MAX], struct err *e)
{
	unsigned char der[8 + ACME_ARI_SERIAL_MAX], *w = der, *again = NULL;
	const unsigned char *r = der;
	ASN1_INTEGER *ai = NULL;
	BIGNUM *bn = NULL;
	char *h = NULL;
	const char *s;
	int again_len, rc = -1;
	size_t i;

	if (len == 0 || len > ACME_ARI_SERIAL_MAX) {
		err_set(e, ERR_INVALID, "RFC 5280 4.1.2.2: a serial number is 1 "
		    "to %d octets", ACME_ARI_SERIAL_MAX);
		goto out;
	}
	ASN1_put_object(&w, 0, (int)len, V_ASN1_INTEGER, V_ASN1_UNIVERSAL);
	memcpy(w, content, len);
	w += len;
	ai = d2i_ASN1_INTEGER(NULL, &r, w - der);
	if (ai == NULL || r != w ||
	    (again_len = i2d_ASN1_INTEGER(ai, &again)) != w - der ||
	    memcmp(again, der, (size_t)again_len) != 0 ||
	    ASN1_STRING_type(ai) == V_ASN1_NEG_INTEGER ||
	    (bn = ASN1_INTEGER_to_BN(ai, NULL)) == NULL || BN_is_zero(bn) ||
	    BN_is_negative(bn)) {
		err_ossl_clear();
		err_set(e, ERR_INVALID, "RFC 9773 4.1: the certID's serial must "
		    "be the DER content octets of a positive INTEGER: a leading "
		    "zero byte when, and only when, the next byte's high bit is "
		    "set (X.690 8.3.2, RFC 5280 4.1.2.2)");
		goto out;
	}
	if ((h = BN_bn2hex(bn)) == NULL) {
		err_ossl(e, ERR_INTERNAL, "serial to hex");
		goto out;
	}
	/* BN_bn2hex is uppercase, in whole bytes ("0A"). */
	for (s = h; s[0] == '0' && s[1] != '\0'; s++)
		;
	if (strlen(s) >= SERIAL_HEX_MAX) {
		err_set(e, ERR_INVALID, "serial out of range");
		goto out;
	}
	for (i = 0; s[i] != '\0'; i++)
		hex[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' :
		    s[i]);
	hex[i] = '\0';
	rc = 0;
out:
	OPENSSL_free(h);
	OPENSSL_free(again);
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	return rc;
}

int acme_ari_parse(const char *cert_id, struct acme_ari_id *out,
    struct err *e)
{
	unsigned char serial[ACME_ARI_SERIAL_MAX];
	size_t len, serial_len = 0;
	const char *dot;

	memset(out, 0, sizeof(*out));
	/* Look no further than the longest certID there can be. */
	len = strnlen(cert_id, ACME_ARI_CERT_ID_MAX + 1);
	if (len > ACME_ARI_CERT_ID_MAX)
		return err_set(e, ERR_INVALID, "RFC 9773 4.1: a certID is at most "
		    "%d characters here (a keyIdentifier of %d bytes, a serial of "
		    "%d)", (int)ACME_ARI_CERT_ID_MAX, ACME_ARI_AKI_MAX,
		    ACME_ARI_SERIAL_MAX);
	if ((dot = memchr(cert_id, '.', len)) == NULL ||
	    memchr(dot + 1, '.', len - (size_t)(dot + 1 - cert_id)) != NULL)
		return err_set(e, ERR_INVALID, "RFC 9773 4.1: a certID is "
		    "base64url(AKI keyIdentifier) \".\" base64url(serial), with "
		    "exactly one \".\"");
	if (b64url_part(cert_id, (size_t)(dot - cert_id), "keyIdentifier",
	    out->aki, sizeof(out->aki), &out->aki_len, e) != 0 ||
	    b64url_part(dot + 1, len - (size_t)(dot + 1 - cert_id), "serial",
	    serial, sizeof(serial), &serial_len, e) != 0)
		return -1;
	return serial_hex(serial, serial_len, out->serial, e);
}

int acme_ari_cert_id(const X509 *x, char *out, size_t n, struct err *e)
{
	/* The extension alone: X509_get0_authority_key_id would first cache
	 * every extension and fail on any other it finds wanting. */
	AUTHORITY_KEYID *akid = X509_get_ext_d2i(x, NID_authority_key_identifier,
	    NULL, NULL);
	const ASN1_OCTET_STRING *kid = akid != NULL ? akid->keyid : NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	char *a = NULL, *b = NULL;
	size_t al = 0, bl = 0;
	long clen = 0;
	int len, tag, xclass, rc = -1;
	cjose_err ce;

	if (kid == NULL || ASN1_STRING_length(kid) <= 0) {
		err_set(e, ERR_INVALID, "RFC 9773 2: the certificate has no "
		    "authorityKeyIdentifier keyIdentifier");
		goto out;
	}
	/* The serial's content octets: its DER without tag and length,
	 * which ASN1_get_object reads. */
	len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);
	p = der;
	if (len <= 0 || (ASN1_get_object(&p, &clen, &tag, &xclass, len) &
	    0x80) != 0 || tag != V_ASN1_INTEGER || clen <= 0 ||
	    p + clen != der + len) {
		err_ossl(e, ERR_INTERNAL, "encoding the serial");
		goto out;
	}
	if (!cjose_base64url_encode(ASN1_STRING_get0_data(kid),
	    (size_t)ASN1_STRING_length(kid), &a, &al, &ce) ||
	    !cjose_base64url_encode(p, (size_t)clen, &b, &bl, &ce)) {
		err_set(e, ERR_INTERNAL, "base64url encoding failed");
		goto out;
	}
	if (al + 1 + bl >= n) {
		err_set(e, ERR_INVALID, "the certID is longer than %zu bytes",
		    n);
		goto out;
	}
	snprintf(out, n, "%s.%s", a, b);
	rc = 0;
out:
	AUTHORITY_KEYID_free(akid);
	err_ossl_clear();
	OPENSSL_free(der);
	free(a);
	free(b);
	return rc;
}

/* ---- the window (pure) ---- */

void acme_ari_window(time_t not_before, time_t not_after, int revoked,
    time_t now, struct acme_ari_window *w)
{
	long long life = (long long)not_after - (long long)not_before;
	long long retry = ACME_ARI_RETRY_MAX;

	if (life < 0)
		life = 0;
	if (revoked) {
		w->start = now - ACME_ARI_REVOKED_BEFORE;
		w->end = now + ACME_ARI_REVOKED_AFTER;
	} else {
		/* Integer sixtieths: the same second on every signetd. */
		w->start = not_before + (time_t)(life * ACME_ARI_START_60THS / 60);
		w->end = not_before + (time_t)(life * ACME_ARI_END_60THS / 60);
		/* RFC 9773 4.2: an end that does not follow the start is an
		 * invalid object (a lifetime under 10 s would round to it). */
		if (w->end <= w->start)
			w->end = w->start + 1;
	}
	if (life / 10 < retry)
		retry = life / 10;
	/* Ask again when a window ahead begins, not after. */
	if (w->start > now && (long long)(w->start - now) < retry)
		retry = (long long)(w->start - now);
	if (retry < ACME_ARI_RETRY_MIN)
		retry = ACME_ARI_RETRY_MIN;
	w->retry_after = (long)retry;
}

/* ---- the ACME side ---- */

/* The certificate cert_id names, issued through k's provisioner by the
 * issuer whose subjectKeyIdentifier is the certID's keyIdentifier, into
 * *id and *rec.  ERR_INVALID: malformed; ERR_NOTFOUND: well-formed, but
 * no such certificate here (unknown serial, another issuer's keyIdentifier,
 * another provisioner's certificate, an intent never issued: one answer
 * for all, so that a directory tells nothing of another's inventory);
 * ERR_UNAVAILABLE/ERR_INTERNAL from the database. */
static int find(struct acme_call *k, const char *cert_id,
    struct acme_ari_id *id, struct db_acme_ari_cert *rec, struct err *e)
{
	if (acme_ari_parse(cert_id, id, e) != 0)
		return -1;
	if (db_acme_ari_cert(k->c, k->prov, id->serial, id->aki, id->aki_len,
	    rec, e) != 0) {
		if (e->kind == ERR_NOTFOUND)
			err_set(e, ERR_NOTFOUND, "RFC 9773 4.1: no certificate issued "
			    "through this ACME directory's provisioner has this certID "
			    "(authority key identifier and serial number)");
		return -1;
	}
	return 0;
}

void acme_renewal_info(struct acme_call *k, const char *cert_id)
{
	struct acme_ari_id id;
	struct db_acme_ari_cert rec;
	struct acme_ari_window w;
	char start[32], end[32], cc[48];
	struct err e;

	if (find(k, cert_id, &id, &rec, &e) != 0) {
		acme_problem_err(k, e.kind == ERR_NOTFOUND ? 404 : 400, "malformed",
		    &e);
		return;
	}
	acme_ari_window(rec.not_before, rec.not_after,
	    strcmp(rec.status, "revoked") == 0, time(NULL), &w);
	util_rfc3339(w.start, start, sizeof(start));
	util_rfc3339(w.end, end, sizeof(end));
	acme_reply_json(k, 200, json_pack("{s:{s:s, s:s}}", "suggestedWindow",
	    "start", start, "end", end));
	/* RFC 9773 4.3: when to ask again (ACME_ARI_RETRY_*).  An
	 * unauthenticated GET that clients poll: caches may keep the answer
	 * as long (7), so it carries no nonce (finish() in ca/acme.c). */
	acme_retry_after(k, w.retry_after);
	snprintf(cc, sizeof(cc), "public, max-age=%ld", (long)w.retry_after);
	acme_add_header(k, "Cache-Control", cc);
	k->cacheable = 1;
}

int acme_ari_serial(struct acme_call *k, const char *cert_id, char *serial,
    size_t n, struct err *e)
{
	struct acme_ari_id id;
	struct db_acme_ari_cert rec;

	if (find(k, cert_id, &id, &rec, e) != 0)
		return -1;
	if (strlen(id.serial) >= n)
		return err_set(e, ERR_INTERNAL, "serial buffer too small");
	memcpy(serial, id.serial, strlen(id.serial) + 1);
	return 0;
}
