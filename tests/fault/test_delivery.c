/*
 * test_delivery.c - issue 11's delivery truth, without a broker: a fault
 * scenario tests what it claims (kill-consumer on zmq-pushpull fires while the
 * producer still produces and the replacement receives; zmq-reqrep's lost reply
 * is resent at a deadline; a fault that never fired shows no loss and no
 * guarantee), acknowledged writes are counted apart from the others, and a
 * record says whether its transport has flow control. Each case is a real run
 * through ipcl_run() (this program is its own role binary).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/registry.h"
#include "engine/rfc2544.h"
#include "engine/roles.h"
#include "engine/run.h"
#include <testutil.h>

#define SEC 1000000000LL

static json_t *run_one(const char *transport, enum ipcl_fault f, uint64_t count,
		       uint64_t at, const char *opt)
{
	struct ipcl_runcfg c;
	char err[IPCL_ERR_MAX] = "";
	int failed;
	json_t *rec;

	ipcl_runcfg_init(&c);
	snprintf(c.transport, sizeof c.transport, "%s", transport);
	c.pattern = IPCL_STREAM;
	c.count = count;
	c.warmup = 0;
	c.timeout_ns = 60 * SEC;
	c.open_timeout_ns = 5 * SEC;
	c.expect_loss = 1;
	c.fault = f;
	c.fault_at = at;
	if (opt) {
		const char *eq = strchr(opt, '=');

		snprintf(c.kv[0].key, sizeof c.kv[0].key, "%.*s", (int)(eq - opt), opt);
		snprintf(c.kv[0].val, sizeof c.kv[0].val, "%s", eq + 1);
		c.nkv = 1;
	}
	rec = ipcl_run(&c, &failed, err);
	if (!rec)
		fail_msg("ipcl_run: %s", err);
	return rec;
}

static json_int_t num(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	if (!json_is_integer(v))
		fail_msg("no integer '%s'", k);
	return json_integer_value(v);
}

/* lost = lost_after_ack + unacked_missing; sent = acked + unacked. */
static void check_split(const json_t *v)
{
	assert_int_equal(num(v, "lost"),
			 num(v, "lost_after_ack") + num(v, "unacked_missing"));
	assert_true(num(v, "acked") <= num(v, "sent"));
	assert_int_equal(num(v, "sent") - num(v, "acked"),
			 num(v, "unacked_missing") + num(v, "unacked_delivered"));
}

/* zmq-pushpull: the kill comes on the producer's progress, then it goes on. */
static void test_pushpull_kill_consumer(void **state)
{
	json_t *rec =
	    run_one("zmq-pushpull", IPCL_FAULT_KILL_CONSUMER, 10000, 5000, NULL);
	const json_t *f = json_object_get(rec, "fault");

	(void)state;
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "ok");
	assert_true(json_is_true(json_object_get(f, "fired")));
	assert_true(json_is_true(json_object_get(f, "restarted")));
	/* the producer was at the fault point when the consumer died ... */
	assert_true(num(f, "producer_at_kill") >= 5000);
	assert_true(num(f, "producer_at_kill") < 10000);
	/* ... and the replacement received what came after */
	assert_true(num(f, "replacement_msgs") > 0);
	assert_true(json_is_number(json_object_get(f, "recovery_ms")));
	check_split(json_object_get(rec, "verify"));
	json_decref(rec);
}

/* zmq-reqrep: the reply that died with its consumer is waited for with a deadline. */
static void test_reqrep_kill_consumer(void **state)
{
	int64_t t0 = ipcl_now_ns();
	json_t *rec = run_one("zmq-reqrep", IPCL_FAULT_KILL_CONSUMER, 3000, 1000, NULL);
	const json_t *f = json_object_get(rec, "fault");
	const char *out = json_string_value(json_object_get(f, "outcome"));

	(void)state;
	assert_true(ipcl_now_ns() - t0 < 15 * SEC); /* not the watchdog's 60 s */
	assert_true(json_is_true(json_object_get(f, "fired")));
	assert_non_null(out);
	assert_true(strstr(out, "resent") || strstr(out, "stuck"));
	if (strstr(out, "resent")) {
		assert_true(num(f, "resent") >= 1);
		assert_int_equal(num(f, "lost_after_ack"), 0);
	}
	assert_string_equal(json_string_value(json_object_get(f, "acked_by")),
			    "transport");
	json_decref(rec);
}

/* A fault that did not fire: no loss, no guarantee, only why. */
static void test_not_fired(void **state)
{
	json_t *rec = run_one("pipe", IPCL_FAULT_KILL_PRODUCER, 1000, 5000, NULL);
	const json_t *f = json_object_get(rec, "fault");
	const char *out = json_string_value(json_object_get(f, "outcome"));

	(void)state;
	assert_true(json_is_false(json_object_get(f, "fired")));
	assert_null(json_object_get(f, "lost"));
	assert_true(json_is_null(json_object_get(f, "guarantee")));
	assert_non_null(out);
	assert_non_null(strstr(out, "not fired"));
	assert_non_null(strstr(out, "5000"));
	json_decref(rec);
}

