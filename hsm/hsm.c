/*
 * hsm: keys on a PKCS#11 token, through libp11 0.4.12 for finding and
 * signing and through the module's own function list for everything
 * libp11 cannot do (sign-only key generation, attribute checks, the login
 * state as the token sees it).
 *
 * Thread safety of signing, as found in libp11 0.4.12 (Debian 12):
 *
 *   - Private-key operations take a session from a per-slot pool and give
 *     it back: p11_ec.c pkcs11_ecdsa_sign() and p11_rsa.c
 *     pkcs11_private_encrypt() do
 *         pkcs11_get_session(slot, 0, &session);
 *         C_SignInit(session, ..., key->object); C_Sign(session, ...);
 *         pkcs11_put_session(slot, session);
 *     and p11_slot.c pkcs11_get_session() pops a session under
 *     pthread_mutex_lock(&slot->lock), opens a new one while
 *     num_sessions < max_sessions (16) and otherwise waits in
 *     pthread_cond_wait(&slot->cond, &slot->lock); pkcs11_put_session()
 *     pushes it back and signals.  The lock is held only around the pool,
 *     never around C_Sign (this is the session pool of OpenSC/libp11 PR
 *     #396, "Major concurrency improvements" in 0.4.12's NEWS; the
 *     installed libp11.so.3 imports pthread_cond_wait/signal for it, and
 *     its disassembly shows exactly that pool).  So concurrent signatures
 *     with one key run on distinct sessions in parallel, as PKCS#11
 *     requires (one operation per session), and a 17th concurrent signer
 *     blocks instead of failing (CKR_SESSION_COUNT lowers the pool size).
 *   - The EVP_PKEY's EC_KEY / RSA carries its own counted reference to the
 *     key object (p11_ec.c pkcs11_get_evp_key_ec(): "key =
 *     pkcs11_object_ref(key); pkcs11_set_ex_data_ec(ec, key)", released in
 *     pkcs11_ec_finish; RSA likewise through RSA_meth_set_finish), and
 *     the signing path reads only that object (handle, slot, flags).  It
 *     never touches the token's key list that PKCS11_enumerate_keys()
 *     reallocates.
 *
 * Hence hsm_sign() serializes nothing: it takes a reference to the key's
 * current EVP_PKEY under a per-key mutex (held for an EVP_PKEY_up_ref),
 * so that recovery can swap in a fresh one, and holds a shared (read) lock
 * of the module while signing, which only recovery takes exclusively (see
 * the pool below).
 *
 * What is NOT thread safe in 0.4.12, and so is serialized here by a
 * per-module mutex: PKCS11_enumerate_keys() (reallocates the cached
 * PKCS11_KEY array that every caller's pointers index; see OpenSC/libp11
 * issue #410), PKCS11_get_private_key() (fills the cache lazily),
 * PKCS11_login() and the pool reset below.
 *
 * Other 0.4.12 facts this file works around (each checked against the
 * installed library with SoftHSM 2.6.1):
 *   - PKCS11_enumerate_keys() rescans the token on every call and appends
 *     objects with handles it has not seen; stale entries stay.  After a
 *     logout and login SoftHSM hands out new object handles, so the list
 *     then holds the old (invalid) entry first and the new one after it.
 *     We therefore pick the LAST entry matching label and CKA_ID.
 *   - PKCS11_update_slots() crashes (SIGSEGV) on a list from
 *     PKCS11_enumerate_slots(); it is never called.
 *   - PKCS11_is_logged_in() reports a flag libp11 cached at login, not the
 *     token's state; the login state is read with C_GetSessionInfo.
 *   - The session pool never checks a pooled session: once the token has
 *     closed our sessions (C_CloseAllSessions, a token or network HSM
 *     restart) libp11 hands out the dead handles forever.  The only way
 *     to empty the pool is PKCS11_open_session() with the pool's current
 *     mode (libp11 then just forgets its sessions: "num_sessions = 0;
 *     head = tail = 0").  Recovery does that, but only once every signer
 *     has returned its session (the exclusive module lock): a session
 *     returned into an emptied pool would overflow its ring.  And only
 *     when the token answers: with an empty pool, 0.4.12 waits on its
 *     condition variable when C_OpenSession fails, instead of failing.
 *   - PKCS11_open_session() calls C_CloseAllSessions() whenever the mode
 *     asked differs from the pool's (which starts at -1, then takes the
 *     mode of the first session libp11 opens): that would close every
 *     session this process has on the slot, ours and those of another
 *     struct hsm on the same token.  So it is never called to open: libp11
 *     takes read-only sessions (its first one comes from PKCS11_login),
 *     which is all it needs to find keys and sign, and the only call is
 *     the pool reset above, with mode 0.  Our own management session is
 *     read-write.
 *   - PKCS11_CTX_unload() calls C_Finalize(): with two contexts on one
 *     module, freeing one kills the other.  All struct hsm on one module
 *     share one context (and one dlopen of the module), torn down when
 *     the last of them is freed.
 *   - PKCS11_get_public_key() on a private key leaks the temporary public
 *     key object it looks up (about 1 KB a call); the public key is taken
 *     from the private EVP_PKEY instead.
 */
#include "hsm/hsm.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libp11.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include "common/log.h"

#define LABEL_MAX 255	/* CKA_LABEL of keys: ours, not a token limit */
#define TOKEN_LABEL_LEN 32	/* CK_TOKEN_INFO.label, blank padded */
#define KEY_ID_LEN 16

/* One enumeration of the module's slots.  Lists are kept until the module
 * is torn down, because a slot freed early would C_CloseAllSessions() the
 * slot under everybody else. */
struct slot_list {
	PKCS11_SLOT *slots;
	unsigned int n;
	struct slot_list *next;
};

/* A loaded module, shared by every struct hsm that names the same file. */
struct module {
	char *path;		/* realpath(), the sharing key */
	unsigned int refs;	/* guarded by modules_lock */
	/* Serializes libp11 calls that touch its shared caches (key lists,
	 * lazily built EVP_PKEYs, login flag), and guards the lists below
	 * and every struct hsm's key list. */
	pthread_mutex_t lock;
	/* Held shared by every signature in flight, exclusively to empty
	 * libp11's session pools (see the top of the file).  Prefers
	 * writers, so recovery cannot starve under load. */
	pthread_rwlock_t quiesce;
	PKCS11_CTX *ctx;
	int loaded;
	struct slot_list *lists;
	void *dl;
	CK_FUNCTION_LIST *fl;
	struct hsm *instances;
	struct module *next;
};

struct hsm_key {
	struct hsm *h;
	char *label;
	unsigned char *id;	/* CKA_ID, to tell a key from a namesake */
	size_t id_len;
	pthread_mutex_t lock;	/* guards priv and gen */
	EVP_PKEY *priv;		/* private operations run on the token */
	unsigned long gen;	/* bumped each time priv is replaced */
	EVP_PKEY *pub;		/* plain OpenSSL key, fixed at find time */
	const EVP_MD *md;
	atomic_ullong signs;
	int retired;		/* destroyed on the token; guarded by mod->lock */
	struct hsm_key *next;
};

