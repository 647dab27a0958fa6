/*
 * test_faults.c - the fault scenarios of the runner (--fault) and the
 * `ipclab faults` command. Each case runs a real stream run through ipcl_run()
 * (this program is also its own role binary: `test_faults __role FD SLOT`) and
 * checks what the record says happened, never how long it took: a killed
 * consumer of a queue is replaced and every sent message is either delivered
 * or counted lost; a pipe's producer fails with EPIPE; a consumer of a killed
 * producer stops by itself; an oversize message is refused; the guarantee
 * matches the counts; and nothing is left behind.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/registry.h"
#include "engine/roles.h"
#include "engine/run.h"
#include <testutil.h>

#define COUNT 4000

/* A stream run of transport with one fault; returns the record. */
static json_t *run_fault(const char *transport, enum ipcl_fault f, uint64_t at)
{
	struct ipcl_runcfg c;
	char err[IPCL_ERR_MAX] = "";
	int failed;
	json_t *rec;

	ipcl_runcfg_init(&c);
	snprintf(c.transport, sizeof c.transport, "%s", transport);
	c.pattern = IPCL_STREAM;
	c.count = COUNT;
	c.warmup = 0;
	c.timeout_ns = 60LL * 1000000000;
	c.open_timeout_ns = 5LL * 1000000000;
	c.fault = f;
	c.fault_at = at;
	c.stall_ns = f == IPCL_FAULT_STALL ? 200000000 : 0;
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

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	if (!s)
		fail_msg("no string '%s'", k);
	return s;
}

/* The fault object's counts are verify's, and its guarantee follows from them. */
static const json_t *check_fault(const json_t *rec)
{
	const json_t *f = json_object_get(rec, "fault"),
		     *v = json_object_get(rec, "verify");
	json_int_t lost, dup;
	const char *want;

	assert_non_null(f);
	assert_non_null(v);
	lost = num(f, "lost");
	dup = num(f, "duplicated");
	assert_int_equal(lost, num(v, "lost"));
	assert_int_equal(dup, num(v, "duplicated"));
	want = !lost ? (dup ? "at-least-once" : "effectively-once")
		     : (dup ? "none" : "at-most-once");
	assert_string_equal(str(f, "guarantee"), want);
	/* Every message sent was delivered or counted lost. */
	assert_int_equal(num(v, "unique") + lost, num(v, "expected"));
	return f;
}

static void test_kill_consumer_queue(void **state)
{
	const char *t = ipcl_transport_find("posix-mq") ? "posix-mq" : "sysv-mq";
	json_t *rec, *roles;
	const json_t *f;

	(void)state;
	if (!ipcl_transport_find(t))
		skip();
	rec = run_fault(t, IPCL_FAULT_KILL_CONSUMER, COUNT / 2);
	f = check_fault(rec);
	assert_true(json_is_true(json_object_get(f, "fired")));
	assert_true(json_is_true(json_object_get(f, "restarted")));
	assert_string_equal(str(f, "outcome"), "restarted");
	assert_true(json_is_number(json_object_get(f, "recovery_ms")));
	/*
	 * The fault point is the producer's progress: it had sent at least N
	 * when the victim, which had processed at most N, died holding one more.
	 * That one is lost.
	 */
	assert_true(num(f, "victim_msgs") <= COUNT / 2);
	assert_true(num(f, "producer_at_kill") >= COUNT / 2);
	assert_int_equal(num(f, "lost"), 1);
	assert_int_equal(num(json_object_get(rec, "verify"), "sent"), COUNT);
	assert_int_equal(
	    num(f, "victim_msgs") + num(f, "replacement_msgs") + num(f, "lost"), COUNT);
	roles = json_object_get(rec, "roles");
	assert_int_equal(json_array_size(roles), 3);
	assert_string_equal(str(json_array_get(roles, 1), "fault"), "killed");
	assert_string_equal(str(json_array_get(roles, 2), "fault"), "replacement");
	json_decref(rec);
}

static void test_kill_consumer_pipe(void **state)
{
	json_t *rec;
	const json_t *f;

	(void)state;
	rec = run_fault("pipe", IPCL_FAULT_KILL_CONSUMER, COUNT / 2);
	f = check_fault(rec);
	assert_true(json_is_false(json_object_get(f, "restarted")));
	assert_non_null(json_object_get(f, "restart_error"));
	assert_true(strncmp(str(f, "producer_error"), "EPIPE", 5) == 0);
	assert_string_equal(str(f, "outcome"), "producer failed: EPIPE");
	assert_string_equal(str(rec, "status"), "error");
	json_decref(rec);
}

/* A killed producer: the consumer stops by itself and got no more than was sent. */
static void kill_producer(const char *t)
{
	json_t *rec;
	const json_t *f, *v;
	const char *stop;

	if (!ipcl_transport_find(t))
		skip();
	rec = run_fault(t, IPCL_FAULT_KILL_PRODUCER, COUNT / 2);
	f = check_fault(rec);
	v = json_object_get(rec, "verify");
	assert_string_equal(str(rec, "status"), "ok");
	assert_int_equal(num(f, "producer_sent"), COUNT / 2);
	assert_true(num(v, "unique") <= num(v, "sent"));
	stop = str(f, "consumer_stop");
	assert_true(strcmp(stop, "eof") == 0 || strcmp(stop, "idle") == 0);
	json_decref(rec);
}

static void test_kill_producer_unix(void **state)
{
	(void)state;
	kill_producer("unix"); /* the kernel closes the socket: EOF */
}