/* zmq-pubsub applies back-pressure by default; overload=1 is a finding. */
static void test_pubsub_backpressure(void **state)
{
	json_t *rec = run_one("zmq-pubsub", IPCL_FAULT_NONE, 20000, 0, NULL);
	const json_t *v = json_object_get(rec, "verify");

	(void)state;
	assert_int_equal(num(v, "lost"), 0);
	assert_true(json_is_true(json_object_get(rec, "flow_control")));
	assert_string_equal(json_string_value(json_object_get(rec, "backpressure")),
			    "xpub_nodrop");
	assert_null(json_object_get(rec, "overload"));
	json_decref(rec);
	rec = run_one("zmq-pubsub", IPCL_FAULT_NONE, 20000, 0, "overload=1");
	assert_true(json_is_false(json_object_get(rec, "flow_control")));
	if (num(json_object_get(rec, "verify"), "lost") > 0)
		assert_non_null(strstr(
		    json_string_value(json_object_get(rec, "overload")), "% dropped"));
	json_decref(rec);
}

/* Every record says what travelled and what was checked. */
static void test_carried(void **state)
{
	json_t *rec = run_one("signal-rt", IPCL_FAULT_NONE, 200, 0, NULL);
	const json_t *ver = json_object_get(rec, "verified");

	(void)state;
	assert_int_equal(num(rec, "carried_bytes"), 8);
	assert_int_equal(num(json_object_get(rec, "params"), "size"), 8);
	assert_int_equal(json_array_size(ver), 1);
	assert_string_equal(json_string_value(json_array_get(ver, 0)), "seq");
	json_decref(rec);
	rec = run_one("pipe", IPCL_FAULT_NONE, 200, 0, NULL);
	assert_int_equal(num(rec, "carried_bytes"), 64);
	assert_int_equal(json_array_size(json_object_get(rec, "verified")), 4);
	assert_true(json_is_true(json_object_get(rec, "flow_control")));
	json_decref(rec);
}

/* An explicit size over what a mini-frame transport carries is a usage error. */
static void test_mini_size_refused(void **state)
{
	struct ipcl_runcfg c;
	char err[IPCL_ERR_MAX] = "";
	int failed;

	(void)state;
	ipcl_runcfg_init(&c);
	snprintf(c.transport, sizeof c.transport, "signal-rt");
	c.pattern = IPCL_STREAM;
	c.count = 100;
	c.size = 65536;
	c.size_given = 1;
	assert_null(ipcl_run(&c, &failed, err));
	assert_non_null(strstr(err, "8 bytes"));
}

/* The RFC 2544 search: a clean record, its rate, and a trace that found loss. */
static void test_zero_loss_udp(void **state)
{
	struct ipcl_runcfg c;
	struct ipcl_zero_loss_opts o = {.max_trials = 5, .trial_ns = SEC / 5};
	char err[IPCL_ERR_MAX] = "";
	int failed;
	json_t *rec, *zl, *e;
	size_t i;

	(void)state;
	ipcl_runcfg_init(&c);
	snprintf(c.transport, sizeof c.transport, "udp");
	c.pattern = IPCL_STREAM;
	c.warmup = 100;
	rec = ipcl_run_zero_loss(&c, &o, &failed, err);
	assert_non_null(rec);
	zl = json_object_get(rec, "zero_loss");
	assert_non_null(zl);
	assert_true(json_array_size(json_object_get(zl, "trace")) >= 1);
	assert_true(json_array_size(json_object_get(zl, "trace")) <= 6);
	if (json_is_number(json_object_get(zl, "rate"))) {
		assert_int_equal(num(json_object_get(rec, "verify"), "lost"), 0);
		json_array_foreach(json_object_get(zl, "trace"), i, e)
		    /* nothing clean above the answer */
		    if (json_is_true(json_object_get(e, "clean"))) assert_true(
			json_number_value(json_object_get(e, "rate")) <=
			    json_number_value(json_object_get(zl, "rate")) * 1.0001 ||
			!strcmp(json_string_value(json_object_get(e, "pattern")),
				"stream"));
	}
	json_decref(rec);
}

int main(int argc, char **argv)
{
	int status;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pushpull_kill_consumer),
	    cmocka_unit_test(test_reqrep_kill_consumer),
	    cmocka_unit_test(test_not_fired),
	    cmocka_unit_test(test_pubsub_backpressure),
	    cmocka_unit_test(test_carried),
	    cmocka_unit_test(test_mini_size_refused),
	    cmocka_unit_test(test_zero_loss_udp),
	};

	if (ipcl_test_role_entry(argc, argv, &status))
		return status;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
