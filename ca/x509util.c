#include "ca/x509util.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "common/util.h"

int x509_random_serial(X509 *x, char hex[SERIAL_HEX_MAX], struct err *e)
{
	unsigned char raw[16];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	int rc = -1;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return err_ossl(e, ERR_INTERNAL, "random serial");
	/* Positive, and never so small that it collides in practice: keep
	 * the top bit clear and force the next one so it has 127 bits. */
	raw[0] = (unsigned char)((raw[0] & 0x7f) | 0x40);
	if ((bn = BN_bin2bn(raw, sizeof(raw), NULL)) == NULL ||
	    (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    X509_set_serialNumber(x, ai) != 1) {
		err_ossl(e, ERR_INTERNAL, "setting serial");
		goto out;
	}
	rc = x509_serial_hex(x, hex, e);
out:
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return rc;
}

int x509_serial_hex(const X509 *x, char hex[SERIAL_HEX_MAX], struct err *e)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *h = NULL;
	int rc = -1;

	if (bn == NULL || (h = BN_bn2hex(bn)) == NULL) {
		err_ossl(e, ERR_INTERNAL, "reading serial");
		goto out;
	}
	if (strlen(h) >= SERIAL_HEX_MAX || h[0] == '-') {
		err_set(e, ERR_INVALID, "serial out of range");
		goto out;
	}
	/* BN_bn2hex is uppercase and may have a leading zero. */
	{
		const char *s = h;
		size_t i = 0;
		while (s[0] == '0' && s[1] != '\0')
			s++;
		for (; s[i]; i++)
			hex[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] + 32 : s[i]);
		hex[i] = '\0';
	}
	rc = 0;
out:
	OPENSSL_free(h);
	BN_free(bn);
	return rc;
}

int x509_spki_sha256(EVP_PKEY *pkey, unsigned char out[32], struct err *e)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(pkey, &der);
	int rc = -1;

	if (len <= 0)
		return err_ossl(e, ERR_INTERNAL, "encoding public key");
	if (EVP_Digest(der, (size_t)len, out, NULL, EVP_sha256(), NULL) != 1) {
		err_ossl(e, ERR_INTERNAL, "hashing public key");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(der);
	return rc;
}

int x509_copy_spki(X509 *x, X509_PUBKEY *spki, struct err *e)
{
	ASN1_OBJECT *obj = NULL;
	const ASN1_OBJECT *alg;
	const void *pval;
	const unsigned char *bits;
	unsigned char *copy = NULL;
	int ptype, len;
	X509_ALGOR *algor;
	void *pcopy = NULL;

	if (X509_PUBKEY_get0_param(NULL, &bits, &len, &algor, spki) != 1 ||
	    len <= 0)
		return err_ossl(e, ERR_INVALID, "public key");
	X509_ALGOR_get0(&alg, &ptype, &pval, algor);
	if ((obj = OBJ_dup(alg)) == NULL || (copy = OPENSSL_memdup(bits, (size_t)len)) == NULL)
		goto fail;
	/* Parameters: absent (Ed25519), NULL (RSA) or an OID (EC curve). */
	if (ptype == V_ASN1_OBJECT) {
		if ((pcopy = OBJ_dup(pval)) == NULL)
			goto fail;
	} else if (ptype == V_ASN1_SEQUENCE) {
		if ((pcopy = ASN1_STRING_dup(pval)) == NULL)
			goto fail;
	} else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) {
		ASN1_OBJECT_free(obj);
		OPENSSL_free(copy);
		return err_set(e, ERR_INVALID, "public key with unusual parameters");
	}
	if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), obj, ptype, pcopy,
	    copy, len) != 1)
		goto fail;
	return 0;
fail:
	ASN1_OBJECT_free(obj);
	if (ptype == V_ASN1_OBJECT)
		ASN1_OBJECT_free(pcopy);
	else
		ASN1_STRING_free(pcopy);
	OPENSSL_free(copy);
	return err_ossl(e, ERR_INTERNAL, "copying public key");
}

int x509_spki_der_sha256(X509_PUBKEY *spki, unsigned char out[32],
    struct err *e)
{
	unsigned char *der = NULL;
	int len = i2d_X509_PUBKEY(spki, &der);
	int ok;

	if (len <= 0)
		return err_ossl(e, ERR_INTERNAL, "encoding public key");
	ok = EVP_Digest(der, (size_t)len, out, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return ok == 1 ? 0 : err_ossl(e, ERR_INTERNAL, "hashing public key");
}

int x509_key_nid(X509 *x)
{
	ASN1_OBJECT *alg = NULL;

	if (X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL,
	    X509_get_X509_PUBKEY(x)) != 1)
		return NID_undef;
	return OBJ_obj2nid(alg);
}

