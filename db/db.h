/*
 * db: PostgreSQL through libpq.  A fixed pool of connections shared by
 * threads, schema migrations embedded from the .sql files in
 * db/migrations, and the queries signet runs, every one parameterized.  db knows nothing of HTTP
 * or X.509: it stores what it is given.
 *
 * Errors: a lost or refused connection is ERR_UNAVAILABLE (HTTP 503), a
 * unique violation ERR_CONFLICT, anything else ERR_INTERNAL.
 */
#ifndef SIGNET_DB_H
#define SIGNET_DB_H

#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/err.h"

struct db;

struct db_migration {
	int version;
	const char *name;
	const char *sql;
};
extern const struct db_migration db_migrations[];
extern const int db_migrations_count;

/* Open pool_size connections to conninfo.  Fails (ERR_UNAVAILABLE) only if
 * not even one connection can be made; lost connections are re-made on
 * use.  The result must be passed to db_free(). */
int db_open(const char *conninfo, int pool_size, struct db **out,
    struct err *e);
void db_free(struct db *d);

/* One new connection outside any pool (ERR_UNAVAILABLE on failure). */
PGconn *db_connect(const char *conninfo, struct err *e);

/* Take a connection (waits while all are busy) and give it back.  A
 * connection found broken is reset before it is handed out; if that fails
 * db_acquire fails with ERR_UNAVAILABLE. */
PGconn *db_acquire(struct db *d, struct err *e);
void db_release(struct db *d, PGconn *conn);

/* Connections in use and idle (for metrics). */
void db_pool_stats(struct db *d, int *busy, int *idle);

/* Run sql with text parameters (NULL entries are SQL NULL).  On success
 * *res (if res is not NULL) holds the result, to PQclear(); otherwise it is
 * cleared.  Maps failures to err kinds as above. */
int db_exec(PGconn *c, const char *sql, int nparams,
    const char *const *params, PGresult **res, struct err *e);

/* Like db_exec with binary parameters: lens[i] > 0 means param i is bytea
 * of that many bytes; lens[i] == 0 means text. */
int db_execb(PGconn *c, const char *sql, int nparams,
    const char *const *params, const int *lens, PGresult **res,
    struct err *e);

int db_begin(PGconn *c, struct err *e);
int db_commit(PGconn *c, struct err *e);
void db_rollback(PGconn *c);

/* Apply the migrations not yet applied, in order, each in its own
 * transaction, under an advisory lock.  *applied counts those applied now. */
int db_migrate(PGconn *c, int *applied, struct err *e);

/* 0 if the schema is at the newest version, ERR_CONFIG saying to run
 * `signet db migrate` otherwise. */
int db_check_schema(PGconn *c, struct err *e);

/* Decode a bytea column in hex output format into a malloc'ed buffer. */
int db_get_bytea(PGresult *r, int row, int col, unsigned char **out,
    size_t *len, struct err *e);

/* ---- audit ---- */

/* Insert an audit entry in the caller's current transaction.  detail_json
 * may be NULL ("{}"). */
int db_audit_add(PGconn *c, const char *actor, const char *action,
    const char *subject, const char *detail_json, struct err *e);

/* ---- issuers ---- */

struct db_issuer {
	int id;
	char name[64];
	char kind[16];
	char status[16];
	char key_label[128];
	char token[64];
	unsigned char *der;
	size_t der_len;
};

/* Record an issuer (with an audit entry).  *id receives its id. */
int db_issuer_add(PGconn *c, const char *name, const char *kind,
    int parent_id, const char *key_label, const char *token,
    const char *subject, const unsigned char *ski, size_t ski_len,
    const unsigned char spki_sha256[32], time_t not_before, time_t not_after,
    const unsigned char *der, size_t der_len, int *id, struct err *e);

/* Load issuers of a kind ("root"/"intermediate") with status "active",
 * newest first.  *out is a malloc'ed array of *n; free with
 * db_issuers_free. */
int db_issuers_load(PGconn *c, const char *kind, struct db_issuer **out,
    int *n, struct err *e);
void db_issuers_free(struct db_issuer *v, int n);

/* Number of issuers recorded (to refuse a second init). */
int db_issuers_count(PGconn *c, long *count, struct err *e);

/* ---- certificates ---- */

