/*
 * Unit tests for hsm/ against a real PKCS#11 token (SoftHSM in practice).
 * They need SIGNET_TEST_PKCS11_MODULE, SIGNET_TEST_TOKEN and
 * SIGNET_TEST_PIN; without them every test that needs the token skips.
 *
 * The tests run in order and share one open struct hsm: the first ones
 * must run while nothing is logged in (a wrong PIN is then checked by the
 * token itself).  Every key they make has a label unique to this run and
 * is destroyed at the end.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/err.h>
#include <p11-kit/pkcs11.h>

#include "common/err.h"
#include "common/log.h"
#include "hsm/hsm.h"

static const char *module, *token, *pin;
static struct hsm *h;
static char prefix[64];

enum { K_P256, K_P384, K_RSA, K_EXTRA, K_COUNT };
static const enum hsm_key_type types[K_COUNT] = {
	HSM_KEY_EC_P256, HSM_KEY_EC_P384, HSM_KEY_RSA_2048, HSM_KEY_EC_P256,
};
static char labels[K_COUNT][96];
static struct hsm_key *keys[K_COUNT];

#define NEED_TOKEN() do { if (module == NULL) { skip(); } } while (0)
#define NEED_HSM() do { NEED_TOKEN(); assert_non_null(h); } while (0)

/* ------------------------------------------------------------------
 * Helpers
 */

static int verify(EVP_PKEY *pub, const EVP_MD *md, const unsigned char *data,
    size_t len, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Sign data with k through the HSM and check it with the public key. */
static int sign_and_verify(struct hsm_key *k, const char *text, struct err *e)
{
	unsigned char *sig = NULL;
	size_t siglen = 0;
	int ok;

	if (hsm_sign_data(k, (const unsigned char *)text, strlen(text), &sig,
	    &siglen, e) != 0)
		return 0;
	ok = verify(hsm_key_public(k), hsm_key_md(k),
	    (const unsigned char *)text, strlen(text), sig, siglen);
	OPENSSL_free(sig);
	return ok;
}

/* The module's own function list, for looking at what hsm made. */
static CK_FUNCTION_LIST *raw(void)
{
	static CK_FUNCTION_LIST *fl;
	static void *dl;
	CK_C_GetFunctionList get;
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;

	if (fl != NULL)
		return fl;
	dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(dl);
	get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	assert_non_null(get);
	assert_int_equal(get(&fl), CKR_OK);
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	/* hsm (libp11) has initialized it already; never finalize. */
	rv = fl->C_Initialize(&args);
	assert_true(rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED);
	return fl;
}

static CK_SLOT_ID raw_slot(void)
{
	CK_FUNCTION_LIST *fl = raw();
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64;
	CK_TOKEN_INFO ti;
	char want[32];

	memset(want, ' ', sizeof(want));
	memcpy(want, token, strlen(token));
	assert_int_equal(fl->C_GetSlotList(CK_TRUE, ids, &n), CKR_OK);
	for (CK_ULONG i = 0; i < n; i++)
		if (fl->C_GetTokenInfo(ids[i], &ti) == CKR_OK &&
		    memcmp(ti.label, want, sizeof(want)) == 0)
			return ids[i];
	fail_msg("token %s not found", token);
	return 0;
}

static CK_SESSION_HANDLE raw_session(void)
{
	CK_SESSION_HANDLE s;

	assert_int_equal(raw()->C_OpenSession(raw_slot(), CKF_SERIAL_SESSION,
	    NULL, NULL, &s), CKR_OK);
	return s;
}

static CK_OBJECT_HANDLE raw_find(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
    const char *label)
{
	CK_FUNCTION_LIST *fl = raw();
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	CK_ULONG n = 0;

	assert_int_equal(fl->C_FindObjectsInit(s, t, 2), CKR_OK);
	assert_int_equal(fl->C_FindObjects(s, &o, 1, &n), CKR_OK);
	fl->C_FindObjectsFinal(s);
	return n == 1 ? o : CK_INVALID_HANDLE;
}

/* A boolean attribute: 1, 0, or -1 when the object does not have it. */
static int raw_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = 2;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	if (raw()->C_GetAttributeValue(s, o, &a, 1) != CKR_OK)
		return -1;
	return v == CK_TRUE;
}

