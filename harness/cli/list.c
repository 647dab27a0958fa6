/*
 * list.c - `ipclab list`: the transports of the registry with their capabilities,
 * each one's probed limits (a broker's only when asked by name: it needs a
 * server), options, and with --all the transports switched off at build time.
 * Human table or JSON lines (jansson). Runs nothing but the transports' probes.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/list.h"
#include "cli/usage.h"
#include "engine/record.h"
#include "engine/registry.h"

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

/* Everything about one transport (`ipclab list NAME`): caps, server, probed
 * limits (or why it is unavailable: prc, perr), options. */
static void list_detail(const struct ipcl_transport *t, const struct ipcl_probe *p,
			int prc, const char *perr, const char *caps, const char *max)
{
	printf("%s: %s\ncapabilities: %s\n", t->name, t->summary, caps);
	if (t->server)
		printf("server: %s (URL from -O url=..., $%s, or a throwaway "
		       "server)\n",
		       t->server,
		       strcmp(t->server, "redis") == 0      ? "IPCLAB_REDIS_URL"
		       : strcmp(t->server, "rabbitmq") == 0 ? "IPCLAB_AMQP_URL"
							    : "IPCLAB_PG_URL");
	if (prc)
		printf("unavailable here: %s\n", perr);
	else {
		printf("max message: %s bytes\nlimits and settings probed here:\n", max);
		for (int k = 0; k < p->n; k++)
			printf("  %-28s %s\n", p->kv[k].key, p->kv[k].val);
	}
	if (t->options && t->options->name) {
		printf("options (-O name=value):\n");
		for (const struct ipcl_option *op = t->options; op->name; op++)
			printf("  %-16s default %-10s %s\n", op->name, op->def, op->help);
	}
}

int ipcl_cmd_list(int argc, char **argv)
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
			return ipcl_usage_error("list", "unknown option '%s'",
						argv[optind - 1]);
		}
	}
	if (optind < argc)
		only = argv[optind++];
	if (optind < argc)
		return ipcl_usage_error("list", "unexpected argument '%s'", argv[optind]);
	if (only && !ipcl_transport_find(only)) {
		for (int i = 0; (name = ipcl_disabled_at(i, &why)) != NULL; i++)
			if (strcmp(name, only) == 0) {
				fprintf(stderr, "ipclab list: %s is not built in: %s\n",
					only, why);
				return IPCL_EXIT_USAGE;
			}
		return ipcl_usage_error("list", "unknown transport '%s'", only);
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
			/* A stand-in for the real thing (Kafka's mock cluster) says so.
			 */
			for (int k = 0; !prc && k < p.n; k++)
				if (strcmp(p.kv[k].key, "mock") == 0 &&
				    strcmp(p.kv[k].val, "true") == 0)
					printf("%-20s mock: figures are not a real "
					       "server's, never ranked above one\n",
					       "");
			if (prc)
				printf("%-20s unavailable here: %s\n", "",
				       err[0] ? err : ipcl_strerror(prc));
			continue;
		}
		list_detail(t, &p, prc, err[0] ? err : ipcl_strerror(prc), caps, max);
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

const char *ipcl_list_help(void)
{
	return list_help;
}
