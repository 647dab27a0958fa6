/*
 * compare.c - `ipclab compare`: the default head-to-head suite. Every available
 * transport x sizes x patterns (pingpong, stream), in process mode, repeated
 * and reduced to the median, each record appended to a JSON-lines file, then a
 * ranking table on stdout. Broker transports run when a server URL is known
 * (environment or `ipclab brokers up`); otherwise they are listed as skipped.
 * Progress goes to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipclab/compare.h>
#include <ipclab/parse.h>
#include <ipclab/registry.h>
#include <ipclab/results.h>
#include <ipclab/runner.h>
#include <ipclab/server.h>

static const char compare_help[] =
    "usage: ipclab compare [--quick] [-t NAME,...] [-s SIZES] [-d TIME | -n COUNT]\n"
    "                      [--repeat N] [-o FILE] [--threads] [--pin WHERE]\n"
    "\n"
    "Runs every available transport through pingpong and stream at each size,\n"
    "repeats each run and keeps the median, appends every record to FILE (JSON\n"
    "lines, default results/compare-TIME.jsonl) and prints a ranking.\n"
    "  -t, --transports LIST  only these (comma-separated)\n"
    "  -s, --sizes LIST       message sizes (default 64,1K,64K; --quick 64)\n"
    "  -d, --duration T       measured time per run (default 300ms; --quick 150ms):\n"
    "                         equal time for every transport, fast or slow\n"
    "  -n, --count N          a message count per run instead of a duration\n"
    "      --repeat N         runs per point, median reported (default 3; --quick 1)\n"
    "      --quick            a fast pass: one size, fewer messages, one repetition\n"
    "      --threads          roles as threads (default processes)\n"
    "      --pin WHERE        none (default), same, split\n"
    "  -o, --output FILE      where the JSON lines go\n"
    "Broker transports run against $IPCLAB_*_URL servers (`ipclab brokers up`).\n";

struct point {
	const char *transport;
	const char *pattern;
	size_t size;
	double p50, p99, msgs_s, cpu;
	int ok, runs;
	char note[160];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0)
			return 1;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

/* Sort key: pingpong by p50 ascending, stream by msgs/s descending. */
static int cmp_point(const void *a, const void *b)
{
	const struct point *x = a, *y = b;
	int c = strcmp(x->pattern, y->pattern);

	if (c)
		return c;
	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	if (x->ok != y->ok)
		return y->ok - x->ok;
	if (strcmp(x->pattern, "pingpong") == 0)
		return x->p50 < y->p50 ? -1 : x->p50 > y->p50;
	return x->msgs_s > y->msgs_s ? -1 : x->msgs_s < y->msgs_s;
}