int x509_key_id(EVP_PKEY *pkey, unsigned char out[20], struct err *e)
{
	X509_PUBKEY *pk = NULL;
	const unsigned char *bits;
	int len, rc = -1;

	if (X509_PUBKEY_set(&pk, pkey) != 1 ||
	    X509_PUBKEY_get0_param(NULL, &bits, &len, NULL, pk) != 1) {
		err_ossl(e, ERR_INTERNAL, "public key");
		goto out;
	}
	if (EVP_Digest(bits, (size_t)len, out, NULL, EVP_sha1(), NULL) != 1) {
		err_ossl(e, ERR_INTERNAL, "key identifier");
		goto out;
	}
	rc = 0;
out:
	X509_PUBKEY_free(pk);
	return rc;
}

int x509_add_ext(X509 *x, X509 *issuer, int nid, const char *value,
    struct err *e)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return err_ossl(e, ERR_INTERNAL, "extension %s=%s", OBJ_nid2sn(nid),
		    value);
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (ok != 1)
		return err_ossl(e, ERR_INTERNAL, "adding extension %s",
		    OBJ_nid2sn(nid));
	return 0;
}

int x509_to_der(X509 *x, unsigned char **der, size_t *len, struct err *e)
{
	unsigned char *p = NULL;
	int n = i2d_X509(x, &p);

	if (n <= 0)
		return err_ossl(e, ERR_INTERNAL, "encoding certificate");
	*der = p;
	*len = (size_t)n;
	return 0;
}

int x509_to_pem(X509 *x, char **pem, struct err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *copy = NULL;
	long n;

	if (b == NULL || PEM_write_bio_X509(b, x) != 1) {
		BIO_free(b);
		return err_ossl(e, ERR_INTERNAL, "writing PEM");
	}
	n = BIO_get_mem_data(b, &data);
	if (n > 0 && (copy = malloc((size_t)n + 1)) != NULL) {
		memcpy(copy, data, (size_t)n);
		copy[n] = '\0';
	}
	BIO_free(b);
	if (copy == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	*pem = copy;
	return 0;
}

X509 *x509_from_der(const unsigned char *der, size_t len, struct err *e)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	if (x == NULL)
		err_ossl(e, ERR_INVALID, "not a DER certificate");
	else if (p != der + len) {
		X509_free(x);
		x = NULL;
		err_set(e, ERR_INVALID, "trailing data after certificate");
	}
	return x;
}

int x509_read_pem_file(const char *path, X509 ***out, int *n, struct err *e)
{
	BIO *b = BIO_new_file(path, "r");
	X509 **v = NULL, *x;
	int count = 0;

	if (b == NULL)
		return err_ossl(e, ERR_CONFIG, "%s: cannot open", path);
	if ((v = calloc(16, sizeof(*v))) == NULL) {
		BIO_free(b);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	while (count < 16 && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		v[count++] = x;
	err_ossl_clear(); /* the read that ended the loop */
	BIO_free(b);
	if (count == 0) {
		free(v);
		return err_set(e, ERR_CONFIG, "%s: no PEM certificate in it", path);
	}
	*out = v;
	*n = count;
	return 0;
}

void x509_free_list(X509 **v, int n)
{
	if (v == NULL)
		return;
	for (int i = 0; i < n; i++)
		X509_free(v[i]);
	free(v);
}

int x509_write_key(const char *path, EVP_PKEY *key, struct err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int rc;

	if (b == NULL || PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL,
	    NULL) != 1) {
		BIO_free(b);
		return err_ossl(e, ERR_INTERNAL, "writing key");
	}
	n = BIO_get_mem_data(b, &data);
	rc = util_write_file(path, data, (size_t)n, 0600, e);
	/* The key's PEM sat in this buffer: clear it before freeing. */
	OPENSSL_cleanse(data, (size_t)n);
	BIO_free(b);
	return rc;
}

char *x509_name_oneline(const X509_NAME *n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *copy = NULL;
	long len;

	if (b == NULL)
		return NULL;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) {
		len = BIO_get_mem_data(b, &data);
		/* An empty name leaves the BIO without a buffer (data NULL). */
		if ((copy = malloc((size_t)len + 1)) != NULL) {
			if (len > 0)
				memcpy(copy, data, (size_t)len);
			copy[len] = '\0';
		}
	}
	BIO_free(b);
	return copy;
}

int x509_set_validity(X509 *x, time_t not_before, time_t not_after,
    struct err *e)
{
	if (ASN1_TIME_set(X509_getm_notBefore(x), not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), not_after) == NULL)
		return err_ossl(e, ERR_INTERNAL, "setting validity");
	return 0;
}

static time_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

time_t x509_not_after(const X509 *x)
{
	return asn1_time(X509_get0_notAfter(x));
}

time_t x509_not_before(const X509 *x)
{
	return asn1_time(X509_get0_notBefore(x));
}

const EVP_MD *x509_sign_md(EVP_PKEY *pkey)
{
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC && EVP_PKEY_get_bits(pkey) > 256)
		return EVP_sha384();
	return EVP_sha256();
}
