#include "ca/csr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

const char *san_type_name(enum san_type t)
{
	switch (t) {
	case SAN_DNS: return "DNS";
	case SAN_IP: return "IP";
	case SAN_URI: return "URI";
	}
	return "?";
}

static int dns_valid(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253)
		return 0;
	/* A wildcard only as the whole leftmost label. */
	if (s[0] == '*') {
		if (s[1] != '.' || s[2] == '\0')
			return 0;
		s += 2;
	}
	for (const char *p = s; ; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-')
				return 0;
			if (*p == '\0')
				return 1;
			label = 0;
			continue;
		}
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_'))
			return 0;
		if (label == 0 && *p == '-')
			return 0;
		label++;
	}
}

int san_normalize(enum san_type type, const char *in, char out[SAN_VALUE_MAX],
    struct err *e)
{
	unsigned char addr[16];
	size_t n = strlen(in);

	if (n == 0 || n >= SAN_VALUE_MAX)
		return err_set(e, ERR_INVALID, "%s name of %zu bytes: want 1..%d",
		    san_type_name(type), n, SAN_VALUE_MAX - 1);
	switch (type) {
	case SAN_DNS:
		for (size_t i = 0; i <= n; i++)
			out[i] = (char)tolower((unsigned char)in[i]);
		if (!dns_valid(out))
			return err_set(e, ERR_INVALID,
			    "\"%s\" is not a valid DNS name", in);
		return 0;
	case SAN_IP:
		if (inet_pton(AF_INET, in, addr) == 1) {
			inet_ntop(AF_INET, addr, out, SAN_VALUE_MAX);
			return 0;
		}
		if (inet_pton(AF_INET6, in, addr) == 1) {
			inet_ntop(AF_INET6, addr, out, SAN_VALUE_MAX);
			return 0;
		}
		return err_set(e, ERR_INVALID, "\"%s\" is not an IP address", in);
	case SAN_URI: {
		const char *colon = strchr(in, ':');
		if (colon == NULL || colon == in)
			return err_set(e, ERR_INVALID,
			    "\"%s\" is not a URI with a scheme", in);
		for (const char *p = in; p < colon; p++)
			if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' &&
			    *p != '.')
				return err_set(e, ERR_INVALID,
				    "\"%s\" is not a URI with a scheme", in);
		for (const char *p = in; *p; p++)
			if (!isgraph((unsigned char)*p))
				return err_set(e, ERR_INVALID,
				    "URI \"%s\" has spaces or control characters", in);
		memcpy(out, in, n + 1);
		return 0;
	}
	}
	return err_set(e, ERR_INTERNAL, "bad SAN type");
}

int san_parse(const char *s, struct san *out, struct err *e)
{
	unsigned char addr[16];

	if (strncmp(s, "DNS:", 4) == 0) {
		out->type = SAN_DNS;
		s += 4;
	} else if (strncmp(s, "IP:", 3) == 0) {
		out->type = SAN_IP;
		s += 3;
	} else if (strncmp(s, "URI:", 4) == 0) {
		out->type = SAN_URI;
		s += 4;
	} else if (inet_pton(AF_INET, s, addr) == 1 ||
	    inet_pton(AF_INET6, s, addr) == 1) {
		out->type = SAN_IP;
	} else if (strstr(s, "://") != NULL || strncmp(s, "urn:", 4) == 0) {
		out->type = SAN_URI;
	} else {
		out->type = SAN_DNS;
	}
	return san_normalize(out->type, s, out->value, e);
}

GENERAL_NAMES *san_list_to_general_names(const struct san_list *l,
    struct err *e)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();

	if (gens == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	for (int i = 0; i < l->n; i++) {
		const struct san *s = &l->v[i];
		GENERAL_NAME *g = GENERAL_NAME_new();

		if (g == NULL)
			goto fail;
		if (s->type == SAN_IP) {
			ASN1_OCTET_STRING *ip = a2i_IPADDRESS(s->value);
			if (ip == NULL) {
				GENERAL_NAME_free(g);
				goto fail;
			}
			GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
		} else {
			ASN1_IA5STRING *str = ASN1_IA5STRING_new();
			if (str == NULL || ASN1_STRING_set(str, s->value, -1) != 1) {
				ASN1_IA5STRING_free(str);
				GENERAL_NAME_free(g);
				goto fail;
			}
			GENERAL_NAME_set0_value(g, s->type == SAN_DNS ? GEN_DNS :
			    GEN_URI, str);
		}
		if (sk_GENERAL_NAME_push(gens, g) == 0) {
			GENERAL_NAME_free(g);
			goto fail;
		}
	}
	return gens;
fail:
	err_ossl(e, ERR_INTERNAL, "building subjectAltName");
	GENERAL_NAMES_free(gens);
	return NULL;
}