int ipcl_cmd_compare(int argc, char **argv)
{
	enum { O_QUICK = 256, O_REPEAT, O_THREADS, O_PIN };
	static const struct option lo[] = {
	    {"transports", required_argument, NULL, 't'},
	    {"sizes", required_argument, NULL, 's'},
	    {"count", required_argument, NULL, 'n'},
	    {"output", required_argument, NULL, 'o'},
	    {"quick", no_argument, NULL, O_QUICK},
	    {"repeat", required_argument, NULL, O_REPEAT},
	    {"threads", no_argument, NULL, O_THREADS},
	    {"pin", required_argument, NULL, O_PIN},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *only = NULL, *sizes_arg = NULL, *output = NULL;
	char outbuf[256];
	size_t sizes[16];
	int nsizes = 0, quick = 0, threads = 0, c, repeat = -1;
	uint64_t count = 0;
	int64_t duration = 0;
	enum ipcl_placement pin = IPCL_PLACE_NONE;
	const char *patterns[] = {"pingpong", "stream"};
	struct point *pts = NULL;
	int npts = 0, total = 0, done = 0, failures = 0, written = 0;
	const struct ipcl_transport *t;
	int64_t start = ipcl_now_ns();
	int tty = isatty(2);

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:s:n:d:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			only = optarg;
			break;
		case 's':
			sizes_arg = optarg;
			break;
		case 'n':
			if (ipcl_parse_count(optarg, &count) || !count) {
				fprintf(stderr, "ipclab compare: bad --count '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'd':
			if (ipcl_parse_duration(optarg, &duration)) {
				fprintf(stderr, "ipclab compare: bad --duration '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'o':
			output = optarg;
			break;
		case O_QUICK:
			quick = 1;
			break;
		case O_REPEAT: {
			uint64_t r;

			if (ipcl_parse_count(optarg, &r) || r < 1 || r > 99) {
				fprintf(stderr,
					"ipclab compare: bad --repeat '%s': want 1..99\n",
					optarg);
				return 2;
			}
			repeat = (int)r;
			break;
		}
		case O_THREADS:
			threads = 1;
			break;
		case O_PIN:
			if (strcmp(optarg, "none") == 0)
				pin = IPCL_PLACE_NONE;
			else if (strcmp(optarg, "same") == 0)
				pin = IPCL_PLACE_SAME;
			else if (strcmp(optarg, "split") == 0)
				pin = IPCL_PLACE_SPLIT;
			else {
				fprintf(stderr,
					"ipclab compare: bad --pin '%s': want none, same "
					"or split\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(compare_help, stdout);
			return 0;
		case ':':
			fprintf(stderr, "ipclab compare: option '%s' needs a value\n",
				argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr,
				"ipclab compare: unknown option '%s' (see `ipclab "
				"compare --help`)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ipclab compare: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (only)
		for (const char *p = only; *p;) {
			char name[64];
			size_t len = strcspn(p, ",");

			snprintf(name, sizeof name, "%.*s", (int)len, p);
			if (!ipcl_transport_find(name)) {
				fprintf(stderr,
					"ipclab compare: unknown transport '%s'\n", name);
				return 2;
			}
			p += len + (p[len] == ',');
		}
	if (sizes_arg) {
		char buf[256], *save = NULL;

		snprintf(buf, sizeof buf, "%s", sizes_arg);
		for (char *s = strtok_r(buf, ",", &save); s;
		     s = strtok_r(NULL, ",", &save)) {
			if (nsizes >= 16 || ipcl_parse_size(s, &sizes[nsizes]) ||
			    sizes[nsizes] < 32) {
				fprintf(stderr,
					"ipclab compare: bad size '%s' in --sizes: want "
					"32 or more\n",
					s);
				return 2;
			}
			nsizes++;
		}
	} else if (quick) {
		sizes[nsizes++] = 64;
	} else {
		sizes[nsizes++] = 64;
		sizes[nsizes++] = 1024;
		sizes[nsizes++] = 65536;
	}
	if (count && duration) {
		fprintf(stderr, "ipclab compare: give --count or --duration, not both\n");
		return 2;
	}
	if (!count && !duration)
		duration = quick ? 150000000 : 300000000;
	if (repeat < 0)
		repeat = quick ? 1 : 3;
	if (!output) {
		char stamp[32];
		time_t now = time(NULL);

		strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
		mkdir("results", 0755);
		snprintf(outbuf, sizeof outbuf, "results/compare-%s.jsonl", stamp);
		output = outbuf;
	}
	{
		int fd = open(output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0) {
			fprintf(stderr,
				"ipclab compare: cannot write --output '%s': %s\n",
				output, strerror(errno));
			return 2;
		}
		close(fd);
	}

	for (int i = 0; (t = ipcl_transport_at(i)) != NULL; i++)
		if (!only || in_list(only, t->name))
			total += nsizes * 2;
	pts = calloc((size_t)total, sizeof *pts);
	if (!pts)
		return 1;
	for (int i = 0; (t = ipcl_transport_at(i)) != NULL; i++) {
		struct ipcl_probe probe = {0};
		char perr[IPCL_ERR_MAX] = "", skip[160] = "";
		struct ipcl_opts o = {
		    .msg_size = 64, .producers = 1, .consumers = 1, .tag = "cmp"};
		const char *env;

		if (only && !in_list(only, t->name))
			continue;
		if ((t->caps & IPCL_CAP_THREADS_ONLY) && !threads)
			snprintf(skip, sizeof skip, "needs --threads");
		else if (t->server &&
			 (!(env = ipcl_server_env(t->server)) || !getenv(env)))
			snprintf(skip, sizeof skip,
				 "no %s server (run `ipclab brokers up`)", t->server);
		else if (!t->server && t->probe && t->probe(&o, &probe, perr))
			snprintf(skip, sizeof skip, "unavailable: %.140s", perr);
		for (int s = 0; s < nsizes; s++) {
			for (int p = 0; p < 2; p++) {
				struct point *pt = &pts[npts++];
				double p50[99], p99[99], rate[99], cpu[99];
				int good = 0;

				pt->transport = t->name;
				pt->pattern = patterns[p];
				pt->size = sizes[s];
				done++;
				if (skip[0]) {
					snprintf(pt->note, sizeof pt->note, "%s", skip);
					continue;
				}
				if (probe.max_msg && probe.max_msg < IPCL_FRAME_HDR &&
				    s > 0) {
					snprintf(pt->note, sizeof pt->note,
						 "carries %zu bytes whatever the size: "
						 "run at %zu B only",
						 probe.max_msg, sizes[0]);
					continue;
				}
				if (probe.max_msg && sizes[s] > probe.max_msg &&
				    probe.max_msg >= IPCL_FRAME_HDR) {
					snprintf(pt->note, sizeof pt->note,
						 "over the %zu-byte limit",
						 probe.max_msg);
					continue;
				}
				for (int r = 0; r < repeat; r++) {
					struct ipcl_runcfg cfg;
					char err[IPCL_ERR_MAX] = "";
					int failed = 0;
					json_t *rec;
					double el = (double)(ipcl_now_ns() - start) / 1e9;

					/* A terminal gets one line rewritten; a log a
					 * line a point. */
					if (tty || r == 0)
						fprintf(stderr,
							"%s[%d/%d %.0fs] %s %s %zuB run "
							"%d/%d%s",
							tty ? "\r\033[K" : "", done,
							total, el, t->name, patterns[p],
							sizes[s], r + 1, repeat,
							tty ? "" : "\n");
					fflush(stderr);
					ipcl_runcfg_init(&cfg);
					snprintf(cfg.transport, sizeof cfg.transport,
						 "%s", t->name);
					cfg.pattern = p ? IPCL_STREAM : IPCL_PINGPONG;
					cfg.size = sizes[s];
					cfg.count = count;
					cfg.duration_ns = duration;
					cfg.warmup =
					    count ? count / 10 : (quick ? 100 : 300);
					cfg.threads = threads;
					cfg.placement = pin;
					cfg.timeout_ns = 120 * 1000000000LL;
					cfg.expect_loss = (t->caps & IPCL_CAP_LOSSY) != 0;
					rec = ipcl_run(&cfg, &failed, err);
					if (!rec) {
						snprintf(pt->note, sizeof pt->note,
							 "%.150s", err);
						break;
					}
					ipcl_result_append(output, rec);
					written++;
					if (failed) {
						const char *e = json_string_value(
						    json_object_get(rec, "error"));

						snprintf(pt->note, sizeof pt->note,
							 "%.150s",
							 e ? e : "data lost or corrupt");
						failures++;
					} else {
						json_t *l =
						    json_object_get(rec, "latency");
						json_t *tp =
						    json_object_get(rec, "throughput");
						json_t *cs = json_object_get(
						    json_object_get(rec, "cpu"),
						    "receiver");

						p50[good] = (double)json_integer_value(
						    json_object_get(l, "p50"));
						p99[good] = (double)json_integer_value(
						    json_object_get(l, "p99"));
						rate[good] = json_real_value(
						    json_object_get(tp, "msgs_per_s"));
						cpu[good] =
						    json_real_value(json_object_get(
							cs, "total_ns_per_msg"));
						good++;
					}
					json_decref(rec);
				}
				if (good) {
					pt->ok = 1;
					pt->runs = good;
					pt->p50 = median(p50, good);
					pt->p99 = median(p99, good);
					pt->msgs_s = median(rate, good);
					pt->cpu = median(cpu, good);
				}
			}
		}
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
	qsort(pts, (size_t)npts, sizeof *pts, cmp_point);
	for (int i = 0; i < npts; i++) {
		const struct point *pt = &pts[i];
		int head = i == 0 || strcmp(pt->pattern, pts[i - 1].pattern) ||
			   pt->size != pts[i - 1].size;
		static double best;

		if (head) {
			best = pt->ok
				   ? (strcmp(pt->pattern, "pingpong") == 0 ? pt->p50
									   : pt->msgs_s)
				   : 0;
			printf("\n%s, %zu B (median of %d)\n", pt->pattern, pt->size,
			       repeat);
			printf("  %-20s %12s %12s %14s %12s %8s\n", "transport", "p50 us",
			       "p99 us", "msgs/s", "cpu ns/msg", "vs best");
		}
		if (!pt->ok) {
			printf("  %-20s %s\n", pt->transport,
			       pt->note[0] ? pt->note : "failed");
			continue;
		}
		printf("  %-20s %12.2f %12.2f %14.0f %12.0f %7.2fx\n", pt->transport,
		       pt->p50 / 1000, pt->p99 / 1000, pt->msgs_s, pt->cpu,
		       strcmp(pt->pattern, "pingpong") == 0 ? pt->p50 / best
							    : best / pt->msgs_s);
	}
	printf("\nresults: %s (%d records in %.0f s)\n", output, written,
	       (double)(ipcl_now_ns() - start) / 1e9);
	free(pts);
	return failures ? 1 : 0;
}

const char *ipcl_compare_help(void)
{
	return compare_help;
}
