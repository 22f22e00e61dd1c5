/* config: the table-driven parser and its error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"

static const char *base =
    "db = host=/tmp dbname=signet\n"
    "token = signet-online\n"
    "public_url = http://127.0.0.1:8080\n"
    "ca_url = https://127.0.0.1:8443\n"
    "tls_cert = server.pem\n"
    "tls_key = /abs/server.key\n"
    "roots_file = roots.pem\n"
    "chain_file = chain.pem\n";

static int load(const char *extra, struct config **c, struct err *e)
{
	char path[] = "/tmp/signet-conf-XXXXXX";
	int fd = mkstemp(path), rc;
	FILE *f = fdopen(fd, "w");

	fprintf(f, "# comment\n\n%s%s", base, extra);
	fclose(f);
	rc = config_load(path, c, e);
	unlink(path);
	return rc;
}

static void test_defaults_and_paths(void **state)
{
	struct config *c = NULL;
	struct err e;

	(void)state;
	assert_int_equal(load("", &c, &e), 0);
	assert_string_equal(c->db, "host=/tmp dbname=signet");
	assert_int_equal(c->default_lifetime, 86400);
	assert_int_equal(c->threads, 16);
	/* Relative paths resolve against the config's directory. */
	assert_string_equal(c->tls_cert, "/tmp/server.pem");
	assert_string_equal(c->tls_key, "/abs/server.key");
	config_free(c);
	config_free(NULL);
}

static void test_errors_name_the_setting(void **state)
{
	const struct {
		const char *extra, *want;
	} cases[] = {
		{ "threads = 0\n", "threads" },
		{ "threads = many\n", "threads" },
		{ "bogus = 1\n", "unknown setting \"bogus\"" },
		{ "token = again\n", "token is set twice" },
		{ "no equals sign\n", "expected \"key = value\"" },
		{ "request_timeout = 10x\n", "request_timeout" },
		{ "log_level = loud\n", "log_level" },
		{ "https_listen = nowhere\n", "https_listen" },
		{ "default_lifetime = 40d\n", "default_lifetime" },
		{ "max_body =\n", "max_body has no value" },
	};
	struct config *c = NULL;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(load(cases[i].extra, &c, &e), -1);
		assert_int_equal(e.kind, ERR_CONFIG);
		if (strstr(e.msg, cases[i].want) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].want);
	}
}

static void test_missing_required(void **state)
{
	char path[] = "/tmp/signet-conf-XXXXXX";
	int fd = mkstemp(path);
	struct config *c = NULL;
	struct err e;

	(void)state;
	assert_int_equal(write(fd, "token = x\n", 10), 10);
	close(fd);
	assert_int_equal(config_load(path, &c, &e), -1);
	assert_non_null(strstr(e.msg, "db: required setting is missing"));
	unlink(path);
	assert_int_equal(config_load("/nonexistent/signet.conf", &c, &e), -1);
	assert_non_null(strstr(e.msg, "/nonexistent/signet.conf"));
}