/* ------------------------------------------------------------------
 * Tests that need no token
 */

static void test_key_type_names(void **state)
{
	enum hsm_key_type t;
	struct err e = { 0 };
	const char *names[] = { "ec-p256", "ec-p384", "rsa-2048", "rsa-3072",
	    "rsa-4096" };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(hsm_key_type_parse(names[i], &t, &e), 0);
		assert_string_equal(hsm_key_type_name(t), names[i]);
	}
	assert_int_equal(hsm_key_type_parse("ed25519", &t, &e), -1);
	assert_int_equal(e.kind, ERR_INVALID);
	assert_int_equal(hsm_key_type_parse(NULL, &t, NULL), -1);
}

static void test_free_null(void **state)
{
	(void)state;
	hsm_free(NULL);
}

static void test_open_missing_module(void **state)
{
	struct hsm *x = NULL;
	struct err e = { 0 };
	const char *path = "/nonexistent/signet/libnothing.so";

	(void)state;
	assert_int_equal(hsm_open(path, "t", "1234", &x, &e), -1);
	assert_null(x);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_non_null(strstr(e.msg, path));
}

/* ------------------------------------------------------------------
 * Opening
 */

static void test_open_wrong_pin(void **state)
{
	const char *bad = "wrong-pin-7f3a";
	struct hsm *x = NULL;
	struct err e = { 0 };

	(void)state;
	NEED_TOKEN();
	assert_int_equal(hsm_open(module, token, bad, &x, &e), -1);
	assert_null(x);
	assert_int_equal(e.kind, ERR_AUTH);
	assert_non_null(strstr(e.msg, "CKR_PIN_INCORRECT"));
	assert_non_null(strstr(e.msg, token));
	assert_null(strstr(e.msg, bad));
}

static void test_open_unknown_token(void **state)
{
	const char *label = "signet-no-such-token";
	struct hsm *x = NULL;
	struct err e = { 0 };

	(void)state;
	NEED_TOKEN();
	assert_int_equal(hsm_open(module, label, pin, &x, &e), -1);
	assert_null(x);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_non_null(strstr(e.msg, label));
	if (strlen(pin) >= 4)
		assert_null(strstr(e.msg, pin));
}

static void test_open(void **state)
{
	struct err e = { 0 };

	(void)state;
	NEED_TOKEN();
	if (hsm_open(module, token, pin, &h, &e) != 0)
		fail_msg("hsm_open: %s", e.msg);
	assert_int_equal(hsm_ping(h, &e), 0);
}

/* While we are logged in, the token says "already logged in" to any PIN:
 * a wrong one must still be refused. */
static void test_open_wrong_pin_while_open(void **state)
{
	const char *bad = "wrong-pin-7f3a";
	struct hsm *x = NULL;
	struct err e = { 0 };

	(void)state;
	NEED_HSM();
	assert_int_equal(hsm_open(module, token, bad, &x, &e), -1);
	assert_null(x);
	assert_int_equal(e.kind, ERR_AUTH);
	assert_null(strstr(e.msg, bad));
	/* And the good instance did not suffer from it. */
	assert_int_equal(hsm_ping(h, &e), 0);
}

/* ------------------------------------------------------------------
 * Keys
 */

