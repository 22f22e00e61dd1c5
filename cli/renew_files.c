/* renew_files: read, check and atomically replace a certificate and key. */
#include "cli/renew_files.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "common/util.h"

#define NEW_SUFFIX ".signet-new"
#define KEY_MAX 65536

/* path + NEW_SUFFIX into out (PATH_MAX). */
static int new_name(const char *path, char *out, struct err *e)
{
	if (snprintf(out, PATH_MAX, "%s" NEW_SUFFIX, path) >= PATH_MAX)
		return err_set(e, ERR_CONFIG, "%s: path too long", path);
	return 0;
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* fsync the directory holding path, so that a rename in it is durable. */
static int sync_dir(const char *path, struct err *e)
{
	char buf[PATH_MAX];
	int fd, rc = 0;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return err_set(e, ERR_CONFIG, "%s: path too long", path);
	if ((fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_set(e, ERR_INTERNAL, "%s: %s", buf, strerror(errno));
	if (fsync(fd) != 0)
		rc = err_set(e, ERR_INTERNAL, "%s: fsync: %s", buf, strerror(errno));
	close(fd);
	return rc;
}

static int move(const char *from, const char *to, struct err *e)
{
	if (rename(from, to) != 0)
		return err_set(e, ERR_INTERNAL, "renaming %s to %s: %s", from, to,
		    strerror(errno));
	return 0;
}

int renew_files_lock(const char *cert_path, int (*cancel)(void), int *fd,
    struct err *e)
{
	struct timespec step = { 0, 100000000 };
	char buf[PATH_MAX];
	const char *dir;
	time_t deadline = time(NULL) + RENEW_LOCK_WAIT;
	int rc = 0;

	*fd = -1;
	if (snprintf(buf, sizeof(buf), "%s", cert_path) >= (int)sizeof(buf))
		return err_set(e, ERR_CONFIG, "%s: path too long", cert_path);
	dir = dirname(buf);
	if ((*fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_set(e, ERR_CONFIG, "%s: %s", dir, strerror(errno));
	/* Polled rather than blocking, so that a stop signal is heard. */
	while (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rc = err_set(e, ERR_INTERNAL, "%s: flock: %s", dir,
			    strerror(errno));
			break;
		}
		if (time(NULL) >= deadline || (cancel != NULL && cancel())) {
			rc = err_set(e, ERR_UNAVAILABLE, "%s: another signet renew is "
			    "replacing files in this directory", dir);
			break;
		}
		nanosleep(&step, NULL);
	}
	if (rc != 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

void renew_files_unlock(int fd)
{
	if (fd >= 0)
		close(fd);   /* releases the flock */
}

/* OpenSSL asks for a passphrase through this: there is none to give (a
 * daemon has no terminal), so an encrypted key fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int read_cert(const char *path, X509 **out, struct err *e)
{
	X509 **v = NULL;
	int n = 0;

	if (x509_read_pem_file(path, &v, &n, e) != 0)
		return -1;
	/* The first certificate is the leaf; a full chain after it is
	 * tolerated on reading (signet writes the leaf alone). */
	*out = v[0];
	v[0] = NULL;
	x509_free_list(v, n);
	return 0;
}

static int read_key(const char *path, EVP_PKEY **key, char **pem,
    struct err *e)
{
	size_t len = 0;
	BIO *b = NULL;
	int rc = -1;

	*pem = NULL;
	if (util_read_file(path, KEY_MAX, pem, &len, e) != 0)
		return -1;
	if ((b = BIO_new_mem_buf(*pem, (int)len)) == NULL ||
	    (*key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL)) == NULL) {
		err_ossl(e, ERR_CONFIG, "%s: not an unencrypted PEM private key",
		    path);
		goto out;
	}
	rc = 0;
out:
	BIO_free(b);
	if (rc != 0) {
		OPENSSL_cleanse(*pem, len);
		free(*pem);
		*pem = NULL;
	}
	return rc;
}

static int matches(X509 *cert, EVP_PKEY *key)
{
	int ok = X509_check_private_key(cert, key) == 1;

	err_ossl_clear();   /* a mismatch leaves a queue entry behind */
	return ok;
}

/* Finish or clean up an interrupted replacement (renew_files.h); cert is
 * the certificate file's, replaced by the finished one when it was. */
static int recover(const struct renew_paths *p, X509 **cert, EVP_PKEY *key,
    char *note, size_t notelen, struct err *e)
{
	char cert_new[PATH_MAX], key_new[PATH_MAX], chain_new[PATH_MAX] = "";
	X509 *cand = NULL;
	int rc = -1;

	note[0] = '\0';
	if (new_name(p->cert, cert_new, e) != 0 || new_name(p->key, key_new, e) != 0 ||
	    (p->chain != NULL && new_name(p->chain, chain_new, e) != 0))
		return -1;
	if (!matches(*cert, key)) {
		if (!exists(cert_new) || read_cert(cert_new, &cand, NULL) != 0 ||
		    !matches(cand, key)) {
			err_set(e, ERR_CONFIG, "%s and %s do not match: the "
			    "certificate's public key is not the key's; nothing was "
			    "changed (put back a matching pair, or enroll again)",
			    p->cert, p->key);
			goto out;
		}
		/* The key was renamed in, the certificate not yet. */
		if (move(cert_new, p->cert, e) != 0 ||
		    (chain_new[0] && exists(chain_new) &&
		    move(chain_new, p->chain, e) != 0) ||
		    sync_dir(p->cert, e) != 0 ||
		    (p->chain != NULL && sync_dir(p->chain, e) != 0))
			goto out;
		X509_free(*cert);
		*cert = cand;
		cand = NULL;
		snprintf(note, notelen, "finished a renewal a crash interrupted "
		    "(the key was new, the certificate not yet): %s now holds "
		    "the certificate of %s", p->cert, p->key);
	} else if (exists(cert_new)) {
		/* Staged, never renamed: the old pair stands. */
		if (unlink(cert_new) != 0 ||
		    (exists(key_new) && unlink(key_new) != 0) ||
		    (chain_new[0] && exists(chain_new) && unlink(chain_new) != 0)) {
			err_set(e, ERR_INTERNAL, "removing %s" NEW_SUFFIX " files: %s",
			    p->cert, strerror(errno));
			goto out;
		}
		snprintf(note, notelen, "removed the files of a renewal a crash "
		    "interrupted before it replaced anything (%s)", cert_new);
	} else if (chain_new[0] && exists(chain_new)) {
		/* Key and certificate were renamed, the chain not yet. */
		if (move(chain_new, p->chain, e) != 0 || sync_dir(p->chain, e) != 0)
			goto out;
		snprintf(note, notelen, "finished writing %s after a crash",
		    p->chain);
	}
	rc = 0;
out:
	X509_free(cand);
	return rc;
}

int renew_pair_load(const struct renew_paths *p, struct renew_pair **out,
    char *note, size_t notelen, struct err *e)
{
	struct renew_pair *rp = calloc(1, sizeof(*rp));
	int rc = -1;

	note[0] = '\0';
	if (rp == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	if (read_key(p->key, &rp->key, &rp->key_pem, e) != 0 ||
	    read_cert(p->cert, &rp->cert, e) != 0 ||
	    recover(p, &rp->cert, rp->key, note, notelen, e) != 0 ||
	    x509_to_pem(rp->cert, &rp->cert_pem, e) != 0 ||
	    x509_to_der(rp->cert, &rp->der, &rp->der_len, e) != 0 ||
	    x509_serial_hex(rp->cert, rp->serial, e) != 0)
		goto out;
	rp->not_before = x509_not_before(rp->cert);
	rp->not_after = x509_not_after(rp->cert);
	if (rp->not_after <= rp->not_before) {
		err_set(e, ERR_CONFIG, "%s: notAfter is not after notBefore", p->cert);
		goto out;
	}
	*out = rp;
	rp = NULL;
	rc = 0;
out:
	renew_pair_free(rp);
	return rc;
}

void renew_pair_free(struct renew_pair *rp)
{
	if (rp == NULL)
		return;
	X509_free(rp->cert);
	EVP_PKEY_free(rp->key);
	free(rp->cert_pem);
	if (rp->key_pem != NULL) {
		OPENSSL_cleanse(rp->key_pem, strlen(rp->key_pem));
		free(rp->key_pem);
	}
	OPENSSL_free(rp->der);
	free(rp);
}

/* Write data to tmp in full and fsync it, with mode and (as root) the
 * owner of like (a stat of the file it will replace, or NULL). */
static int stage(const char *tmp, const void *data, size_t len, mode_t mode,
    const struct stat *like, struct err *e)
{
	const char *q = data;
	ssize_t w;
	int fd, rc = -1;

	/* O_NOFOLLOW: a planted symlink must not redirect the write. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd < 0)
		return err_set(e, ERR_INTERNAL, "%s: %s", tmp, strerror(errno));
	if (fchmod(fd, mode) != 0) {
		err_set(e, ERR_INTERNAL, "%s: chmod: %s", tmp, strerror(errno));
		goto out;
	}
	/* Root renewing a service's files keeps them the service's; anyone
	 * else writes files it owns, as with any file it writes. */
	if (like != NULL && geteuid() == 0 &&
	    (like->st_uid != 0 || like->st_gid != 0) &&
	    fchown(fd, like->st_uid, like->st_gid) != 0) {
		err_set(e, ERR_INTERNAL, "%s: chown: %s", tmp, strerror(errno));
		goto out;
	}
	while (len > 0) {
		w = write(fd, q, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err_set(e, ERR_INTERNAL, "%s: %s", tmp, strerror(errno));
			goto out;
		}
		q += w;
		len -= (size_t)w;
	}
	if (fsync(fd) != 0) {
		err_set(e, ERR_INTERNAL, "%s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (close(fd) != 0 && rc == 0)
		rc = err_set(e, ERR_INTERNAL, "%s: %s", tmp, strerror(errno));
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int renew_files_replace(const struct renew_paths *p, EVP_PKEY *key,
    const char *cert_pem, const char *chain_pem, struct err *e)
{
	char cert_new[PATH_MAX], key_new[PATH_MAX], chain_new[PATH_MAX];
	struct stat cst, kst, hst;
	int have_chain = 0, rc = -1;
	BIO *b = NULL;
	char *kdata = NULL;
	long klen = 0;

	if (new_name(p->cert, cert_new, e) != 0 || new_name(p->key, key_new, e) != 0 ||
	    (p->chain != NULL && new_name(p->chain, chain_new, e) != 0))
		return -1;
	if (stat(p->cert, &cst) != 0)
		return err_set(e, ERR_INTERNAL, "%s: %s", p->cert, strerror(errno));
	if (stat(p->key, &kst) != 0)
		return err_set(e, ERR_INTERNAL, "%s: %s", p->key, strerror(errno));
	if (p->chain != NULL)
		have_chain = stat(p->chain, &hst) == 0;

	/* Staged: certificate first (recovery reads "CERT.signet-new exists"
	 * as "staging began"), then chain, then key. */
	if (stage(cert_new, cert_pem, strlen(cert_pem), cst.st_mode & 0777,
	    &cst, e) != 0)
		goto out;
	if (p->chain != NULL && stage(chain_new, chain_pem ? chain_pem : "",
	    chain_pem ? strlen(chain_pem) : 0,
	    have_chain ? hst.st_mode & 0777 : 0644, have_chain ? &hst : &cst,
	    e) != 0)
		goto unstage;
	if (key != NULL) {
		if ((b = BIO_new(BIO_s_mem())) == NULL ||
		    PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1) {
			err_ossl(e, ERR_INTERNAL, "writing the new key");
			goto unstage;
		}
		klen = BIO_get_mem_data(b, &kdata);
		/* A key is never readable by others, whatever it was before. */
		if (stage(key_new, kdata, (size_t)klen, kst.st_mode & 0770, &kst,
		    e) != 0)
			goto unstage;
	}

	/* Renamed: key, certificate, chain (see renew_files.h). */
	if ((key != NULL && move(key_new, p->key, e) != 0))
		goto unstage;
	if (move(cert_new, p->cert, e) != 0)
		goto out;   /* recovery finishes it */
	if (p->chain != NULL && move(chain_new, p->chain, e) != 0)
		goto out;
	if (sync_dir(p->key, e) != 0 || sync_dir(p->cert, e) != 0 ||
	    (p->chain != NULL && sync_dir(p->chain, e) != 0))
		goto out;
	rc = 0;
	goto out;
unstage:
	unlink(cert_new);
	if (p->chain != NULL)
		unlink(chain_new);
	if (key != NULL)
		unlink(key_new);
out:
	if (kdata != NULL)
		OPENSSL_cleanse(kdata, (size_t)klen);
	BIO_free(b);
	return rc;
}
