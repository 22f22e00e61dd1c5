/*
 * The audit sealer and verifier.  docs/audit.md describes the formats;
 * the short version:
 *
 *   hash(seq) = SHA-256( F("signet-audit-chain-v1") || F(be64 seq) ||
 *                        F(prev_hash) || F(be64 entry id) || F(at) ||
 *                        F(actor) || F(action) || F(subject) || F(detail) )
 *   F(x)      = be64(length of x) || x
 *
 *   checkpoint signature = sign( F("signet-audit-checkpoint-v1") ||
 *                                F(be64 seq) || F(head hash) )
 *
 * Every field is length-prefixed so that no two different entries encode
 * to the same bytes, whatever their text holds.  The election among
 * several signetd is a session-level advisory lock held for one pass.
 */
#include "ca/audit_sealer.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/objects.h>

#include "common/log.h"
#include "common/util.h"

/* The sealer's advisory lock key.  docs/audit.md names it so that an
 * operator can find the sealer in pg_locks; it only has to be the same in
 * every signet (db/migrate.c uses another). */
#define AUDIT_LOCK_KEY 0x5167e7a0d17LL

/* Entries per query and per INSERT: bounds memory and statement size. */
#define AUDIT_BATCH 1000

/* An ordinary pass looks for new entries only above the highest entry id
 * chained more than this long ago (see db_audit_chain_floor): cheap, and
 * misses only entries whose transaction ran longer than this, which the
 * next full scan chains. */
#define AUDIT_LOOKBACK_SECONDS 600
/* The background thread scans the whole log this often (and at start). */
#define AUDIT_FULL_SCAN_SECONDS 3600

/* verify: an unchained entry younger than this is pending, not missing. */
#define AUDIT_PENDING_GRACE_SECONDS 30
/* verify: how long to wait for a sealing pass in progress to finish. */
#define AUDIT_VERIFY_LOCK_WAIT_MS 60000
/* verify: problem lines printed at most (all are counted). */
#define AUDIT_MAX_REPORT_LINES 1000

/* A failing thread logs the same error at most this often. */
#define AUDIT_WARN_REPEAT_SECONDS 60

static const char chain_tag[] = "signet-audit-chain-v1";
static const char checkpoint_tag[] = "signet-audit-checkpoint-v1";

/* ---- formats ---- */