static void test_generate_find_sign(void **state)
{
	struct hsm_key *again;
	struct err e = { 0 };

	(void)state;
	NEED_HSM();
	for (int i = K_P256; i <= K_RSA; i++) {
		if (hsm_generate_key(h, labels[i], types[i], &e) != 0)
			fail_msg("generate %s: %s", labels[i], e.msg);
		assert_int_equal(hsm_key_exists(h, labels[i], &e), 1);

		memset(&e, 0, sizeof(e));
		assert_int_equal(hsm_generate_key(h, labels[i], types[i], &e),
		    -1);
		assert_int_equal(e.kind, ERR_CONFLICT);

		if (hsm_find_key(h, labels[i], &keys[i], &e) != 0)
			fail_msg("find %s: %s", labels[i], e.msg);
		assert_string_equal(hsm_key_label(keys[i]), labels[i]);
		assert_int_equal(hsm_find_key(h, labels[i], &again, &e), 0);
		assert_ptr_equal(again, keys[i]);
		assert_int_equal(hsm_key_sign_count(keys[i]), 0);

		if (!sign_and_verify(keys[i], "to be signed", &e))
			fail_msg("sign %s: %s", labels[i], e.msg);
		assert_int_equal(hsm_key_sign_count(keys[i]), 1);
	}
	assert_int_equal(EVP_PKEY_get_base_id(hsm_key_public(keys[K_P256])),
	    EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(hsm_key_public(keys[K_P256])), 256);
	assert_ptr_equal(hsm_key_md(keys[K_P256]), EVP_sha256());
	assert_int_equal(EVP_PKEY_get_bits(hsm_key_public(keys[K_P384])), 384);
	assert_ptr_equal(hsm_key_md(keys[K_P384]), EVP_sha384());
	assert_int_equal(EVP_PKEY_get_base_id(hsm_key_public(keys[K_RSA])),
	    EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(hsm_key_public(keys[K_RSA])), 2048);
	assert_ptr_equal(hsm_key_md(keys[K_RSA]), EVP_sha256());
}

static void test_find_missing(void **state)
{
	struct hsm_key *k = NULL;
	struct err e = { 0 };
	char label[128];

	(void)state;
	NEED_HSM();
	snprintf(label, sizeof(label), "%s-absent", prefix);
	assert_int_equal(hsm_find_key(h, label, &k, &e), -1);
	assert_null(k);
	assert_int_equal(e.kind, ERR_NOTFOUND);
	assert_int_equal(hsm_key_exists(h, label, &e), 0);
}

/* What the token holds is what the design promises: sign-only, sensitive,
 * never extractable; the public half verify-only; both with one CKA_ID. */
static void test_attributes(void **state)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE priv, pub;
	unsigned char id1[64], id2[64];
	CK_ATTRIBUTE a1 = { CKA_ID, id1, sizeof(id1) };
	CK_ATTRIBUTE a2 = { CKA_ID, id2, sizeof(id2) };

	(void)state;
	NEED_HSM();
	s = raw_session();
	for (int i = K_P256; i <= K_RSA; i++) {
		priv = raw_find(s, CKO_PRIVATE_KEY, labels[i]);
		pub = raw_find(s, CKO_PUBLIC_KEY, labels[i]);
		assert_true(priv != CK_INVALID_HANDLE);
		assert_true(pub != CK_INVALID_HANDLE);

		assert_int_equal(raw_bool(s, priv, CKA_TOKEN), 1);
		assert_int_equal(raw_bool(s, priv, CKA_PRIVATE), 1);
		assert_int_equal(raw_bool(s, priv, CKA_SENSITIVE), 1);
		assert_int_equal(raw_bool(s, priv, CKA_ALWAYS_SENSITIVE), 1);
		assert_int_equal(raw_bool(s, priv, CKA_EXTRACTABLE), 0);
		assert_int_equal(raw_bool(s, priv, CKA_NEVER_EXTRACTABLE), 1);
		assert_int_equal(raw_bool(s, priv, CKA_SIGN), 1);
		assert_int_equal(raw_bool(s, priv, CKA_DECRYPT), 0);
		assert_int_equal(raw_bool(s, priv, CKA_UNWRAP), 0);
		assert_int_equal(raw_bool(s, priv, CKA_DERIVE), 0);

		assert_int_equal(raw_bool(s, pub, CKA_TOKEN), 1);
		assert_int_equal(raw_bool(s, pub, CKA_VERIFY), 1);
		assert_int_equal(raw_bool(s, pub, CKA_ENCRYPT), 0);
		assert_int_equal(raw_bool(s, pub, CKA_WRAP), 0);

		a1.ulValueLen = sizeof(id1);
		a2.ulValueLen = sizeof(id2);
		assert_int_equal(raw()->C_GetAttributeValue(s, priv, &a1, 1),
		    CKR_OK);
		assert_int_equal(raw()->C_GetAttributeValue(s, pub, &a2, 1),
		    CKR_OK);
		assert_int_equal(a1.ulValueLen, 16);
		assert_int_equal(a2.ulValueLen, 16);
		assert_memory_equal(id1, id2, 16);
	}
	raw()->C_CloseSession(s);
}

