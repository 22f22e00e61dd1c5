/* monitor_target: parsing what `signet monitor` watches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/monitor_target.h"

static void test_parse_forms(void **state)
{
	struct monitor_target t;
	struct err e;

	(void)state;
	assert_int_equal(monitor_target_parse("web.corp:443", NULL, &t, &e), 0);
	assert_string_equal(t.host, "web.corp");
	assert_int_equal(t.port, 443);
	assert_int_equal(t.proto, MONITOR_TLS);
	assert_false(t.host_is_ip);
	assert_string_equal(t.sni, "web.corp");

	/* An address sends no SNI unless told, and names the target. */
	assert_int_equal(monitor_target_parse("10.1.2.3:8443", NULL, &t, &e), 0);
	assert_true(t.host_is_ip);
	assert_string_equal(t.sni, "");
	assert_int_equal(monitor_target_parse("10.1.2.3:8443", "api.corp", &t, &e), 0);
	assert_string_equal(t.sni, "api.corp");
	assert_int_equal(monitor_target_parse("10.1.2.3:8443,web.corp", "api.corp",
	    &t, &e), 0);
	assert_string_equal(t.sni, "web.corp");
	assert_string_equal(t.text, "10.1.2.3:8443,web.corp");

	assert_int_equal(monitor_target_parse("[2001:db8::1]:443", NULL, &t, &e), 0);
	assert_string_equal(t.host, "2001:db8::1");
	assert_true(t.host_is_ip);

	assert_int_equal(monitor_target_parse("smtp://mx.corp:25", NULL, &t, &e), 0);
	assert_int_equal(t.proto, MONITOR_SMTP);
	assert_int_equal(t.port, 25);
	assert_int_equal(monitor_target_parse("postgres://[::1]:5432,db.corp", NULL,
	    &t, &e), 0);
	assert_int_equal(t.proto, MONITOR_POSTGRES);
	assert_string_equal(t.host, "::1");
	assert_string_equal(t.sni, "db.corp");
	assert_int_equal(monitor_target_parse("tls://a:65535", NULL, &t, &e), 0);
	assert_int_equal(t.port, 65535);
}

static void test_parse_bad(void **state)
{
	const char *bad[] = {
		"", "host", "host:", "host:0", "host:65536", "host:99999999",
		"host:+1", "host:1x", ":443", "::1:443", "[::1]443", "[::1:443",
		"[not-v6]:443", "1.2.3.256:443", "bad host:443", "a..b:443",
		".a:443", "a:443,", "a:443,1 2", "ftp://a:21", "smtp:/a:25",
		"h\xc3\xa9:443",
	};
	struct monitor_target t;
	struct err e;
	char longname[300], longlabel[80];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.kind = ERR_NONE;
		if (monitor_target_parse(bad[i], NULL, &t, &e) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(e.kind, ERR_CONFIG);
	}
	/* 254 characters: one over RFC 1035's limit. */
	memset(longname, 'a', sizeof(longname));
	for (int i = 63; i < 254; i += 64)
		longname[i] = '.';
	snprintf(longname + 254, sizeof(longname) - 254, ":443");
	assert_int_equal(monitor_target_parse(longname, NULL, &t, &e), -1);
	memset(longlabel, 'a', 64);
	snprintf(longlabel + 64, sizeof(longlabel) - 64, ":443");
	assert_int_equal(monitor_target_parse(longlabel, NULL, &t, &e), -1);
	assert_non_null(strstr(e.msg, "63"));
}

static void test_list_dedup_and_file(void **state)
{
	char path[] = "/tmp/signet-targets-XXXXXX";
	struct monitor_targets *l = monitor_targets_new();
	struct err e;
	FILE *f;
	int fd = mkstemp(path);

	(void)state;
	assert_non_null(l);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("# a comment\n\n  a.corp:443  \r\nb.corp:443\na.corp:443\n", f);
	fclose(f);
	assert_int_equal(monitor_targets_add(l, "a.corp:443", NULL, &e), 0);
	assert_int_equal(monitor_targets_add_file(l, path, NULL, &e), 0);
	assert_int_equal(monitor_targets_count(l), 2);
	assert_string_equal(monitor_targets_get(l, 1)->host, "b.corp");

	f = fopen(path, "w");
	fputs("a.corp:443\n\nno-port\n", f);
	fclose(f);
	assert_int_equal(monitor_targets_add_file(l, path, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "line 3"));
	unlink(path);
	assert_int_equal(monitor_targets_add_file(l, path, NULL, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	monitor_targets_free(l);
	monitor_targets_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_list_dedup_and_file),
	};
	return cmocka_run_group_tests_name("monitor_target", tests, NULL, NULL);
}