struct db_intent {
	const char *serial;          /* lowercase hex */
	int issuer_id;
	const char *subject;
	const char *const *sans;     /* "DNS:x", "IP:x", "URI:x" */
	int nsans;
	const char *profile;
	const char *provisioner;     /* NULL for admin issuance */
	const char *requester;       /* who asked: token sub, admin, ... */
	time_t not_before, not_after;
	unsigned char tbs_sha256[32];
	unsigned char spki_sha256[32];
	/* One-time token id to consume in the same transaction (NULL: none);
	 * jti_owner is its used_tokens.provisioner (NULL: provisioner). */
	const char *jti, *jti_owner;
	time_t jti_expires;
	/* The certificate this one renews (NULL: none). */
	const char *predecessor;
};

/* Durably record the intent (status pending) and consume the token id, in
 * one transaction.  A replayed jti fails with ERR_AUTH; a blocked key
 * (revoked for keyCompromise) with ERR_POLICY. */
int db_cert_intent(PGconn *c, const struct db_intent *in, struct err *e);

/* The same for n intents in one statement and one commit (group commit).
 * Returns -1 (e set) if the statement failed, which fails every row;
 * otherwise 0 with res[i] saying how row i fared (kind ERR_NONE: recorded).
 * Token ids must be distinct within one call. */
int db_cert_intent_many(PGconn *c, const struct db_intent *const *in, int n,
    struct err *res, struct err *e);

struct db_store {
	const char *serial;
	const unsigned char *der;
	size_t der_len;
	unsigned char fingerprint[32];
	const char *actor;
	const char *audit_detail_json;
};

/* Store the signed certificate and mark it good, with its audit entry, in
 * one transaction.  Must be committed before the certificate is returned. */
int db_cert_store(PGconn *c, const struct db_store *in, struct err *e);
/* The same for n certificates in one statement and one commit; res as
 * for db_cert_intent_many. */
int db_cert_store_many(PGconn *c, const struct db_store *const *in, int n,
    struct err *res, struct err *e);

/* Group commit: a writer thread per kind (intents, stores) with its own
 * connection records what concurrent callers queued in one statement and
 * one commit, and answers each caller with its own result once committed.
 * db_group_stop joins the threads; callers must have returned by then. */
struct db_group;
int db_group_start(const char *conninfo, struct db_group **out,
    struct err *e);
void db_group_stop(struct db_group *g);
/* As db_cert_intent / db_cert_store, through the group. */
int db_group_intent(struct db_group *g, const struct db_intent *in,
    struct err *e);
int db_group_store(struct db_group *g, const struct db_store *in,
    struct err *e);

/* Mark pending intents older than age_seconds abandoned.  *n receives
 * how many. */
int db_cert_reconcile(PGconn *c, long age_seconds, long *n, struct err *e);

/* Good, unexpired certificates without a successor (db/expiry.c) expiring
 * within 1, 7 and 30 days. */
int db_cert_expiring_counts(PGconn *c, long counts[3], struct err *e);

/* ---- expiry (db/expiry.c) ---- */

/* Good, unexpired certificates whose notAfter is within `within` seconds,
 * as a JSON array text (malloc'ed) ordered by notAfter: serial, subject,
 * sans, profile, provisioner, not_after (RFC 3339), seconds_left and
 * successor (the newest good certificate naming it as predecessor, or
 * null).  provisioner NULL: any.  with_successor 0 leaves out those that
 * have one.  At most limit rows; *without_successor (if not NULL) counts
 * every match without a successor, beyond the limit too. */
int db_expiring_json(PGconn *c, long long within, const char *provisioner,
    int with_successor, long limit, char **out, long *without_successor,
    struct err *e);

/* Notifications due for the n thresholds (labels[i] is how threshold i of
 * seconds[i] seconds is recorded in expiry_notifications): good, unexpired
 * certificates without a successor inside the threshold's window that
 * were issued before the window began and are not yet notified for it.
 * A JSON array text (malloc'ed) of at most limit objects: threshold,
 * serial, subject, sans, provisioner, not_after, not_after_epoch. */
int db_expiry_due_json(PGconn *c, const char *const *labels,
    const long long *seconds, int n, long limit, char **out, struct err *e);

/* Claim the notification of serial for threshold, inside a transaction
 * the caller opened: *claimed 1 if this caller inserted the row, and
 * must COMMIT once the notification went out, or ROLLBACK to give it
 * back; 0 if it was sent already or another process is sending it now
 * (then ROLLBACK). */
int db_expiry_claim(PGconn *c, const char *serial, const char *threshold,
    int *claimed, struct err *e);

/* Certificates as a JSON array text (malloc'ed), filtered: expiring_within
 * (seconds, < 0 for no filter), status (NULL any; "good", "revoked",
 * "expired"), provisioner (NULL any).  Capped at limit rows. */