struct worker {
	struct hsm_key *k;
	int n;
	int bad;
	char why[sizeof(((struct err *)0)->msg)];
};

static void *sign_worker(void *arg)
{
	struct worker *w = arg;
	struct err e = { 0 };
	char text[64];

	for (int i = 0; i < w->n; i++) {
		snprintf(text, sizeof(text), "message %d from %p", i, arg);
		memset(&e, 0, sizeof(e));
		if (!sign_and_verify(w->k, text, &e)) {
			if (w->bad++ == 0)
				snprintf(w->why, sizeof(w->why), "%s", e.msg);
		}
	}
	return NULL;
}

enum mishap { NOTHING, LOGOUT };

/* Run threads × per signatures with k; fail on any bad one.  Once after
 * signatures have been made, let the mishap happen behind hsm's back. */
static void run_workers(struct hsm_key *k, int threads, int per,
    enum mishap what, long after)
{
	pthread_t t[16];
	struct worker w[16];
	unsigned long long base = hsm_key_sign_count(k);
	struct timespec nap = { 0, 1000000 };
	struct err e = { 0 };

	assert_true(threads <= 16);
	for (int i = 0; i < threads; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].k = k;
		w[i].n = per;
		assert_int_equal(pthread_create(&t[i], NULL, sign_worker,
		    &w[i]), 0);
	}
	if (what != NOTHING) {
		while (hsm_key_sign_count(k) < base + (unsigned long long)after)
			nanosleep(&nap, NULL);
		assert_int_equal(hsm_logout_for_test(h, &e), 0);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		if (w[i].bad != 0)
			fail_msg("thread %d: %d bad signatures: %s", i, w[i].bad,
			    w[i].why);
	}
	assert_int_equal(hsm_key_sign_count(k),
	    base + (unsigned long long)threads * (unsigned long long)per);
}

static void test_concurrent_sign(void **state)
{
	(void)state;
	NEED_HSM();
	assert_non_null(keys[K_P256]);
	run_workers(keys[K_P256], 8, 200, NOTHING, 0);
	run_workers(keys[K_RSA], 4, 25, NOTHING, 0);
}

static void test_recovery_after_logout(void **state)
{
	CK_SESSION_INFO si;
	CK_SESSION_HANDLE s;
	struct err e = { 0 };

	(void)state;
	NEED_HSM();
	for (int i = K_P256; i <= K_RSA; i++)
		assert_non_null(keys[i]);
	/* Recovery must not close other sessions of the process (libp11's
	 * PKCS11_open_session can C_CloseAllSessions). */
	s = raw_session();
	for (int i = K_P256; i <= K_RSA; i++)
		assert_true(sign_and_verify(keys[i], "before", &e));
	assert_int_equal(hsm_logout_for_test(h, &e), 0);
	/* Every key works again, with fresh object handles. */
	for (int i = K_P256; i <= K_RSA; i++)
		if (!sign_and_verify(keys[i], "after", &e))
			fail_msg("%s after logout: %s", labels[i], e.msg);
	assert_int_equal(hsm_ping(h, &e), 0);

	/* hsm_ping itself logs in again. */
	assert_int_equal(hsm_logout_for_test(h, &e), 0);
	if (hsm_ping(h, &e) != 0)
		fail_msg("ping after logout: %s", e.msg);
	assert_true(sign_and_verify(keys[K_P384], "after ping", &e));
	assert_int_equal(raw()->C_GetSessionInfo(s, &si), CKR_OK);
	raw()->C_CloseSession(s);
}

