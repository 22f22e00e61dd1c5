/* policy: name patterns, CIDRs, URI prefixes, profiles, JSON round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ca/policy.h"

static struct policy *sample(void)
{
	struct policy *p = policy_new();
	struct err e;

	assert_int_equal(policy_add_dns(p, "*.svc.corp", &e), 0);
	assert_int_equal(policy_add_dns(p, "api.corp", &e), 0);
	assert_int_equal(policy_add_ip(p, "10.1.0.0/16", &e), 0);
	assert_int_equal(policy_add_ip(p, "fd00::/8", &e), 0);
	assert_int_equal(policy_add_uri(p, "spiffe://corp/", &e), 0);
	assert_int_equal(policy_set_profiles(p, "server,both", &e), 0);
	return p;
}

static int allowed(struct policy *p, const char *name)
{
	struct san s;
	struct err e;

	assert_int_equal(san_parse(name, &s, &e), 0);
	return policy_check_name(p, &s, &e) == 0;
}

static void test_names(void **state)
{
	struct policy *p = sample();

	(void)state;
	assert_true(allowed(p, "web.svc.corp"));
	assert_true(allowed(p, "a.b.svc.corp"));
	assert_true(allowed(p, "WEB.SVC.CORP"));
	assert_true(allowed(p, "api.corp"));
	assert_false(allowed(p, "svc.corp"));
	assert_false(allowed(p, "evilsvc.corp"));
	assert_false(allowed(p, "web.svc.corp.evil.com"));
	assert_false(allowed(p, "x.api.corp"));
	assert_true(allowed(p, "IP:10.1.2.3"));
	assert_false(allowed(p, "IP:10.2.0.1"));
	assert_true(allowed(p, "IP:fd12::1"));
	assert_false(allowed(p, "IP:fe80::1"));
	assert_true(allowed(p, "URI:spiffe://corp/ns/a"));
	assert_false(allowed(p, "URI:spiffe://corpx/a"));
	policy_free(p);
}

static void test_profiles(void **state)
{
	struct policy *p = sample();
	struct err e;

	(void)state;
	assert_int_equal(policy_check_profile(p, PROFILE_SERVER, &e), 0);
	assert_int_equal(policy_check_profile(p, PROFILE_CLIENT, &e), -1);
	assert_int_equal(e.kind, ERR_POLICY);
	assert_int_equal(policy_set_profiles(p, "server,bogus", &e), -1);
	policy_free(p);
}

static void test_bad_rules(void **state)
{
	struct policy *p = policy_new();
	struct err e;

	(void)state;
	assert_int_equal(policy_add_ip(p, "10.0.0.0/33", &e), -1);
	assert_int_equal(policy_add_ip(p, "nope/8", &e), -1);
	assert_int_equal(policy_add_dns(p, "bad name", &e), -1);
	assert_int_equal(policy_add_dns(p, "a.*.b", &e), -1);
	assert_int_equal(policy_add_uri(p, "no-scheme", &e), -1);
	assert_int_equal(policy_set_key_types(p, "dsa", &e), -1);
	policy_free(p);
	policy_free(NULL);
}

static void test_json_round_trip(void **state)
{
	struct policy *p = sample(), *q = NULL;
	struct err e;
	char *j, *k;

	(void)state;
	p->max_lifetime = 3600;
	p->may_revoke = 1;
	assert_int_equal(policy_set_key_types(p, "ec-p256,rsa", &e), 0);
	j = policy_to_json(p);
	assert_non_null(j);
	assert_int_equal(policy_from_json(j, &q, &e), 0);
	k = policy_to_json(q);
	assert_string_equal(j, k);
	assert_int_equal(q->max_lifetime, 3600);
	assert_true(q->may_revoke);
	assert_int_equal(policy_check_key_type(q, "ec-p256", &e), 0);
	assert_int_equal(policy_check_key_type(q, "ed25519", &e), -1);
	assert_int_equal(policy_from_json("[1]", &q, &e) == 0 ? 1 : 0, 0);
	assert_int_equal(policy_from_json("{\"allow_ip\": [\"x\"]}", &q, &e), -1);
	free(j);
	free(k);
	policy_free(p);
	policy_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_profiles),
		cmocka_unit_test(test_bad_rules),
		cmocka_unit_test(test_json_round_trip),
	};
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
