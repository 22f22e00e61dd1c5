/*
 * csr: parse and check a PKCS#10 request from outside.  From a CSR signet
 * takes only the public key and the names to be checked against the token
 * and the policy; every extension of the certificate comes from the
 * profile.
 */
#ifndef SIGNET_CSR_H
#define SIGNET_CSR_H

#include <stddef.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/err.h"

#define SAN_MAX 64
#define SAN_VALUE_MAX 256

enum san_type { SAN_DNS, SAN_IP, SAN_URI };

struct san {
	enum san_type type;
	char value[SAN_VALUE_MAX];  /* DNS lowercased; IP in text form */
};

struct san_list {
	struct san v[SAN_MAX];
	int n;
};

struct csr {
	X509_REQ *req;
	X509 *cert;              /* csr_from_cert: the certificate instead */
	EVP_PKEY *pubkey;        /* owned by req (or cert) */
	char key_type[16];       /* "ec-p256", "ec-p384", "rsa", "ed25519" */
	int key_bits;
	char cn[SAN_VALUE_MAX];  /* subject CN or "" */
	struct san_list sans;
};

/* Parse PEM (len bytes, not necessarily NUL-terminated), verify the
 * signature, check the key (RSA >= 2048 and <= 8192, ECDSA P-256/P-384,
 * Ed25519), read the subject CN and the requested SANs (DNS, IP, URI only),
 * refuse a request for CA powers (basicConstraints CA:TRUE, keyCertSign,
 * cRLSign).  Errors: ERR_INVALID for malformed, ERR_POLICY for a key or
 * request signet will not certify.  The result must go to csr_free(). */
int csr_parse_pem(const char *pem, size_t len, struct csr **out,
    struct err *e);
/* The same from a parsed X509_REQ (takes ownership of req, even on
 * failure). */
int csr_from_req(X509_REQ *req, struct csr **out, struct err *e);
/* The same reading of a certificate's key, subject CN and SANs: what a
 * renewal without a new CSR keeps (x is up-ref'ed, not copied; there is
 * no signature to check). */
int csr_from_cert(X509 *x, struct csr **out, struct err *e);
void csr_free(struct csr *c);

/* Normalize and check one name of a type (lowercase DNS, canonical IP
 * text, URI with a scheme); ERR_INVALID with why if it is not valid. */
int san_normalize(enum san_type type, const char *in, char out[SAN_VALUE_MAX],
    struct err *e);
/* Parse "DNS:x", "IP:x", "URI:x", or a bare value (IP if it parses as one,
 * URI if it has "://", DNS otherwise). */
int san_parse(const char *s, struct san *out, struct err *e);
/* "DNS", "IP", "URI". */
const char *san_type_name(enum san_type t);
/* The names as GENERAL_NAMES (for subjectAltName), or NULL with e set.
 * Free with GENERAL_NAMES_free. */
GENERAL_NAMES *san_list_to_general_names(const struct san_list *l,
    struct err *e);
/* Add unless already present; ERR_LIMIT past SAN_MAX. */
int san_list_add(struct san_list *l, const struct san *s, struct err *e);
int san_list_contains(const struct san_list *l, const struct san *s);

#endif
