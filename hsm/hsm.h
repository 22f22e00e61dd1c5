/*
 * hsm: keys on a PKCS#11 token.  Loads any module by path, logs in with a
 * PIN the caller read (never from argv, never logged), generates sign-only,
 * sensitive, non-extractable key pairs on the token through the module's
 * own function list (libp11 0.4.12 cannot), finds keys by label and signs
 * through libp11 as an OpenSSL EVP_PKEY.
 *
 * hsm knows nothing of certificates: callers hand hsm_sign() a callback
 * that does the signing with the key's EVP_PKEY (X509_sign, X509_CRL_sign,
 * OCSP_basic_sign, ...).  Signing is safe from several threads at once.
 * If a signature fails because the token session or login was lost, hsm
 * logs in again, finds the key again and retries once, so a restart of the
 * token (or of a network HSM) needs no restart of signetd.
 */
#ifndef SIGNET_HSM_H
#define SIGNET_HSM_H

#include <stddef.h>

#include <openssl/evp.h>

#include "common/err.h"

struct hsm;
struct hsm_key;

enum hsm_key_type {
	HSM_KEY_EC_P256,
	HSM_KEY_EC_P384,
	HSM_KEY_RSA_2048,
	HSM_KEY_RSA_3072,
	HSM_KEY_RSA_4096,
};

/* "ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096". */
int hsm_key_type_parse(const char *name, enum hsm_key_type *out, struct err *e);
const char *hsm_key_type_name(enum hsm_key_type t);

/* Load module (a path), find the token by label and log in as user with
 * pin.  Wrong PIN: ERR_AUTH; missing module or token: ERR_CONFIG.
 * The result must be passed to hsm_free(). */
int hsm_open(const char *module, const char *token_label, const char *pin,
    struct hsm **out, struct err *e);

/* Safe to call with NULL.  Frees every hsm_key found through it. */
void hsm_free(struct hsm *h);

/* Generate a key pair labelled label ON the token: private key CKA_SIGN
 * only (no decrypt/unwrap/derive), CKA_SENSITIVE true, CKA_EXTRACTABLE
 * false, CKA_TOKEN true; the public key CKA_VERIFY only.  Both get the same
 * CKA_ID and CKA_LABEL.  Fails with ERR_CONFLICT if a private key with that
 * label exists already. */
int hsm_generate_key(struct hsm *h, const char *label, enum hsm_key_type type,
    struct err *e);

/* Destroy the private and public key objects labelled label (for init
 * --force).  No key with that label is not an error. */
int hsm_destroy_key(struct hsm *h, const char *label, struct err *e);

/* 1 if a private key with that label is on the token, 0 if not, -1 on error. */
int hsm_key_exists(struct hsm *h, const char *label, struct err *e);

/* Find the private key labelled label.  ERR_NOTFOUND if none.  The key
 * belongs to h (freed by hsm_free) and stays valid across re-logins. */
int hsm_find_key(struct hsm *h, const char *label, struct hsm_key **out,
    struct err *e);

/* The public half, as an EVP_PKEY owned by the key (do not free). */
EVP_PKEY *hsm_key_public(struct hsm_key *k);
const char *hsm_key_label(const struct hsm_key *k);

/* Call fn(pkey, arg) with an EVP_PKEY whose private operations run on the
 * token.  fn returns 1 on success (OpenSSL's convention) and 0 on failure.
 * On failure hsm checks the session and login, recovers them and retries
 * once.  Counts signatures per key for hsm_key_sign_count(). */
typedef int (*hsm_sign_fn)(EVP_PKEY *pkey, void *arg);
int hsm_sign(struct hsm_key *k, hsm_sign_fn fn, void *arg, struct err *e);

/* Sign data with the key (ECDSA / RSA PKCS#1 v1.5 over SHA-256/384 as the
 * key suggests: P-384 uses SHA-384, the rest SHA-256).  *sig is
 * OPENSSL_malloc'ed DER (ECDSA) or raw (RSA); free with OPENSSL_free. */
int hsm_sign_data(struct hsm_key *k, const unsigned char *data, size_t len,
    unsigned char **sig, size_t *siglen, struct err *e);

/* The digest hsm_sign_data() uses for this key. */
const EVP_MD *hsm_key_md(struct hsm_key *k);

/* Signatures made with this key since it was found (for metrics). */
unsigned long long hsm_key_sign_count(const struct hsm_key *k);

/* 0 if the token answers and we are logged in (for /readyz). */
int hsm_ping(struct hsm *h, struct err *e);

/* For tests: log out of the token, as if the session were lost. */
int hsm_logout_for_test(struct hsm *h, struct err *e);

#endif