int san_list_contains(const struct san_list *l, const struct san *s)
{
	for (int i = 0; i < l->n; i++)
		if (l->v[i].type == s->type && strcmp(l->v[i].value, s->value) == 0)
			return 1;
	return 0;
}

int san_list_add(struct san_list *l, const struct san *s, struct err *e)
{
	if (san_list_contains(l, s))
		return 0;
	if (l->n >= SAN_MAX)
		return err_set(e, ERR_LIMIT, "more than %d names", SAN_MAX);
	l->v[l->n++] = *s;
	return 0;
}

void csr_free(struct csr *c)
{
	if (c == NULL)
		return;
	X509_REQ_free(c->req);
	X509_free(c->cert);
	free(c);
}

static int check_key(struct csr *c, struct err *e)
{
	EVP_PKEY *k = c->pubkey;
	char group[64];
	size_t glen = 0;

	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
		c->key_bits = EVP_PKEY_get_bits(k);
		snprintf(c->key_type, sizeof(c->key_type), "rsa");
		if (c->key_bits < 2048 || c->key_bits > 8192)
			return err_set(e, ERR_POLICY,
			    "RSA key of %d bits: signet certifies RSA keys of "
			    "2048 to 8192 bits", c->key_bits);
		return 0;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(k, "group", group,
		    sizeof(group), &glen) != 1)
			return err_ossl(e, ERR_INVALID, "EC key without a named curve");
		c->key_bits = EVP_PKEY_get_bits(k);
		if (strcmp(group, "prime256v1") == 0) {
			snprintf(c->key_type, sizeof(c->key_type), "ec-p256");
			return 0;
		}
		if (strcmp(group, "secp384r1") == 0) {
			snprintf(c->key_type, sizeof(c->key_type), "ec-p384");
			return 0;
		}
		return err_set(e, ERR_POLICY,
		    "EC key on curve %s: signet certifies P-256 and P-384 only",
		    group);
	case EVP_PKEY_ED25519:
		c->key_bits = 256;
		snprintf(c->key_type, sizeof(c->key_type), "ed25519");
		return 0;
	default:
		return err_set(e, ERR_POLICY,
		    "key type %s: signet certifies RSA >= 2048, ECDSA P-256/P-384 "
		    "and Ed25519", OBJ_nid2sn(EVP_PKEY_get_base_id(k)));
	}
}

