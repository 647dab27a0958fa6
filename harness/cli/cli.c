/*
 * cli.c - the ipclab command line: list, run, clean, and the hidden __role entry
 * of role processes. Every bad option or value gets one line on stderr naming it
 * and exit status 2; a failed or lossy run exits 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/brokers.h"
#include "cli/cli.h"
#include "cli/compare.h"
#include "engine/endpoint.h"
#include "cli/faults.h"
#include "engine/parse.h"
#include "engine/registry.h"
#include "report/report.h"
#include "engine/record.h"
#include "engine/roles.h"
#include "engine/run.h"

#define EXIT_USAGE 2

static int usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ipclab %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see `ipclab %s --help`)\n", cmd);
	return EXIT_USAGE;
}

static const char main_help[] =
    "usage: ipclab COMMAND [OPTIONS]\n"
    "\n"
    "Compare inter-process communication mechanisms with one harness.\n"
    "\n"
    "commands:\n"
    "  list [--all] [--json] [TRANSPORT]  transports, capabilities, probed limits\n"
    "  run -t TRANSPORT [OPTIONS]         one measured run (see `ipclab run --help`)\n"
    "  compare [--quick] [OPTIONS]        every transport head to head, ranked\n"
    "  clean [--dry-run]                  remove what killed runs left behind\n"
    "  brokers up|status|env|down         throwaway Redis/RabbitMQ/PostgreSQL servers\n"
    "  report FILE... [-o DIR] [--csv]    Markdown/HTML report with charts from results\n"
    "  faults [-t LIST] [-n N] [-o FILE]  failure matrix: kills, stall, oversize\n"
    "  help COMMAND                       help on a command\n"
    "\n"
    "`ipclab --version` prints the version. Exit status: 0 ok, 1 a run failed or\n"
    "lost data, 2 bad usage. The manual: man ipclab.\n";

/* ---- list --------------------------------------------------------------- */

static const char list_help[] =
    "usage: ipclab list [--all] [--json] [TRANSPORT]\n"
    "\n"
    "Lists the transports built into this binary with their capabilities and the\n"
    "limits probed on this machine. With TRANSPORT: its options and every fact.\n"
    "  -a, --all    also the transports switched off at build time, and why\n"
    "  -j, --json   one JSON object per transport, one per line\n";

static void list_caps(uint32_t caps, char *out, size_t cap)
{
	static const struct {
		uint32_t bit;
		const char *s;
	} c[] = {
	    {IPCL_CAP_MSG_BOUNDARY, "msg"},     {IPCL_CAP_MULTI_PRODUCER, "mp"},
	    {IPCL_CAP_MULTI_CONSUMER, "mc"},    {IPCL_CAP_FANOUT, "fanout"},
	    {IPCL_CAP_DURABLE, "durable"},      {IPCL_CAP_LOSSY, "lossy"},
	    {IPCL_CAP_RELATED_ONLY, "fork"},    {IPCL_CAP_NEEDS_SERVER, "server"},
	    {IPCL_CAP_HAS_EOF, "eof"},          {IPCL_CAP_REQREP, "reqrep"},
	    {IPCL_CAP_THREADS_ONLY, "threads"}, {IPCL_CAP_CROSS_HOST, "net"},
	};
	size_t n = 0;

	out[0] = 0;
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
		if ((caps & c[i].bit) && n + strlen(c[i].s) + 2 < cap)
			n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "",
					      c[i].s);
}