struct hsm {
	struct module *mod;
	char *label;
	PKCS11_SLOT *slot;	/* in mod->lists, stable until teardown */
	CK_SLOT_ID slot_id;
	/* Our own read-write session, for generation, attribute reads and
	 * the login state.  A PKCS#11 session runs one operation at a time,
	 * hence the mutex. */
	pthread_mutex_t raw_lock;
	CK_SESSION_HANDLE rs;	/* CK_INVALID_HANDLE when none */
	/* Our session was found closed by the token: libp11's pooled ones
	 * are dead too.  Guarded by raw_lock. */
	int sessions_lost;
	/* Kept to log in again after the token lost our login; cleansed in
	 * hsm_free(). */
	char *pin;
	size_t pin_len;
	struct hsm_key *keys;	/* guarded by mod->lock */
	int listed;		/* on mod->instances */
	struct hsm *next;	/* guarded by mod->lock */
};

/*
 * Lock order: modules_lock, module.lock, module.quiesce (exclusive),
 * hsm.raw_lock, hsm_key.lock.  Signers take module.quiesce shared and
 * nothing else while they hold it.
 */
static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct module *modules;

static const struct {
	enum hsm_key_type type;
	const char *name;
} key_types[] = {
	{ HSM_KEY_EC_P256, "ec-p256" },
	{ HSM_KEY_EC_P384, "ec-p384" },
	{ HSM_KEY_RSA_2048, "rsa-2048" },
	{ HSM_KEY_RSA_3072, "rsa-3072" },
	{ HSM_KEY_RSA_4096, "rsa-4096" },
};

int hsm_key_type_parse(const char *name, enum hsm_key_type *out, struct err *e)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
		if (name != NULL && strcmp(name, key_types[i].name) == 0) {
			*out = key_types[i].type;
			return 0;
		}
	}
	return err_set(e, ERR_INVALID, "unknown key type \"%s\" (want "
	    "ec-p256, ec-p384, rsa-2048, rsa-3072 or rsa-4096)",
	    name != NULL ? name : "");
}

const char *hsm_key_type_name(enum hsm_key_type t)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (key_types[i].type == t)
			return key_types[i].name;
	return "unknown";
}

/* ---------------------------------------------------------------------
 * PKCS#11 return values
 */

static const char *ckr_name(CK_RV rv)
{
	switch (rv) {
#define N(x) case x: return #x
	N(CKR_OK);
	N(CKR_CANCEL);
	N(CKR_HOST_MEMORY);
	N(CKR_SLOT_ID_INVALID);
	N(CKR_GENERAL_ERROR);
	N(CKR_FUNCTION_FAILED);
	N(CKR_ARGUMENTS_BAD);
	N(CKR_ATTRIBUTE_READ_ONLY);
	N(CKR_ATTRIBUTE_SENSITIVE);
	N(CKR_ATTRIBUTE_TYPE_INVALID);
	N(CKR_ATTRIBUTE_VALUE_INVALID);
	N(CKR_DEVICE_ERROR);
	N(CKR_DEVICE_MEMORY);
	N(CKR_DEVICE_REMOVED);
	N(CKR_FUNCTION_CANCELED);
	N(CKR_FUNCTION_NOT_SUPPORTED);
	N(CKR_KEY_HANDLE_INVALID);
	N(CKR_KEY_SIZE_RANGE);
	N(CKR_KEY_TYPE_INCONSISTENT);
	N(CKR_KEY_FUNCTION_NOT_PERMITTED);
	N(CKR_MECHANISM_INVALID);
	N(CKR_MECHANISM_PARAM_INVALID);
	N(CKR_OBJECT_HANDLE_INVALID);
	N(CKR_OPERATION_ACTIVE);
	N(CKR_OPERATION_NOT_INITIALIZED);
	N(CKR_PIN_INCORRECT);
	N(CKR_PIN_INVALID);
	N(CKR_PIN_LEN_RANGE);
	N(CKR_PIN_EXPIRED);
	N(CKR_PIN_LOCKED);
	N(CKR_SESSION_CLOSED);
	N(CKR_SESSION_COUNT);
	N(CKR_SESSION_HANDLE_INVALID);
	N(CKR_SESSION_READ_ONLY);
	N(CKR_TEMPLATE_INCOMPLETE);
	N(CKR_TEMPLATE_INCONSISTENT);
	N(CKR_TOKEN_NOT_PRESENT);
	N(CKR_TOKEN_NOT_RECOGNIZED);
	N(CKR_TOKEN_WRITE_PROTECTED);
	N(CKR_USER_ALREADY_LOGGED_IN);
	N(CKR_USER_NOT_LOGGED_IN);
	N(CKR_USER_PIN_NOT_INITIALIZED);
	N(CKR_USER_TYPE_INVALID);
	N(CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
	N(CKR_DOMAIN_PARAMS_INVALID);
	N(CKR_CRYPTOKI_NOT_INITIALIZED);
	N(CKR_CRYPTOKI_ALREADY_INITIALIZED);
#undef N
	default:
		return "CKR_?";
	}
}

/* The token is gone or our session with it is: worth reopening. */
static int session_lost(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	    rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT ||
	    rv == CKR_TOKEN_NOT_RECOGNIZED || rv == CKR_DEVICE_ERROR;
}

static enum err_kind ckr_kind(CK_RV rv)
{
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ||
	    rv == CKR_PIN_EXPIRED || rv == CKR_PIN_INVALID ||
	    rv == CKR_PIN_LEN_RANGE || rv == CKR_USER_PIN_NOT_INITIALIZED)
		return ERR_AUTH;
	if (session_lost(rv) || rv == CKR_SESSION_COUNT ||
	    rv == CKR_DEVICE_MEMORY || rv == CKR_USER_NOT_LOGGED_IN ||
	    rv == CKR_CRYPTOKI_NOT_INITIALIZED)
		return ERR_UNAVAILABLE;
	return ERR_INTERNAL;
}

