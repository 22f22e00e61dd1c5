/* token: minting and verifying one-time tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/token.h"

#define AUD "https://ca.test:8443/v1/sign"

struct keys {
	char *priv, *pub, *other_priv, *other_pub;
};

static int setup(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));
	struct err e;

	if (token_new_key("ci", &k->priv, &k->pub, &e) != 0 ||
	    token_new_key("ci", &k->other_priv, &k->other_pub, &e) != 0)
		return -1;
	*state = k;
	return 0;
}

static int teardown(void **state)
{
	struct keys *k = *state;

	free(k->priv);
	free(k->pub);
	free(k->other_priv);
	free(k->other_pub);
	free(k);
	return 0;
}

static char *mint(struct keys *k, const char *aud, long ttl, time_t now)
{
	struct san_list sans;
	struct san s;
	struct err e;
	char *tok = NULL;

	memset(&sans, 0, sizeof(sans));
	san_parse("web.svc.corp", &s, &e);
	san_list_add(&sans, &s, &e);
	san_parse("IP:10.1.2.3", &s, &e);
	san_list_add(&sans, &s, &e);
	assert_int_equal(token_mint(k->priv, "ci", NULL, &sans, "server", 3600,
	    aud, ttl, now, &tok, &e), 0);
	return tok;
}

static int verify(const char *tok, const char *jwk, time_t now,
    struct token_claims *c, struct err *e)
{
	struct token *t = NULL;
	int rc;

	if (token_parse(tok, strlen(tok), &t, e) != 0)
		return -1;
	rc = token_verify(t, jwk, AUD, 60, now, c, e);
	token_free(t);
	return rc;
}

static void test_round_trip(void **state)
{
	struct keys *k = *state;
	time_t now = time(NULL);
	char *tok = mint(k, AUD, 300, now);
	struct token_claims c;
	struct err e;

	assert_int_equal(verify(tok, k->pub, now, &c, &e), 0);
	assert_string_equal(c.iss, "ci");
	assert_string_equal(c.sub, "web.svc.corp");
	assert_string_equal(c.profile, "server");
	assert_int_equal(c.lifetime, 3600);
	assert_int_equal(c.sans.n, 2);
	assert_int_equal(c.sans.v[1].type, SAN_IP);
	assert_int_equal(strlen(c.jti), 32);
	free(tok);
}

static void test_rejections(void **state)
{
	struct keys *k = *state;
	time_t now = time(NULL);
	struct token_claims c;
	struct err e;
	char *tok;

	/* Signed by another key. */
	tok = mint(k, AUD, 300, now);
	assert_int_equal(verify(tok, k->other_pub, now, &c, &e), -1);
	assert_int_equal(e.kind, ERR_AUTH);
	/* Expired, beyond the skew. */
	assert_int_equal(verify(tok, k->pub, now + 300 + 61, &c, &e), -1);
	assert_non_null(strstr(e.msg, "expired"));
	/* Not yet valid. */
	assert_int_equal(verify(tok, k->pub, now - 120, &c, &e), -1);
	assert_non_null(strstr(e.msg, "not valid yet"));
	free(tok);
	/* Another audience. */
	tok = mint(k, "https://other.example/v1/sign", 300, now);
	assert_int_equal(verify(tok, k->pub, now, &c, &e), -1);
	assert_non_null(strstr(e.msg, "audience"));
	free(tok);
	/* Lives too long. */
	tok = mint(k, AUD, TOKEN_MAX_TTL + 10, now);
	assert_int_equal(verify(tok, k->pub, now, &c, &e), -1);
	free(tok);
	/* A tampered payload. */
	tok = mint(k, AUD, 300, now);
	char *dot = strchr(tok, '.');
	dot[3] = dot[3] == 'A' ? 'B' : 'A';
	assert_int_equal(verify(tok, k->pub, now, &c, &e), -1);
	free(tok);
}

static void test_garbage(void **state)
{
	const char *bad[] = { "", "a.b", "not a token", "...", "a.b.c.d.e" };
	struct token *t = NULL;
	struct err e;
	char *big;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(token_parse(bad[i], strlen(bad[i]), &t, &e), -1);
		assert_int_equal(e.kind, ERR_AUTH);
	}
	big = malloc(TOKEN_MAX_LEN + 2);
	memset(big, 'a', TOKEN_MAX_LEN + 1);
	big[TOKEN_MAX_LEN + 1] = '\0';
	assert_int_equal(token_parse(big, strlen(big), &t, &e), -1);
	free(big);
	/* alg none, made by hand: header {"alg":"none","kid":"ci"}. */
	const char *none = "eyJhbGciOiJub25lIiwia2lkIjoiY2kifQ.e30.";
	if (token_parse(none, strlen(none), &t, &e) == 0) {
		struct token_claims c;
		struct keys *k = *state;
		assert_int_equal(token_verify(t, k->pub, AUD, 60, time(NULL), &c, &e), -1);
		token_free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests_name("token", tests, setup, teardown);
}