/* The login goes away while 8 threads sign: every signature succeeds. */
static void test_recovery_concurrent(void **state)
{
	(void)state;
	NEED_HSM();
	assert_non_null(keys[K_P256]);
	run_workers(keys[K_P256], 8, 200, LOGOUT, 300);
	run_workers(keys[K_RSA], 4, 30, LOGOUT, 40);
}

/* Worse than a logout: every session of this process on the token is
 * closed (as when a network HSM restarts). */
static void test_recovery_sessions_closed(void **state)
{
	struct err e = { 0 };

	(void)state;
	NEED_HSM();
	assert_int_equal(raw()->C_CloseAllSessions(raw_slot()), CKR_OK);
	for (int i = K_P256; i <= K_RSA; i++)
		if (!sign_and_verify(keys[i], "after close", &e))
			fail_msg("%s after C_CloseAllSessions: %s", labels[i],
			    e.msg);
	assert_int_equal(hsm_ping(h, &e), 0);
	assert_int_equal(hsm_key_exists(h, labels[K_P256], &e), 1);

	/* Not tested: the same while threads sign.  SoftHSM 2.6.1 itself
	 * crashes (SIGSEGV in C_SignInit) when C_CloseAllSessions runs
	 * concurrently with signatures on those sessions, and the crash can
	 * truncate the token's files.  A restarting network HSM invalidates
	 * sessions on its side instead; hsm recovers from that as here. */

	/* Sessions closed while idle, then a management call first (it
	 * reopens hsm's own session): finding a key must still work. */
	assert_int_equal(raw()->C_CloseAllSessions(raw_slot()), CKR_OK);
	assert_int_equal(hsm_key_exists(h, labels[K_P384], &e), 1);
	assert_true(sign_and_verify(keys[K_P384], "after exists", &e));
}

/* A key generated after others were found shows up (libp11 rescans and
 * reallocates its key list), and the keys found before keep working. */
static void test_generate_after_find(void **state)
{
	struct err e = { 0 };

	(void)state;
	NEED_HSM();
	for (int i = K_P256; i <= K_RSA; i++)
		assert_non_null(keys[i]);
	if (hsm_generate_key(h, labels[K_EXTRA], types[K_EXTRA], &e) != 0)
		fail_msg("generate: %s", e.msg);
	if (hsm_find_key(h, labels[K_EXTRA], &keys[K_EXTRA], &e) != 0)
		fail_msg("find: %s", e.msg);
	assert_true(sign_and_verify(keys[K_EXTRA], "new", &e));
	for (int i = K_P256; i <= K_RSA; i++)
		assert_true(sign_and_verify(keys[i], "old", &e));
}

/* Two struct hsm on one token and module: freeing one leaves the other
 * working (no C_Finalize under it). */
static void test_second_instance(void **state)
{
	struct hsm *x = NULL;
	struct hsm_key *k = NULL;
	struct err e = { 0 };

	(void)state;
	NEED_HSM();
	if (hsm_open(module, token, pin, &x, &e) != 0)
		fail_msg("second open: %s", e.msg);
	assert_int_equal(hsm_find_key(x, labels[K_P256], &k, &e), 0);
	assert_ptr_not_equal(k, keys[K_P256]);
	assert_true(sign_and_verify(k, "from the second", &e));
	hsm_free(x);
	assert_int_equal(hsm_ping(h, &e), 0);
	assert_true(sign_and_verify(keys[K_P256], "first still works", &e));
}