static int read_cn(struct csr *c, const X509_NAME *name, struct err *e)
{
	int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	int n;

	c->cn[0] = '\0';
	if (idx < 0)
		return 0;
	if (X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0)
		return err_set(e, ERR_INVALID, "CSR subject has more than one CN");
	n = ASN1_STRING_to_UTF8(&utf8,
	    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
	if (n < 0)
		return err_ossl(e, ERR_INVALID, "CSR subject CN is not a string");
	if (n == 0 || n >= SAN_VALUE_MAX || memchr(utf8, 0, (size_t)n) != NULL) {
		OPENSSL_free(utf8);
		return err_set(e, ERR_INVALID, "CSR subject CN is empty, too long "
		    "or holds NUL");
	}
	memcpy(c->cn, utf8, (size_t)n);
	c->cn[n] = '\0';
	OPENSSL_free(utf8);
	return 0;
}

static int read_names(struct csr *c, STACK_OF(X509_EXTENSION) *exts,
    struct err *e)
{
	GENERAL_NAMES *gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	char raw[SAN_VALUE_MAX];
	struct san s;
	int rc = -1;

	if (gens == NULL)
		return 0;
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *str;
		int len;

		switch (g->type) {
		case GEN_DNS:
		case GEN_URI:
			str = g->type == GEN_DNS ? g->d.dNSName :
			    g->d.uniformResourceIdentifier;
			len = ASN1_STRING_length(str);
			if (len <= 0 || len >= SAN_VALUE_MAX ||
			    memchr(ASN1_STRING_get0_data(str), 0, (size_t)len)) {
				err_set(e, ERR_INVALID, "CSR has an empty, over-long or "
				    "NUL-holding %s name", g->type == GEN_DNS ? "DNS" : "URI");
				goto out;
			}
			memcpy(raw, ASN1_STRING_get0_data(str), (size_t)len);
			raw[len] = '\0';
			s.type = g->type == GEN_DNS ? SAN_DNS : SAN_URI;
			break;
		case GEN_IPADD:
			len = ASN1_STRING_length(g->d.iPAddress);
			if (len != 4 && len != 16) {
				err_set(e, ERR_INVALID, "CSR has an IP name of %d bytes", len);
				goto out;
			}
			inet_ntop(len == 4 ? AF_INET : AF_INET6,
			    ASN1_STRING_get0_data(g->d.iPAddress), raw, sizeof(raw));
			s.type = SAN_IP;
			break;
		default:
			err_set(e, ERR_POLICY, "CSR asks for a subjectAltName of a "
			    "type signet does not issue: only DNS, IP and URI names");
			goto out;
		}
		if (san_normalize(s.type, raw, s.value, e) != 0) {
			err_prefix(e, "CSR: ");
			goto out;
		}
		if (san_list_add(&c->sans, &s, e) != 0)
			goto out;
	}
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

/* Refuse, with a clear reason, a CSR asking for CA powers: the profile
 * would drop them anyway, but a requester asking for them is confused or
 * hostile, and saying so is better than a silently different certificate. */
static int check_ca_request(STACK_OF(X509_EXTENSION) *exts, struct err *e)
{
	BASIC_CONSTRAINTS *bc = X509V3_get_d2i(exts, NID_basic_constraints, NULL, NULL);
	ASN1_BIT_STRING *ku = X509V3_get_d2i(exts, NID_key_usage, NULL, NULL);
	int rc = 0;

	if (bc != NULL && bc->ca)
		rc = err_set(e, ERR_POLICY, "CSR asks for basicConstraints CA:TRUE: "
		    "signet issues end-entity certificates only (RFC 5280 4.2.1.9)");
	else if (ku != NULL && (ASN1_BIT_STRING_get_bit(ku, 5) ||
	    ASN1_BIT_STRING_get_bit(ku, 6)))
		rc = err_set(e, ERR_POLICY, "CSR asks for keyCertSign or cRLSign "
		    "key usage: signet issues end-entity certificates only");
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING_free(ku);
	return rc;
}

int csr_from_req(X509_REQ *req, struct csr **out, struct err *e)
{
	struct csr *c = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	int rc = -1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		X509_REQ_free(req);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	c->req = req;
	if ((c->pubkey = X509_REQ_get0_pubkey(req)) == NULL) {
		err_ossl(e, ERR_INVALID, "CSR public key cannot be read");
		goto out;
	}
	if (X509_REQ_verify(req, c->pubkey) != 1) {
		err_ossl(e, ERR_INVALID, "CSR signature does not verify with its "
		    "own key (no proof of possession)");
		goto out;
	}
	if (check_key(c, e) != 0 ||
	    read_cn(c, X509_REQ_get_subject_name(req), e) != 0)
		goto out;
	exts = X509_REQ_get_extensions(req);
	err_ossl_clear();
	if (exts != NULL && (check_ca_request(exts, e) != 0 ||
	    read_names(c, exts, e) != 0))
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	csr_free(c);
	return rc;
}

int csr_parse_pem(const char *pem, size_t len, struct csr **out,
    struct err *e)
{
	BIO *b;
	X509_REQ *req;

	if (len == 0 || len > 65536)
		return err_set(e, ERR_INVALID, "CSR of %zu bytes: want 1..65536", len);
	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
	BIO_free(b);
	if (req == NULL)
		return err_ossl(e, ERR_INVALID, "csr is not a PEM certificate "
		    "request (-----BEGIN CERTIFICATE REQUEST-----)");
	return csr_from_req(req, out, e);
}

int csr_from_cert(X509 *x, struct csr **out, struct err *e)
{
	struct csr *c = calloc(1, sizeof(*c));
	int rc = -1;

	if (c == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	if (X509_up_ref(x) != 1) {
		free(c);
		return err_ossl(e, ERR_INTERNAL, "certificate reference");
	}
	c->cert = x;
	if ((c->pubkey = X509_get0_pubkey(x)) == NULL) {
		err_ossl(e, ERR_INVALID, "certificate public key cannot be read");
		goto out;
	}
	if (check_key(c, e) != 0 ||
	    read_cn(c, X509_get_subject_name(x), e) != 0 ||
	    read_names(c, (STACK_OF(X509_EXTENSION) *)X509_get0_extensions(x),
	    e) != 0)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	csr_free(c);
	return rc;
}
