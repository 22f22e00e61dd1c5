#include "ca/issue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/util.h"
#include "common/metrics.h"

struct ca {
	struct db *db;
	struct db_group *group;
	struct hsm_key *key;
	X509 *issuer;
	time_t issuer_not_after;
	int issuer_id;
	char issuer_name[64];
	char *public_url;
};

int ca_open(struct db *d, struct hsm *h, const char *public_url,
    struct ca **out, struct err *e)
{
	struct ca *ca = NULL;
	struct db_issuer *v = NULL;
	PGconn *c = NULL;
	int n = 0, rc = -1;

	if ((c = db_acquire(d, e)) == NULL)
		return -1;
	if (db_issuers_load(c, "intermediate", &v, &n, e) != 0)
		goto out;
	if (n == 0) {
		err_set(e, ERR_CONFIG, "no active issuing CA in the database: "
		    "run `signet init` first");
		goto out;
	}
	if ((ca = calloc(1, sizeof(*ca))) == NULL ||
	    (ca->public_url = strdup(public_url)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	ca->db = d;
	ca->issuer_id = v[0].id;
	snprintf(ca->issuer_name, sizeof(ca->issuer_name), "%s", v[0].name);
	if ((ca->issuer = x509_from_der(v[0].der, v[0].der_len, e)) == NULL)
		goto out;
	ca->issuer_not_after = x509_not_after(ca->issuer);
	if (hsm_find_key(h, v[0].key_label, &ca->key, e) != 0) {
		err_prefix(e, "issuer %s: ", v[0].name);
		goto out;
	}
	*out = ca;
	ca = NULL;
	rc = 0;
out:
	db_issuers_free(v, n);
	db_release(d, c);
	ca_free(ca);
	return rc;
}

void ca_free(struct ca *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->issuer);
	free(ca->public_url);
	free(ca);
}

void ca_set_group(struct ca *ca, struct db_group *g)
{
	ca->group = g;
}

X509 *ca_issuer_cert(const struct ca *ca)
{
	return ca->issuer;
}

const char *ca_issuer_name(const struct ca *ca)
{
	return ca->issuer_name;
}

struct hsm_key *ca_issuer_key(const struct ca *ca)
{
	return ca->key;
}

struct sign_arg {
	X509 *cert;
	const EVP_MD *md;
};

static int sign_cb(EVP_PKEY *pkey, void *arg)
{
	struct sign_arg *a = arg;

	return X509_sign(a->cert, pkey, a->md) > 0;
}

int ca_sign_cert(struct hsm_key *key, X509 *cert, struct err *e)
{
	struct sign_arg a = { cert, x509_sign_md(hsm_key_public(key)) };
	struct timespec t0, t1;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = hsm_sign(key, sign_cb, &a, e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc == 0)
		metrics_observe("signet_hsm_sign_duration_seconds", NULL,
		    (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return rc;
}

/* Fill in the TBS signature algorithm the HSM signature will carry, so
 * that the hash recorded with the intent is the hash of exactly the TBS
 * that gets signed.  X509_sign sets the same values again. */
static int set_tbs_sigalg(X509 *x, EVP_PKEY *issuer_pub, struct err *e)
{
	X509_ALGOR *alg = (X509_ALGOR *)X509_get0_tbs_sigalg(x);
	const EVP_MD *md = x509_sign_md(issuer_pub);
	int nid;

	if (EVP_PKEY_get_base_id(issuer_pub) == EVP_PKEY_EC) {
		nid = md == EVP_sha384() ? NID_ecdsa_with_SHA384 :
		    NID_ecdsa_with_SHA256;
		X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_UNDEF, NULL);
	} else {
		nid = NID_sha256WithRSAEncryption;
		X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_NULL, NULL);
	}
	(void)e;
	return 0;
}

static int tbs_sha256(X509 *x, unsigned char out[32], struct err *e)
{
	unsigned char *der = NULL;
	int len = i2d_re_X509_tbs(x, &der);
	int ok;

	if (len <= 0)
		return err_ossl(e, ERR_INTERNAL, "encoding TBS certificate");
	ok = EVP_Digest(der, (size_t)len, out, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return ok == 1 ? 0 : err_ossl(e, ERR_INTERNAL, "hashing TBS");
}

static char *audit_detail(const struct ca_request *r, const char *subject,
    time_t nb, time_t na, const char *serial)
{
	json_t *j, *sans = json_array();
	char name[SAN_VALUE_MAX + 8], t1[32], t2[32];
	char *out;

	for (int i = 0; i < r->sans->n; i++) {
		snprintf(name, sizeof(name), "%s:%s",
		    san_type_name(r->sans->v[i].type), r->sans->v[i].value);
		json_array_append_new(sans, json_string(name));
	}
	util_rfc3339(nb, t1, sizeof(t1));
	util_rfc3339(na, t2, sizeof(t2));
	j = json_pack("{s:s, s:s, s:o, s:s, s:s?, s:s, s:s, s:s, s:s?}",
	    "serial", serial, "subject", subject, "sans", sans,
	    "profile", profile_name(r->profile), "provisioner", r->provisioner,
	    "requester", r->requester, "not_before", t1, "not_after", t2,
	    "predecessor", r->predecessor);
	out = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return out;
}

void ca_count(const char *provisioner, const char *profile,
    const char *outcome)
{
	char prov[128], labels[256];

	metrics_label(provisioner ? provisioner : "admin", prov, sizeof(prov));
	snprintf(labels, sizeof(labels),
	    "provisioner=\"%s\",profile=\"%s\",outcome=\"%s\"", prov,
	    profile, outcome);
	metrics_add("signet_certificates_issued_total", labels, 1);
}

int ca_issue(struct ca *ca, const struct ca_request *r, X509 **out,
    char serial[SERIAL_HEX_MAX], struct err *e)
{
	X509 *x = NULL;
	X509_NAME *subj = NULL;
	PGconn *c = NULL;
	struct db_intent in;
	struct db_store st;
	const char *sans[SAN_MAX];
	char sanbuf[SAN_MAX][SAN_VALUE_MAX + 8], *subject = NULL, *detail = NULL;
	unsigned char *der = NULL, final_tbs[32];
	size_t der_len;
	time_t now = time(NULL), nb, na;
	int rc = -1;

	memset(&in, 0, sizeof(in));
	memset(&st, 0, sizeof(st));
	nb = r->not_before ? r->not_before : now - 60;
	na = (r->not_before ? r->not_before : now) + r->lifetime;
	if (na > ca->issuer_not_after)
		na = ca->issuer_not_after;
	if (na <= now) {
		err_set(e, ERR_POLICY, "the issuing CA expires before the "
		    "certificate could be valid");
		goto out;
	}
	if ((x = X509_new()) == NULL || (subj = X509_NAME_new()) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	/* RFC 5280's upper bound on a CN is 64 characters; a longer subject
	 * name (a long DNS name) is left to the SAN, with an empty subject. */
	if (r->cn != NULL && r->cn[0] != '\0' && strlen(r->cn) <= 64 &&
	    X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)r->cn, -1, -1, 0) != 1) {
		err_ossl(e, ERR_INVALID, "subject CN");
		goto out;
	}
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_subject_name(x, subj) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca->issuer)) != 1 ||
	    (r->spki == NULL && X509_set_pubkey(x, r->pubkey) != 1)) {
		err_ossl(e, ERR_INTERNAL, "building certificate");
		goto out;
	}
	if (r->spki != NULL && x509_copy_spki(x, r->spki, e) != 0)
		goto out;
	if (x509_random_serial(x, serial, e) != 0 ||
	    x509_set_validity(x, nb, na, e) != 0 ||
	    profile_apply(x, ca->issuer, r->profile, r->sans,
	    X509_NAME_entry_count(subj) == 0, ca->public_url, ca->issuer_name, e) != 0 ||
	    set_tbs_sigalg(x, hsm_key_public(ca->key), e) != 0)
		goto out;

	/* The intent: durable before the HSM signs. */
	subject = x509_name_oneline(subj);
	for (int i = 0; i < r->sans->n; i++) {
		snprintf(sanbuf[i], sizeof(sanbuf[i]), "%s:%s",
		    san_type_name(r->sans->v[i].type), r->sans->v[i].value);
		sans[i] = sanbuf[i];
	}
	in.serial = serial;
	in.issuer_id = ca->issuer_id;
	in.subject = subject ? subject : "";
	in.sans = sans;
	in.nsans = r->sans->n;
	in.profile = profile_name(r->profile);
	in.provisioner = r->provisioner;
	in.requester = r->requester;
	in.not_before = nb;
	in.not_after = na;
	in.jti = r->jti;
	in.jti_owner = r->jti_owner;
	in.jti_expires = r->jti_expires;
	in.predecessor = r->predecessor;
	if (tbs_sha256(x, in.tbs_sha256, e) != 0 ||
	    x509_spki_der_sha256(X509_get_X509_PUBKEY(x), in.spki_sha256, e) != 0)
		goto out;
	if (ca->group != NULL) {
		if (db_group_intent(ca->group, &in, e) != 0)
			goto out;
	} else if ((c = db_acquire(ca->db, e)) == NULL ||
	    db_cert_intent(c, &in, e) != 0) {
		goto out;
	}

	if (ca_sign_cert(ca->key, x, e) != 0)
		goto out;
	if (tbs_sha256(x, final_tbs, e) != 0)
		goto out;
	if (memcmp(final_tbs, in.tbs_sha256, 32) != 0)
		log_warn("msg=\"signed TBS differs from the recorded intent\" "
		    "serial=%s", serial);
	if (x509_to_der(x, &der, &der_len, e) != 0)
		goto out;
	if (EVP_Digest(der, der_len, st.fingerprint, NULL, EVP_sha256(), NULL) != 1) {
		err_ossl(e, ERR_INTERNAL, "fingerprint");
		goto out;
	}
	detail = audit_detail(r, in.subject, nb, na, serial);
	st.serial = serial;
	st.der = der;
	st.der_len = der_len;
	st.actor = r->requester;
	st.audit_detail_json = detail;
	/* Stored and committed before anyone sees it. */
	if ((ca->group != NULL ? db_group_store(ca->group, &st, e) :
	    db_cert_store(c, &st, e)) != 0)
		goto out;
	*out = x;
	x = NULL;
	rc = 0;
out:
	ca_count(r->provisioner, profile_name(r->profile), rc == 0 ? "issued" :
	    err_type_slug(e ? e->kind : ERR_INTERNAL));
	if (c != NULL)
		db_release(ca->db, c);
	free(detail);
	free(subject);
	OPENSSL_free(der);
	X509_NAME_free(subj);
	X509_free(x);
	return rc;
}
