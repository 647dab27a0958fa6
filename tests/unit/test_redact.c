/*
 * test_redact.c - ipcl_url_redact() against every URL form the broker libraries
 * accept (hiredis-style, amqp, libpq URI and conninfo): a table of inputs, the
 * exact text expected, and the secret that must not survive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <ipclab/server.h>

static const struct {
	const char *in, *want, *secret;
} rows[] = {
    {"redis://127.0.0.1:6379", "redis://127.0.0.1:6379", NULL},
    {"redis://:s3cret@127.0.0.1:6379", "redis://:***@127.0.0.1:6379", "s3cret"},
    {"redis://user:s3cret@h:1/2", "redis://user:***@h:1/2", "s3cret"},
    {"redis://:p@ss@w0rd@127.0.0.1:6379", "redis://:***@127.0.0.1:6379", "ss@w0rd"},
    {"redis+unix://:s3cret@/tmp/r.sock?db=1", "redis+unix://:***@/tmp/r.sock?db=1",
     "s3cret"},
    {"amqp://ipcl:s3cret@127.0.0.1:5672/", "amqp://ipcl:***@127.0.0.1:5672/", "s3cret"},
    {"amqp://guest:gu@st@h:1/v", "amqp://guest:***@h:1/v", "st@h"},
    {"postgresql://u:s3cret@h:5432/db", "postgresql://u:***@h:5432/db", "s3cret"},
    {"postgresql://u@h/db?password=s3cret", "postgresql://u@h/db?password=***", "s3cret"},
    {"postgresql://u@h/db?sslmode=disable&password=s3cret&application_name=x",
     "postgresql://u@h/db?sslmode=disable&password=***&application_name=x", "s3cret"},
    {"postgres://h/db?sslpassword=s3cret", "postgres://h/db?sslpassword=***", "s3cret"},
    {"host=h port=1 password=s3cret dbname=d", "host=h port=1 password=*** dbname=d",
     "s3cret"},
    {"host=h password = 's3 c\\'ret' dbname=d", "host=h password = *** dbname=d",
     "c\\'ret"},
    {"password=s3cret", "password=***", "s3cret"},
    {"host=h user=mypassword dbname=d", "host=h user=mypassword dbname=d", NULL},
    {"", "", NULL},
};

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char out[256];

		ipcl_url_redact(rows[i].in, out, sizeof out);
		if (strcmp(out, rows[i].want) != 0)
			fail_msg("row %zu: '%s' -> '%s', want '%s'", i, rows[i].in, out,
				 rows[i].want);
		if (rows[i].secret && strstr(out, rows[i].secret))
			fail_msg("row %zu: secret left in '%s'", i, out);
	}
}

/* A short output buffer truncates, never overflows, and still hides the secret. */
static void test_short_buffer(void **state)
{
	char out[12];

	(void)state;
	ipcl_url_redact("redis://:s3cret@127.0.0.1:6379", out, sizeof out);
	assert_int_equal(strlen(out), sizeof out - 1);
	assert_null(strstr(out, "s3c"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_short_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