/* Error from a raw PKCS#11 call: the caller's text, then the CKR name. */
static int ckr_err(struct err *e, CK_RV rv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int ckr_err(struct err *e, CK_RV rv, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return err_set(e, ckr_kind(rv), "%s: %s (0x%lx)", what, ckr_name(rv),
	    (unsigned long)rv);
}

static int login_err(struct err *e, const char *token, CK_RV rv)
{
	if (rv == CKR_PIN_INCORRECT)
		return err_set(e, ERR_AUTH, "token \"%s\": login failed: wrong "
		    "PIN (CKR_PIN_INCORRECT)", token);
	if (rv == CKR_PIN_LOCKED)
		return err_set(e, ERR_AUTH, "token \"%s\": login failed: the "
		    "user PIN is locked (CKR_PIN_LOCKED)", token);
	return ckr_err(e, rv, "token \"%s\": login failed", token);
}

/* ---------------------------------------------------------------------
 * Modules
 */

static void module_teardown(struct module *m)
{
	struct slot_list *l, *next;

	for (l = m->lists; l != NULL; l = next) {
		next = l->next;
		PKCS11_release_all_slots(m->ctx, l->slots, l->n);
		free(l);
	}
	if (m->ctx != NULL) {
		/* The only C_Finalize: nobody in this process uses the
		 * module any more. */
		if (m->loaded)
			PKCS11_CTX_unload(m->ctx);
		PKCS11_CTX_free(m->ctx);
	}
	if (m->dl != NULL)
		dlclose(m->dl);
	pthread_rwlock_destroy(&m->quiesce);
	pthread_mutex_destroy(&m->lock);
	free(m->path);
	free(m);
}

static int module_load(struct module *m, struct err *e)
{
	CK_C_GetFunctionList get_list;
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;

	m->ctx = PKCS11_CTX_new();
	if (m->ctx == NULL)
		return err_ossl(e, ERR_INTERNAL, "libp11: cannot make a context");
	if (PKCS11_CTX_load(m->ctx, m->path) != 0)
		return err_ossl(e, ERR_CONFIG, "PKCS#11 module \"%s\": cannot "
		    "load it", m->path);
	m->loaded = 1;
	/* Loading leaves unrelated noise (ENGINE probes) on the queue. */
	err_ossl_clear();

	/* The same file again: dlopen returns the instance libp11 already
	 * mapped, so both see one module state. */
	m->dl = dlopen(m->path, RTLD_NOW | RTLD_LOCAL);
	if (m->dl == NULL)
		return err_set(e, ERR_CONFIG, "PKCS#11 module \"%s\": %s",
		    m->path, dlerror());
	get_list = (CK_C_GetFunctionList)dlsym(m->dl, "C_GetFunctionList");
	if (get_list == NULL)
		return err_set(e, ERR_CONFIG, "PKCS#11 module \"%s\": no "
		    "C_GetFunctionList", m->path);
	rv = get_list(&m->fl);
	if (rv != CKR_OK || m->fl == NULL)
		return ckr_err(e, rv, "PKCS#11 module \"%s\": "
		    "C_GetFunctionList", m->path);
	/* libp11 has initialized the module in this process already. */
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = m->fl->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return ckr_err(e, rv, "PKCS#11 module \"%s\": C_Initialize",
		    m->path);
	return 0;
}

static int module_get(const char *path, struct module **out, struct err *e)
{
	pthread_rwlockattr_t ra;
	struct module *m = NULL;
	char *real;
	int rc = -1;

	real = realpath(path, NULL);
	if (real == NULL)
		return err_set(e, ERR_CONFIG, "PKCS#11 module \"%s\": %s", path,
		    strerror(errno));
	pthread_mutex_lock(&modules_lock);
	for (m = modules; m != NULL; m = m->next) {
		if (strcmp(m->path, real) == 0) {
			m->refs++;
			free(real);
			*out = m;
			rc = 0;
			goto out;
		}
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		free(real);
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	m->path = real;
	m->refs = 1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&m->quiesce, &ra);
	pthread_rwlockattr_destroy(&ra);
	if (module_load(m, e) != 0) {
		module_teardown(m);
		goto out;
	}
	m->next = modules;
	modules = m;
	*out = m;
	rc = 0;
out:
	pthread_mutex_unlock(&modules_lock);
	return rc;
}

static void module_put(struct module *m)
{
	struct module **pp;

	if (m == NULL)
		return;
	pthread_mutex_lock(&modules_lock);
	if (--m->refs == 0) {
		for (pp = &modules; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == m) {
				*pp = m->next;
				break;
			}
		}
		module_teardown(m);
	}
	pthread_mutex_unlock(&modules_lock);
}

/* Find the slot whose token label is exactly label in one list.
 * Returns 1 found, 0 not, -1 ambiguous. */
static int list_find_token(const struct slot_list *l, const char *label,
    PKCS11_SLOT **out)
{
	int found = 0;

	for (unsigned int i = 0; i < l->n; i++) {
		PKCS11_SLOT *s = &l->slots[i];

		if (s->token == NULL || s->token->label == NULL ||
		    strcmp(s->token->label, label) != 0)
			continue;
		if (found)
			return -1;
		*out = s;
		found = 1;
	}
	return found;
}

/* Caller holds m->lock. */
static int module_find_token(struct module *m, const char *label,
    PKCS11_SLOT **out, struct err *e)
{
	struct slot_list *l, **tail;
	char seen[256] = "";
	size_t len;
	int r;

	for (l = m->lists; l != NULL; l = l->next) {
		r = list_find_token(l, label, out);
		if (r == 1)
			return 0;
		if (r < 0)
			goto ambiguous;
	}
	/* Not among the slots we know: the token may have been created or
	 * inserted since.  Enumerate afresh, keeping the old lists (their
	 * slots are in use, see struct slot_list). */
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	if (PKCS11_enumerate_slots(m->ctx, &l->slots, &l->n) != 0) {
		free(l);
		return err_ossl(e, ERR_UNAVAILABLE, "PKCS#11 module \"%s\": "
		    "cannot list slots", m->path);
	}
	for (tail = &m->lists; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = l;
	r = list_find_token(l, label, out);
	if (r == 1)
		return 0;
	if (r < 0)
		goto ambiguous;
	for (unsigned int i = 0; i < l->n; i++) {
		if (l->slots[i].token == NULL || l->slots[i].token->label == NULL)
			continue;
		len = strlen(seen);
		snprintf(seen + len, sizeof(seen) - len, "%s\"%s\"",
		    len > 0 ? ", " : "", l->slots[i].token->label);
	}
	return err_set(e, ERR_CONFIG, "no token labelled \"%s\" in PKCS#11 "
	    "module \"%s\" (tokens: %s)", label, m->path,
	    seen[0] != '\0' ? seen : "none");
ambiguous:
	return err_set(e, ERR_CONFIG, "several tokens in PKCS#11 module \"%s\" "
	    "are labelled \"%s\"", m->path, label);
}

/* The slot id by token label, as the module itself lists it (labels are
 * 32 bytes, blank padded, not NUL terminated). */
static int raw_find_slot(struct module *m, const char *label,
    CK_SLOT_ID *out, struct err *e)
{
	unsigned char want[TOKEN_LABEL_LEN];
	CK_SLOT_ID *ids = NULL;
	CK_TOKEN_INFO ti;
	CK_ULONG n = 0;
	CK_RV rv;
	int rc = -1, found = 0;

	memset(want, ' ', sizeof(want));
	memcpy(want, label, strlen(label));
	rv = m->fl->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv != CKR_OK) {
		ckr_err(e, rv, "PKCS#11 module \"%s\": C_GetSlotList", m->path);
		goto out;
	}
	ids = calloc(n > 0 ? n : 1, sizeof(*ids));
	if (ids == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	rv = m->fl->C_GetSlotList(CK_TRUE, ids, &n);
	if (rv != CKR_OK) {
		ckr_err(e, rv, "PKCS#11 module \"%s\": C_GetSlotList", m->path);
		goto out;
	}
	for (CK_ULONG i = 0; i < n; i++) {
		if (m->fl->C_GetTokenInfo(ids[i], &ti) != CKR_OK ||
		    memcmp(ti.label, want, sizeof(want)) != 0)
			continue;
		*out = ids[i];
		found++;
	}
	if (found != 1) {
		err_set(e, ERR_CONFIG, "PKCS#11 module \"%s\": %s token "
		    "labelled \"%s\"", m->path, found ? "more than one" : "no",
		    label);
		goto out;
	}
	rc = 0;
out:
	free(ids);
	return rc;
}

/* ---------------------------------------------------------------------
 * Our own session (caller holds h->raw_lock)
 */

/* Make sure we have a session; say whether the token has us logged in as
 * user: 1 yes, 0 no, -1 error (token unreachable). */
static int raw_state(struct hsm *h, struct err *e)
{
	CK_FUNCTION_LIST *fl = h->mod->fl;
	CK_SESSION_INFO si;
	CK_RV rv;

	if (h->rs != CK_INVALID_HANDLE) {
		rv = fl->C_GetSessionInfo(h->rs, &si);
		if (rv == CKR_OK)
			goto state;
		if (!session_lost(rv))
			return ckr_err(e, rv, "token \"%s\": C_GetSessionInfo",
			    h->label);
		log_warn("msg=\"token session lost\" token=\"%s\" ckr=%s",
		    h->label, ckr_name(rv));
		h->rs = CK_INVALID_HANDLE;
		h->sessions_lost = 1;
	}
	rv = fl->C_OpenSession(h->slot_id, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &h->rs);
	if (rv != CKR_OK) {
		h->rs = CK_INVALID_HANDLE;
		return ckr_err(e, rv, "token \"%s\": cannot open a session",
		    h->label);
	}
	rv = fl->C_GetSessionInfo(h->rs, &si);
	if (rv != CKR_OK)
		return ckr_err(e, rv, "token \"%s\": C_GetSessionInfo",
		    h->label);
state:
	return si.state == CKS_RO_USER_FUNCTIONS ||
	    si.state == CKS_RW_USER_FUNCTIONS;
}

static int raw_login(struct hsm *h, struct err *e)
{
	CK_RV rv;

	rv = h->mod->fl->C_Login(h->rs, CKU_USER, (CK_UTF8CHAR *)h->pin,
	    (CK_ULONG)h->pin_len);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return login_err(e, h->label, rv);
	return 0;
}

/* A session with us logged in, for management calls. */
static int raw_ready(struct hsm *h, struct err *e)
{
	int st = raw_state(h, e);

	if (st < 0)
		return -1;
	if (st == 0 && raw_login(h, e) != 0)
		return -1;
	return 0;
}

/* Handles of objects of class cls labelled label, at most max of them;
 * *count gets how many there are (up to max). */
static int raw_find(struct hsm *h, CK_OBJECT_CLASS cls, const char *label,
    CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *count, struct err *e)
{
	CK_FUNCTION_LIST *fl = h->mod->fl;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, (CK_ULONG)strlen(label) },
	};
	CK_RV rv;

	*count = 0;
	rv = fl->C_FindObjectsInit(h->rs, tmpl, 2);
	if (rv != CKR_OK)
		return ckr_err(e, rv, "token \"%s\": C_FindObjectsInit",
		    h->label);
	rv = fl->C_FindObjects(h->rs, objs, max, count);
	fl->C_FindObjectsFinal(h->rs);
	if (rv != CKR_OK)
		return ckr_err(e, rv, "token \"%s\": C_FindObjects", h->label);
	return 0;
}