int db_cert_list_json(PGconn *c, long long expiring_within,
    const char *status, const char *provisioner, long limit, char **out,
    struct err *e);

/* One certificate as a JSON object text including "pem"; ERR_NOTFOUND if
 * none. */
int db_cert_show_json(PGconn *c, const char *serial, char **out,
    struct err *e);

/* ---- provisioners ---- */

/* Add (with audit).  Name taken: ERR_CONFLICT. */
int db_provisioner_add(PGconn *c, const char *name, const char *jwk_json,
    const char *policy_json, struct err *e);
/* Remove (with audit).  Unknown: ERR_NOTFOUND. */
int db_provisioner_remove(PGconn *c, const char *name, struct err *e);
/* Fetch the public JWK and policy (malloc'ed JSON texts).  Unknown:
 * ERR_NOTFOUND. */
int db_provisioner_get(PGconn *c, const char *name, char **jwk_json,
    char **policy_json, struct err *e);
/* All provisioners as a JSON array text (malloc'ed). */
int db_provisioner_list_json(PGconn *c, char **out, struct err *e);

/* ---- audit chain ---- */

/* The fields of an audit_log entry that the chain hash covers, as the
 * server renders them whatever the session's client_encoding or DateStyle:
 * text columns as their UTF-8 bytes, detail as the jsonb's canonical text,
 * at as decimal microseconds since 1970-01-01T00:00:00Z ("Infinity" for
 * the non-finite timestamps PostgreSQL accepts).  See docs/audit.md. */
struct db_audit_entry {
	long long id;
	char at_us[40];
	unsigned char *actor, *action, *subject, *detail;
	size_t actor_len, action_len, subject_len, detail_len;
	int has_null;   /* a column was NULL (only possible if tampered with) */
	int old;        /* at is older than the caller's grace period */
};

/* One audit_chain row and, if it still exists, the entry it seals.  Stored
 * hashes are copied as they are; *_len tells their stored length (anything
 * but 32 is corruption). */
struct db_audit_link {
	long long seq;
	long long entry_id;
	unsigned char prev_hash[32], hash[32];
	size_t prev_hash_len, hash_len;
	int has_entry;
	struct db_audit_entry entry;
};

struct db_audit_checkpoint {
	long long seq;
	unsigned char head_hash[32];
	size_t head_hash_len;       /* as stored */
	char key_label[128];
	char signed_at[32];         /* RFC 3339 UTC */
	unsigned char *sig;
	size_t sig_len;
};

/* Up to limit committed entries with id > after_id that are not in
 * audit_chain, in id order.  ->old flags entries whose at is more than
 * old_seconds before the transaction's now().  *out is malloc'ed (NULL
 * when *n is 0); free with db_audit_entries_free. */
int db_audit_unchained(PGconn *c, long long after_id, long old_seconds,
    int limit, struct db_audit_entry **out, int *n, struct err *e);
void db_audit_entries_free(struct db_audit_entry *v, int n);

/* The chain's newest row: *seq 0 and hash all zeros when empty.  A stored
 * head hash that is not 32 bytes is ERR_INTERNAL. */
int db_audit_chain_head(PGconn *c, long long *seq, unsigned char hash[32],
    struct err *e);

/* The highest entry id chained more than age_seconds ago (0 if none): a
 * sealer may look only above it for new entries, because any entry below
 * it that is still unchained belongs to a transaction that ran longer
 * than age_seconds (the id sequence hands out ids in order). */
int db_audit_chain_floor(PGconn *c, long age_seconds, long long *entry_id,
    struct err *e);

/* Insert n chain rows (seq, entry_id, prev_hash, hash of each) in one
 * statement: all or none. */
int db_audit_chain_insert(PGconn *c, const struct db_audit_link *v, int n,
    struct err *e);

/* Up to limit chain rows with seq > after_seq in seq order, each with its
 * entry (LEFT JOIN: has_entry 0 if the entry is gone).  Free with
 * db_audit_links_free. */
int db_audit_chain_fetch(PGconn *c, long long after_seq, int limit,
    struct db_audit_link **out, int *n, struct err *e);
void db_audit_links_free(struct db_audit_link *v, int n);

/* Record a signed checkpoint of the chain head. */
int db_audit_checkpoint_add(PGconn *c, long long seq,
    const unsigned char head_hash[32], const char *key_label,
    const unsigned char *sig, size_t sig_len, struct err *e);

/* The newest checkpoint's seq (0 if none). */
int db_audit_checkpoint_last(PGconn *c, long long *seq, struct err *e);

/* Up to limit checkpoints with seq > after_seq, in seq order.  Free with
 * db_audit_checkpoints_free. */
