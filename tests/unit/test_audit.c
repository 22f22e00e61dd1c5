/*
 * The audit sealer and verifier against a real PostgreSQL and a real
 * token.  Needs SIGNET_TEST_DB (a conninfo whose role may CREATE DATABASE
 * and is a superuser, to tamper), SIGNET_TEST_PKCS11_MODULE,
 * SIGNET_TEST_TOKEN and SIGNET_TEST_PIN; skips without them.
 *
 * Each test gets a fresh database (created, migrated, dropped), so that a
 * tampered chain never leaks into the next test.  Tampering is done the
 * way an intruder with superuser rights would: around the append-only
 * triggers, with ALTER TABLE .. DISABLE TRIGGER USER or
 * session_replication_role = replica.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ca/audit_sealer.h"
#include "common/log.h"
#include "common/util.h"
#include "db/db.h"
#include "hsm/hsm.h"

/* docs/audit.md: the sealer's advisory lock key. */
#define AUDIT_LOCK_KEY "5594169347351"

static const char *env_db, *env_module, *env_token, *env_pin;
static int env_ok;
static struct hsm *hsm;
static struct hsm_key *key;
static char key_label[64];

struct fx {
	char dbname[64];
	char conninfo[2048];
	PGconn *c;
};

/* ---- helpers ---- */

static void random_hex(char *out, size_t bytes)
{
	unsigned char b[32];

	assert_true(bytes <= sizeof(b));
	assert_int_equal(RAND_bytes(b, (int)bytes), 1);
	util_hex(b, bytes, out);
}

