#include "ca/crl.h"

#include <errno.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "common/util.h"
#include "db/db.h"

static const struct {
	const char *name;
	int code;
	int allowed;
} reasons[] = {
	{ "unspecified", 0, 1 },
	{ "keyCompromise", 1, 1 },
	{ "cACompromise", 2, 1 },
	{ "affiliationChanged", 3, 1 },
	{ "superseded", 4, 1 },
	{ "cessationOfOperation", 5, 1 },
	{ "certificateHold", 6, 0 },
	{ "removeFromCRL", 8, 0 },
	{ "privilegeWithdrawn", 9, 1 },
	{ "aACompromise", 10, 1 },
};
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

int crl_reason_allowed(long long code)
{
	for (size_t i = 0; i < NREASONS; i++)
		if (reasons[i].code == code)
			return reasons[i].allowed;
	return 0;
}

int crl_reason_parse(const char *name, int *code, struct err *e)
{
	if (name == NULL || *name == '\0')
		return err_set(e, ERR_INVALID, "a revocation reason is required");
	for (size_t i = 0; i < NREASONS; i++) {
		if (strcasecmp(name, reasons[i].name) != 0)
			continue;
		if (!reasons[i].allowed)
			return err_set(e, ERR_INVALID, "reason %s is not supported: "
			    "signet revocations are final (no certificateHold, "
			    "hence no removeFromCRL; RFC 5280 5.3.1)",
			    reasons[i].name);
		*code = reasons[i].code;
		return 0;
	}
	return err_set(e, ERR_INVALID, "unknown revocation reason \"%.40s\": "
	    "want unspecified, keyCompromise, cACompromise, affiliationChanged, "
	    "superseded, cessationOfOperation, privilegeWithdrawn or "
	    "aACompromise (RFC 5280 5.3.1)", name);
}

const char *crl_reason_name(int code)
{
	for (size_t i = 0; i < NREASONS; i++)
		if (reasons[i].code == code)
			return reasons[i].name;
	return "unknown";
}

int crl_serial_normalize(const char *in, char out[SERIAL_HEX_MAX],
    struct err *e)
{
	size_t k = 0;

	if (in == NULL || !util_is_hex(in, 40))
		return err_set(e, ERR_INVALID, "serial \"%.64s\" is not 1..40 hex "
		    "digits", in ? in : "");
	while (in[0] == '0' && in[1] != '\0')
		in++;
	for (; in[k] != '\0'; k++)
		out[k] = (char)(in[k] >= 'A' && in[k] <= 'F' ? in[k] + 32 : in[k]);
	out[k] = '\0';
	return 0;
}

static int set_time(X509_CRL *crl, time_t t,
    int (*set)(X509_CRL *, const ASN1_TIME *))
{
	ASN1_TIME *at = ASN1_TIME_set(NULL, t);
	int ok = at != NULL && set(crl, at) == 1;

	ASN1_TIME_free(at);
	return ok;
}

/* Run fn with the signing key, on the HSM or in software. */
static int with_key(const struct crl_key *k, hsm_sign_fn fn, void *arg,
    struct err *e)
{
	if (k->hsm != NULL)
		return hsm_sign(k->hsm, fn, arg, e);
	return fn(k->pkey, arg) == 1 ? 0 : err_ossl(e, ERR_INTERNAL,
	    "signing CRL");
}

/* OpenSSL has no setter for the signature AlgorithmIdentifier inside
 * tbsCertList; X509_CRL_sign fills in both.  Done while the list is
 * still empty it costs one small signature; crl_finish then signs the
 * encoded list itself. */
static int set_algorithms(EVP_PKEY *pkey, void *arg)
{
	return X509_CRL_sign(arg, pkey, x509_sign_md(pkey)) > 0;
}