/* A variable-length attribute, malloc'ed. */
static int raw_get_var(struct hsm *h, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, unsigned char **out, size_t *len, struct err *e)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv;

	*out = NULL;
	*len = 0;
	rv = h->mod->fl->C_GetAttributeValue(h->rs, o, &a, 1);
	if (rv != CKR_OK)
		return ckr_err(e, rv, "token \"%s\": C_GetAttributeValue",
		    h->label);
	/* One spare byte so that an empty value still gets a pointer. */
	a.pValue = malloc(a.ulValueLen + 1);
	if (a.pValue == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	rv = h->mod->fl->C_GetAttributeValue(h->rs, o, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return ckr_err(e, rv, "token \"%s\": C_GetAttributeValue",
		    h->label);
	}
	*out = a.pValue;
	*len = a.ulValueLen;
	return 0;
}

/* ---------------------------------------------------------------------
 * Opening and closing
 */

/* Is some other open struct hsm using this token?  Caller holds mod->lock. */
static struct hsm *token_peer(const struct hsm *h)
{
	for (struct hsm *o = h->mod->instances; o != NULL; o = o->next)
		if (o != h && o->slot_id == h->slot_id)
			return o;
	return NULL;
}

/* Log in with our own session.  The login belongs to the whole process,
 * so the token answers "already logged in" without looking at the PIN
 * when another struct hsm (or a leftover) has logged in: check the PIN
 * against the one the token accepted for the peer, or log out and in
 * again when there is no peer.  Caller holds mod->lock and raw_lock. */
static int open_login(struct hsm *h, struct err *e)
{
	CK_FUNCTION_LIST *fl = h->mod->fl;
	struct hsm *peer;
	CK_RV rv;

	rv = fl->C_Login(h->rs, CKU_USER, (CK_UTF8CHAR *)h->pin,
	    (CK_ULONG)h->pin_len);
	if (rv != CKR_USER_ALREADY_LOGGED_IN)
		return rv == CKR_OK ? 0 : login_err(e, h->label, rv);
	peer = token_peer(h);
	if (peer != NULL) {
		if (peer->pin_len != h->pin_len ||
		    CRYPTO_memcmp(peer->pin, h->pin, h->pin_len) != 0)
			return err_set(e, ERR_AUTH, "token \"%s\": login "
			    "failed: wrong PIN (not the PIN this process is "
			    "logged in with)", h->label);
		return 0;
	}
	fl->C_Logout(h->rs);
	rv = fl->C_Login(h->rs, CKU_USER, (CK_UTF8CHAR *)h->pin,
	    (CK_ULONG)h->pin_len);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return login_err(e, h->label, rv);
	return 0;
}

int hsm_open(const char *module, const char *token_label, const char *pin,
    struct hsm **out, struct err *e)
{
	struct hsm *h = NULL;
	struct module *m = NULL;
	CK_SLOT_ID p11_id;
	CK_RV rv;
	int rc = -1;

	*out = NULL;
	if (module == NULL || module[0] == '\0')
		return err_set(e, ERR_CONFIG, "no PKCS#11 module configured");
	if (token_label == NULL || token_label[0] == '\0')
		return err_set(e, ERR_CONFIG, "no token label configured");
	if (strlen(token_label) > TOKEN_LABEL_LEN)
		return err_set(e, ERR_CONFIG, "token label \"%s\" is longer "
		    "than %d bytes", token_label, TOKEN_LABEL_LEN);
	if (pin == NULL)
		return err_set(e, ERR_CONFIG, "token \"%s\": no PIN",
		    token_label);

	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	h->rs = CK_INVALID_HANDLE;
	pthread_mutex_init(&h->raw_lock, NULL);
	h->label = strdup(token_label);
	h->pin_len = strlen(pin);
	h->pin = malloc(h->pin_len + 1);
	if (h->label == NULL || h->pin == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto fail;
	}
	memcpy(h->pin, pin, h->pin_len + 1);

	if (module_get(module, &m, e) != 0)
		goto fail;
	h->mod = m;