static void test_crl_settings(void **state)
{
	struct config *c = NULL;
	struct err e;

	(void)state;
	assert_int_equal(load("", &c, &e), 0);
	assert_int_equal(c->crl_validity, 86400);
	assert_int_equal(c->crl_refresh, 3600);
	/* A relative default is relative to the config's directory too. */
	assert_string_equal(c->crl_publish_dir, "/tmp/crl");
	config_free(c);
	c = NULL;
	assert_int_equal(load("crl_publish_dir = /srv/crl\ncrl_validity = 7d\n"
	    "crl_refresh = 2h\n", &c, &e), 0);
	assert_string_equal(c->crl_publish_dir, "/srv/crl");
	assert_int_equal(c->crl_validity, 7 * 86400);
	assert_int_equal(c->crl_refresh, 7200);
	config_free(c);
	c = NULL;
	/* Refreshing less often than half the validity would let CRLs lapse. */
	assert_int_equal(load("crl_refresh = 13h\n", &c, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_non_null(strstr(e.msg, "crl_refresh"));
	assert_int_equal(load("crl_validity = 1s\n", &c, &e), -1);
	assert_non_null(strstr(e.msg, "crl_validity"));
}

static void test_notify_settings(void **state)
{
	static const char *const bad[][2] = {
		{ "notify_thresholds = 1d, 24h\n", "listed twice" },
		{ "notify_thresholds = 30s\n", "shorter than 1m" },
		{ "notify_thresholds = 7d,9x\n", "notify_thresholds" },
		{ "notify_thresholds = 400d\n", "notify_thresholds" },
		{ "notify_thresholds = ,,\n", "no duration" },
		{ "notify_thresholds = 1h,2h,3h,4h,5h,6h,7h,8h,9h\n", "more than 8" },
		{ "notify_webhook_url = ftp://x/y\n", "notify_webhook_url" },
		{ "notify_webhook_url = http://\n", "notify_webhook_url" },
		{ "notify_webhook_url = https://a b/\n", "notify_webhook_url" },
		{ "notify_interval = 0\n", "notify_interval" },
		{ "notify_timeout = 61s\n", "notify_timeout" },
	};
	struct config *c = NULL;
	struct err e;

	(void)state;
	/* Off unless a URL is set; thresholds 7d and 1d. */
	assert_int_equal(load("", &c, &e), 0);
	assert_null(c->notify_webhook_url);
	assert_int_equal(c->notify_nthresholds, 2);
	assert_int_equal(c->notify_threshold[0], 7 * 86400);
	assert_int_equal(c->notify_threshold[1], 86400);
	assert_int_equal(c->notify_interval, 60);
	assert_int_equal(c->notify_timeout, 10);
	config_free(c);
	c = NULL;
	/* Any order and spacing; kept longest first. */
	assert_int_equal(load("notify_webhook_url = https://hooks.corp:8443/x?y=1\n"
	    "notify_thresholds = 30m, 2h ,1d\nnotify_webhook_ca = hooks.pem\n",
	    &c, &e), 0);
	assert_string_equal(c->notify_webhook_url, "https://hooks.corp:8443/x?y=1");
	assert_string_equal(c->notify_webhook_ca, "/tmp/hooks.pem");
	assert_int_equal(c->notify_nthresholds, 3);
	assert_int_equal(c->notify_threshold[0], 86400);
	assert_int_equal(c->notify_threshold[1], 7200);
	assert_int_equal(c->notify_threshold[2], 1800);
	config_free(c);
	c = NULL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(load(bad[i][0], &c, &e), -1);
		assert_int_equal(e.kind, ERR_CONFIG);
		if (strstr(e.msg, bad[i][1]) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, bad[i][1]);
	}
}

static void test_acme_settings(void **state)
{
	static const char *const bad[][2] = {
		{ "acme_resolver = dns.corp\n", "acme_resolver: \"dns.corp\" is not IP or IP@PORT" },
		{ "acme_resolver = 127.0.0.1@\n", "acme_resolver" },
		{ "acme_resolver = 127.0.0.1@65536\n", "acme_resolver" },
		{ "acme_resolver = [::1]@53\n", "acme_resolver" },
		{ "acme_hosts = a.test\n", "acme_hosts: \"a.test\" is not name=address" },
		{ "acme_hosts = a.test=1.2.3\n", "acme_hosts: a.test=\"1.2.3\"" },
		{ "acme_hosts = A.test=1.2.3.4\n", "acme_hosts: \"A.test\" is not a DNS name" },
		{ "acme_hosts = a..test=1.2.3.4\n", "is not a DNS name" },
		{ "acme_hosts = =1.2.3.4\n", "is not a DNS name" },
		{ "acme_hosts = a.test=1.2.3.4, a.test=::1\n", "a.test is listed twice" },
		{ "acme_hosts = ,,\n", "no name=address" },
		{ "acme_http01_port = 0\n", "acme_http01_port" },
		{ "acme_tlsalpn01_port = 65536\n", "acme_tlsalpn01_port" },
		{ "acme_validation_timeout = 0\n", "acme_validation_timeout" },
		{ "acme_validation_timeout = 61s\n", "acme_validation_timeout" },
		{ "acme_validation_attempts = 11\n", "acme_validation_attempts" },
		{ "acme_validation_retry = 2m\n", "acme_validation_retry" },
		{ "acme_validation_threads = 65\n", "acme_validation_threads" },
		{ "acme_order_lifetime = 59s\n", "acme_order_lifetime" },
		{ "acme_order_lifetime = 31d\n", "acme_order_lifetime" },
		{ "acme_rate_window = 8d\n", "acme_rate_window" },
		{ "acme_rate_orders_per_account = -1\n", "acme_rate_orders_per_account" },
		{ "acme_rate_orders_per_provisioner = 10000001\n",
		  "acme_rate_orders_per_provisioner" },
	};
	char many[64 * 24 + 32] = "acme_hosts = ";
	struct config *c = NULL;
	struct err e;

	(void)state;
	assert_int_equal(load("", &c, &e), 0);
	assert_null(c->acme_resolver);
	assert_null(c->acme_hosts);
	assert_int_equal(c->acme_nhosts, 0);
	assert_int_equal(c->acme_http01_port, 80);
	assert_int_equal(c->acme_tlsalpn01_port, 443);
	assert_int_equal(c->acme_validation_timeout, 10);
	assert_int_equal(c->acme_validation_attempts, 1);
	assert_int_equal(c->acme_validation_retry, 2);
	assert_int_equal(c->acme_validation_threads, 4);
	assert_int_equal(c->acme_order_lifetime, 86400);
	assert_int_equal(c->acme_rate_window, 3600);
	assert_int_equal(c->acme_rate_orders_per_account, 300);
	assert_int_equal(c->acme_rate_orders_per_provisioner, 0);
	config_free(c);
	c = NULL;
	assert_int_equal(load("acme_resolver = ::1@5353\n"
	    "acme_hosts = web.corp=10.0.0.1 , v6.corp = 2001:db8::1\n"
	    "acme_http01_port = 8080\nacme_tlsalpn01_port = 8443\n"
	    "acme_validation_timeout = 1m\nacme_validation_attempts = 10\n"
	    "acme_validation_retry = 1s\nacme_validation_threads = 64\n"
	    "acme_order_lifetime = 30d\nacme_rate_window = 7d\n"
	    "acme_rate_orders_per_account = 0\n"
	    "acme_rate_orders_per_provisioner = 10000000\n", &c, &e), 0);
	assert_string_equal(c->acme_resolver, "::1@5353");
	assert_int_equal(c->acme_nhosts, 2);
	assert_string_equal(c->acme_host[0].name, "web.corp");
	assert_string_equal(c->acme_host[0].addr, "10.0.0.1");
	assert_string_equal(c->acme_host[1].name, "v6.corp");
	assert_string_equal(c->acme_host[1].addr, "2001:db8::1");
	assert_int_equal(c->acme_http01_port, 8080);
	assert_int_equal(c->acme_tlsalpn01_port, 8443);
	assert_int_equal(c->acme_validation_timeout, 60);
	assert_int_equal(c->acme_validation_attempts, 10);
	assert_int_equal(c->acme_validation_retry, 1);
	assert_int_equal(c->acme_validation_threads, 64);
	assert_int_equal(c->acme_order_lifetime, 30 * 86400);
	assert_int_equal(c->acme_rate_window, 7 * 86400);
	assert_int_equal(c->acme_rate_orders_per_account, 0);
	assert_int_equal(c->acme_rate_orders_per_provisioner, 10000000);
	config_free(c);
	c = NULL;
	/* 64 entries are fine, 65 are not. */
	for (int i = 0; i < 64; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many),
		    "%sh%d.corp=10.0.0.1", i ? "," : "", i);
	strcat(many, "\n");
	assert_int_equal(load(many, &c, &e), 0);
	assert_int_equal(c->acme_nhosts, 64);
	config_free(c);
	c = NULL;
	many[strlen(many) - 1] = '\0';
	strcat(many, ",h64.corp=10.0.0.1\n");
	assert_int_equal(load(many, &c, &e), -1);
	assert_non_null(strstr(e.msg, "more than 64"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(load(bad[i][0], &c, &e), -1);
		assert_int_equal(e.kind, ERR_CONFIG);
		if (strstr(e.msg, bad[i][1]) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, bad[i][1]);
	}
}

static void test_hostport(void **state)
{
	char host[64];
	unsigned port;
	struct err e;

	(void)state;
	assert_int_equal(config_split_hostport("127.0.0.1:8443", host,
	    sizeof(host), &port, &e), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8443);
	assert_int_equal(config_split_hostport("[::1]:80", host, sizeof(host),
	    &port, &e), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(config_split_hostport("x:0", host, sizeof(host), &port,
	    &e), -1);
	assert_int_equal(config_split_hostport("x:70000", host, sizeof(host),
	    &port, &e), -1);
	assert_int_equal(config_split_hostport(":80", host, sizeof(host), &port,
	    &e), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_paths),
		cmocka_unit_test(test_errors_name_the_setting),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_crl_settings),
		cmocka_unit_test(test_notify_settings),
		cmocka_unit_test(test_acme_settings),
		cmocka_unit_test(test_hostport),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
