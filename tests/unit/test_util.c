/* util: durations, hex, bounded file reads, secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

static void test_duration_ok(void **state)
{
	long long v;
	struct err e;

	(void)state;
	assert_int_equal(util_parse_duration("90", 1000, &v, &e), 0);
	assert_int_equal(v, 90);
	assert_int_equal(util_parse_duration("5m", 1000, &v, &e), 0);
	assert_int_equal(v, 300);
	assert_int_equal(util_parse_duration("24h", 1LL << 40, &v, &e), 0);
	assert_int_equal(v, 86400);
	assert_int_equal(util_parse_duration("2d", 1LL << 40, &v, &e), 0);
	assert_int_equal(v, 172800);
}

static void test_duration_bad(void **state)
{
	const char *bad[] = { "", "h", "-5m", "5x", "5mm", "99999999999999999999d",
	    " 5m", "5 m", "1e3" };
	long long v;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(util_parse_duration(bad[i], 1LL << 40, &v, &e), -1);
	assert_int_equal(util_parse_duration("2h", 3600, &v, &e), -1);
	assert_non_null(strstr(e.msg, "limit"));
	assert_int_equal(util_parse_duration(NULL, 10, &v, NULL), -1);
}

static void test_hex(void **state)
{
	unsigned char in[] = { 0x00, 0x9f, 0xff };
	char out[7];

	(void)state;
	util_hex(in, 3, out);
	assert_string_equal(out, "009fff");
	assert_true(util_is_hex("abcDEF0123", 40));
	assert_false(util_is_hex("", 40));
	assert_false(util_is_hex("xyz", 40));
	assert_false(util_is_hex("abc", 2));
}

static void test_read_file_bounded(void **state)
{
	char path[] = "/tmp/signet-test-XXXXXX", *buf = NULL;
	size_t len;
	struct err e;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello world", 11), 11);
	close(fd);
	assert_int_equal(util_read_file(path, 100, &buf, &len, &e), 0);
	assert_int_equal(len, 11);
	assert_string_equal(buf, "hello world");
	free(buf);
	assert_int_equal(util_read_file(path, 5, &buf, &len, &e), -1);
	assert_int_equal(e.kind, ERR_TOOBIG);
	unlink(path);
	assert_int_equal(util_read_file(path, 5, &buf, &len, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
}

static void test_secret_mode(void **state)
{
	char path[] = "/tmp/signet-pin-XXXXXX", pin[32];
	struct err e;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "1234\nignored\n", 13), 13);
	close(fd);
	chmod(path, 0600);
	assert_int_equal(util_read_secret(path, pin, sizeof(pin), &e), 0);
	assert_string_equal(pin, "1234");
	chmod(path, 0644);
	assert_int_equal(util_read_secret(path, pin, sizeof(pin), &e), -1);
	assert_non_null(strstr(e.msg, "chmod 600"));
	/* The PIN never appears in the error. */
	assert_null(strstr(e.msg, "1234"));
	unlink(path);
}

static void test_write_file_mode(void **state)
{
	char path[] = "/tmp/signet-w-XXXXXX";
	struct stat st;
	struct err e;
	int fd = mkstemp(path);

	(void)state;
	close(fd);
	assert_int_equal(util_write_file(path, "k", 1, 0600, &e), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 1);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_ok),
		cmocka_unit_test(test_duration_bad),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_read_file_bounded),
		cmocka_unit_test(test_secret_mode),
		cmocka_unit_test(test_write_file_mode),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