	pthread_mutex_lock(&m->lock);
	pthread_mutex_lock(&h->raw_lock);
	if (module_find_token(m, token_label, &h->slot, e) != 0 ||
	    raw_find_slot(m, token_label, &h->slot_id, e) != 0)
		goto unlock;
	p11_id = PKCS11_get_slotid_from_slot(h->slot);
	if (p11_id != h->slot_id) {
		err_set(e, ERR_INTERNAL, "token \"%s\": libp11 and the module "
		    "disagree on its slot (%lu, %lu)", token_label,
		    (unsigned long)p11_id, (unsigned long)h->slot_id);
		goto unlock;
	}
	rv = m->fl->C_OpenSession(h->slot_id,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h->rs);
	if (rv != CKR_OK) {
		h->rs = CK_INVALID_HANDLE;
		ckr_err(e, rv, "token \"%s\": cannot open a session",
		    token_label);
		goto unlock;
	}
	if (open_login(h, e) != 0)
		goto unlock;
	/* Keeps libp11's idea of the login in step (the token answers
	 * "already logged in": the PIN is not tried twice). */
	if (PKCS11_login(h->slot, 0, h->pin) != 0) {
		err_ossl(e, ERR_UNAVAILABLE, "token \"%s\": libp11 login failed",
		    token_label);
		goto unlock;
	}
	h->next = m->instances;
	m->instances = h;
	h->listed = 1;
	rc = 0;
unlock:
	pthread_mutex_unlock(&h->raw_lock);
	pthread_mutex_unlock(&m->lock);
	if (rc != 0)
		goto fail;
	log_info("msg=\"logged in to token\" token=\"%s\" module=\"%s\"",
	    token_label, m->path);
	*out = h;
	return 0;
fail:
	hsm_free(h);
	return -1;
}

static void key_free(struct hsm_key *k)
{
	EVP_PKEY_free(k->priv);
	EVP_PKEY_free(k->pub);
	free(k->label);
	free(k->id);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

void hsm_free(struct hsm *h)
{
	struct module *m = NULL;
	struct hsm **pp;
	struct hsm_key *k, *next;
	int peer = 0;

	if (h == NULL)
		return;
	m = h->mod;
	if (m != NULL) {
		pthread_mutex_lock(&m->lock);
		if (h->listed) {
			for (pp = &m->instances; *pp != NULL; pp = &(*pp)->next) {
				if (*pp == h) {
					*pp = h->next;
					break;
				}
			}
		}
		peer = token_peer(h) != NULL;
		for (k = h->keys; k != NULL; k = next) {
			next = k->next;
			key_free(k);
		}
		h->keys = NULL;
		pthread_mutex_lock(&h->raw_lock);
		if (h->rs != CK_INVALID_HANDLE) {
			/* The login is the process's: end it with the last
			 * user of the token, so that a later hsm_open has
			 * its PIN checked by the token. */
			if (!peer)
				m->fl->C_Logout(h->rs);
			m->fl->C_CloseSession(h->rs);
			h->rs = CK_INVALID_HANDLE;
		}
		pthread_mutex_unlock(&h->raw_lock);
		pthread_mutex_unlock(&m->lock);
		module_put(m);
	}
	if (h->pin != NULL) {
		OPENSSL_cleanse(h->pin, h->pin_len);
		free(h->pin);
	}
	free(h->label);
	pthread_mutex_destroy(&h->raw_lock);
	free(h);
}

/* ---------------------------------------------------------------------
 * Generating, destroying, finding
 */

static void attr(CK_ATTRIBUTE *t, CK_ULONG *n, CK_ATTRIBUTE_TYPE type,
    void *value, CK_ULONG len)
{
	t[*n].type = type;
	t[*n].pValue = value;
	t[*n].ulValueLen = len;
	(*n)++;
}

/* After generation: did the module honour what matters most?  A module
 * that silently drops CKA_SENSITIVE or CKA_EXTRACTABLE would leave a CA
 * key that can leave the token. */
static int check_private(struct hsm *h, CK_OBJECT_HANDLE o, const char *label,
    struct err *e)
{
	CK_BBOOL sens = CK_FALSE, extr = CK_TRUE, sign = CK_FALSE;
	CK_BBOOL dec = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{ CKA_SENSITIVE, &sens, sizeof(sens) },
		{ CKA_EXTRACTABLE, &extr, sizeof(extr) },
		{ CKA_SIGN, &sign, sizeof(sign) },
	};
	CK_ATTRIBUTE d = { CKA_DECRYPT, &dec, sizeof(dec) };
	CK_RV rv;

	rv = h->mod->fl->C_GetAttributeValue(h->rs, o, t, 3);
	if (rv != CKR_OK)
		return ckr_err(e, rv, "token \"%s\": reading back key \"%s\"",
		    h->label, label);
	/* CKA_DECRYPT may not apply to every key type: check it only when
	 * the module reports it. */
	if (h->mod->fl->C_GetAttributeValue(h->rs, o, &d, 1) != CKR_OK)
		dec = CK_FALSE;
	if (sens != CK_TRUE || extr != CK_FALSE || sign != CK_TRUE ||
	    dec != CK_FALSE)
		return err_set(e, ERR_CONFIG, "token \"%s\": the module did not "
		    "make key \"%s\" sign-only, sensitive and non-extractable "
		    "(sensitive=%d extractable=%d sign=%d decrypt=%d)",
		    h->label, label, sens, extr, sign, dec);
	return 0;
}

