/*
 * x509util: small X.509 helpers on top of OpenSSL that issuance, init and
 * the CLI share.  Nothing here parses or encodes ASN.1 by hand.
 */
#ifndef SIGNET_X509UTIL_H
#define SIGNET_X509UTIL_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/err.h"

#define SERIAL_HEX_MAX 41

/* A random positive serial of 128 bits from the CSPRNG (top bit cleared so
 * the DER INTEGER needs no padding byte and stays at most 16 bytes).
 * Set on x and written as lowercase hex (no leading zeros) into hex. */
int x509_random_serial(X509 *x, char hex[SERIAL_HEX_MAX], struct err *e);

/* The lowercase hex (no leading zeros) of a certificate's serial. */
int x509_serial_hex(const X509 *x, char hex[SERIAL_HEX_MAX], struct err *e);

/* SHA-256 of the DER SubjectPublicKeyInfo of pkey. */
int x509_spki_sha256(EVP_PKEY *pkey, unsigned char out[32], struct err *e);
/* Set x's subjectPublicKeyInfo to a copy of spki, field by field.  Unlike
 * X509_set_pubkey this neither encodes nor decodes the key, which OpenSSL
 * 3.0 does through its (slow) encoder and decoder machinery. */
int x509_copy_spki(X509 *x, X509_PUBKEY *spki, struct err *e);
/* SHA-256 of the DER SubjectPublicKeyInfo, from its parsed form. */
int x509_spki_der_sha256(X509_PUBKEY *spki, unsigned char out[32],
    struct err *e);
/* NID of the key algorithm of a certificate (NID_rsaEncryption, ...). */
int x509_key_nid(X509 *x);

/* SHA-1 of the subjectPublicKey BIT STRING: the RFC 5280 4.2.1.2 (1) SKI. */
int x509_key_id(EVP_PKEY *pkey, unsigned char out[20], struct err *e);

/* Add one extension from OpenSSL's config syntax ("critical,CA:FALSE").
 * issuer may be NULL (then x itself for keyid lookups). */
int x509_add_ext(X509 *x, X509 *issuer, int nid, const char *value,
    struct err *e);

/* DER of a certificate, OPENSSL_malloc'ed. */
int x509_to_der(X509 *x, unsigned char **der, size_t *len, struct err *e);
/* PEM text of a certificate, malloc'ed. */
int x509_to_pem(X509 *x, char **pem, struct err *e);
/* Parse one DER certificate. */
X509 *x509_from_der(const unsigned char *der, size_t len, struct err *e);
/* Read every certificate in a PEM file (at most 16). */
int x509_read_pem_file(const char *path, X509 ***out, int *n, struct err *e);
void x509_free_list(X509 **v, int n);

/* Write a private key as PEM (PKCS#8) to path, mode 0600, atomically. */
int x509_write_key(const char *path, EVP_PKEY *key, struct err *e);

/* Subject as a one-line RFC 2253 string, malloc'ed. */
char *x509_name_oneline(const X509_NAME *n);

/* Set notBefore/notAfter from Unix times. */
int x509_set_validity(X509 *x, time_t not_before, time_t not_after,
    struct err *e);
/* notAfter as a Unix time. */
time_t x509_not_after(const X509 *x);
time_t x509_not_before(const X509 *x);

/* The digest to sign with for a CA key: SHA-384 for P-384, else SHA-256. */
const EVP_MD *x509_sign_md(EVP_PKEY *pkey);

#endif