int crl_new(X509 *issuer, long long number, time_t this_update,
    time_t next_update, const struct crl_key *key, X509_CRL **out,
    struct err *e)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_INTEGER *num = NULL;
	X509_EXTENSION *aki = NULL;
	X509V3_CTX ctx;
	int rc = -1;

	if (crl == NULL || (num = ASN1_INTEGER_new()) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (number < 0 || next_update <= this_update) {
		err_set(e, ERR_INTERNAL, "CRL number %lld or validity is wrong",
		    number);
		goto out;
	}
	/* v2 (value 1): CRLs with extensions must be v2 (RFC 5280 5.1.2.1). */
	if (X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) != 1 ||
	    !set_time(crl, this_update, X509_CRL_set1_lastUpdate) ||
	    !set_time(crl, next_update, X509_CRL_set1_nextUpdate) ||
	    ASN1_INTEGER_set_int64(num, number) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1) {
		err_ossl(e, ERR_INTERNAL, "building CRL");
		goto out;
	}
	/* AKI from the issuer's SKI (RFC 5280 5.2.1: MUST). */
	X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
	if ((aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    "keyid:always")) == NULL || X509_CRL_add_ext(crl, aki, -1) != 1) {
		err_ossl(e, ERR_INTERNAL, "CRL authorityKeyIdentifier");
		goto out;
	}
	if (with_key(key, set_algorithms, crl, e) != 0)
		goto out;
	*out = crl;
	crl = NULL;
	rc = 0;
out:
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	return rc;
}

/* Where one encoded entry sits in the builder's buffer, and its sort key.
 * An X509_REVOKED with its serial, time and extension is about 340 bytes
 * of heap; its encoding about 45, and this 12. */
struct crl_ix {
	uint32_t off;              /* of the entry's DER in buf */
	/* The first four bytes of the serial's INTEGER content, big-endian,
	 * zero-padded: most comparisons end here, without reading buf. */
	uint32_t head;
	uint8_t len;               /* of the entry's DER */
	uint8_t at;                /* where the serial's content starts in it */
	uint8_t slen;              /* and its length */
};

struct crl_builder {
	X509_CRL *crl;             /* borrowed */
	/* Two entries reused from one to the next, encoded at once and
	 * never kept: one without extensions (reason unspecified), one with
	 * a reasonCode.  Two, because an X509_REVOKED whose only extension
	 * is deleted keeps an empty list, which would be encoded. */
	X509_REVOKED *bare, *coded;
	int reason;                /* coded's reasonCode; -1 before the first */
	ASN1_INTEGER *serial;
	ASN1_TIME *when;
	ASN1_ENUMERATED *code;
	/* The entries' DER, in the order added. */
	unsigned char *buf;
	size_t used, cap;
	struct crl_ix *ix;
	size_t n, ix_cap;
};