int hsm_generate_key(struct hsm *h, const char *label, enum hsm_key_type type,
    struct err *e)
{
	/* DER OIDs for CKA_EC_PARAMS (namedCurve). */
	static const CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
	    0x3d, 0x03, 0x01, 0x07 };
	static const CK_BYTE p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00,
	    0x22 };
	CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pub[8], priv[12];
	CK_ULONG npub = 0, npriv = 0, bits = 0, count;
	CK_OBJECT_HANDLE pub_o = CK_INVALID_HANDLE, priv_o = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE found;
	CK_BYTE id[KEY_ID_LEN];
	CK_ULONG label_len;
	CK_RV rv;
	int rc = -1;

	if (label == NULL || label[0] == '\0' || strlen(label) > LABEL_MAX)
		return err_set(e, ERR_INVALID, "key label must be 1 to %d "
		    "bytes", LABEL_MAX);
	label_len = (CK_ULONG)strlen(label);
	switch (type) {
	case HSM_KEY_EC_P256:
	case HSM_KEY_EC_P384:
		break;
	case HSM_KEY_RSA_2048:
		bits = 2048;
		break;
	case HSM_KEY_RSA_3072:
		bits = 3072;
		break;
	case HSM_KEY_RSA_4096:
		bits = 4096;
		break;
	default:
		return err_set(e, ERR_INVALID, "unknown key type %d", (int)type);
	}
	if (RAND_bytes(id, sizeof(id)) != 1)
		return err_ossl(e, ERR_INTERNAL, "no random bytes for CKA_ID");

	attr(pub, &npub, CKA_TOKEN, &yes, sizeof(yes));
	attr(pub, &npub, CKA_VERIFY, &yes, sizeof(yes));
	attr(pub, &npub, CKA_ENCRYPT, &no, sizeof(no));
	attr(pub, &npub, CKA_WRAP, &no, sizeof(no));
	attr(pub, &npub, CKA_LABEL, (void *)label, label_len);
	attr(pub, &npub, CKA_ID, id, sizeof(id));
	if (bits == 0) {
		const CK_BYTE *oid = type == HSM_KEY_EC_P256 ? p256 : p384;
		CK_ULONG oid_len = type == HSM_KEY_EC_P256 ? sizeof(p256) :
		    sizeof(p384);

		attr(pub, &npub, CKA_EC_PARAMS, (void *)oid, oid_len);
	} else {
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		attr(pub, &npub, CKA_MODULUS_BITS, &bits, sizeof(bits));
		attr(pub, &npub, CKA_PUBLIC_EXPONENT, exponent,
		    sizeof(exponent));
	}
	attr(priv, &npriv, CKA_TOKEN, &yes, sizeof(yes));
	attr(priv, &npriv, CKA_PRIVATE, &yes, sizeof(yes));
	attr(priv, &npriv, CKA_SENSITIVE, &yes, sizeof(yes));
	attr(priv, &npriv, CKA_EXTRACTABLE, &no, sizeof(no));
	attr(priv, &npriv, CKA_SIGN, &yes, sizeof(yes));
	attr(priv, &npriv, CKA_DECRYPT, &no, sizeof(no));
	attr(priv, &npriv, CKA_UNWRAP, &no, sizeof(no));
	attr(priv, &npriv, CKA_DERIVE, &no, sizeof(no));
	attr(priv, &npriv, CKA_LABEL, (void *)label, label_len);
	attr(priv, &npriv, CKA_ID, id, sizeof(id));

	/* Check and generate under one lock, so that two callers in this
	 * process cannot both pass the check. */
	pthread_mutex_lock(&h->raw_lock);
	if (raw_ready(h, e) != 0)
		goto out;
	if (raw_find(h, CKO_PRIVATE_KEY, label, &found, 1, &count, e) != 0)
		goto out;
	if (count > 0) {
		err_set(e, ERR_CONFLICT, "token \"%s\" already holds a private "
		    "key labelled \"%s\"", h->label, label);
		goto out;
	}
	rv = h->mod->fl->C_GenerateKeyPair(h->rs, &mech, pub, npub, priv, npriv,
	    &pub_o, &priv_o);
	if (rv != CKR_OK) {
		ckr_err(e, rv, "token \"%s\": generating %s key \"%s\"",
		    h->label, hsm_key_type_name(type), label);
		goto out;
	}
	if (check_private(h, priv_o, label, e) != 0) {
		h->mod->fl->C_DestroyObject(h->rs, priv_o);
		h->mod->fl->C_DestroyObject(h->rs, pub_o);
		goto out;
	}
	rc = 0;
out:
	pthread_mutex_unlock(&h->raw_lock);
	if (rc == 0)
		log_info("msg=\"generated key\" token=\"%s\" label=\"%s\" "
		    "type=%s", h->label, label, hsm_key_type_name(type));
	return rc;
}

int hsm_key_exists(struct hsm *h, const char *label, struct err *e)
{
	CK_OBJECT_HANDLE o;
	CK_ULONG count = 0;
	int rc = -1;

	if (label == NULL)
		return err_set(e, ERR_INVALID, "no key label");
	pthread_mutex_lock(&h->raw_lock);
	if (raw_ready(h, e) == 0 &&
	    raw_find(h, CKO_PRIVATE_KEY, label, &o, 1, &count, e) == 0)
		rc = count > 0;
	pthread_mutex_unlock(&h->raw_lock);
	return rc;
}

int hsm_destroy_key(struct hsm *h, const char *label, struct err *e)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY,
	    CKO_PUBLIC_KEY };
	CK_OBJECT_HANDLE objs[32];
	CK_ULONG count;
	CK_RV rv;
	int rc = -1, n = 0;

	if (label == NULL)
		return err_set(e, ERR_INVALID, "no key label");
	pthread_mutex_lock(&h->mod->lock);
	pthread_mutex_lock(&h->raw_lock);
	if (raw_ready(h, e) != 0)
		goto out;
	for (size_t c = 0; c < sizeof(classes) / sizeof(classes[0]); c++) {
		/* Collect, then destroy: no destruction during a search. */
		do {
			if (raw_find(h, classes[c], label, objs, 32, &count,
			    e) != 0)
				goto out;
			for (CK_ULONG i = 0; i < count; i++) {
				rv = h->mod->fl->C_DestroyObject(h->rs, objs[i]);
				if (rv != CKR_OK) {
					ckr_err(e, rv, "token \"%s\": destroying "
					    "key \"%s\"", h->label, label);
					goto out;
				}
				n++;
			}
		} while (count == 32);
	}
	/* Found keys stay allocated (callers may hold them) but are never
	 * handed out again: a new key may take the label. */
	for (struct hsm_key *k = h->keys; k != NULL; k = k->next)
		if (strcmp(k->label, label) == 0)
			k->retired = 1;
	rc = 0;
out:
	pthread_mutex_unlock(&h->raw_lock);
	pthread_mutex_unlock(&h->mod->lock);
	if (rc == 0 && n > 0)
		log_info("msg=\"destroyed key\" token=\"%s\" label=\"%s\" "
		    "objects=%d", h->label, label, n);
	return rc;
}

/* Does an OpenSSL error from libp11 say the session it used is gone?
 * libp11 0.4.12 queues a PKCS#11 failure with the CKR value as reason
 * code under its "PKCS#11 module" library. */
static int p11_session_gone(unsigned long code)
{
	const char *lib;
	unsigned long reason;

	if (code == 0)
		return 0;
	lib = ERR_lib_error_string(code);
	reason = (unsigned long)ERR_GET_REASON(code);
	return lib != NULL && strstr(lib, "PKCS#11") != NULL &&
	    (reason == CKR_SESSION_HANDLE_INVALID ||
	    reason == CKR_SESSION_CLOSED);
}

/* Empty libp11's session pool for our slot, once no signature is in
 * flight, so that it opens fresh sessions.  PKCS11_open_session() with
 * the pool's mode (0: libp11's first session came from PKCS11_login)
 * only forgets the pooled handles.  Caller holds mod->lock, not raw_lock.
 * The forgotten handles are dead; if some were not, they stay open until
 * the module is finalized (at most the 16 of one pool). */
static void pool_reset(struct hsm *h)
{
	pthread_rwlock_wrlock(&h->mod->quiesce);
	PKCS11_open_session(h->slot, 0);
	pthread_rwlock_unlock(&h->mod->quiesce);
	pthread_mutex_lock(&h->raw_lock);
	h->sessions_lost = 0;
	pthread_mutex_unlock(&h->raw_lock);
	log_warn("msg=\"token sessions were closed: libp11 opens new ones\" "
	    "token=\"%s\"", h->label);
}

/* A plain OpenSSL copy of a public key (the libp11 one carries libp11's
 * methods and ex_data; verification and encoding need none of that). */