static json_t *list_json(const struct ipcl_transport *t, const struct ipcl_probe *p,
			 int prc, const char *perr)
{
	json_t *o = json_pack("{s:s,s:s,s:o}", "name", t->name, "summary", t->summary,
			      "caps", ipcl_caps_json(t->caps));
	json_t *lim = json_object(), *opts = json_array();

	if (t->server)
		json_object_set_new(o, "server", json_string(t->server));
	if (prc) {
		json_object_set_new(o, "available", json_false());
		json_object_set_new(o, "reason", json_string(perr));
	} else {
		json_object_set_new(o, "available", json_true());
		json_object_set_new(lim, "max_msg", json_integer((json_int_t)p->max_msg));
		for (int i = 0; i < p->n; i++)
			json_object_set_new(lim, p->kv[i].key, json_string(p->kv[i].val));
	}
	json_object_set_new(o, "limits", lim);
	for (const struct ipcl_option *op = t->options; op && op->name; op++)
		json_array_append_new(opts,
				      json_pack("{s:s,s:s,s:s}", "name", op->name,
						"default", op->def, "help", op->help));
	json_object_set_new(o, "options", opts);
	return o;
}

static int cmd_list(int argc, char **argv)
{
	static const struct option lo[] = {{"all", no_argument, NULL, 'a'},
					   {"json", no_argument, NULL, 'j'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	int all = 0, json = 0, c;

	opterr = 0;
	const char *only = NULL, *name, *why;
	const struct ipcl_transport *t;
	struct ipcl_opts o = {
	    .msg_size = 64, .producers = 1, .consumers = 1, .tag = "list"};

	optind = 1;
	while ((c = getopt_long(argc, argv, "ajh", lo, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(list_help, stdout);
			return 0;
		default:
			return usage_error("list", "unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		only = argv[optind++];
	if (optind < argc)
		return usage_error("list", "unexpected argument '%s'", argv[optind]);
	if (only && !ipcl_transport_find(only)) {
		for (int i = 0; (name = ipcl_disabled_at(i, &why)) != NULL; i++)
			if (strcmp(name, only) == 0) {
				fprintf(stderr, "ipclab list: %s is not built in: %s\n",
					only, why);
				return EXIT_USAGE;
			}
		return usage_error("list", "unknown transport '%s'", only);
	}
	if (!json && !only)
		printf("%-20s %-26s %-10s %s\n", "TRANSPORT", "CAPABILITIES", "MAX MSG",
		       "SUMMARY");
	for (int i = 0; (t = ipcl_transport_at(i)) != NULL; i++) {
		struct ipcl_probe p = {0};
		char err[IPCL_ERR_MAX] = "", caps[128], max[32];
		int prc = 0;

		if (only && strcmp(only, t->name) != 0)
			continue;
		/* Broker probes need a server: only when asked about one by name. */
		if (t->probe && (!t->server || only))
			prc = t->probe(&o, &p, err);
		if (json) {
			json_t *j =
			    list_json(t, &p, prc, err[0] ? err : ipcl_strerror(prc));

			if (t->server && !only)
				json_object_set_new(j, "probed", json_false());
			json_dumpf(j, stdout, JSON_COMPACT);
			putchar('\n');
			json_decref(j);
			continue;
		}
		list_caps(t->caps, caps, sizeof caps);
		if (prc)
			snprintf(max, sizeof max, "n/a");
		else if (t->server && !only)
			snprintf(max, sizeof max, "(server)");
		else if (p.max_msg)
			snprintf(max, sizeof max, "%zu", p.max_msg);
		else
			snprintf(max, sizeof max, "no limit");
		if (!only) {
			printf("%-20s %-26s %-10s %s\n", t->name, caps, max, t->summary);
			if (prc)
				printf("%-20s unavailable here: %s\n", "",
				       err[0] ? err : ipcl_strerror(prc));
			continue;
		}
		printf("%s: %s\ncapabilities: %s\n", t->name, t->summary, caps);
		if (t->server)
			printf("server: %s (URL from -O url=..., $%s, or a throwaway "
			       "server)\n",
			       t->server,
			       strcmp(t->server, "redis") == 0      ? "IPCLAB_REDIS_URL"
			       : strcmp(t->server, "rabbitmq") == 0 ? "IPCLAB_AMQP_URL"
								    : "IPCLAB_PG_URL");
		if (prc)
			printf("unavailable here: %s\n",
			       err[0] ? err : ipcl_strerror(prc));
		else {
			printf(
			    "max message: %s bytes\nlimits and settings probed here:\n",
			    max);
			for (int k = 0; k < p.n; k++)
				printf("  %-28s %s\n", p.kv[k].key, p.kv[k].val);
		}
		if (t->options && t->options->name) {
			printf("options (-O name=value):\n");
			for (const struct ipcl_option *op = t->options; op->name; op++)
				printf("  %-16s default %-10s %s\n", op->name, op->def,
				       op->help);
		}
	}
	if (all && !only) {
		for (int i = 0; (name = ipcl_disabled_at(i, &why)) != NULL; i++) {
			if (json)
				printf("{\"name\":\"%s\",\"available\":false,\"built\":"
				       "false,"
				       "\"reason\":\"%s\"}\n",
				       name, why);
			else
				printf("%-20s %-26s %-10s not built: %s\n", name, "-",
				       "-", why);
		}
	}
	return 0;
}

/* ---- run ---------------------------------------------------------------- */

static const char run_help[] =
    "usage: ipclab run -t TRANSPORT [OPTIONS]\n"
    "\n"
    "One measured run: every message carries a sequence number, a send time and a\n"
    "checksum, and the receiver verifies each one.\n"
    "\n"
    "  -t, --transport NAME   a transport from `ipclab list` (required)\n"
    "  -p, --pattern P        pingpong (round trip, default), stream (throughput),\n"
    "                         rate (open loop at --rate; latency from intended time)\n"
    "  -s, --size BYTES       message size, header included (default 64; 4K, 1M)\n"
    "  -n, --count N          measured messages per producer (default 100000; 10k)\n"
    "  -d, --duration T       measure for a time instead (5s, 500ms, 1m)\n"
    "  -r, --rate R           rate pattern: messages per second over all producers\n"
    "  -w, --warmup N         unmeasured messages first (default 1000)\n"
    "  -P, --producers N      stream/rate: producer roles (default 1)\n"
    "  -C, --consumers N      stream/rate: consumer roles (default 1)\n"
    "      --threads          roles as threads of one process (default: processes)\n"
    "      --pin WHERE        none (default), same (all on one CPU), split (spread)\n"
    "      --cpus LIST        pin role i to LIST[i % n], e.g. 0,1\n"
    "  -O, --opt NAME=VALUE   transport option (see `ipclab list TRANSPORT`)\n"
    "  -o, --output FILE      append the JSON record to FILE (JSON lines)\n"
    "      --json             print the JSON record on stdout instead of a summary\n"
    "      --expect-loss      loss is expected: do not fail the run for it\n"
    "      --timeout T        stop the run after T (default 300s)\n"
    "      --fault SCENARIO   inject one event (stream/rate; docs/faults.md):\n"
    "                         stall:T@N      first consumer sleeps T after N msgs\n"
    "                         kill-consumer@N  first consumer SIGKILLed holding\n"
    "                                        message N+1, a fresh one restarted\n"
    "                         kill-producer@N  first producer SIGKILLed after N\n"
    "                         oversize[@N]   one message of max_msg+1 bytes\n"
    "  -q, --quiet            no progress line\n";

static int parse_kv(const char *s, struct ipcl_runcfg *c)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s || c->nkv >= IPCL_MAX_KV)
		return -EINVAL;
	if ((size_t)(eq - s) >= sizeof c->kv[0].key ||
	    strlen(eq + 1) >= sizeof c->kv[0].val)
		return -EINVAL;
	snprintf(c->kv[c->nkv].key, sizeof c->kv[c->nkv].key, "%.*s", (int)(eq - s), s);
	snprintf(c->kv[c->nkv].val, sizeof c->kv[c->nkv].val, "%s", eq + 1);
	c->nkv++;
	return 0;
}

/*
 * --fault: stall:T@N, kill-consumer@N, kill-producer@N or oversize[@N]. N is a
 * message count (the oversize message goes after N; default: half the count).
 */
static int parse_fault(const char *s, struct ipcl_runcfg *c)
{
	char buf[64];
	char *at, *colon;
	int f;

	if (strlen(s) >= sizeof buf)
		return -EINVAL;
	snprintf(buf, sizeof buf, "%s", s);
	at = strchr(buf, '@');
	if (at)
		*at++ = 0;
	colon = strchr(buf, ':');
	if (colon)
		*colon++ = 0;
	f = ipcl_fault_from_name(buf);
	if (f < 0 || (f == IPCL_FAULT_STALL) != (colon != NULL))
		return -EINVAL;
	if (!at && f != IPCL_FAULT_OVERSIZE)
		return -EINVAL;
	if (at && ipcl_parse_count(at, &c->fault_at))
		return -EINVAL;
	if (!at)
		c->fault_at = UINT64_MAX; /* set from the count below */
	if (colon && (ipcl_parse_duration(colon, &c->stall_ns) || c->stall_ns <= 0))
		return -EINVAL;
	c->fault = (enum ipcl_fault)f;
	return 0;
}

static double fmt_us(json_int_t ns)
{
	return (double)ns / 1000.0;
}

/* The human summary of one record. */
static void print_summary(const json_t *r)
{
	const json_t *p = json_object_get(r, "params"),
		     *l = json_object_get(r, "latency");
	const json_t *v = json_object_get(r, "verify"),
		     *tp = json_object_get(r, "throughput");
	const json_t *cpu = json_object_get(r, "cpu"),
		     *ow = json_object_get(r, "one_way");
	const json_t *lag = json_object_get(r, "schedule_lag");
	const char *status = json_string_value(json_object_get(r, "status"));

	printf("%s %s, %lld B, %s mode, placement %s\n",
	       json_string_value(json_object_get(r, "transport")),
	       json_string_value(json_object_get(r, "pattern")),
	       (long long)json_integer_value(json_object_get(p, "size")),
	       json_string_value(json_object_get(p, "mode")),
	       json_string_value(json_object_get(p, "placement")));
	if (strcmp(status, "ok") != 0)
		printf("  ERROR        %s\n",
		       json_string_value(json_object_get(r, "error")));
	if (l && json_integer_value(json_object_get(l, "count"))) {
		printf("  %-12s min %.2f  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max "
		       "%.2f us"
		       " (%lld samples)\n",
		       strcmp(json_string_value(json_object_get(l, "kind")),
			      "round_trip") == 0
			   ? "round trip"
			   : "one-way",
		       fmt_us(json_integer_value(json_object_get(l, "min"))),
		       fmt_us(json_integer_value(json_object_get(l, "p50"))),
		       fmt_us(json_integer_value(json_object_get(l, "p90"))),
		       fmt_us(json_integer_value(json_object_get(l, "p99"))),
		       fmt_us(json_integer_value(json_object_get(l, "p99_9"))),
		       fmt_us(json_integer_value(json_object_get(l, "max"))),
		       (long long)json_integer_value(json_object_get(l, "count")));
	}
	if (ow && json_integer_value(json_object_get(ow, "count")))
		printf("  %-12s p50 %.2f  p99 %.2f us\n", "one-way",
		       fmt_us(json_integer_value(json_object_get(ow, "p50"))),
		       fmt_us(json_integer_value(json_object_get(ow, "p99"))));
	if (lag && json_integer_value(json_object_get(lag, "count")))
		printf("  %-12s p50 %.2f  p99 %.2f  max %.2f us behind schedule\n",
		       "sender lag",
		       fmt_us(json_integer_value(json_object_get(lag, "p50"))),
		       fmt_us(json_integer_value(json_object_get(lag, "p99"))),
		       fmt_us(json_integer_value(json_object_get(lag, "max"))));
	if (tp)
		printf("  %-12s %.0f msgs/s  %.1f MB/s over %.2f s\n", "throughput",
		       json_real_value(json_object_get(tp, "msgs_per_s")),
		       json_real_value(json_object_get(tp, "mb_per_s")),
		       json_real_value(json_object_get(tp, "elapsed_s")));
	if (cpu) {
		const json_t *s = json_object_get(cpu, "sender"),
			     *rc = json_object_get(cpu, "receiver");

		if (json_is_object(s) && json_is_object(rc))
			printf(
			    "  %-12s sender %.2f us (user %.2f, sys %.2f), receiver %.2f "
			    "us "
			    "(user %.2f, sys %.2f)\n",
			    "cpu/msg",
			    json_real_value(json_object_get(s, "total_ns_per_msg")) /
				1000,
			    json_real_value(json_object_get(s, "user_ns_per_msg")) / 1000,
			    json_real_value(json_object_get(s, "sys_ns_per_msg")) / 1000,
			    json_real_value(json_object_get(rc, "total_ns_per_msg")) /
				1000,
			    json_real_value(json_object_get(rc, "user_ns_per_msg")) /
				1000,
			    json_real_value(json_object_get(rc, "sys_ns_per_msg")) /
				1000);
	}
	if (v) {
		json_int_t lost = json_integer_value(json_object_get(v, "lost"));
		json_int_t dup = json_integer_value(json_object_get(v, "duplicated"));
		json_int_t cor = json_integer_value(json_object_get(v, "corrupt"));

		printf("  %-12s sent %lld  delivered %lld  lost %lld  duplicated %lld  "
		       "reordered "
		       "%lld  corrupt %lld  %s\n",
		       "verify",
		       (long long)json_integer_value(json_object_get(v, "sent")),
		       (long long)json_integer_value(json_object_get(v, "delivered")),
		       (long long)lost, (long long)dup,
		       (long long)json_integer_value(json_object_get(v, "reordered")),
		       (long long)cor, lost || dup || cor ? "DATA ERRORS" : "ok");
	}
}

/* Warn loudly on stderr about lost, duplicated or corrupt messages. */
static void warn_data(const json_t *r, int expected)
{
	const json_t *v = json_object_get(r, "verify");
	json_int_t lost = json_integer_value(json_object_get(v, "lost"));
	json_int_t dup = json_integer_value(json_object_get(v, "duplicated"));
	json_int_t cor = json_integer_value(json_object_get(v, "corrupt"));

	if (!v || (!lost && !dup && !cor))
		return;
	fprintf(
	    stderr,
	    "ipclab: WARNING: %s %s: %lld lost, %lld duplicated, %lld corrupt of %lld "
	    "messages%s\n",
	    json_string_value(json_object_get(r, "transport")),
	    json_string_value(json_object_get(r, "pattern")), (long long)lost,
	    (long long)dup, (long long)cor,
	    (long long)json_integer_value(json_object_get(v, "expected")),
	    expected ? " (loss expected: --expect-loss)" : "");
}

static int cmd_run(int argc, char **argv)
{
	enum { O_THREADS = 256, O_PIN, O_CPUS, O_JSON, O_EXPECT, O_TIMEOUT, O_FAULT };
	static const struct option lo[] = {
	    {"transport", required_argument, NULL, 't'},
	    {"pattern", required_argument, NULL, 'p'},
	    {"size", required_argument, NULL, 's'},
	    {"count", required_argument, NULL, 'n'},
	    {"duration", required_argument, NULL, 'd'},
	    {"rate", required_argument, NULL, 'r'},
	    {"warmup", required_argument, NULL, 'w'},
	    {"producers", required_argument, NULL, 'P'},
	    {"consumers", required_argument, NULL, 'C'},
	    {"opt", required_argument, NULL, 'O'},
	    {"output", required_argument, NULL, 'o'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"threads", no_argument, NULL, O_THREADS},
	    {"pin", required_argument, NULL, O_PIN},
	    {"cpus", required_argument, NULL, O_CPUS},
	    {"json", no_argument, NULL, O_JSON},
	    {"expect-loss", no_argument, NULL, O_EXPECT},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"fault", required_argument, NULL, O_FAULT},
	    {NULL, 0, NULL, 0},
	};
	struct ipcl_runcfg cfg;
	const char *output = NULL;
	int json = 0, c, failed, count_given = 0, rc;
	uint64_t n;
	char err[IPCL_ERR_MAX] = "";
	json_t *rec;

	ipcl_runcfg_init(&cfg);
	cfg.progress = 1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:p:s:n:d:r:w:P:C:O:o:qh", lo, NULL)) !=
	       -1) {
		switch (c) {
		case 't':
			snprintf(cfg.transport, sizeof cfg.transport, "%s", optarg);
			break;
		case 'p':
			if ((rc = ipcl_pattern_from_name(optarg)) >= 0)
				cfg.pattern = (enum ipcl_pattern)rc;
			else
				return usage_error(
				    "run",
				    "unknown pattern '%s': want pingpong, stream or "
				    "rate",
				    optarg);
			break;
		case 's':
			if (ipcl_parse_size(optarg, &cfg.size))
				return usage_error("run",
						   "bad --size '%s': want bytes like 64, "
						   "4K, 1M",
						   optarg);
			break;
		case 'n':
			if (ipcl_parse_count(optarg, &cfg.count) || cfg.count == 0)
				return usage_error("run",
						   "bad --count '%s': want a positive "
						   "number like 100000 or 100k",
						   optarg);
			count_given = 1;
			break;
		case 'd':
			if (ipcl_parse_duration(optarg, &cfg.duration_ns))
				return usage_error(
				    "run",
				    "bad --duration '%s': want a time like "
				    "5s, 500ms, 1m",
				    optarg);
			break;
		case 'r':
			if (ipcl_parse_rate(optarg, &cfg.rate))
				return usage_error("run",
						   "bad --rate '%s': want messages per "
						   "second like 10000 or 10k",
						   optarg);
			break;
		case 'w':
			if (ipcl_parse_count(optarg, &cfg.warmup))
				return usage_error(
				    "run", "bad --warmup '%s': want a number", optarg);
			break;
		case 'P':
		case 'C':
			if (ipcl_parse_count(optarg, &n) || n < 1 ||
			    n > IPCL_MAX_ROLES - 1)
				return usage_error("run", "bad --%s '%s': want 1..%d",
						   c == 'P' ? "producers" : "consumers",
						   optarg, IPCL_MAX_ROLES - 1);
			*(c == 'P' ? &cfg.producers : &cfg.consumers) = (int)n;
			break;
		case 'O':
			if (parse_kv(optarg, &cfg))
				return usage_error(
				    "run", "bad --opt '%s': want NAME=VALUE", optarg);
			break;
		case 'o':
			output = optarg;
			break;
		case 'q':
			cfg.progress = 0;
			break;
		case 'h':
			fputs(run_help, stdout);
			return 0;
		case O_THREADS:
			cfg.threads = 1;
			break;
		case O_PIN:
			if ((rc = ipcl_placement_from_name(optarg)) >= 0)
				cfg.placement = (enum ipcl_placement)rc;
			else
				return usage_error(
				    "run", "bad --pin '%s': want none, same or split",
				    optarg);
			break;
		case O_CPUS: {
			cpu_set_t set;
			int k = ipcl_parse_cpus(optarg, cfg.cpus, IPCL_MAX_ROLES);

			if (k <= 0)
				return usage_error(
				    "run", "bad --cpus '%s': want a list like 0,1",
				    optarg);
			sched_getaffinity(0, sizeof set, &set);
			for (int i = 0; i < k; i++)
				if (cfg.cpus[i] >= CPU_SETSIZE ||
				    !CPU_ISSET(cfg.cpus[i], &set))
					return usage_error(
					    "run",
					    "bad --cpus '%s': CPU %d is not "
					    "available here",
					    optarg, cfg.cpus[i]);
			cfg.ncpus = k;
			cfg.placement = IPCL_PLACE_LIST;
			break;
		}
		case O_JSON:
			json = 1;
			break;
		case O_EXPECT:
			cfg.expect_loss = 1;
			break;
		case O_TIMEOUT:
			if (ipcl_parse_duration(optarg, &cfg.timeout_ns))
				return usage_error("run", "bad --timeout '%s'", optarg);
			break;
		case O_FAULT:
			if (parse_fault(optarg, &cfg))
				return usage_error(
				    "run",
				    "bad --fault '%s': want stall:DURATION@N, "
				    "kill-consumer@N, kill-producer@N or "
				    "oversize[@N]",
				    optarg);
			break;
		case ':':
			return usage_error("run", "option '%s' needs a value",
					   argv[optind - 1]);
		default:
			return usage_error("run", "unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("run", "unexpected argument '%s'", argv[optind]);
	if (!cfg.transport[0])
		return usage_error("run",
				   "no transport: give -t NAME (see `ipclab list`)");
	if (cfg.duration_ns && count_given)
		return usage_error("run", "give --count or --duration, not both");
	if (cfg.duration_ns)
		cfg.count = 0;
	if (cfg.fault_at == UINT64_MAX)
		cfg.fault_at = cfg.duration_ns ? 1000 : (cfg.warmup + cfg.count) / 2;
	if (cfg.pattern == IPCL_RATE && !cfg.duration_ns)
		return usage_error("run",
				   "the rate pattern needs --duration (and --rate)");
	if (cfg.pattern == IPCL_RATE && cfg.rate <= 0)
		return usage_error("run", "the rate pattern needs --rate");
	if (cfg.duration_ns && cfg.timeout_ns < cfg.duration_ns + 30000000000LL)
		cfg.timeout_ns = cfg.duration_ns + 30000000000LL;
	if (output && strcmp(output, "-") != 0) {
		int fd = open(output, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0)
			return usage_error("run", "cannot write --output '%s': %s",
					   output, strerror(errno));
		close(fd);
	}
	rc = ipcl_run_check(&cfg, err);
	if (rc == IPCL_EINVAL || rc == IPCL_ETOOBIG)
		return usage_error("run", "%s", err);
	rec = ipcl_run(&cfg, &failed, err);
	if (!rec)
		return usage_error("run", "%s", err);
	if (output && ipcl_result_append(output, rec))
		fprintf(stderr, "ipclab run: writing %s: %s\n", output, strerror(errno));
	if (json)
		ipcl_result_append("-", rec);
	else
		print_summary(rec);
	warn_data(rec, cfg.expect_loss);
	if (failed &&
	    strcmp(json_string_value(json_object_get(rec, "status")), "ok") != 0)
		fprintf(stderr, "ipclab run: %s\n",
			json_string_value(json_object_get(rec, "error")));
	json_decref(rec);
	return failed ? 1 : 0;
}

/* ---- clean -------------------------------------------------------------- */

static const char clean_help[] =
    "usage: ipclab clean [--dry-run]\n"
    "\n"
    "Removes what runs that were killed left behind: POSIX shared memory and\n"
    "message queues named ipcl-*, and ipcl-* temp dirs in $TMPDIR or /tmp, whose\n"
    "creating process (the number after ipcl-) no longer exists.\n";

/*
 * The pid in a run's name: "ipcl-1234-0a..." (every run tag starts with the pid of
 * the process that made it), or 0 for other names, such as a throwaway server's
 * dir ("ipcl-redis-...", stopped by `ipclab brokers down`), which clean leaves alone.
 */
static pid_t clean_owner(const char *name)
{
	char *end;
	long pid = strtol(name + 5, &end, 10);

	return end != name + 5 && pid > 0 && *end == '-' ? (pid_t)pid : 0;
}

/*
 * SysV message queues of killed runs: sysv-mq makes keys 0x68000000 | pid << 4 | n
 * (ipc/mq/sysv.c), so the owner's pid can be read back from the key.
 */
static int clean_sysv(int dry)
{
	FILE *f = fopen("/proc/sysvipc/msg", "r");
	char line[512];
	int removed = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		long long key;
		int id;
		unsigned uid;
		pid_t pid;

		if (sscanf(line, "%lld %d %*o %*u %*u %*d %*d %u", &key, &id, &uid) != 3)
			continue;
		if ((key & 0x7c000000) != 0x68000000 || uid != geteuid())
			continue;
		pid = (pid_t)((key >> 4) & 0x3fffff);
		if (kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		printf("%s SysV message queue %d (run %d)\n",
		       dry ? "would remove" : "removing", id, (int)pid);
		removed++;
		if (!dry && msgctl(id, IPC_RMID, NULL) < 0)
			fprintf(stderr, "ipclab clean: msgctl %d: %s\n", id,
				strerror(errno));
	}
	fclose(f);
	return removed;
}

static int cmd_clean(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	const char *dirs[] = {"/dev/shm", "/dev/mqueue", tmp && *tmp ? tmp : "/tmp"};
	int dry = argc > 1 && strcmp(argv[1], "--dry-run") == 0, removed = 0;

	if (argc > 1 && !dry) {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			fputs(clean_help, stdout);
			return 0;
		}
		return usage_error("clean", "unknown option '%s'", argv[1]);
	}
	for (int d = 0; d < 3; d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *e;

		if (!dir)
			continue;
		while ((e = readdir(dir)) != NULL) {
			char path[4096];
			pid_t owner;

			if (strncmp(e->d_name, "ipcl-", 5) != 0)
				continue;
			owner = clean_owner(e->d_name);
			if (!owner || kill(owner, 0) == 0 || errno == EPERM)
				continue; /* not a run's (a server's dir), or still
					     running */
			snprintf(path, sizeof path, "%s/%s", dirs[d], e->d_name);
			printf("%s %s\n", dry ? "would remove" : "removing", path);
			removed++;
			if (dry)
				continue;
			if (e->d_type == DT_DIR) {
				char cmd[4200];

				snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", path);
				if (system(cmd) != 0)
					fprintf(stderr,
						"ipclab clean: could not remove %s\n",
						path);
			} else if (unlink(path) < 0) {
				fprintf(stderr, "ipclab clean: %s: %s\n", path,
					strerror(errno));
			}
		}
		closedir(dir);
	}
	removed += clean_sysv(dry);
	if (!removed)
		printf("nothing to clean\n");
	return 0;
}

/* ---- dispatch ----------------------------------------------------------- */

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} commands[] = {
    {"list", cmd_list, list_help},       {"run", cmd_run, run_help},
    {"clean", cmd_clean, clean_help},    {"report", ipcl_cmd_report, NULL},
    {"compare", ipcl_cmd_compare, NULL}, {"brokers", ipcl_cmd_brokers, NULL},
    {"faults", ipcl_cmd_faults, NULL},
};

int ipcl_cli_main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "__role") == 0)
		return ipcl_role_exec(atoi(argv[2]), atoi(argv[3]));
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(main_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("ipclab %s\n", IPCL_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0) {
		for (size_t i = 0; argc > 2 && i < sizeof commands / sizeof commands[0];
		     i++)
			if (strcmp(argv[2], commands[i].name) == 0) {
				fputs(commands[i].help ? commands[i].help
				      : commands[i].fn == ipcl_cmd_report
					  ? ipcl_report_help()
				      : commands[i].fn == ipcl_cmd_compare
					  ? ipcl_compare_help()
				      : commands[i].fn == ipcl_cmd_faults
					  ? ipcl_faults_help()
					  : ipcl_brokers_help(),
				      stdout);
				return 0;
			}
		fputs(main_help, stdout);
		return argc > 2 ? EXIT_USAGE : 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "ipclab: unknown command '%s' (see `ipclab --help`)\n", argv[1]);
	return EXIT_USAGE;
}
