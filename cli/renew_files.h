/*
 * renew_files: the certificate, key and chain files `signet renew`
 * keeps: read and checked as a pair, and replaced so that a crash never
 * leaves a certificate that does not match its key unnoticed.
 *
 * Replacing writes every new file in full beside its target, as
 * TARGET.signet-new in the same directory (so that rename is atomic),
 * with the old file's mode (a key never readable by others) and, when
 * running as root, its owner; each is fsync'ed.  Staged in the order
 * certificate, chain, key; then renamed in the order key, certificate,
 * chain; then the directories are fsync'ed.  A reader therefore sees
 * either the old pair or the new one, except in the instant between the
 * first two renames, when the key is new and the certificate old.  That
 * is why services should reload on the --exec hook, which runs after
 * every rename, rather than on a file watch.
 *
 * Loading (renew_pair_load) first finishes or cleans up a replacement a
 * crash interrupted, which the files left say how far it got:
 *   - key and certificate do not match, and CERT.signet-new matches the
 *     key: the key was renamed, the certificate not yet: finish (the
 *     certificate, then the chain);
 *   - they match and CERT.signet-new is there: it crashed before the
 *     first rename: the old pair stands, the leftovers are removed;
 *   - they match, no CERT.signet-new, CHAIN.signet-new is there: it
 *     crashed after the certificate's rename: the chain is renamed in;
 *   - they do not match otherwise: an error, and nothing is touched.
 * The caller holds renew_files_lock so that two renewals of the same
 * files never interleave (the .signet-new names are fixed).
 */
#ifndef SIGNET_RENEW_FILES_H
#define SIGNET_RENEW_FILES_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/x509util.h"
#include "common/err.h"

struct renew_paths {
	const char *cert;
	const char *key;
	const char *chain;   /* NULL: no chain file */
};

struct renew_pair {
	X509 *cert;               /* the first certificate of the cert file */
	EVP_PKEY *key;
	char *cert_pem;           /* that certificate alone, as PEM */
	char *key_pem;            /* the key file's text (cleansed on free) */
	unsigned char *der;       /* the certificate's DER (OPENSSL_malloc) */
	size_t der_len;
	char serial[SERIAL_HEX_MAX];
	time_t not_before, not_after;
};

/* Take an exclusive lock (flock) on the certificate's directory, waiting
 * up to RENEW_LOCK_WAIT seconds while another process holds it (one
 * renewal holds it for at most about a minute: load, ask, write; never
 * while its hook runs) and giving up early when cancel (may be NULL)
 * returns nonzero.  ERR_UNAVAILABLE when it could not.  *fd goes to
 * renew_files_unlock (-1 is fine). */
#define RENEW_LOCK_WAIT 90
int renew_files_lock(const char *cert_path, int (*cancel)(void), int *fd,
    struct err *e);
void renew_files_unlock(int fd);

/* Recover as above, then read and check the pair: the key must be an
 * unencrypted PEM private key and the certificate's public key must be
 * its (ERR_CONFIG, naming both files, when not).  note (notelen bytes)
 * receives what recovery did, or "" when there was nothing to do.
 * Free the result with renew_pair_free. */
int renew_pair_load(const struct renew_paths *p, struct renew_pair **out,
    char *note, size_t notelen, struct err *e);
void renew_pair_free(struct renew_pair *rp);

/* Replace the files as above: key (NULL keeps the current key file),
 * the certificate cert_pem, and chain_pem when p->chain is set. */
int renew_files_replace(const struct renew_paths *p, EVP_PKEY *key,
    const char *cert_pem, const char *chain_pem, struct err *e);

#endif
