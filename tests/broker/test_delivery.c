/*
 * test_delivery.c - issue 11's broker cases, each a real run through ipcl_run()
 * against $IPCLAB_REDIS_URL / $IPCLAB_AMQP_URL / $IPCLAB_PG_URL, or throwaway
 * servers this program starts once (and stops): publisher confirms survive a
 * killed producer as acknowledged counts with nothing lost after an ack;
 * redis-stream's takeover delivers the claimed entry; wait_subscribers=0 is a
 * real late join; the outbox counts a COMMIT as the acknowledgment.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/registry.h"
#include "engine/roles.h"
#include "engine/run.h"
#include <ipclab/server.h>
#include <testutil.h>

#define SEC 1000000000LL

static struct ipcl_server srv[3];
static const char *const kinds[3] = {"redis", "rabbitmq", "postgres"};

static json_t *run_one(const char *transport, enum ipcl_fault f, uint64_t count,
		       uint64_t at, const char *const *opts)
{
	struct ipcl_runcfg c;
	char err[IPCL_ERR_MAX] = "";
	int failed;
	json_t *rec;

	if (!ipcl_transport_find(transport))
		skip();
	ipcl_runcfg_init(&c);
	snprintf(c.transport, sizeof c.transport, "%s", transport);
	c.pattern = IPCL_STREAM;
	c.count = count;
	c.warmup = 0;
	c.timeout_ns = 120 * SEC;
	c.open_timeout_ns = 20 * SEC;
	c.expect_loss = 1;
	c.fault = f;
	c.fault_at = at;
	for (int i = 0; opts && opts[i]; i++) {
		const char *eq = strchr(opts[i], '=');

		snprintf(c.kv[i].key, sizeof c.kv[i].key, "%.*s", (int)(eq - opts[i]),
			 opts[i]);
		snprintf(c.kv[i].val, sizeof c.kv[i].val, "%s", eq + 1);
		c.nkv = i + 1;
	}
	rec = ipcl_run(&c, &failed, err);
	if (!rec)
		fail_msg("ipcl_run: %s", err);
	if (strcmp(json_string_value(json_object_get(rec, "status")), "ok") != 0)
		fail_msg("%s: %s", transport,
			 json_string_value(json_object_get(rec, "error")));
	return rec;
}

static json_int_t num(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	if (!json_is_integer(v))
		fail_msg("no integer '%s'", k);
	return json_integer_value(v);
}

/*
 * The example: rabbitmq, confirm=window, kill-producer@5000. What the
 * broker confirmed is all delivered; the missing ones were never confirmed.
 */
static void test_rabbitmq_kill_producer_acked(void **state)
{
	const char *opts[] = {"confirm=window", NULL};
	json_t *rec = run_one("rabbitmq", IPCL_FAULT_KILL_PRODUCER, 10000, 5000, opts);
	const json_t *v = json_object_get(rec, "verify"),
		     *f = json_object_get(rec, "fault");

	(void)state;
	assert_string_equal(json_string_value(json_object_get(v, "acked_by")),
			    "transport");
	assert_true(num(v, "acked") > 0);
	assert_true(num(v, "acked") <= 5000);
	assert_int_equal(num(v, "lost_after_ack"), 0);
	assert_int_equal(num(v, "lost"), num(v, "unacked_missing"));
	assert_int_equal(num(f, "lost_after_ack"), 0);
	assert_string_equal(json_string_value(json_object_get(f, "judged_on")),
			    "acknowledged writes");
	json_decref(rec);
}

/* redis-stream takeover: the claimed entry is read from the new consumer's PEL. */
static void test_redis_stream_takeover(void **state)
{
	const char *opts[] = {"recover=0", "claim_idle_ms=1", NULL};

	(void)state;
	for (int i = 0; i < 3; i++) {
		json_t *rec =
		    run_one("redis-stream", IPCL_FAULT_KILL_CONSUMER, 2000, 1000, opts);
		const json_t *f = json_object_get(rec, "fault");

		assert_true(json_is_true(json_object_get(f, "fired")));
		assert_int_equal(num(json_object_get(rec, "verify"), "lost"), 0);
		assert_true(num(f, "replacement_msgs") > 0);
		json_decref(rec);
	}
}