static void be64(unsigned char b[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		b[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

/* F(x): the length, then the bytes. */
static int put(EVP_MD_CTX *m, const void *p, size_t len)
{
	unsigned char l[8];

	be64(l, (uint64_t)len);
	return EVP_DigestUpdate(m, l, 8) == 1 &&
	    (len == 0 || EVP_DigestUpdate(m, p, len) == 1);
}

static int put_int(EVP_MD_CTX *m, long long v)
{
	unsigned char b[8];

	be64(b, (uint64_t)v);
	return put(m, b, 8);
}

static int entry_hash(long long seq, const unsigned char prev[32],
    const struct db_audit_entry *en, unsigned char out[32], struct err *e)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned int outlen = 0;
	int rc = -1;

	if (m == NULL ||
	    EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1 ||
	    !put(m, chain_tag, strlen(chain_tag)) ||
	    !put_int(m, seq) ||
	    !put(m, prev, 32) ||
	    !put_int(m, en->id) ||
	    !put(m, en->at_us, strlen(en->at_us)) ||
	    !put(m, en->actor, en->actor_len) ||
	    !put(m, en->action, en->action_len) ||
	    !put(m, en->subject, en->subject_len) ||
	    !put(m, en->detail, en->detail_len) ||
	    EVP_DigestFinal_ex(m, out, &outlen) != 1 || outlen != 32) {
		err_ossl(e, ERR_INTERNAL, "hashing audit entry %lld", en->id);
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(m);
	return rc;
}

/* The signed bytes of a checkpoint; buf needs CHECKPOINT_MSG_MAX. */
#define CHECKPOINT_MSG_MAX (3 * 8 + sizeof(checkpoint_tag) + 8 + 32)
static size_t checkpoint_msg(long long seq, const unsigned char head[32],
    unsigned char *buf)
{
	size_t n = 0, tl = strlen(checkpoint_tag);

	be64(buf + n, tl);
	n += 8;
	memcpy(buf + n, checkpoint_tag, tl);
	n += tl;
	be64(buf + n, 8);
	n += 8;
	be64(buf + n, (uint64_t)seq);
	n += 8;
	be64(buf + n, 32);
	n += 8;
	memcpy(buf + n, head, 32);
	n += 32;
	return n;
}

/* The digest hsm_sign_data() uses, as hsm.h documents it: SHA-384 for a
 * P-384 key, SHA-256 for the others.  The verifier has only the public
 * key, so it applies the rule itself; the sealer checks each checkpoint
 * against it before storing, so a divergence fails loudly there. */
static const EVP_MD *checkpoint_md(EVP_PKEY *pk)
{
	char group[64];
	size_t len = 0;
	int nid;

	if (EVP_PKEY_is_a(pk, "EC") &&
	    EVP_PKEY_get_group_name(pk, group, sizeof(group), &len) == 1) {
		if ((nid = OBJ_sn2nid(group)) == NID_undef)
			nid = EC_curve_nist2nid(group);
		if (nid == NID_secp384r1)
			return EVP_sha384();
	}
	err_ossl_clear();
	return EVP_sha256();
}

/* 1 good, 0 bad signature, -1 the key cannot verify at all. */
static int checkpoint_verify(EVP_PKEY *pub, long long seq,
    const unsigned char head[32], const unsigned char *sig, size_t siglen,
    struct err *e)
{
	unsigned char msg[CHECKPOINT_MSG_MAX];
	size_t len = checkpoint_msg(seq, head, msg);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int rc = -1;

	if (m == NULL ||
	    EVP_DigestVerifyInit(m, NULL, checkpoint_md(pub), NULL, pub) != 1) {
		err_ossl(e, ERR_INTERNAL, "cannot verify with the audit key");
		goto out;
	}
	/* 0 and the negative "malformed signature" both mean: not signed by
	 * this key. */
	rc = EVP_DigestVerify(m, sig, siglen, msg, len) == 1;
	err_ossl_clear();
out:
	EVP_MD_CTX_free(m);
	return rc;
}

/* ---- the election ---- */

/* fn is one of pg_try_advisory_lock, pg_try_advisory_lock_shared,
 * pg_advisory_unlock, pg_advisory_unlock_shared: all return a boolean. */
static int lock_call(PGconn *c, const char *fn, int *result, struct err *e)
{
	char key[24], sql[96];
	const char *p[1] = { key };
	PGresult *r = NULL;

	snprintf(key, sizeof(key), "%lld", (long long)AUDIT_LOCK_KEY);
	snprintf(sql, sizeof(sql), "SELECT %s($1::bigint)", fn);
	if (db_exec(c, sql, 1, p, &r, e) != 0)
		return -1;
	*result = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return 0;
}

static void unlock(PGconn *c, const char *fn)
{
	struct err e;
	int released = 0;

	/* A lost connection took the lock with it: nothing to release. */
	if (PQstatus(c) != CONNECTION_OK)
		return;
	if (lock_call(c, fn, &released, &e) != 0)
		log_warn("msg=\"audit lock release failed\" err=\"%s\"", e.msg);
	else if (!released)
		log_warn("msg=\"audit lock was not held at release\"");
}

/* ---- sealing ---- */

static int sign_checkpoint(PGconn *c, struct hsm_key *key, long long seq,
    const unsigned char head[32], struct err *e)
{
	unsigned char msg[CHECKPOINT_MSG_MAX], *sig = NULL;
	size_t len = checkpoint_msg(seq, head, msg), siglen = 0;
	char hex[65];
	int rc = -1, ok;

	if (hsm_sign_data(key, msg, len, &sig, &siglen, e) != 0) {
		err_prefix(e, "signing audit checkpoint: ");
		goto out;
	}
	/* Never store a checkpoint that verify would reject. */
	if ((ok = checkpoint_verify(hsm_key_public(key), seq, head, sig,
	    siglen, e)) < 0)
		goto out;
	if (!ok) {
		err_set(e, ERR_INTERNAL, "audit checkpoint signature does not "
		    "verify with the public half of key %s", hsm_key_label(key));
		goto out;
	}
	if (db_audit_checkpoint_add(c, seq, head, hsm_key_label(key), sig,
	    siglen, e) != 0)
		goto out;
	/* Logged so that checkpoints also live outside the database: a copy
	 * that someone able to delete checkpoint rows cannot reach. */
	util_hex(head, 32, hex);
	log_info("msg=\"audit checkpoint signed\" seq=%lld head=%s key=%s",
	    seq, hex, hsm_key_label(key));
	rc = 0;
out:
	OPENSSL_free(sig);
	return rc;
}

/*
 * One pass.  full: scan the whole log for unchained entries rather than
 * only above the lookback floor.  stop (may be NULL) ends a long pass
 * between batches.  *won: this pass held the lock.
 */
static int seal_pass(PGconn *c, struct hsm_key *key, int checkpoint,
    int full, atomic_int *stop, long *sealed, int *won, struct err *e)
{
	struct db_audit_entry *v = NULL;
	struct db_audit_link *links = NULL;
	unsigned char head[32];
	long long head_seq = 0, cp_seq = 0, after = 0;
	long total = 0;
	int n = 0, locked = 0, rc = -1;

	*won = 0;
	if (checkpoint && key == NULL) {
		err_set(e, ERR_INTERNAL, "audit checkpoint needs the audit key");
		goto out;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		err_set(e, ERR_UNAVAILABLE, "database: connection lost");
		goto out;
	}
	/* The chain is written in autocommit statements; inside a caller's
	 * transaction it would vanish with the caller's rollback. */
	if (PQtransactionStatus(c) != PQTRANS_IDLE) {
		err_set(e, ERR_INTERNAL, "audit sealing on a connection inside "
		    "a transaction");
		goto out;
	}
	/* Session-level, held for the whole pass and released at its end: a
	 * crashed or partitioned sealer loses it with its session, and a
	 * verifier (shared lock) sees no half-finished catch-up. */
	if (lock_call(c, "pg_try_advisory_lock", &locked, e) != 0)
		goto out;
	if (!locked) {
		rc = 0;
		goto out;
	}
	*won = 1;
	if (db_audit_chain_head(c, &head_seq, head, e) != 0 ||
	    db_audit_checkpoint_last(c, &cp_seq, e) != 0)
		goto out;
	/* Sealed entries a checkpoint covered were deleted.  Extending the
	 * chain would re-use their seqs; leave the evidence as it is. */
	if (head_seq < cp_seq) {
		err_set(e, ERR_CONFLICT, "audit chain ends at seq %lld but a "
		    "checkpoint covers seq %lld: sealed entries were deleted; "
		    "refusing to extend the chain (see `signet audit verify`)",
		    head_seq, cp_seq);
		goto out;
	}
	if (!full && db_audit_chain_floor(c, AUDIT_LOOKBACK_SECONDS, &after,
	    e) != 0)
		goto out;
	for (;;) {
		if (stop != NULL && atomic_load(stop))
			break;
		if (db_audit_unchained(c, after, 0, AUDIT_BATCH, &v, &n, e) != 0)
			goto out;
		if (n == 0)
			break;
		if ((links = calloc((size_t)n, sizeof(*links))) == NULL) {
			err_set(e, ERR_INTERNAL, "out of memory");
			goto out;
		}
		for (int i = 0; i < n; i++) {
			const unsigned char *prev = i == 0 ? head :
			    links[i - 1].hash;

			if (v[i].has_null) {
				err_set(e, ERR_INTERNAL, "audit entry %lld has "
				    "a NULL field: the schema was altered; "
				    "refusing to seal it", v[i].id);
				goto out;
			}
			links[i].seq = head_seq + 1 + i;
			links[i].entry_id = v[i].id;
			memcpy(links[i].prev_hash, prev, 32);
			if (entry_hash(links[i].seq, prev, &v[i], links[i].hash,
			    e) != 0)
				goto out;
		}
		if (db_audit_chain_insert(c, links, n, e) != 0)
			goto out;
		head_seq += n;
		memcpy(head, links[n - 1].hash, 32);
		total += n;
		after = v[n - 1].id;
		free(links);
		links = NULL;
		db_audit_entries_free(v, n);
		v = NULL;
		if (n < AUDIT_BATCH)
			break;
	}
	if (checkpoint && head_seq > cp_seq &&
	    !(stop != NULL && atomic_load(stop)) &&
	    sign_checkpoint(c, key, head_seq, head, e) != 0)
		goto out;
	rc = 0;
out:
	free(links);
	db_audit_entries_free(v, n);
	if (locked)
		unlock(c, "pg_advisory_unlock");
	if (sealed != NULL)
		*sealed = total;
	return rc;
}

int audit_seal(PGconn *c, struct hsm_key *audit_key, int checkpoint,
    long *sealed, struct err *e)
{
	int won = 0, rc;

	/* An explicit pass (the CLI before verify, tests) scans everything:
	 * exactness matters more here than the cost of one scan. */
	rc = seal_pass(c, audit_key, checkpoint, 1, NULL, sealed, &won, e);
	if (rc == 0 && !won)
		log_debug("msg=\"audit sealing skipped: another process holds "
		    "the sealer lock\"");
	return rc;
}

/* ---- verifying ---- */

struct verify {
	PGconn *c;
	FILE *out;
	EVP_PKEY *pub;
	long long problems, shown;
	/* the chain walk */
	long long chained, last_seq;
	unsigned char last_hash[32];
	/* checkpoints, read in step with the chain */
	struct db_audit_checkpoint *cps;
	int ncp, icp, cp_done;
	long long cp_after, checkpoints;
	struct db_audit_checkpoint newest;   /* sig not kept */
	long long pending;
};

static void problem(struct verify *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void problem(struct verify *v, const char *fmt, ...)
{
	va_list ap;

	v->problems++;
	if (v->shown >= AUDIT_MAX_REPORT_LINES)
		return;
	v->shown++;
	fputs("problem: ", v->out);
	va_start(ap, fmt);
	vfprintf(v->out, fmt, ap);
	va_end(ap);
	fputc('\n', v->out);
}

/* The next checkpoint not yet checked (NULL at the end). */
static int cp_peek(struct verify *v, struct db_audit_checkpoint **cp,
    struct err *e)
{
	*cp = NULL;
	if (v->icp == v->ncp && !v->cp_done) {
		db_audit_checkpoints_free(v->cps, v->ncp);
		v->cps = NULL;
		v->ncp = v->icp = 0;
		if (db_audit_checkpoints_fetch(v->c, v->cp_after, AUDIT_BATCH,
		    &v->cps, &v->ncp, e) != 0)
			return -1;
		if (v->ncp < AUDIT_BATCH)
			v->cp_done = 1;
		if (v->ncp > 0)
			v->cp_after = v->cps[v->ncp - 1].seq;
	}
	if (v->icp < v->ncp)
		*cp = &v->cps[v->icp];
	return 0;
}

/* Check one checkpoint: its signature, and that the chain's hash at its
 * seq (chain_hash, NULL if there is no chain row at that seq) is its
 * head.  Consumes it. */
static int cp_check(struct verify *v, struct db_audit_checkpoint *cp,
    const unsigned char *chain_hash, struct err *e)
{
	int ok;

	v->checkpoints++;
	v->newest = *cp;
	v->newest.sig = NULL;
	v->icp++;
	if (cp->head_hash_len != 32) {
		problem(v, "checkpoint at seq %lld: stored head hash is %zu "
		    "bytes, not 32", cp->seq, cp->head_hash_len);
		return 0;
	}
	if ((ok = checkpoint_verify(v->pub, cp->seq, cp->head_hash, cp->sig,
	    cp->sig_len, e)) < 0)
		return -1;
	if (!ok)
		problem(v, "checkpoint at seq %lld: signature does not verify "
		    "with the audit key (checkpoint forged or altered)", cp->seq);
	if (chain_hash == NULL) {
		if (cp->seq > v->last_seq)
			problem(v, "checkpoint at seq %lld: the chain ends at "
			    "seq %lld (sealed entries were deleted)", cp->seq,
			    v->last_seq);
		else
			problem(v, "checkpoint at seq %lld: no chain row at "
			    "that seq (deleted)", cp->seq);
	} else if (CRYPTO_memcmp(chain_hash, cp->head_hash, 32) != 0) {
		problem(v, "checkpoint at seq %lld: its head hash differs from "
		    "the chain's hash at that seq (entries up to it were "
		    "rewritten after the checkpoint)", cp->seq);
	}
	return 0;
}

/* Checkpoints before seq (all of them if seq < 0) have no chain row. */
static int cp_check_until(struct verify *v, long long seq, struct err *e)
{
	struct db_audit_checkpoint *cp;

	for (;;) {
		if (cp_peek(v, &cp, e) != 0)
			return -1;
		if (cp == NULL || (seq >= 0 && cp->seq >= seq))
			return 0;
		if (cp_check(v, cp, NULL, e) != 0)
			return -1;
	}
}

static int check_link(struct verify *v, const struct db_audit_link *k,
    struct err *e)
{
	static const unsigned char zero[32];
	struct db_audit_checkpoint *cp;
	unsigned char h[32];
	long long expected = v->last_seq + 1;
	int gap = 0;

	if (k->seq != expected) {
		gap = 1;
		if (k->seq == expected + 1)
			problem(v, "seq %lld: missing from the chain (chain row "
			    "deleted)", expected);
		else
			problem(v, "seq %lld..%lld: missing from the chain "
			    "(chain rows deleted)", expected, k->seq - 1);
	}
	if (cp_check_until(v, k->seq, e) != 0)
		return -1;
	if (k->hash_len != 32 || k->prev_hash_len != 32)
		problem(v, "seq %lld: stored hash or prev_hash is not 32 bytes",
		    k->seq);
	/* After a gap the link cannot match; the gap is the problem. */
	if (!gap && CRYPTO_memcmp(k->prev_hash, k->seq == 1 ? zero :
	    v->last_hash, 32) != 0)
		problem(v, "seq %lld: prev_hash does not match the hash of seq "
		    "%lld (chain reordered or rows replaced)", k->seq,
		    k->seq - 1);
	if (!k->has_entry) {
		problem(v, "seq %lld: entry %lld was deleted from audit_log",
		    k->seq, k->entry_id);
	} else if (k->entry.has_null) {
		problem(v, "seq %lld: entry %lld has a NULL field (edited)",
		    k->seq, k->entry_id);
	} else {
		/* Against the stored prev_hash: one edited entry is one
		 * problem, not a cascade down the rest of the chain. */
		if (entry_hash(k->seq, k->prev_hash, &k->entry, h, e) != 0)
			return -1;
		if (CRYPTO_memcmp(h, k->hash, 32) != 0)
			problem(v, "seq %lld: entry %lld does not match its "
			    "sealed hash (edited after it was sealed)", k->seq,
			    k->entry_id);
	}
	if (cp_peek(v, &cp, e) != 0)
		return -1;
	if (cp != NULL && cp->seq == k->seq && cp_check(v, cp, k->hash, e) != 0)
		return -1;
	v->chained++;
	v->last_seq = k->seq;
	memcpy(v->last_hash, k->hash, 32);
	return 0;
}

static int walk(struct verify *v, struct err *e)
{
	struct db_audit_link *links = NULL;
	struct db_audit_entry *u = NULL;
	long long after = 0;
	int n = 0, rc = -1;

	for (;;) {
		if (db_audit_chain_fetch(v->c, after, AUDIT_BATCH, &links, &n,
		    e) != 0)
			goto out;
		for (int i = 0; i < n; i++)
			if (check_link(v, &links[i], e) != 0)
				goto out;
		if (n > 0)
			after = links[n - 1].seq;
		db_audit_links_free(links, n);
		links = NULL;
		if (n < AUDIT_BATCH)
			break;
	}
	/* Checkpoints beyond the end of the chain. */
	if (cp_check_until(v, -1, e) != 0)
		goto out;
	/* Entries not in the chain: recent ones are pending (committed after
	 * the last pass); older ones should have been sealed. */
	after = 0;
	for (;;) {
		if (db_audit_unchained(v->c, after, AUDIT_PENDING_GRACE_SECONDS,
		    AUDIT_BATCH, &u, &n, e) != 0)
			goto out;
		for (int i = 0; i < n; i++) {
			if (u[i].old)
				problem(v, "entry %lld: older than %ds but not in "
				    "the chain (its chain row was deleted, or no "
				    "sealer is running)", u[i].id,
				    AUDIT_PENDING_GRACE_SECONDS);
			else
				v->pending++;
		}
		if (n > 0)
			after = u[n - 1].id;
		db_audit_entries_free(u, n);
		u = NULL;
		if (n < AUDIT_BATCH)
			break;
	}
	rc = 0;
out:
	db_audit_links_free(links, n);
	db_audit_entries_free(u, n);
	return rc;
}

int audit_verify(PGconn *c, EVP_PKEY *audit_pub, FILE *report,
    struct err *e)
{
	struct verify v;
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	char hex[65];
	int locked = 0, in_tx = 0, rc = -1;

	memset(&v, 0, sizeof(v));
	v.c = c;
	v.out = report;
	v.pub = audit_pub;
	if (audit_pub == NULL)
		return err_set(e, ERR_INTERNAL, "audit verify needs the audit "
		    "key's public half");
	if (PQstatus(c) != CONNECTION_OK)
		return err_set(e, ERR_UNAVAILABLE, "database: connection lost");
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		return err_set(e, ERR_INTERNAL, "audit verify on a connection "
		    "inside a transaction");
	/* Shared against the sealer's exclusive lock: wait for a pass in
	 * progress to finish, so that a sealer catching up on a backlog is
	 * not mistaken for missing entries.  Sealers skip while we verify. */
	for (int waited = 0;; waited += 100) {
		if (lock_call(c, "pg_try_advisory_lock_shared", &locked, e) != 0)
			goto out;
		if (locked)
			break;
		if (waited >= AUDIT_VERIFY_LOCK_WAIT_MS) {
			err_set(e, ERR_UNAVAILABLE, "the audit sealer lock has "
			    "been held for over %d s: is a sealer stuck?",
			    AUDIT_VERIFY_LOCK_WAIT_MS / 1000);
			goto out;
		}
		nanosleep(&pause, NULL);
	}
	/* One snapshot for every query: chain, log and checkpoints as they
	 * were at one instant, however long the walk takes. */
	if (db_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
	    NULL, NULL, e) != 0)
		goto out;
	in_tx = 1;
	if (walk(&v, e) != 0)
		goto out;
	if (db_commit(c, e) != 0)
		goto out;
	in_tx = 0;

	if (v.problems > v.shown)
		fprintf(report, "problem: ... and %lld more problems not shown\n",
		    v.problems - v.shown);
	if (v.checkpoints > 0) {
		util_hex(v.newest.head_hash, 32, hex);
		fprintf(report, "newest checkpoint: seq %lld head %s signed %s "
		    "key %s\n", v.newest.seq, hex, v.newest.signed_at,
		    v.newest.key_label);
	} else if (v.chained > 0) {
		fprintf(report, "warning: no checkpoint: the chain is not yet "
		    "anchored by a signature\n");
	}
	fprintf(report, "audit: %lld entries chained, %lld checkpoints, "
	    "%lld pending, %lld problems: %s\n", v.chained, v.checkpoints,
	    v.pending, v.problems, v.problems ? "TAMPERING DETECTED" : "intact");
	if (fflush(report) != 0 || ferror(report)) {
		err_set(e, ERR_INTERNAL, "writing the audit report: %s",
		    strerror(errno));
		goto out;
	}
	rc = v.problems ? 1 : 0;
out:
	if (in_tx)
		db_rollback(c);
	if (locked)
		unlock(c, "pg_advisory_unlock_shared");
	db_audit_checkpoints_free(v.cps, v.ncp);
	return rc;
}

/* ---- the background thread ---- */

struct audit_sealer {
	struct db *db;
	struct hsm_key *key;
	long seal_interval, checkpoint_interval;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_int stop;
	/* rate-limited warnings */
	char last_err[sizeof(((struct err *)0)->msg)];
	time_t last_warn;
	int failing;
};

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void sealer_warn(struct audit_sealer *s, const struct err *e)
{
	time_t now = mono_now();

	/* The database may be down for an hour: say so once a minute, and
	 * at once when the error changes. */
	if (!s->failing || strcmp(s->last_err, e->msg) != 0 ||
	    now - s->last_warn >= AUDIT_WARN_REPEAT_SECONDS) {
		log_warn("msg=\"audit sealing failed, will retry\" err=\"%s\"",
		    e->msg);
		snprintf(s->last_err, sizeof(s->last_err), "%s", e->msg);
		s->last_warn = now;
	}
	s->failing = 1;
}

static void *sealer_main(void *arg)
{
	struct audit_sealer *s = arg;
	time_t next_cp = 0, next_full = 0, now;
	struct timespec deadline;
	struct err e;
	PGconn *c;
	long sealed;
	int won, do_cp, do_full;

	while (!atomic_load(&s->stop)) {
		now = mono_now();
		do_cp = now >= next_cp;
		do_full = now >= next_full;
		memset(&e, 0, sizeof(e));
		if ((c = db_acquire(s->db, &e)) == NULL) {
			sealer_warn(s, &e);
		} else {
			int rc = seal_pass(c, s->key, do_cp, do_full, &s->stop,
			    &sealed, &won, &e);

			db_release(s->db, c);
			if (rc != 0) {
				sealer_warn(s, &e);
			} else {
				if (s->failing)
					log_info("msg=\"audit sealing recovered\"");
				s->failing = 0;
				/* Only the winner's schedule moves: a loser
				 * tries again next pass, cheaply. */
				if (won && do_cp)
					next_cp = now + s->checkpoint_interval;
				if (won && do_full)
					next_full = now + AUDIT_FULL_SCAN_SECONDS;
				if (sealed > 0)
					log_debug("msg=\"audit entries sealed\" "
					    "count=%ld", sealed);
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += s->seal_interval;
		pthread_mutex_lock(&s->lock);
		while (!atomic_load(&s->stop) &&
		    pthread_cond_timedwait(&s->cond, &s->lock, &deadline) !=
		    ETIMEDOUT)
			;
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

int audit_sealer_start(struct db *d, struct hsm_key *audit_key,
    long seal_interval, long checkpoint_interval, struct audit_sealer **out,
    struct err *e)
{
	struct audit_sealer *s;
	pthread_condattr_t ca;
	int rc;

	if (d == NULL || audit_key == NULL)
		return err_set(e, ERR_INTERNAL, "audit sealer needs a database "
		    "and the audit key");
	if (seal_interval < 1 || checkpoint_interval < 1)
		return err_set(e, ERR_CONFIG, "audit seal and checkpoint "
		    "intervals must be at least 1 s");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	s->db = d;
	s->key = audit_key;
	s->seal_interval = seal_interval;
	s->checkpoint_interval = checkpoint_interval;
	atomic_init(&s->stop, 0);
	pthread_mutex_init(&s->lock, NULL);
	/* Monotonic: a clock step must not stall or hurry the sealer. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = pthread_create(&s->thread, NULL, sealer_main, s)) != 0) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return err_set(e, ERR_INTERNAL, "starting the audit sealer: %s",
		    strerror(rc));
	}
	*out = s;
	return 0;
}

void audit_sealer_stop(struct audit_sealer *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	atomic_store(&s->stop, 1);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