int crl_builder_new(X509_CRL *crl, struct crl_builder **out, struct err *e)
{
	struct crl_builder *b = calloc(1, sizeof(*b));

	if (b == NULL || (b->bare = X509_REVOKED_new()) == NULL ||
	    (b->coded = X509_REVOKED_new()) == NULL ||
	    (b->serial = ASN1_INTEGER_new()) == NULL ||
	    (b->when = ASN1_TIME_new()) == NULL ||
	    (b->code = ASN1_ENUMERATED_new()) == NULL) {
		crl_builder_free(b);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	b->crl = crl;
	b->reason = -1;
	*out = b;
	return 0;
}

/* The entries' memory, given back as soon as crl_finish has used it. */
static void drop_entries(struct crl_builder *b)
{
	free(b->buf);
	free(b->ix);
	b->buf = NULL;
	b->ix = NULL;
	b->used = b->cap = b->n = b->ix_cap = 0;
}

void crl_builder_free(struct crl_builder *b)
{
	if (b == NULL)
		return;
	drop_entries(b);
	X509_REVOKED_free(b->bare);
	X509_REVOKED_free(b->coded);
	ASN1_INTEGER_free(b->serial);
	ASN1_TIME_free(b->when);
	ASN1_ENUMERATED_free(b->code);
	free(b);
}

/* Room for need more elements of size in *p (cap elements now).  Doubles:
 * past malloc's mmap threshold realloc moves pages rather than bytes, and
 * the part not yet written is not resident. */
static int grow(void **p, size_t *cap, size_t used, size_t need, size_t size)
{
	size_t ncap = *cap != 0 ? *cap : 4096;
	void *np;

	if (used + need <= *cap)
		return 0;
	while (ncap < used + need)
		ncap *= 2;
	if ((np = realloc(*p, ncap * size)) == NULL)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

/* coded's reasonCode, re-made only when it changes. */
static int set_reason(struct crl_builder *b, int reason)
{
	if (reason == b->reason)
		return 1;
	b->reason = -1;            /* unknown if this fails half way */
	if (ASN1_ENUMERATED_set(b->code, reason) != 1 ||
	    X509_REVOKED_add1_ext_i2d(b->coded, NID_crl_reason, b->code, 0,
	    X509V3_ADD_REPLACE) != 1)
		return 0;
	b->reason = reason;
	return 1;
}

int crl_builder_add(struct crl_builder *b, const char *serial_hex,
    time_t revoked_at, int reason, struct err *e)
{
	/* unspecified is encoded by leaving reasonCode out (RFC 5280
	 * 5.3.1: SHOULD be absent rather than unspecified). */
	X509_REVOKED *rev = reason == CRL_REASON_UNSPECIFIED ? b->bare : b->coded;
	unsigned char bytes[SERIAL_HEX_MAX / 2 + 1], *p;
	const unsigned char *q;
	char even[SERIAL_HEX_MAX + 1];
	struct crl_ix *ix;
	size_t n, len = 0;
	long slen;
	int dlen, tag, cls;

	/* A stored reason is one signet records: anything else would be
	 * encoded as whatever the reused entry last held. */
	if (!crl_reason_allowed(reason))
		return err_set(e, ERR_INTERNAL, "CRL entry: reason %d is not one "
		    "signet records", reason);
	/* The serial's bytes from its hex, without leading zero bytes: DER
	 * wants the INTEGER minimal. */
	while (serial_hex[0] == '0' && serial_hex[1] != '\0')
		serial_hex++;
	if (!util_is_hex(serial_hex, 40) ||
	    (n = strlen(serial_hex)) + 1 >= sizeof(even))
		return err_set(e, ERR_INTERNAL, "CRL entry: serial \"%.40s\" is "
		    "not hex", serial_hex);
	snprintf(even, sizeof(even), "%s%s", n % 2 ? "0" : "", serial_hex);
	if (OPENSSL_hexstr2buf_ex(bytes, sizeof(bytes), &len, even, '\0') != 1 ||
	    ASN1_STRING_set(b->serial, bytes, (int)len) != 1 ||
	    ASN1_TIME_set(b->when, revoked_at) == NULL ||
	    X509_REVOKED_set_serialNumber(rev, b->serial) != 1 ||
	    X509_REVOKED_set_revocationDate(rev, b->when) != 1 ||
	    (rev == b->coded && set_reason(b, reason) != 1) ||
	    (dlen = i2d_X509_REVOKED(rev, NULL)) <= 0)
		return err_ossl(e, ERR_INTERNAL, "CRL entry %.40s", serial_hex);
	/* Offsets are 32 bits: 4 GiB of entries is far past the 2 GiB an
	 * OpenSSL encoding can hold anyway. */
	if (dlen > UINT8_MAX || b->used + (size_t)dlen > UINT32_MAX)
		return err_set(e, ERR_INTERNAL, "CRL too large at entry %.40s",
		    serial_hex);
	if (grow((void **)&b->buf, &b->cap, b->used, (size_t)dlen, 1) != 0 ||
	    grow((void **)&b->ix, &b->ix_cap, b->n, 1, sizeof(*b->ix)) != 0)
		return err_set(e, ERR_INTERNAL, "out of memory");
	p = b->buf + b->used;
	if (i2d_X509_REVOKED(rev, &p) != dlen)
		return err_ossl(e, ERR_INTERNAL, "CRL entry %.40s", serial_hex);
	/* The serial's content within the encoding, found by OpenSSL's own
	 * header reader: the entry's SEQUENCE, then its first element. */
	q = b->buf + b->used;
	if ((ASN1_get_object(&q, &slen, &tag, &cls, dlen) & 0x80) != 0 ||
	    (ASN1_get_object(&q, &slen, &tag, &cls,
	    dlen - (q - (b->buf + b->used))) & 0x80) != 0 ||
	    tag != V_ASN1_INTEGER || slen < 1 || slen > UINT8_MAX)
		return err_ossl(e, ERR_INTERNAL, "CRL entry %.40s", serial_hex);
	ix = &b->ix[b->n];
	ix->off = (uint32_t)b->used;
	ix->len = (uint8_t)dlen;
	ix->at = (uint8_t)(q - (b->buf + b->used));
	ix->slen = (uint8_t)slen;
	ix->head = 0;
	for (long i = 0; i < 4; i++)
		ix->head = ix->head << 8 | (i < slen ? q[i] : 0);
	b->used += (size_t)dlen;
	b->n++;
	return 0;
}

struct tbs_sig {
	const unsigned char *tbs;
	size_t tbs_len;
	unsigned char *sig;        /* OPENSSL_malloc'ed */
	size_t sig_len;
};

static int sign_tbs(EVP_PKEY *pkey, void *arg)
{
	struct tbs_sig *t = arg;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = 0;

	OPENSSL_free(t->sig);   /* a retry after a lost session */
	t->sig = NULL;
	if (ctx != NULL &&
	    EVP_DigestSignInit(ctx, NULL, x509_sign_md(pkey), NULL, pkey) == 1 &&
	    EVP_DigestSign(ctx, NULL, &t->sig_len, t->tbs, t->tbs_len) == 1 &&
	    (t->sig = OPENSSL_malloc(t->sig_len)) != NULL &&
	    EVP_DigestSign(ctx, t->sig, &t->sig_len, t->tbs, t->tbs_len) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* The signed CRL (RFC 5280 5.1: SEQUENCE of tbsCertList,
 * signatureAlgorithm, signatureValue), encoded by OpenSSL from the parts
 * already encoded: a SEQUENCE of three values.  Takes *tbs over. */
static int assemble(unsigned char **tbs, size_t tbs_len, const X509_ALGOR *alg,
    const unsigned char *sig, size_t sig_len, unsigned char **der,
    size_t *len, struct err *e)
{
	ASN1_SEQUENCE_ANY *seq = sk_ASN1_TYPE_new_null();
	ASN1_TYPE *t[3] = { ASN1_TYPE_new(), ASN1_TYPE_new(), ASN1_TYPE_new() };
	ASN1_STRING *tbs_s = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
	ASN1_STRING *alg_s = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
	ASN1_BIT_STRING *sig_s = ASN1_BIT_STRING_new();
	unsigned char *alg_der = NULL;
	int alg_len, n, rc = -1;

	*der = NULL;
	if (seq == NULL || t[0] == NULL || t[1] == NULL || t[2] == NULL ||
	    tbs_s == NULL || alg_s == NULL || sig_s == NULL ||
	    (alg_len = i2d_X509_ALGOR(alg, &alg_der)) <= 0 ||
	    ASN1_STRING_set(alg_s, alg_der, alg_len) != 1 ||
	    ASN1_BIT_STRING_set(sig_s, (unsigned char *)sig, (int)sig_len) != 1) {
		err_ossl(e, ERR_INTERNAL, "encoding CRL");
		goto out;
	}
	/* A SEQUENCE-typed value is written out as it is: the encoded
	 * tbsCertList, taken over (set0) rather than copied. */
	ASN1_STRING_set0(tbs_s, *tbs, (int)tbs_len);
	*tbs = NULL;
	/* A signature has no unused bits; without this flag the encoder
	 * would drop trailing zero bytes as if they were padding. */
	sig_s->flags = (sig_s->flags & ~0x07L) | ASN1_STRING_FLAG_BITS_LEFT;
	ASN1_TYPE_set(t[0], V_ASN1_SEQUENCE, tbs_s);
	ASN1_TYPE_set(t[1], V_ASN1_SEQUENCE, alg_s);
	ASN1_TYPE_set(t[2], V_ASN1_BIT_STRING, sig_s);
	tbs_s = alg_s = sig_s = NULL;
	for (int i = 0; i < 3; i++) {
		if (sk_ASN1_TYPE_push(seq, t[i]) == 0) {
			err_set(e, ERR_INTERNAL, "out of memory");
			goto out;
		}
		t[i] = NULL;
	}
	if ((n = i2d_ASN1_SEQUENCE_ANY(seq, der)) <= 0) {
		err_ossl(e, ERR_INTERNAL, "encoding CRL");
		goto out;
	}
	*len = (size_t)n;
	rc = 0;
out:
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	for (int i = 0; i < 3; i++)
		ASN1_TYPE_free(t[i]);
	ASN1_STRING_free(tbs_s);
	ASN1_STRING_free(alg_s);
	ASN1_BIT_STRING_free(sig_s);
	OPENSSL_free(alg_der);
	return rc;
}

/* Serial order (ASN1_INTEGER_cmp's, X509_CRL_sort's): for the positive,
 * minimal INTEGERs serials are, the longer content is the larger number,
 * and at equal length the bytes decide.  Ties (never in signet: serials
 * are unique) keep the order added. */
static int cmp_ix(const void *pa, const void *pb, void *arg)
{
	const struct crl_ix *a = pa, *b = pb;
	const unsigned char *buf = arg;
	int c;

	if (a->slen != b->slen)
		return a->slen < b->slen ? -1 : 1;
	if (a->head != b->head)
		return a->head < b->head ? -1 : 1;
	if (a->slen > 4 && (c = memcmp(buf + a->off + a->at + 4,
	    buf + b->off + b->at + 4, a->slen - 4u)) != 0)
		return c;
	return a->off < b->off ? -1 : a->off > b->off;
}

struct half {
	struct crl_ix *v;
	size_t n;
	unsigned char *buf;
};

static void *sort_half(void *arg)
{
	struct half *h = arg;

	qsort_r(h->v, h->n, sizeof(*h->v), cmp_ix, h->buf);
	return NULL;
}

/* revokedCertificates (RFC 5280 5.1), in serial order as `openssl ca`
 * writes it (a reader may search, and two CRLs of the same state encode
 * alike), as a SEQUENCE-typed value: its whole encoding, header and all,
 * which OpenSSL writes out as it is.  The index is sorted in two halves
 * at once on two threads (a million entries are the longest part of a
 * CRL's building), and the halves merged straight into the value.  The
 * builder's entries are freed as soon as they are copied, so that one
 * copy of them exists at a time. */
static int sorted_entries(struct crl_builder *b, ASN1_STRING **out,
    struct err *e)
{
	struct half lo, hi;
	pthread_t t;
	ASN1_STRING *s = NULL;
	unsigned char *v = NULL, *p;
	size_t i, j;
	int total, threaded, rc = -1;

	if (b->used > INT_MAX ||
	    (total = ASN1_object_size(1, (int)b->used, V_ASN1_SEQUENCE)) < 0) {
		err_set(e, ERR_INTERNAL, "CRL too large: %zu entries", b->n);
		goto out;
	}
	if ((s = ASN1_STRING_type_new(V_ASN1_SEQUENCE)) == NULL ||
	    (v = OPENSSL_malloc((size_t)total)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	lo.v = b->ix;
	lo.n = b->n / 2;
	hi.v = b->ix + lo.n;
	hi.n = b->n - lo.n;
	lo.buf = hi.buf = b->buf;
	threaded = b->n >= 4096 && pthread_create(&t, NULL, sort_half, &hi) == 0;
	sort_half(&lo);
	if (threaded)
		pthread_join(t, NULL);
	else
		sort_half(&hi);
	/* The SEQUENCE OF's identifier and length, by OpenSSL. */
	p = v;
	ASN1_put_object(&p, 1, (int)b->used, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	for (i = 0, j = 0; i < lo.n || j < hi.n;) {
		const struct crl_ix *x = j >= hi.n || (i < lo.n &&
		    cmp_ix(&lo.v[i], &hi.v[j], b->buf) <= 0) ? &lo.v[i++] :
		    &hi.v[j++];

		memcpy(p, b->buf + x->off, x->len);
		p += x->len;
	}
	drop_entries(b);
	ASN1_STRING_set0(s, v, total);
	v = NULL;
	*out = s;
	s = NULL;
	rc = 0;
out:
	OPENSSL_free(v);
	ASN1_STRING_free(s);
	return rc;
}

/* tbsCertList, encoded by OpenSSL: the CRL's own fields encoded without
 * entries and read back as a SEQUENCE of values (the universal ones as
 * such, the [0] EXPLICIT crlExtensions as V_ASN1_OTHER holding its whole
 * encoding; both written back unchanged), with the entries put in after
 * nextUpdate, before the extensions. */
static int encode_tbs(struct crl_builder *b, unsigned char **tbs,
    size_t *tbs_len, struct err *e)
{
	ASN1_SEQUENCE_ANY *seq = NULL;
	ASN1_TYPE *list = NULL;
	ASN1_STRING *s = NULL;
	unsigned char *bare = NULL;
	const unsigned char *p;
	int bare_len, n, at, rc = -1;

	*tbs = NULL;
	if ((bare_len = i2d_re_X509_CRL_tbs(b->crl, &bare)) <= 0 ||
	    (p = bare, seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, bare_len)) == NULL) {
		err_ossl(e, ERR_INTERNAL, "encoding CRL");
		goto out;
	}
	/* No entries: no revokedCertificates at all (RFC 5280 5.1.2.6: the
	 * list MUST be absent, not empty). */
	if (b->n > 0) {
		if ((list = ASN1_TYPE_new()) == NULL) {
			err_set(e, ERR_INTERNAL, "out of memory");
			goto out;
		}
		if (sorted_entries(b, &s, e) != 0)
			goto out;
		ASN1_TYPE_set(list, V_ASN1_SEQUENCE, s);
		s = NULL;
		for (at = 0; at < sk_ASN1_TYPE_num(seq) &&
		    ASN1_TYPE_get(sk_ASN1_TYPE_value(seq, at)) != V_ASN1_OTHER;
		    at++)
			;
		if (sk_ASN1_TYPE_insert(seq, list, at) == 0) {
			err_set(e, ERR_INTERNAL, "out of memory");
			goto out;
		}
		list = NULL;
	}
	if ((n = i2d_ASN1_SEQUENCE_ANY(seq, tbs)) <= 0) {
		err_ossl(e, ERR_INTERNAL, "encoding CRL");
		goto out;
	}
	*tbs_len = (size_t)n;
	rc = 0;
out:
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	ASN1_TYPE_free(list);
	ASN1_STRING_free(s);
	OPENSSL_free(bare);
	return rc;
}

int crl_finish(struct crl_builder *b, const struct crl_key *key,
    unsigned char **der, size_t *len, struct err *e)
{
	struct tbs_sig ts;
	const X509_ALGOR *alg = NULL;
	unsigned char *tbs = NULL;
	size_t tbs_len = 0;
	int rc = -1;

	memset(&ts, 0, sizeof(ts));
	*der = NULL;
	/* The list is encoded once, here, and that encoding is both what
	 * is signed and what goes out (X509_CRL_sign + i2d_X509_CRL would
	 * encode it twice more). */
	if (encode_tbs(b, &tbs, &tbs_len, e) != 0)
		goto out;
	ts.tbs = tbs;
	ts.tbs_len = tbs_len;
	if (with_key(key, sign_tbs, &ts, e) != 0)
		goto out;
	X509_CRL_get0_signature(b->crl, NULL, &alg);
	rc = assemble(&tbs, tbs_len, alg, ts.sig, ts.sig_len, der, len, e);
out:
	drop_entries(b);
	OPENSSL_free(ts.sig);
	OPENSSL_free(tbs);
#ifdef __GLIBC__
	/* Hand the pages back: a daemon keeps running after a large CRL. */
	malloc_trim(0);
#endif
	return rc;
}

static int add_entry(void *arg, const char *serial, long long revoked_at,
    int reason, struct err *e)
{
	return crl_builder_add(arg, serial, (time_t)revoked_at, reason, e);
}

static double since(struct timespec *t)
{
	struct timespec now;
	double d;

	clock_gettime(CLOCK_MONOTONIC, &now);
	d = (double)(now.tv_sec - t->tv_sec) +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e9;
	*t = now;
	return d;
}

int crl_generate(PGconn *c, X509 *issuer, int issuer_id, struct hsm_key *key,
    long long validity, int scheduled, struct crl_result *out,
    struct err *e)
{
	X509_CRL *crl = NULL;
	struct crl_builder *b = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	struct crl_key k = { key, NULL };
	time_t now = time(NULL);
	long n = 0;
	int rc = -1;
	struct timespec t;

	memset(out, 0, sizeof(*out));
	clock_gettime(CLOCK_MONOTONIC, &t);
	if (db_begin(c, e) != 0)
		return -1;
	out->this_update = now;
	out->next_update = now + validity;
	if (db_crl_next_number(c, issuer_id, &out->number, e) != 0 ||
	    crl_new(issuer, out->number, out->this_update, out->next_update,
	    &k, &crl, e) != 0 ||
	    crl_builder_new(crl, &b, e) != 0 ||
	    db_crl_entries_each(c, issuer_id, now, scheduled, add_entry, b,
	    &n, e) != 0)
		goto fail;
	out->entries = (int)n;
	out->t_list = since(&t);
	if (crl_finish(b, &k, &der, &len, e) != 0)
		goto fail;
	out->t_sign = since(&t);
	if (db_crl_store(c, issuer_id, out->number, der, len,
	    out->this_update, out->next_update, scheduled, e) != 0 ||
	    db_commit(c, e) != 0)
		goto fail;
	out->t_store = since(&t);
	out->der = der;
	out->der_len = len;
	der = NULL;
	rc = 0;
	goto out;
fail:
	db_rollback(c);
out:
	crl_builder_free(b);
	OPENSSL_free(der);
	X509_CRL_free(crl);
	return rc;
}

void crl_result_free(struct crl_result *r)
{
	if (r == NULL)
		return;
	OPENSSL_free(r->der);
	r->der = NULL;
	r->der_len = 0;
}

int crl_write(const char *dir, const char *name, const unsigned char *der,
    size_t len, char *path, size_t pathlen, struct err *e)
{
	char buf[4096];

	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return err_set(e, ERR_CONFIG, "crl_publish_dir %s: %s", dir,
		    strerror(errno));
	if ((size_t)snprintf(buf, sizeof(buf), "%s/%s.crl", dir, name) >=
	    sizeof(buf))
		return err_set(e, ERR_CONFIG, "crl_publish_dir: path too long");
	if (path != NULL)
		snprintf(path, pathlen, "%s", buf);
	return util_write_file(buf, der, len, 0644, e);
}