/* wait_subscribers=0: the consumer binds after the start, early messages miss it. */
static void test_late_join(void **state)
{
	const char *rabbit[] = {"wait_subscribers=0", NULL};
	const char *redis[] = {"wait_subscribers=0", "pipeline=1000", NULL};
	json_t *rec;

	(void)state;
	rec = run_one("rabbitmq-fanout", IPCL_FAULT_NONE, 20000, 0, rabbit);
	assert_true(num(json_object_get(rec, "verify"), "lost") > 0);
	json_decref(rec);
	rec = run_one("redis-pubsub", IPCL_FAULT_NONE, 20000, 0, redis);
	assert_true(num(json_object_get(rec, "verify"), "lost") > 0);
	json_decref(rec);
	/* and the default still waits: nothing lost */
	rec = run_one("rabbitmq-fanout", IPCL_FAULT_NONE, 2000, 0, NULL);
	assert_int_equal(num(json_object_get(rec, "verify"), "lost"), 0);
	json_decref(rec);
}

/* kill-consumer on a fanout: the replacement receives while the producer goes on. */
static void test_fanout_kill_consumer(void **state)
{
	json_t *rec =
	    run_one("rabbitmq-fanout", IPCL_FAULT_KILL_CONSUMER, 10000, 5000, NULL);
	const json_t *f = json_object_get(rec, "fault");

	(void)state;
	assert_true(json_is_true(json_object_get(f, "fired")));
	assert_true(num(f, "producer_at_kill") >= 5000);
	assert_true(num(f, "replacement_msgs") > 0);
	json_decref(rec);
}

/* The outbox acknowledges a row when its transaction commits; redis on its reply. */
static void test_acked_by_commit_and_reply(void **state)
{
	const char *batch[] = {"batch=10", NULL};
	json_t *rec = run_one("pg-outbox", IPCL_FAULT_NONE, 500, 0, batch);
	const json_t *v = json_object_get(rec, "verify");

	(void)state;
	assert_string_equal(json_string_value(json_object_get(v, "acked_by")),
			    "transport");
	assert_int_equal(num(v, "acked"), 500);
	json_decref(rec);
	rec = run_one("redis-list", IPCL_FAULT_NONE, 500, 0, NULL);
	v = json_object_get(rec, "verify");
	assert_string_equal(json_string_value(json_object_get(v, "acked_by")),
			    "transport");
	assert_int_equal(num(v, "acked"), 500);
	json_decref(rec);
}

static int group_setup(void **state)
{
	char err[IPCL_ERR_MAX];

	(void)state;
	for (int i = 0; i < 3; i++) {
		const char *env = ipcl_server_env(kinds[i]);

		if (env && getenv(env) && *getenv(env))
			continue;
		if (ipcl_server_start(kinds[i], &srv[i], ipcl_now_ns() + 90 * SEC, err)) {
			fprintf(stderr, "%s: %s\n", kinds[i], err);
			continue; /* the runs then report the server missing */
		}
		setenv(env, srv[i].url, 1);
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		if (srv[i].pid)
			ipcl_server_stop(&srv[i]);
	return 0;
}

int main(int argc, char **argv)
{
	int status;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rabbitmq_kill_producer_acked),
	    cmocka_unit_test(test_redis_stream_takeover),
	    cmocka_unit_test(test_late_join),
	    cmocka_unit_test(test_fanout_kill_consumer),
	    cmocka_unit_test(test_acked_by_commit_and_reply),
	};

	if (ipcl_test_role_entry(argc, argv, &status))
		return status;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