static EVP_PKEY *public_copy(EVP_PKEY *src)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *out;
	int len;

	len = i2d_PUBKEY(src, &der);
	if (len <= 0)
		return NULL;
	p = der;
	out = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	return out;
}

/*
 * Load the private key labelled label through libp11: an EVP_PKEY whose
 * private operations run on the token, a plain public key, and the CKA_ID.
 * The module says which key is current (its CKA_ID): libp11's cached list
 * may still hold stale entries for the label (see the top of the file), so
 * take the last entry with that label and CKA_ID.
 * Caller holds mod->lock (libp11's caches) and not raw_lock.
 */
static int load_key(struct hsm *h, const char *label, EVP_PKEY **priv,
    EVP_PKEY **pub, unsigned char **id, size_t *id_len, struct err *e)
{
	CK_OBJECT_HANDLE objs[2];
	CK_ULONG count = 0;
	PKCS11_KEY *keys = NULL;
	unsigned int n = 0;
	int rc = -1, r, i;

	*priv = *pub = NULL;
	*id = NULL;
	pthread_mutex_lock(&h->raw_lock);
	r = raw_ready(h, e);
	if (r == 0)
		r = raw_find(h, CKO_PRIVATE_KEY, label, objs, 2, &count, e);
	if (r == 0 && count == 1)
		r = raw_get_var(h, objs[0], CKA_ID, id, id_len, e);
	pthread_mutex_unlock(&h->raw_lock);
	if (r != 0)
		goto out;
	if (count == 0) {
		err_set(e, ERR_NOTFOUND, "token \"%s\" holds no private key "
		    "labelled \"%s\"", h->label, label);
		goto out;
	}
	if (count > 1) {
		err_set(e, ERR_CONFLICT, "token \"%s\" holds several private "
		    "keys labelled \"%s\"", h->label, label);
		goto out;
	}

	if (PKCS11_enumerate_keys(h->slot->token, &keys, &n) != 0) {
		/* A dead session pool (see pool_reset) fails here too. */
		if (!p11_session_gone(ERR_peek_last_error())) {
			err_ossl(e, ERR_UNAVAILABLE, "token \"%s\": cannot "
			    "list keys", h->label);
			goto out;
		}
		err_ossl_clear();
		pool_reset(h);
		if (PKCS11_enumerate_keys(h->slot->token, &keys, &n) != 0) {
			err_ossl(e, ERR_UNAVAILABLE, "token \"%s\": cannot "
			    "list keys", h->label);
			goto out;
		}
	}
	for (i = (int)n - 1; i >= 0; i--) {
		if (keys[i].label != NULL && strcmp(keys[i].label, label) == 0 &&
		    keys[i].id_len == *id_len &&
		    (*id_len == 0 || memcmp(keys[i].id, *id, *id_len) == 0))
			break;
	}
	if (i < 0) {
		err_set(e, ERR_INTERNAL, "token \"%s\": libp11 does not see key "
		    "\"%s\" (unsupported key type?)", h->label, label);
		goto out;
	}
	*priv = PKCS11_get_private_key(&keys[i]);
	if (*priv == NULL) {
		err_ossl(e, ERR_INTERNAL, "token \"%s\": key \"%s\": libp11 "
		    "cannot use it", h->label, label);
		goto out;
	}
	/* The public half of the libp11 private key: libp11 filled in the RSA
	 * modulus and exponent, and the EC point from the public key object.
	 * (PKCS11_get_public_key() would do, but leaks its temporary key
	 * object on every call in 0.4.12.) */
	*pub = public_copy(*priv);
	if (*pub == NULL) {
		err_ossl(e, ERR_INTERNAL, "token \"%s\": key \"%s\": no public "
		    "key", h->label, label);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		EVP_PKEY_free(*priv);
		EVP_PKEY_free(*pub);
		free(*id);
		*priv = *pub = NULL;
		*id = NULL;
	}
	return rc;
}

static const EVP_MD *md_for(EVP_PKEY *pub)
{
	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC &&
	    EVP_PKEY_get_bits(pub) == 384)
		return EVP_sha384();
	return EVP_sha256();
}

int hsm_find_key(struct hsm *h, const char *label, struct hsm_key **out,
    struct err *e)
{
	struct hsm_key *k;
	int rc = -1;

