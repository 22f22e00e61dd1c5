#include "ca/renew_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "ca/csr.h"
#include "ca/issue.h"
#include "ca/policy.h"
#include "ca/pop.h"
#include "ca/profile.h"
#include "ca/x509util.h"
#include "common/metrics.h"

struct renew_api {
	struct api *api;
	struct ca *ca;
	struct db *db;
	const struct config *cfg;
	char audience[512];
};

int renew_api_new(struct api *api, struct ca *ca, struct db *d,
    const struct config *cfg, struct renew_api **out, struct err *e)
{
	struct renew_api *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	a->api = api;
	a->ca = ca;
	a->db = d;
	a->cfg = cfg;
	snprintf(a->audience, sizeof(a->audience), "%s/v1/renew", cfg->ca_url);
	*out = a;
	return 0;
}

void renew_api_free(struct renew_api *a)
{
	free(a);
}

static void count(const char *provisioner, const char *outcome)
{
	char prov[128], labels[256];

	metrics_label(provisioner, prov, sizeof(prov));
	snprintf(labels, sizeof(labels), "provisioner=\"%s\",outcome=\"%s\"",
	    prov, outcome);
	metrics_add("signet_certificates_renewed_total", labels, 1);
}

/* What the caller proved: the certificate (as stored) and its record.
 * via: "mtls" or "pop"; for a proof of possession, its jti. */
struct proof {
	struct db_cert_rec rec;
	X509 *cert;
	char serial[SERIAL_HEX_MAX];
	const char *via;
	char jti[129];
	long long exp;
};

static int authenticate(struct renew_api *a, const struct http_request *req,
    json_t *jtok, struct proof *p, struct err *e)
{
	const unsigned char *peer = NULL, *q;
	unsigned char *x5c = NULL;
	size_t peer_len = 0, x5c_len = 0;
	PGconn *c = NULL;
	int rc = -1;

	if (jtok != NULL) {
		if (!json_is_string(jtok)) {
			err_set(e, ERR_AUTH, "\"token\" must be a string (a proof of "
			    "possession JWS)");
			goto out;
		}
		if (pop_x5c_der(json_string_value(jtok), json_string_length(jtok),
		    &x5c, &x5c_len, e) != 0)
			goto out;
		peer = x5c;
		peer_len = x5c_len;
		p->via = "pop";
	} else if (http_peer_cert(req, &peer, &peer_len) == 0) {
		p->via = "mtls";
	} else {
		err_set(e, ERR_AUTH, "renewal needs the current certificate: "
		    "present it as the TLS client certificate, or send a proof of "
		    "possession signed by its key in \"token\"");
		goto out;
	}
	q = peer;
	if (peer_len > 65536 ||
	    (p->cert = d2i_X509(NULL, &q, (long)peer_len)) == NULL ||
	    q != peer + peer_len ||
	    x509_serial_hex(p->cert, p->serial, e) != 0) {
		err_set(e, ERR_AUTH, "the presented certificate does not parse");
		goto out;
	}
	if ((c = db_acquire(a->db, e)) == NULL)
		goto out;
	if (db_cert_get(c, p->serial, &p->rec, e) != 0) {
		if (e->kind == ERR_NOTFOUND)
			err_set(e, ERR_AUTH, "certificate %s was not issued by this CA",
			    p->serial);
		goto out;
	}
	/* Ours means byte for byte what we stored, not merely a serial we
	 * know: then the chain and every field are the ones we signed. */
	if (p->rec.der_len != peer_len ||
	    memcmp(p->rec.der, peer, peer_len) != 0) {
		err_set(e, ERR_AUTH, "the presented certificate is not the one "
		    "this CA issued under serial %s", p->serial);
		goto out;
	}
	if (strcmp(p->via, "pop") == 0 &&
	    pop_verify(json_string_value(jtok), json_string_length(jtok),
	    p->rec.der, p->rec.der_len, a->audience, a->cfg->token_skew,
	    time(NULL), p->jti, &p->exp, e) != 0)
		goto out;
	if (strcmp(p->rec.status, "good") != 0) {
		err_set(e, ERR_AUTH, "certificate %s is %s: it cannot renew",
		    p->serial, p->rec.status);
		goto out;
	}
	if (p->rec.not_after <= time(NULL)) {
		err_set(e, ERR_AUTH, "certificate %s has expired: it cannot renew; "
		    "enroll again with a token", p->serial);
		goto out;
	}
	rc = 0;
out:
	if (c != NULL)
		db_release(a->db, c);
	free(x5c);
	return rc;
}

/* Today's policy of the certificate's provisioner over what it keeps
 * (names, profile) and the key it will certify; the lifetime it had,
 * capped by today's maximum. */