static void test_kill_producer_shm(void **state)
{
	(void)state;
	kill_producer("shm"); /* nobody marks the ring closed: silence */
}

static void test_oversize(void **state)
{
	json_t *rec;
	const json_t *f;

	(void)state;
	if (!ipcl_transport_find("posix-mq"))
		skip();
	rec = run_fault("posix-mq", IPCL_FAULT_OVERSIZE, COUNT / 2);
	f = check_fault(rec);
	assert_string_equal(str(f, "send_result"), "EMSGSIZE"); /* mq_send's own */
	assert_string_equal(str(f, "verdict"), "good");
	assert_int_equal(num(f, "received_whole") + num(f, "received_damaged"), 0);
	assert_int_equal(num(f, "lost"), 0);
	json_decref(rec);
}

/* A 10-message queue cannot absorb a stall: the producer must block, not drop. */
static void test_stall_blocks(void **state)
{
	json_t *rec;
	const json_t *f;

	(void)state;
	if (!ipcl_transport_find("posix-mq"))
		skip();
	rec = run_fault("posix-mq", IPCL_FAULT_STALL, COUNT / 2);
	f = check_fault(rec);
	assert_string_equal(str(f, "producer"), "blocked");
	assert_int_equal(num(f, "lost"), 0);
	json_decref(rec);
}

static void test_refusals(void **state)
{
	struct ipcl_runcfg c;
	char err[IPCL_ERR_MAX];

	(void)state;
	ipcl_runcfg_init(&c);
	snprintf(c.transport, sizeof c.transport, "pipe");
	c.pattern = IPCL_STREAM;
	c.threads = 1;
	c.fault = IPCL_FAULT_KILL_CONSUMER;
	c.fault_at = 10;
	assert_int_equal(ipcl_run_check(&c, err), IPCL_EINVAL);
	assert_non_null(strstr(err, "process mode"));
	c.threads = 0;
	c.pattern = IPCL_PINGPONG;
	assert_int_equal(ipcl_run_check(&c, err), IPCL_EINVAL);
}

/* Runs `ipclab` with the words of args (split on spaces), no shell: its exit
 * status; its stdout into out (cap bytes), its stderr's line count into *lines. */
static int run_bin(const char *bin, const char *args, char *out, size_t cap, int *lines)
{
	char buf[1024], *argv[32], *save = NULL;
	int n = 0;

	snprintf(buf, sizeof buf, "%s", args);
	argv[n++] = (char *)bin;
	for (char *w = strtok_r(buf, " ", &save); w && n < 31;
	     w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	argv[n] = NULL;
	return ipcl_test_run(argv, out, cap, lines);
}

/* Lines of text that start with prefix. */
static int count_lines(const char *text, const char *prefix)
{
	int n = 0;

	for (const char *l = text; l && *l;
	     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		n += strncmp(l, prefix, strlen(prefix)) == 0;
	return n;
}

static void test_cli(void **state)
{
	const char *bin = getenv("IPCLAB_BIN");
	static const char *const bad[] = {
	    "run -t posix-mq -p stream --threads --fault kill-consumer@10",
	    "run -t posix-mq -p stream --fault kill-consumer",
	    "run -t posix-mq -p stream --fault explode@3",
	    "run -t pipe -p stream --fault oversize",
	    "faults -t no-such-transport",
	    "faults -S kill-everything",
	    "faults -n 1",
	    "faults --bogus",
	    "faults extra",
	    "faults -o /nonexistent-dir/x.jsonl",
	};
	char args[256], out[64], *text, *rec = NULL;
	size_t cap = 0;
	ssize_t len;
	int lines, rows = 0;
	FILE *f;

	(void)state;
	if (!bin)
		skip();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(run_bin(bin, bad[i], NULL, 0, &lines), 2);
		assert_int_equal(lines, 1);
	}
	if (!ipcl_transport_find("posix-mq"))
		return;
	snprintf(out, sizeof out, "/tmp/flt-test-%d.jsonl", (int)getpid());
	snprintf(args, sizeof args,
		 "faults -q -t posix-mq -S oversize,kill-consumer -n 2000 -o %s", out);
	text = malloc(65536);
	assert_non_null(text);
	assert_int_equal(run_bin(bin, args, text, 65536, NULL), 0);
	assert_int_equal(count_lines(text, "| posix-mq | lost"), 1);
	free(text);
	f = fopen(out, "r");
	assert_non_null(f);
	while ((len = getline(&rec, &cap, f)) > 0)
		rows++;
	free(rec);
	fclose(f);
	unlink(out);
	assert_int_equal(rows, 2);
}

static char before[8192];

static int grab_before(void **state)
{
	(void)state;
	ipcl_test_leftovers(before, sizeof before);
	return 0;
}

/* Killed roles' IPC objects are still removed by the run's teardown. */
static int check_after(void **state)
{
	char after[8192];

	(void)state;
	ipcl_test_leftovers(after, sizeof after);
	if (strcmp(before, after) != 0) {
		fprintf(stderr, "left behind:\n%s\n", after);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int status;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill_consumer_queue),
	    cmocka_unit_test(test_kill_consumer_pipe),
	    cmocka_unit_test(test_kill_producer_unix),
	    cmocka_unit_test(test_kill_producer_shm),
	    cmocka_unit_test(test_oversize),
	    cmocka_unit_test(test_stall_blocks),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_cli),
	};

	if (ipcl_test_role_entry(argc, argv, &status))
		return status;
	return cmocka_run_group_tests(tests, grab_before, check_after);
}