static PGconn *connect_db(const char *dbname)
{
	const char *kw[] = { "dbname", "dbname", NULL };
	const char *val[] = { env_db, dbname, NULL };
	PGconn *c;

	/* expand_dbname: the first dbname is SIGNET_TEST_DB as a conninfo,
	 * the second overrides only the database name. */
	c = PQconnectdbParams(kw, val, 1);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "connect %s: %s", dbname ? dbname : "(default)",
		    PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* A conninfo string for db_open() naming exactly what c is connected to. */
static void conninfo_of(PGconn *c, char *out, size_t outlen)
{
	PQconninfoOption *opts = PQconninfo(c), *o;
	size_t n = 0;

	out[0] = '\0';
	for (o = opts; o != NULL && o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		n += (size_t)snprintf(out + n, outlen - n, "%s='", o->keyword);
		for (const char *s = o->val; *s && n + 3 < outlen; s++) {
			if (*s == '\'' || *s == '\\')
				out[n++] = '\\';
			out[n++] = *s;
		}
		n += (size_t)snprintf(out + n, outlen - n, "' ");
		assert_true(n < outlen);
	}
	PQconninfoFree(opts);
}

static void sql(PGconn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sql(PGconn *c, const char *fmt, ...)
{
	char q[2048];
	va_list ap;
	PGresult *r;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	r = PQexec(c, q);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	PQclear(r);
}

static long long sql_ll(PGconn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static long long sql_ll(PGconn *c, const char *fmt, ...)
{
	char q[2048];
	va_list ap;
	PGresult *r;
	long long v;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	r = PQexec(c, q);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	v = PQgetisnull(r, 0, 0) ? -1 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/* Entries with content that tests the encoding: empty subject, quotes,
 * a newline, non-ASCII, nested JSON. */
static void add_entries(PGconn *c, int n, const char *tag)
{
	struct err e = { 0 };
	char subject[64], detail[256];

	for (int i = 0; i < n; i++) {
		if (i % 4 == 0)
			subject[0] = '\0';
		else
			snprintf(subject, sizeof(subject),
			    "%s-\"%d\"\n\xc3\xa9", tag, i);
		snprintf(detail, sizeof(detail),
		    "{\"i\": %d, \"tag\": \"%s\", \"nested\": {\"b\": [1, 2], "
		    "\"a\": null}}", i, tag);
		if (db_audit_add(c, "tester", "test.action", subject, detail,
		    &e) != 0)
			fail_msg("db_audit_add: %s", e.msg);
	}
}

static int seal(PGconn *c, int checkpoint, long *sealed)
{
	struct err e = { 0 };
	int rc = audit_seal(c, key, checkpoint, sealed, &e);

	if (rc != 0)
		fprintf(stderr, "(audit_seal: %s)\n", e.msg);
	return rc;
}

/* Run verify; *text (if not NULL) receives the report to free(). */
static int verify(PGconn *c, char **text)
{
	struct err e = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	assert_non_null(f);
	rc = audit_verify(c, hsm_key_public(key), f, &e);
	fclose(f);
	if (rc < 0)
		fprintf(stderr, "(audit_verify: %s)\n", e.msg);
	fprintf(stderr, "---- verify rc=%d\n%s", rc, buf);
	if (text != NULL)
		*text = buf;
	else
		free(buf);
	return rc;
}

/* Tamper as a superuser: the append-only triggers are user triggers. */
static void tamper(PGconn *c, const char *stmt)
{
	sql(c, "BEGIN");
	sql(c, "SET LOCAL session_replication_role = replica");
	sql(c, "%s", stmt);
	sql(c, "COMMIT");
}

/* A sealed chain of 20 entries with a checkpoint at 12 and one at 20. */
static void sealed_fixture(PGconn *c)
{
	long n = 0;

	add_entries(c, 12, "first");
	assert_int_equal(seal(c, 1, &n), 0);
	assert_int_equal(n, 12);
	add_entries(c, 8, "second");
	assert_int_equal(seal(c, 1, &n), 0);
	assert_int_equal(n, 8);
	assert_int_equal(sql_ll(c, "SELECT count(*) FROM audit_checkpoints"), 2);
	assert_int_equal(verify(c, NULL), 0);
}

/* ---- an independent implementation of the documented hash format ---- */

static void put(EVP_MD_CTX *m, const void *p, size_t len)
{
	unsigned char l[8];

	for (int i = 0; i < 8; i++)
		l[i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	assert_int_equal(EVP_DigestUpdate(m, l, 8), 1);
	if (len > 0)
		assert_int_equal(EVP_DigestUpdate(m, p, len), 1);
}

static void put_be64(EVP_MD_CTX *m, long long v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
	put(m, b, 8);
}

static void unhex(const char *s, unsigned char *out, size_t *len)
{
	/* bytea hex output: "\x0a1b..." */
	assert_true(s[0] == '\\' && s[1] == 'x');
	s += 2;
	*len = strlen(s) / 2;
	for (size_t i = 0; i < *len; i++)
		sscanf(s + 2 * i, "%2hhx", &out[i]);
}

/* Recompute seq's hash from the audit_log row as it is now, per
 * docs/audit.md. */
static void doc_hash(PGconn *c, long long seq, const unsigned char prev[32],
    unsigned char out[32])
{
	static unsigned char buf[4096];
	char q[512];
	PGresult *r;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned int outlen = 0;
	size_t len;

	snprintf(q, sizeof(q),
	    "SELECT l.id, trunc(extract(epoch FROM l.at) * 1000000)::text,"
	    " convert_to(l.actor, 'UTF8'), convert_to(l.action, 'UTF8'),"
	    " convert_to(l.subject, 'UTF8'), convert_to(l.detail::text, 'UTF8')"
	    " FROM audit_chain c JOIN audit_log l ON l.id = c.entry_id"
	    " WHERE c.seq = %lld", seq);
	r = PQexec(c, q);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 1);
	assert_int_equal(EVP_DigestInit_ex(m, EVP_sha256(), NULL), 1);
	put(m, "signet-audit-chain-v1", 21);
	put_be64(m, seq);
	put(m, prev, 32);
	put_be64(m, strtoll(PQgetvalue(r, 0, 0), NULL, 10));
	put(m, PQgetvalue(r, 0, 1), strlen(PQgetvalue(r, 0, 1)));
	for (int col = 2; col <= 5; col++) {
		unhex(PQgetvalue(r, 0, col), buf, &len);
		put(m, buf, len);
	}
	assert_int_equal(EVP_DigestFinal_ex(m, out, &outlen), 1);
	assert_int_equal(outlen, 32);
	EVP_MD_CTX_free(m);
	PQclear(r);
}

static void stored_hash(PGconn *c, long long seq, const char *col,
    unsigned char out[32])
{
	char q[256];
	PGresult *r;
	size_t len;

	snprintf(q, sizeof(q), "SELECT %s FROM audit_chain WHERE seq = %lld",
	    col, seq);
	r = PQexec(c, q);
	assert_int_equal(PQntuples(r), 1);
	unhex(PQgetvalue(r, 0, 0), out, &len);
	assert_int_equal(len, 32);
	PQclear(r);
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
	struct err e = { 0 };
	char hex[17];

	(void)state;
	env_db = getenv("SIGNET_TEST_DB");
	env_module = getenv("SIGNET_TEST_PKCS11_MODULE");
	env_token = getenv("SIGNET_TEST_TOKEN");
	env_pin = getenv("SIGNET_TEST_PIN");
	if (!env_db || !env_module || !env_token || !env_pin)
		return 0;
	if (hsm_open(env_module, env_token, env_pin, &hsm, &e) != 0) {
		fprintf(stderr, "hsm_open: %s\n", e.msg);
		return -1;
	}
	random_hex(hex, 8);
	snprintf(key_label, sizeof(key_label), "test-audit-%s", hex);
	if (hsm_generate_key(hsm, key_label, HSM_KEY_EC_P256, &e) != 0 ||
	    hsm_find_key(hsm, key_label, &key, &e) != 0) {
		fprintf(stderr, "audit key: %s\n", e.msg);
		return -1;
	}
	env_ok = 1;
	return 0;
}

static int group_teardown(void **state)
{
	struct err e = { 0 };

	(void)state;
	if (hsm != NULL && key_label[0] != '\0')
		hsm_destroy_key(hsm, key_label, &e);
	hsm_free(hsm);
	hsm = NULL;
	return 0;
}

static int setup(void **state)
{
	struct fx *f;
	struct err e = { 0 };
	PGconn *admin;
	char hex[17];
	int applied = 0;

	*state = NULL;
	if (!env_ok)
		return 0;
	f = calloc(1, sizeof(*f));
	random_hex(hex, 8);
	snprintf(f->dbname, sizeof(f->dbname), "signet_audit_test_%s", hex);
	if ((admin = connect_db(NULL)) == NULL)
		return -1;
	/* The name is ours, [a-z0-9_] only: safe as an identifier. */
	sql(admin, "CREATE DATABASE %s", f->dbname);
	PQfinish(admin);
	if ((f->c = connect_db(f->dbname)) == NULL)
		return -1;
	conninfo_of(f->c, f->conninfo, sizeof(f->conninfo));
	if (db_migrate(f->c, &applied, &e) != 0) {
		fprintf(stderr, "db_migrate: %s\n", e.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	PGconn *admin;

	if (f == NULL)
		return 0;
	PQfinish(f->c);
	if ((admin = connect_db(NULL)) != NULL) {
		sql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->dbname);
		PQfinish(admin);
	}
	free(f);
	return 0;
}

#define NEED_ENV() do { if (!env_ok) skip(); } while (0)

/* ---- tests ---- */

static void test_intact(void **state)
{
	struct fx *f = *state;
	unsigned char h[32], prev[32] = { 0 }, st[32];
	char *text = NULL;
	long n = -1;

	NEED_ENV();
	/* Empty: nothing to seal, no checkpoint, intact. */
	assert_int_equal(seal(f->c, 1, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sql_ll(f->c, "SELECT count(*) FROM audit_checkpoints"), 0);
	assert_int_equal(verify(f->c, NULL), 0);

	add_entries(f->c, 25, "intact");
	assert_int_equal(seal(f->c, 1, &n), 0);
	assert_int_equal(n, 25);
	assert_int_equal(sql_ll(f->c, "SELECT count(*) FROM audit_checkpoints"), 1);
	assert_int_equal(sql_ll(f->c, "SELECT seq FROM audit_checkpoints"), 25);
	/* Head unchanged: no new checkpoint. */
	assert_int_equal(seal(f->c, 1, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sql_ll(f->c, "SELECT count(*) FROM audit_checkpoints"), 1);
	/* Sealing without a checkpoint, then with one. */
	add_entries(f->c, 3, "more");
	assert_int_equal(seal(f->c, 0, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(sql_ll(f->c, "SELECT count(*) FROM audit_checkpoints"), 1);
	assert_int_equal(seal(f->c, 1, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sql_ll(f->c, "SELECT max(seq) FROM audit_checkpoints"), 28);

	/* Contiguous seqs, in id order here, seq 1 links to zeros. */
	assert_int_equal(sql_ll(f->c, "SELECT count(*) FROM audit_chain"), 28);
	assert_int_equal(sql_ll(f->c, "SELECT count(*) FROM audit_chain c "
	    "JOIN audit_log l ON l.id = c.entry_id WHERE c.seq <> l.id"), 0);
	assert_int_equal(sql_ll(f->c, "SELECT count(*) FROM audit_chain "
	    "WHERE seq = 1 AND prev_hash = '\\x%064d'::bytea", 0), 1);
	/* The stored hashes follow the format docs/audit.md describes. */
	for (long long s = 1; s <= 28; s++) {
		doc_hash(f->c, s, prev, h);
		stored_hash(f->c, s, "hash", st);
		assert_memory_equal(h, st, 32);
		stored_hash(f->c, s, "prev_hash", st);
		assert_memory_equal(prev, st, 32);
		memcpy(prev, h, 32);
	}

	assert_int_equal(verify(f->c, &text), 0);
	assert_non_null(strstr(text, "28 entries chained, 2 checkpoints, "
	    "0 pending, 0 problems: intact"));
	free(text);
}

static void test_edit_detail(void **state)
{
	struct fx *f = *state;
	char *text = NULL;
	long n;

	NEED_ENV();
	sealed_fixture(f->c);
	tamper(f->c, "UPDATE audit_log SET detail = '{\"i\": 999}' WHERE id = 7");
	assert_int_equal(seal(f->c, 1, &n), 0);   /* what the CLI does first */
	assert_int_equal(verify(f->c, &text), 1);
	assert_non_null(strstr(text, "seq 7: entry 7 does not match its sealed hash"));
	assert_non_null(strstr(text, "1 problems: TAMPERING DETECTED"));
	free(text);
}

static void test_edit_actor(void **state)
{
	struct fx *f = *state;
	char *text = NULL;

	NEED_ENV();
	sealed_fixture(f->c);
	/* The other way around the triggers. */
	sql(f->c, "ALTER TABLE audit_log DISABLE TRIGGER USER");
	sql(f->c, "UPDATE audit_log SET actor = 'somebody-else' WHERE id = 15");
	sql(f->c, "ALTER TABLE audit_log ENABLE TRIGGER USER");
	assert_int_equal(verify(f->c, &text), 1);
	assert_non_null(strstr(text, "seq 15: entry 15 does not match its sealed hash"));
	free(text);
}

static void test_edit_time(void **state)
{
	struct fx *f = *state;
	char *text = NULL;

	NEED_ENV();
	sealed_fixture(f->c);
	tamper(f->c, "UPDATE audit_log SET at = at - interval '1 microsecond' "
	    "WHERE id = 3");
	assert_int_equal(verify(f->c, &text), 1);
	assert_non_null(strstr(text, "seq 3: entry 3 does not match"));
	free(text);
}

static void test_delete_middle(void **state)
{
	struct fx *f = *state;
	char *text = NULL;
	long n;

	NEED_ENV();
	sealed_fixture(f->c);
	sql(f->c, "ALTER TABLE audit_chain DISABLE TRIGGER USER");
	sql(f->c, "ALTER TABLE audit_log DISABLE TRIGGER USER");
	sql(f->c, "DELETE FROM audit_chain WHERE entry_id = 10");
	sql(f->c, "DELETE FROM audit_log WHERE id = 10");
	sql(f->c, "ALTER TABLE audit_chain ENABLE TRIGGER USER");
	sql(f->c, "ALTER TABLE audit_log ENABLE TRIGGER USER");
	assert_int_equal(seal(f->c, 1, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(verify(f->c, &text), 1);
	assert_non_null(strstr(text, "seq 10: missing from the chain"));
	free(text);
}

/* Only the chain row goes: the sealer re-chains the entry at the end, and
 * the hole stays. */
static void test_delete_chain_row_only(void **state)
{
	struct fx *f = *state;
	char *text = NULL;
	long n;

	NEED_ENV();
	sealed_fixture(f->c);
	tamper(f->c, "DELETE FROM audit_chain WHERE seq = 4");
	assert_int_equal(seal(f->c, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(verify(f->c, &text), 1);
	assert_non_null(strstr(text, "seq 4: missing from the chain"));
	free(text);
}

/* session_replication_role = replica also skips the foreign key: the
 * entry goes, its chain row stays. */
static void test_delete_entry_only(void **state)
{
	struct fx *f = *state;
	char *text = NULL;

	NEED_ENV();
	sealed_fixture(f->c);
	tamper(f->c, "DELETE FROM audit_log WHERE id = 5");
	assert_int_equal(verify(f->c, &text), 1);
	assert_non_null(strstr(text, "seq 5: entry 5 was deleted from audit_log"));
	free(text);
}

/* The newest entry, which the newest checkpoint covers: the chain is
 * internally consistent afterwards, only the checkpoint tells. */
static void test_delete_newest(void **state)
{
	struct fx *f = *state;
	char *text = NULL;
	long n;

	NEED_ENV();
	sealed_fixture(f->c);
	sql(f->c, "ALTER TABLE audit_chain DISABLE TRIGGER USER");
	sql(f->c, "ALTER TABLE audit_log DISABLE TRIGGER USER");
	sql(f->c, "DELETE FROM audit_chain WHERE seq = 20");
	sql(f->c, "DELETE FROM audit_log WHERE id = 20");
	sql(f->c, "ALTER TABLE audit_chain ENABLE TRIGGER USER");
	sql(f->c, "ALTER TABLE audit_log ENABLE TRIGGER USER");
	/* New activity afterwards: the sealer must not paper over the hole
	 * by re-using seq 20. */
	add_entries(f->c, 2, "after");
	assert_int_equal(seal(f->c, 1, &n), -1);
	assert_int_equal(sql_ll(f->c, "SELECT max(seq) FROM audit_chain"), 19);
	assert_int_equal(verify(f->c, &text), 1);
	assert_non_null(strstr(text, "checkpoint at seq 20: the chain ends at seq 19"));
	assert_null(strstr(text, "does not match"));
	free(text);
}

/* (c): an entry rewritten and every later hash recomputed consistently.
 * Each row still matches its hash and links to the one before; only the
 * signed checkpoint covering it can tell. */
static void test_rewrite_recomputed(void **state)
{
	struct fx *f = *state;
	unsigned char prev[32], h[32];
	char hp[65], hh[65], q[512], *text = NULL;
	long n;

	NEED_ENV();
	sealed_fixture(f->c);
	sql(f->c, "ALTER TABLE audit_log DISABLE TRIGGER USER");
	sql(f->c, "ALTER TABLE audit_chain DISABLE TRIGGER USER");
	sql(f->c, "UPDATE audit_log SET detail = '{\"i\": 13, \"tag\": \"forged\"}' "
	    "WHERE id = 14");
	stored_hash(f->c, 13, "hash", prev);
	for (long long s = 14; s <= 20; s++) {
		doc_hash(f->c, s, prev, h);
		util_hex(prev, 32, hp);
		util_hex(h, 32, hh);
		snprintf(q, sizeof(q), "UPDATE audit_chain SET prev_hash = "
		    "'\\x%s', hash = '\\x%s' WHERE seq = %lld", hp, hh, s);
		sql(f->c, "%s", q);
		memcpy(prev, h, 32);
	}
	sql(f->c, "ALTER TABLE audit_log ENABLE TRIGGER USER");
	sql(f->c, "ALTER TABLE audit_chain ENABLE TRIGGER USER");
	assert_int_equal(seal(f->c, 1, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(verify(f->c, &text), 1);
	assert_non_null(strstr(text, "checkpoint at seq 20: its head hash "
	    "differs from the chain's hash"));
	/* The recomputation was consistent: nothing else is reported. */
	assert_null(strstr(text, "does not match its sealed hash"));
	assert_null(strstr(text, "prev_hash"));
	assert_null(strstr(text, "checkpoint at seq 12"));
	assert_non_null(strstr(text, "1 problems"));
	free(text);
}

static void test_checkpoint_forged(void **state)
{
	struct fx *f = *state;
	char *text = NULL;

	NEED_ENV();
	sealed_fixture(f->c);
	/* One bit of the signature. */
	tamper(f->c, "UPDATE audit_checkpoints SET signature = "
	    "set_byte(signature, 10, get_byte(signature, 10) # 1) WHERE seq = 12");
	assert_int_equal(verify(f->c, &text), 1);
	assert_non_null(strstr(text, "checkpoint at seq 12: signature does not verify"));
	free(text);
	/* A checkpoint made up for a rewritten head. */
	tamper(f->c, "INSERT INTO audit_checkpoints (seq, head_hash, key_label, "
	    "signature) SELECT 5, hash, 'x', '\\x3006020101020101' "
	    "FROM audit_chain WHERE seq = 5");
	assert_int_equal(verify(f->c, &text), 1);
	assert_non_null(strstr(text, "checkpoint at seq 5: signature does not verify"));
	free(text);
}

/* A transaction holding a lower id commits after a higher id was
 * chained: it gets a later seq, and nothing is reported. */
static void test_late_commit(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	PGconn *a, *b;
	long long id_a, id_b;
	long n;

	NEED_ENV();
	assert_non_null(a = connect_db(f->dbname));
	assert_non_null(b = connect_db(f->dbname));
	add_entries(f->c, 3, "before");
	sql(a, "BEGIN");
	assert_int_equal(db_audit_add(a, "a", "late", "", NULL, &e), 0);
	id_a = sql_ll(a, "SELECT currval('audit_log_id_seq')");
	assert_int_equal(db_audit_add(b, "b", "early", "", NULL, &e), 0);
	id_b = sql_ll(b, "SELECT currval('audit_log_id_seq')");
	assert_true(id_a < id_b);

	assert_int_equal(seal(f->c, 1, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(sql_ll(f->c, "SELECT count(*) FROM audit_chain "
	    "WHERE entry_id = %lld", id_a), 0);
	assert_int_equal(verify(f->c, NULL), 0);

	sql(a, "COMMIT");
	assert_int_equal(seal(f->c, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_true(sql_ll(f->c, "SELECT seq FROM audit_chain WHERE entry_id = %lld",
	    id_a) > sql_ll(f->c, "SELECT seq FROM audit_chain WHERE entry_id = %lld",
	    id_b));
	assert_int_equal(sql_ll(f->c, "SELECT seq FROM audit_chain WHERE "
	    "entry_id = %lld", id_a), 5);
	assert_int_equal(verify(f->c, NULL), 0);
	PQfinish(a);
	PQfinish(b);
}

/* Unsealed entries: recent ones are pending; an old unchained one is a
 * problem. */
static void test_pending(void **state)
{
	struct fx *f = *state;
	char *text = NULL;

	NEED_ENV();
	sealed_fixture(f->c);
	add_entries(f->c, 4, "pending");
	assert_int_equal(verify(f->c, &text), 0);
	assert_non_null(strstr(text, "4 pending, 0 problems: intact"));
	free(text);
	tamper(f->c, "UPDATE audit_log SET at = now() - interval '1 hour' "
	    "WHERE id = 22");
	assert_int_equal(verify(f->c, &text), 1);
	assert_non_null(strstr(text, "entry 22: older than"));
	assert_non_null(strstr(text, "3 pending, 1 problems"));
	free(text);
}

/* The election: while another session holds the sealer lock, a pass
 * seals nothing; afterwards it does. */
static void test_lock_held(void **state)
{
	struct fx *f = *state;
	PGconn *x;
	long n = -1;

	NEED_ENV();
	assert_non_null(x = connect_db(f->dbname));
	add_entries(f->c, 5, "locked");
	sql(x, "SELECT pg_advisory_lock(" AUDIT_LOCK_KEY ")");
	assert_int_equal(seal(f->c, 1, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sql_ll(f->c, "SELECT count(*) FROM audit_chain"), 0);
	assert_int_equal(sql_ll(x, "SELECT pg_advisory_unlock(" AUDIT_LOCK_KEY
	    ")::int"), 1);
	assert_int_equal(seal(f->c, 1, &n), 0);
	assert_int_equal(n, 5);
	PQfinish(x);
}

struct racer {
	const char *dbname;
	int failures;
	long sealed;
	const char *tag;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	PGconn *c = connect_db(r->dbname);
	struct err e;
	long n;

	if (c == NULL) {
		r->failures++;
		return NULL;
	}
	for (int i = 0; i < 40; i++) {
		memset(&e, 0, sizeof(e));
		for (int k = 0; k < 3; k++)
			if (db_audit_add(c, r->tag, "race", "", NULL, &e) != 0)
				r->failures++;
		n = 0;
		if (audit_seal(c, key, i % 4 == 0, &n, &e) != 0) {
			fprintf(stderr, "(racer %s: %s)\n", r->tag, e.msg);
			r->failures++;
		}
		r->sealed += n;
	}
	PQfinish(c);
	return NULL;
}

/* Two sealers on two connections at once: no conflict, no entry chained
 * twice, no hole. */
static void test_concurrent_sealers(void **state)
{
	struct fx *f = *state;
	struct racer r1 = { f->dbname, 0, 0, "one" }, r2 = { f->dbname, 0, 0, "two" };
	pthread_t t1, t2;
	long n = 0;

	NEED_ENV();
	assert_int_equal(pthread_create(&t1, NULL, race, &r1), 0);
	assert_int_equal(pthread_create(&t2, NULL, race, &r2), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_int_equal(r1.failures, 0);
	assert_int_equal(r2.failures, 0);
	assert_int_equal(seal(f->c, 1, &n), 0);
	assert_int_equal(r1.sealed + r2.sealed + n, 240);
	assert_int_equal(sql_ll(f->c, "SELECT count(*) FROM audit_chain"), 240);
	assert_int_equal(sql_ll(f->c, "SELECT max(seq) FROM audit_chain"), 240);
	fprintf(stderr, "(sealed by one: %ld, by two: %ld, at the end: %ld)\n",
	    r1.sealed, r2.sealed, n);
	assert_int_equal(verify(f->c, NULL), 0);
}

static long long wait_count(PGconn *c, const char *q, long long want, int secs)
{
	long long v = -1;

	for (int i = 0; i < secs * 10; i++) {
		if ((v = sql_ll(c, "%s", q)) >= want)
			break;
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	return v;
}

/* The background thread: seals, checkpoints, chains a late commit (its
 * ordinary passes look above a lookback floor), survives losing its
 * connection, and stops promptly. */
static void test_thread(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	struct db *d = NULL;
	struct audit_sealer *s = NULL;
	struct timespec t0, t1;
	PGconn *a, *admin;
	long long id_a, id_b;

	NEED_ENV();
	assert_int_equal(db_open(f->conninfo, 2, &d, &e), 0);
	assert_int_equal(audit_sealer_start(d, key, 1, 1, &s, &e), 0);
	add_entries(f->c, 10, "thread");
	assert_int_equal(wait_count(f->c, "SELECT count(*) FROM audit_chain",
	    10, 10), 10);
	assert_true(wait_count(f->c, "SELECT max(seq) FROM audit_checkpoints",
	    10, 10) == 10);

	/* Age the chain so that ordinary passes look only above entry 10
	 * (the lookback floor); the late entry lies above it. */
	tamper(f->c, "UPDATE audit_chain SET sealed_at = now() - interval '1 hour'");
	assert_non_null(a = connect_db(f->dbname));
	sql(a, "BEGIN");
	assert_int_equal(db_audit_add(a, "a", "late", "", NULL, &e), 0);
	id_a = sql_ll(a, "SELECT currval('audit_log_id_seq')");
	add_entries(f->c, 1, "b");
	id_b = sql_ll(f->c, "SELECT max(id) FROM audit_log");
	assert_true(id_a < id_b);
	assert_int_equal(wait_count(f->c, "SELECT count(*) FROM audit_chain",
	    11, 10), 11);
	sql(a, "COMMIT");
	PQfinish(a);
	assert_int_equal(wait_count(f->c, "SELECT count(*) FROM audit_chain",
	    12, 10), 12);
	assert_true(sql_ll(f->c, "SELECT seq FROM audit_chain WHERE entry_id = %lld",
	    id_a) == 12);

	/* Cut every connection but ours: the next pass fails, a later one
	 * reconnects. */
	assert_non_null(admin = connect_db(f->dbname));
	sql(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
	    "AND pid <> %d", PQbackendPID(f->c));
	PQfinish(admin);
	add_entries(f->c, 5, "after-cut");
	assert_int_equal(wait_count(f->c, "SELECT count(*) FROM audit_chain",
	    17, 15), 17);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	audit_sealer_stop(s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	audit_sealer_stop(NULL);
	db_free(d);
	assert_int_equal(verify(f->c, NULL), 0);
}

/* More than one batch (1000) of chain rows, of unchained entries and of
 * checkpoints: the walks must join their batches seamlessly. */
static void test_batches(void **state)
{
	struct fx *f = *state;
	char *text = NULL;
	long n;

	NEED_ENV();
	for (int i = 0; i < 1002; i++) {
		add_entries(f->c, 1, "one");
		assert_int_equal(seal(f->c, 1, &n), 0);
		assert_int_equal(n, 1);
	}
	assert_int_equal(sql_ll(f->c, "SELECT count(*) FROM audit_checkpoints"),
	    1002);
	sql(f->c, "INSERT INTO audit_log (actor, action, subject, detail) "
	    "SELECT 'bulk', 'test.bulk', 'n' || g, jsonb_build_object('g', g) "
	    "FROM generate_series(1, 2500) g");
	assert_int_equal(seal(f->c, 1, &n), 0);
	assert_int_equal(n, 2500);
	assert_int_equal(verify(f->c, &text), 0);
	assert_non_null(strstr(text, "3502 entries chained, 1003 checkpoints, "
	    "0 pending, 0 problems"));
	free(text);
	tamper(f->c, "UPDATE audit_log SET subject = 'x' WHERE id = 2600");
	assert_int_equal(verify(f->c, &text), 1);
	assert_non_null(strstr(text, "seq 2600: entry 2600 does not match"));
	assert_non_null(strstr(text, ", 1 problems"));
	free(text);
}

/* The digest rule (SHA-384 for P-384, SHA-256 otherwise) agrees between
 * hsm_sign_data() and the verifier, for each kind of key. */
static void test_key_types(void **state)
{
	static const enum hsm_key_type types[] = { HSM_KEY_EC_P384,
	    HSM_KEY_RSA_2048 };
	struct fx *f = *state;
	struct hsm_key *saved = key, *k;
	struct err e = { 0 };
	char label[64], hex[17];
	long n;

	NEED_ENV();
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		random_hex(hex, 8);
		snprintf(label, sizeof(label), "test-audit-%s", hex);
		assert_int_equal(hsm_generate_key(hsm, label, types[i], &e), 0);
		assert_int_equal(hsm_find_key(hsm, label, &k, &e), 0);
		key = k;
		add_entries(f->c, 2, hsm_key_type_name(types[i]));
		assert_int_equal(seal(f->c, 1, &n), 0);
		assert_int_equal(n, 2);
		/* Verify with this key: only its own checkpoint is checked
		 * once the table holds just that one. */
		tamper(f->c, "DELETE FROM audit_checkpoints WHERE key_label <> "
		    "(SELECT key_label FROM audit_checkpoints ORDER BY seq DESC "
		    "LIMIT 1)");
		assert_int_equal(verify(f->c, NULL), 0);
		hsm_destroy_key(hsm, label, &e);
	}
	key = saved;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_intact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edit_detail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edit_actor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edit_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_chain_row_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_entry_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_recomputed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_forged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_sealers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_types, setup, teardown),
	};

	/* One info line per checkpoint would drown the test output. */
	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