static int authorize(struct renew_api *a, const struct proof *p,
    const struct csr *old, const struct csr *key, enum profile *prof,
    long long *lifetime, struct err *e)
{
	struct policy *pol = NULL;
	char *jwk = NULL, *poljson = NULL;
	long long max;
	PGconn *c = NULL;
	int rc = -1;

	if (p->rec.provisioner[0] == '\0') {
		err_set(e, ERR_POLICY, "certificate %s was issued by an "
		    "administrator (signet issue): it renews the same way",
		    p->serial);
		goto out;
	}
	if ((c = db_acquire(a->db, e)) == NULL)
		goto out;
	if (db_provisioner_get(c, p->rec.provisioner, &jwk, &poljson, e) != 0) {
		if (e->kind == ERR_NOTFOUND)
			err_set(e, ERR_POLICY, "provisioner \"%s\" that issued "
			    "certificate %s was removed: no renewals through it",
			    p->rec.provisioner, p->serial);
		goto out;
	}
	if (policy_from_json(poljson, &pol, e) != 0 ||
	    policy_check_key_type(pol, key->key_type, e) != 0 ||
	    profile_parse(p->rec.profile, prof, e) != 0 ||
	    policy_check_profile(pol, *prof, e) != 0)
		goto out;
	for (int i = 0; i < old->sans.n; i++)
		if (policy_check_name(pol, &old->sans.v[i], e) != 0)
			goto out;
	/* Issued with not_before 60 s back (clock skew): that is no part of
	 * the lifetime asked for. */
	*lifetime = (long long)(p->rec.not_after - p->rec.not_before) - 60;
	if (*lifetime < 60)
		*lifetime = 60;
	max = policy_max_lifetime(pol, a->cfg->max_lifetime);
	if (*lifetime > max)
		*lifetime = max;
	rc = 0;
out:
	if (c != NULL)
		db_release(a->db, c);
	policy_free(pol);
	free(jwk);
	free(poljson);
	return rc;
}

/* A new CSR brings a key and nothing else: names it asks for must be
 * among the certificate's (a renewal never adds one). */
static int check_new_csr(const struct csr *old, const struct csr *n,
    struct err *e)
{
	for (int i = 0; i < n->sans.n; i++)
		if (!san_list_contains(&old->sans, &n->sans.v[i]))
			return err_set(e, ERR_POLICY, "CSR asks for %s name \"%s\", "
			    "which the certificate being renewed does not have: "
			    "renewal keeps the names; enroll for new ones",
			    san_type_name(n->sans.v[i].type), n->sans.v[i].value);
	if (n->cn[0] != '\0' && strcmp(n->cn, old->cn) != 0)
		return err_set(e, ERR_POLICY, "CSR subject CN \"%s\" differs from "
		    "the certificate's: renewal keeps the subject", n->cn);
	return 0;
}

void renew_api_handle(void *arg, const struct http_request *req,
    struct http_response *resp)
{
	struct renew_api *a = arg;
	struct err e = { 0 };
	json_t *body = NULL, *jcsr;
	struct proof p;
	struct csr *old = NULL, *ncsr = NULL;
	const struct csr *key;
	struct ca_request cr;
	enum profile prof;
	long long lifetime;
	char requester[160], owner[SERIAL_HEX_MAX + 8];
	char serial[SERIAL_HEX_MAX];
	X509 *x = NULL;
	int authed = 0;

	memset(&p, 0, sizeof(p));
	switch (http_json_request(req, resp, (void **)&body, &e)) {
	case 1:
		goto out;
	case -1:
		goto fail;
	}
	jcsr = json_object_get(body, "csr");
	if (jcsr != NULL && !json_is_string(jcsr)) {
		err_set(&e, ERR_INVALID, "\"csr\" must be a string (PEM)");
		goto fail;
	}
	if (authenticate(a, req, json_object_get(body, "token"), &p, &e) != 0)
		goto fail;
	authed = 1;
	if (csr_from_cert(p.cert, &old, &e) != 0)
		goto fail;
	if (jcsr != NULL && (csr_parse_pem(json_string_value(jcsr),
	    json_string_length(jcsr), &ncsr, &e) != 0 ||
	    check_new_csr(old, ncsr, &e) != 0))
		goto fail;
	key = ncsr != NULL ? ncsr : old;
	if (authorize(a, &p, old, key, &prof, &lifetime, &e) != 0)
		goto fail;

	snprintf(requester, sizeof(requester), "renewal:%s via:%s", p.serial,
	    p.via);
	/* A proof of possession is good once per certificate. */
	snprintf(owner, sizeof(owner), "renew:%s", p.serial);
	memset(&cr, 0, sizeof(cr));
	cr.pubkey = key->pubkey;
	cr.spki = ncsr != NULL ? X509_REQ_get_X509_PUBKEY(ncsr->req) :
	    X509_get_X509_PUBKEY(p.cert);
	cr.cn = old->cn;
	cr.sans = &old->sans;
	cr.profile = prof;
	cr.lifetime = lifetime;
	cr.provisioner = p.rec.provisioner;
	cr.requester = requester;
	if (p.jti[0] != '\0') {
		cr.jti = p.jti;
		cr.jti_owner = owner;
		cr.jti_expires = (time_t)(p.exp + a->cfg->token_skew);
	}
	cr.predecessor = p.serial;
	if (ca_issue(a->ca, &cr, &x, serial, &e) != 0)
		goto fail;
	count(p.rec.provisioner, "renewed");
	api_respond_cert(a->api, x, serial, p.serial, resp);
	snprintf(resp->log_detail + strlen(resp->log_detail),
	    sizeof(resp->log_detail) - strlen(resp->log_detail),
	    " predecessor=%s via=%s", p.serial, p.via);
	goto out;
fail:
	/* Only a certificate we stored may name a provisioner series. */
	count(authed && p.rec.provisioner[0] ? p.rec.provisioner : "unknown",
	    err_type_slug(e.kind));
	api_respond_problem(req, resp, &e, "renew");
out:
	X509_free(x);
	X509_free(p.cert);
	db_cert_rec_clear(&p.rec);
	csr_free(old);
	csr_free(ncsr);
	json_decref(body);
}