	*out = NULL;
	if (label == NULL || label[0] == '\0')
		return err_set(e, ERR_INVALID, "no key label");
	pthread_mutex_lock(&h->mod->lock);
	for (k = h->keys; k != NULL; k = k->next) {
		if (!k->retired && strcmp(k->label, label) == 0) {
			*out = k;
			rc = 0;
			goto out;
		}
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	pthread_mutex_init(&k->lock, NULL);
	k->h = h;
	atomic_init(&k->signs, 0);
	k->label = strdup(label);
	if (k->label == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		key_free(k);
		goto out;
	}
	if (load_key(h, label, &k->priv, &k->pub, &k->id, &k->id_len, e) != 0) {
		key_free(k);
		goto out;
	}
	k->md = md_for(k->pub);
	k->next = h->keys;
	h->keys = k;
	*out = k;
	rc = 0;
out:
	pthread_mutex_unlock(&h->mod->lock);
	return rc;
}

EVP_PKEY *hsm_key_public(struct hsm_key *k)
{
	return k->pub;
}

const char *hsm_key_label(const struct hsm_key *k)
{
	return k->label;
}

const EVP_MD *hsm_key_md(struct hsm_key *k)
{
	return k->md;
}

unsigned long long hsm_key_sign_count(const struct hsm_key *k)
{
	/* The cast drops const only for the atomic load's prototype. */
	return atomic_load_explicit((atomic_ullong *)&k->signs,
	    memory_order_relaxed);
}

/* ---------------------------------------------------------------------
 * Signing and recovery
 */

/* Find k again (new object handle after a new login) and swap its
 * EVP_PKEY.  It must still be the same key: a CA must never sign with a
 * namesake.  Caller holds mod->lock. */
static int key_refresh(struct hsm_key *k, struct err *e)
{
	EVP_PKEY *priv, *pub, *old;
	unsigned char *id;
	size_t id_len;

	if (k->retired)
		return err_set(e, ERR_NOTFOUND, "token \"%s\": key \"%s\" was "
		    "destroyed", k->h->label, k->label);
	if (load_key(k->h, k->label, &priv, &pub, &id, &id_len, e) != 0)
		return -1;
	if (id_len != k->id_len || memcmp(id, k->id, id_len) != 0 ||
	    EVP_PKEY_eq(pub, k->pub) != 1) {
		EVP_PKEY_free(priv);
		EVP_PKEY_free(pub);
		free(id);
		err_ossl_clear();
		return err_set(e, ERR_INTERNAL, "token \"%s\": key \"%s\" is no "
		    "longer the key found at start", k->h->label, k->label);
	}
	EVP_PKEY_free(pub);
	free(id);
	pthread_mutex_lock(&k->lock);
	old = k->priv;
	k->priv = priv;
	k->gen++;
	pthread_mutex_unlock(&k->lock);
	/* Signers still holding the old one keep it alive until done. */
	EVP_PKEY_free(old);
	return 0;
}

/*
 * After a failed signature with k (taken at generation seen_gen), or from
 * hsm_ping (k NULL): find out whether the token still has us logged in,
 * with our own session (reopened if lost).  If not, log in again.  If the
 * token had closed our sessions (our own one found closed, or libp11's
 * error said so: dead_session), empty libp11's pool.  After either, find
 * every key of h again (object handles change with a new login).  If all
 * looked fine, find k again anyway: its handle may be stale.  If another
 * thread already refreshed k, do nothing: the caller just retries.
 */
static int recover(struct hsm *h, struct hsm_key *k, unsigned long seen_gen,
    int dead_session, struct err *e)
{
	unsigned long gen;
	int st, lost, rc = -1;

	pthread_mutex_lock(&h->mod->lock);
	if (k != NULL) {
		pthread_mutex_lock(&k->lock);
		gen = k->gen;
		pthread_mutex_unlock(&k->lock);
		if (gen != seen_gen) {
			rc = 0;
			goto out;
		}
	}
	pthread_mutex_lock(&h->raw_lock);
	st = raw_state(h, e);
	if (st == 0 && raw_login(h, e) != 0)
		st = -1;
	lost = h->sessions_lost || dead_session;
	pthread_mutex_unlock(&h->raw_lock);
	/* Only with the token answering (see the pool notes on top). */
	if (st < 0)
		goto out;
	if (st == 0)
		log_warn("msg=\"token had lost our login: logged in again\" "
		    "token=\"%s\"", h->label);
	if (lost)
		pool_reset(h);
	if (st == 0 || lost) {
		for (struct hsm_key *o = h->keys; o != NULL; o = o->next) {
			if (o->retired || key_refresh(o, e) == 0)
				continue;
			if (o == k || k == NULL)
				goto out;
			/* Not the key asked for: it recovers on its own when
			 * next used. */
			log_warn("msg=\"key not found again after login\" "
			    "token=\"%s\" key=\"%s\" error=\"%s\"", h->label,
			    o->label, e != NULL ? e->msg : "");
		}
	} else if (k != NULL && key_refresh(k, e) != 0) {
		goto out;
	}
	rc = 0;
out:
	pthread_mutex_unlock(&h->mod->lock);
	return rc;
}

/* fn runs under the module's shared quiesce lock, which prefers writers:
 * it must not call back into hsm. */
int hsm_sign(struct hsm_key *k, hsm_sign_fn fn, void *arg, struct err *e)
{
	pthread_rwlock_t *quiesce = &k->h->mod->quiesce;
	EVP_PKEY *pkey;
	unsigned long gen;
	const char *why;
	unsigned long first;
	int ok;

	for (int attempt = 0;; attempt++) {
		pthread_mutex_lock(&k->lock);
		pkey = k->priv;
		EVP_PKEY_up_ref(pkey);
		gen = k->gen;
		pthread_mutex_unlock(&k->lock);

		err_ossl_clear();
		pthread_rwlock_rdlock(quiesce);
		ok = fn(pkey, arg);
		pthread_rwlock_unlock(quiesce);
		EVP_PKEY_free(pkey);
		if (ok == 1) {
			atomic_fetch_add_explicit(&k->signs, 1,
			    memory_order_relaxed);
			return 0;
		}
		if (attempt > 0)
			return err_ossl(e, ERR_INTERNAL, "token \"%s\": key "
			    "\"%s\": signing failed", k->h->label, k->label);
		first = ERR_peek_last_error();
		why = first != 0 ? ERR_reason_error_string(first) : NULL;
		log_warn("msg=\"signature failed: checking the token session\" "
		    "token=\"%s\" key=\"%s\" error=\"%s\"", k->h->label,
		    k->label, why != NULL ? why : "unknown");
		err_ossl_clear();
		if (recover(k->h, k, gen, p11_session_gone(first), e) != 0) {
			err_prefix(e, "key \"%s\": signing failed and the token "
			    "did not recover: ", k->label);
			return -1;
		}
	}
}

struct sign_data_arg {
	const unsigned char *data;
	size_t len;
	const EVP_MD *md;
	unsigned char *sig;
	size_t siglen;
};

static int sign_data_cb(EVP_PKEY *pkey, void *arg)
{
	struct sign_data_arg *a = arg;
	EVP_MD_CTX *ctx;
	int ok = 0, size;

	/* A retry starts over. */
	OPENSSL_free(a->sig);
	a->sig = NULL;
	size = EVP_PKEY_get_size(pkey);
	if (size <= 0)
		return 0;
	ctx = EVP_MD_CTX_new();
	a->sig = OPENSSL_malloc((size_t)size);
	if (ctx == NULL || a->sig == NULL)
		goto out;
	a->siglen = (size_t)size;
	if (EVP_DigestSignInit(ctx, NULL, a->md, NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, a->sig, &a->siglen, a->data, a->len) != 1)
		goto out;
	ok = 1;
out:
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		OPENSSL_free(a->sig);
		a->sig = NULL;
	}
	return ok;
}

int hsm_sign_data(struct hsm_key *k, const unsigned char *data, size_t len,
    unsigned char **sig, size_t *siglen, struct err *e)
{
	struct sign_data_arg a = { data, len, k->md, NULL, 0 };

	*sig = NULL;
	*siglen = 0;
	if (hsm_sign(k, sign_data_cb, &a, e) != 0) {
		OPENSSL_free(a.sig);
		return -1;
	}
	*sig = a.sig;
	*siglen = a.siglen;
	return 0;
}

/* ---------------------------------------------------------------------
 * Health
 */

int hsm_ping(struct hsm *h, struct err *e)
{
	CK_TOKEN_INFO ti;
	CK_RV rv;
	int st;

	pthread_mutex_lock(&h->raw_lock);
	rv = h->mod->fl->C_GetTokenInfo(h->slot_id, &ti);
	if (rv != CKR_OK) {
		pthread_mutex_unlock(&h->raw_lock);
		ckr_err(e, rv, "token \"%s\" does not answer", h->label);
		if (e != NULL)
			e->kind = ERR_UNAVAILABLE;
		return -1;
	}
	st = raw_state(h, e);
	pthread_mutex_unlock(&h->raw_lock);
	if (st > 0)
		return 0;
	if (st < 0) {
		if (e != NULL)
			e->kind = ERR_UNAVAILABLE;
		return -1;
	}
	/* Logged out: log in again now rather than report "not ready" until
	 * a signature happens to come by (which, behind a load balancer
	 * that trusts /readyz, it never would). */
	return recover(h, NULL, 0, 0, e);
}

int hsm_logout_for_test(struct hsm *h, struct err *e)
{
	CK_RV rv;
	int rc = -1;

	pthread_mutex_lock(&h->raw_lock);
	if (raw_state(h, e) < 0)
		goto out;
	/* Behind libp11's back, as a token reset would be: libp11 still
	 * believes it is logged in and its object handles go stale. */
	rv = h->mod->fl->C_Logout(h->rs);
	if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN) {
		ckr_err(e, rv, "token \"%s\": C_Logout", h->label);
		goto out;
	}
	rc = 0;
out:
	pthread_mutex_unlock(&h->raw_lock);
	return rc;
}