static void test_destroy(void **state)
{
	struct hsm_key *k = NULL;
	struct err e = { 0 };

	(void)state;
	NEED_HSM();
	assert_non_null(keys[K_EXTRA]);
	assert_int_equal(hsm_destroy_key(h, labels[K_EXTRA], &e), 0);
	assert_int_equal(hsm_key_exists(h, labels[K_EXTRA], &e), 0);
	assert_int_equal(hsm_destroy_key(h, labels[K_EXTRA], &e), 0);

	memset(&e, 0, sizeof(e));
	assert_int_equal(hsm_find_key(h, labels[K_EXTRA], &k, &e), -1);
	assert_int_equal(e.kind, ERR_NOTFOUND);

	/* The old hsm_key stays allocated but cannot sign any more. */
	memset(&e, 0, sizeof(e));
	assert_false(sign_and_verify(keys[K_EXTRA], "gone", &e));
	assert_int_equal(e.kind, ERR_NOTFOUND);

	/* The label is free again (as for init --force), and finding it
	 * gives the new key, not a stale one. */
	if (hsm_generate_key(h, labels[K_EXTRA], HSM_KEY_EC_P384, &e) != 0)
		fail_msg("regenerate: %s", e.msg);
	assert_int_equal(hsm_find_key(h, labels[K_EXTRA], &k, &e), 0);
	assert_ptr_not_equal(k, keys[K_EXTRA]);
	assert_int_equal(EVP_PKEY_get_bits(hsm_key_public(k)), 384);
	assert_true(sign_and_verify(k, "reborn", &e));
	assert_int_equal(hsm_destroy_key(h, labels[K_EXTRA], &e), 0);
}

static void test_close(void **state)
{
	struct err e = { 0 };

	(void)state;
	NEED_HSM();
	for (int i = 0; i < K_COUNT; i++) {
		assert_int_equal(hsm_destroy_key(h, labels[i], &e), 0);
		assert_int_equal(hsm_key_exists(h, labels[i], &e), 0);
	}
	hsm_free(h);
	h = NULL;
}

static int group_setup(void **state)
{
	static const char *suffix[K_COUNT] = { "p256", "p384", "rsa2048",
	    "extra" };

	(void)state;
	log_set_level(LOG_ERROR);
	module = getenv("SIGNET_TEST_PKCS11_MODULE");
	token = getenv("SIGNET_TEST_TOKEN");
	pin = getenv("SIGNET_TEST_PIN");
	if (module == NULL || token == NULL || pin == NULL ||
	    module[0] == '\0' || token[0] == '\0')
		module = NULL;
	snprintf(prefix, sizeof(prefix), "signet-unit-%ld-%ld",
	    (long)getpid(), (long)time(NULL));
	for (int i = 0; i < K_COUNT; i++)
		snprintf(labels[i], sizeof(labels[i]), "%s-%s", prefix,
		    suffix[i]);
	return 0;
}

/* Whatever failed on the way, leave no key of this run on the token. */
static int group_teardown(void **state)
{
	struct err e;

	(void)state;
	if (h != NULL) {
		for (int i = 0; i < K_COUNT; i++)
			hsm_destroy_key(h, labels[i], &e);
		hsm_free(h);
		h = NULL;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_type_names),
		cmocka_unit_test(test_free_null),
		cmocka_unit_test(test_open_missing_module),
		cmocka_unit_test(test_open_wrong_pin),
		cmocka_unit_test(test_open_unknown_token),
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_open_wrong_pin_while_open),
		cmocka_unit_test(test_generate_find_sign),
		cmocka_unit_test(test_find_missing),
		cmocka_unit_test(test_attributes),
		cmocka_unit_test(test_concurrent_sign),
		cmocka_unit_test(test_recovery_after_logout),
		cmocka_unit_test(test_recovery_concurrent),
		cmocka_unit_test(test_recovery_sessions_closed),
		cmocka_unit_test(test_generate_after_find),
		cmocka_unit_test(test_second_instance),
		cmocka_unit_test(test_destroy),
		cmocka_unit_test(test_close),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