int db_audit_checkpoints_fetch(PGconn *c, long long after_seq, int limit,
    struct db_audit_checkpoint **out, int *n, struct err *e);
void db_audit_checkpoints_free(struct db_audit_checkpoint *v, int n);

/* ---- revocation (db/revoke.c) ---- */

struct db_revoke {
	const char *serial;          /* lowercase hex, no leading zeros */
	int reason;                  /* RFC 5280 CRLReason code */
	const char *actor;           /* for the audit entry */
	const char *via;             /* "cli", "token" or "pop" (a literal) */
	/* Refuse (ERR_POLICY) unless the certificate was issued through
	 * this provisioner; NULL: any certificate. */
	const char *only_provisioner;
	/* One-time token id to consume in the same transaction (NULL:
	 * none); jti_owner is its used_tokens.provisioner. */
	const char *jti_owner, *jti;
	time_t jti_expires;
};

struct db_revoke_result {
	int already;                 /* it was revoked before this call */
	char revoked_at[32];         /* RFC 3339 UTC */
	int reason;                  /* the reason on record */
	char provisioner[65];        /* who issued it ("" for an admin) */
};

/* Revoke in one transaction: the certificate row (status, revoked_at,
 * revocation_reason), an audit entry, for keyCompromise (1) the key in
 * blocked_keys, and NOTIFY signet_revocation '<serial>' (delivered at
 * commit).  Revoking a revoked certificate changes nothing (but still
 * blocks the key for keyCompromise) and sets out->already.  Unknown
 * serial: ERR_NOTFOUND; never issued (pending, abandoned): ERR_CONFLICT;
 * replayed jti: ERR_AUTH. */
int db_cert_revoke(PGconn *c, const struct db_revoke *in,
    struct db_revoke_result *out, struct err *e);

/* What a renewal needs to know of the certificate it replaces. */
struct db_cert_rec {
	char status[16];          /* good, revoked */
	char provisioner[65];     /* "" for an administrator's */
	char profile[16];
	time_t not_before, not_after;
	unsigned char *der;       /* malloc'ed */
	size_t der_len;
};
/* An issued certificate by serial (ERR_NOTFOUND if none was issued);
 * free rec->der with db_cert_rec_clear. */
int db_cert_get(PGconn *c, const char *serial, struct db_cert_rec *rec,
    struct err *e);
void db_cert_rec_clear(struct db_cert_rec *rec);

/* The stored DER of an issued certificate (malloc'ed); ERR_NOTFOUND if
 * there is none. */
int db_cert_der(PGconn *c, const char *serial, unsigned char **der,
    size_t *len, struct err *e);

/* ---- CRLs (db/crl.c) ---- */

/* Allocate the issuer's next CRL number (1, 2, ...).  Run it inside the
 * transaction that stores the CRL: the row stays locked until commit, so
 * concurrent signers get distinct, increasing numbers. */
int db_crl_next_number(PGconn *c, int issuer_id, long long *number,
    struct err *e);

/* The revoked certificates of an issuer still to be listed, handed to fn
 * one at a time, read through a cursor in batches (a CRL of a million
 * entries never holds the whole result set beside itself).  Must run in
 * the caller's transaction.  With
 * scheduled, the expired ones among them are marked as listed on a
 * scheduled CRL after their notAfter, in the caller's transaction, and
 * left off later CRLs.  fn returns 0, or -1 (e set) to fail the whole
 * call; serial is valid during the call only.  *n counts the entries. */
typedef int (*db_crl_entry_fn)(void *arg, const char *serial,
    long long revoked_at, int reason, struct err *e);
int db_crl_entries_each(PGconn *c, int issuer_id, time_t this_update,
    int scheduled, db_crl_entry_fn fn, void *arg, long *n, struct err *e);

/* Store a signed CRL as the issuer's newest (unless a newer one is
 * stored already). */
int db_crl_store(PGconn *c, int issuer_id, long long number,
    const unsigned char *der, size_t len, time_t this_update,
    time_t next_update, int scheduled, struct err *e);

struct db_crl {
	long long number;
	time_t this_update, next_update;
	unsigned char *der;          /* malloc'ed */
	size_t der_len;
};

/* The newest CRL of the issuer named issuer_name; ERR_NOTFOUND if none. */
int db_crl_get(PGconn *c, const char *issuer_name, struct db_crl *out,
    struct err *e);

/* thisUpdate of the issuer's newest CRL, 0 if it has none. */
int db_crl_this_update(PGconn *c, int issuer_id, time_t *this_update,
    struct err *e);

#endif
