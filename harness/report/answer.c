/*
 * answer.c - "What to use" (answer.h): each need answered from the summary
 * rows with summary.c's ranking (clean rows first, so a flagged row never
 * wins: only clean rows are picked), from the fault records' "fault" object
 * (kill-consumer: lost, or lost_after_ack where the record has it) and from
 * the records' "caps". libm, jansson. Leaves out: any figure of its own (all
 * come from the rows and records) and any weighing of needs against each other.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/answer.h"

/* Which rows may answer a need: all, or those whose records list cap. */
struct filter {
	const char *cap; /* NULL: any row */
};

static int ans_ok(const struct ipcl_report_row *G, const struct filter *f)
{
	return !f->cap || ipcl_report_has_cap(G->runs->j, f->cap);
}

/* The row's transport and, unless "process", its set-up: "shm (thread)". */
static void ans_who(char *b, size_t n, const struct ipcl_report_row *G)
{
	const struct ipcl_report_rec *r = G->runs;

	if (strcmp(r->setup, "process"))
		snprintf(b, n, "%.60s (%.60s)", r->transport, r->setup);
	else
		snprintf(b, n, "%.100s", r->transport);
}

/* The best clean row of rows [a, b) by d that f admits into *w, and the best
 * clean row of another transport into *r (-1: none); *tied is set when the
 * ranking gives both one rank; *nclean counts the clean rows f admits and
 * *nflag the flagged ones. Returns 0 or -ENOMEM. */
static int ans_best(const struct ipcl_report_rows *rows, int a, int b,
		    const struct ipcl_report_figdef *d, const struct filter *f, int *w,
		    int *r, int *tied, int *nclean, int *nflag)
{
	int *ord = calloc((size_t)(b - a) + 1, sizeof *ord),
	    *rank = calloc((size_t)(b - a) + 1, sizeof *rank), n, iw = -1;

	*w = *r = -1;
	*tied = *nclean = *nflag = 0;
	if (!ord || !rank) {
		free(ord);
		free(rank);
		return -ENOMEM;
	}
	n = ipcl_report_rank(rows, a, b, d, ord, rank);
	for (int i = 0; i < n; i++) {
		const struct ipcl_report_row *G = &rows->g[ord[i]];

		if (!ans_ok(G, f))
			continue;
		if (G->flags) {
			(*nflag)++;
			continue;
		}
		(*nclean)++;
		if (*w < 0) {
			*w = ord[i];
			iw = i;
		} else if (*r < 0 &&
			   strcmp(G->runs->transport, rows->g[*w].runs->transport)) {
			*r = ord[i];
			*tied = rank[i] == rank[iw];
		}
	}
	free(ord);
	free(rank);
	return 0;
}

/* The figures of row G for figure d as one line into p->fig. */
static void ans_fig(struct ipcl_answer_pick *p, const struct ipcl_report_row *G,
		    const struct ipcl_report_figdef *d, const char *tail)
{
	const struct ipcl_report_rec *r = G->runs;
	char a[48], b[48], c[48];

	ans_who(p->who, sizeof p->who, G);
	if (d == &ipcl_report_fig_cpu)
		snprintf(p->fig, sizeof p->fig, "%s ns/msg (sender %s + receiver %s)%s",
			 ipcl_report_fmt_f(a, sizeof a, 0, G->cpu.med),
			 ipcl_report_fmt_f(b, sizeof b, 0, G->mid->cpu_tx),
			 ipcl_report_fmt_f(c, sizeof c, 0, G->mid->cpu_rx), tail);
	else if (!strcmp(d->unit, "us"))
		snprintf(p->fig, sizeof p->fig, "p50 %s us, p99 %s us%s",
			 ipcl_report_fmt_us(a, sizeof a, G->lat.p50),
			 ipcl_report_fmt_us(b, sizeof b, G->lat.p99), tail);
	else
		snprintf(p->fig, sizeof p->fig, "%s msgs/s (%s MB/s)%s",
			 ipcl_report_fmt_f(a, sizeof a, 0, G->msgs_s.med),
			 ipcl_report_fmt_f(b, sizeof b, 1, r->mb_s), tail);
}

/* The runner-up's figure against the winner's: "1.35x the winner's p50". */
static void ans_ratio(char *b, size_t n, const struct ipcl_report_row *w,
		      const struct ipcl_report_row *r, const struct ipcl_report_figdef *d,
		      int tied)
{
	double vw = ipcl_report_rowfig(w, d)->med, vr = ipcl_report_rowfig(r, d)->med;

	if (tied)
		snprintf(b, n,
			 "; the runner-up ties (their runs' %s ranges overlap: the "
			 "ranking gives both one rank)",
			 d->name);
	else if (vw > 0 && vr > 0)
		snprintf(b, n, "; the runner-up has %.2fx the winner's %s", vr / vw,
			 d->name);
	else
		b[0] = 0;
}

static struct ipcl_answer_need *ans_add(struct ipcl_answer *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct ipcl_answer_need *ans_add(struct ipcl_answer *a, const char *fmt, ...)
{
	struct ipcl_answer_need *n;
	va_list ap;

	if (a->nn >= IPCL_ANSWER_MAX)
		return NULL;
	n = &a->n[a->nn++];
	memset(n, 0, sizeof *n);
	va_start(ap, fmt);
	vsnprintf(n->need, sizeof n->need, fmt, ap);
	va_end(ap);
	return n;
}

/*
 * One need answered from the block [a, b) of rows by d: winner, runner-up
 * and the reason (what the figure is, among how many clean rows; what came
 * second; how many flagged rows were passed over). what says which rows and
 * where ("pingpong round trips at 64 B"). Returns 0, 1 (no clean row: the
 * reason says so) or -ENOMEM.
 */
static int ans_block(struct ipcl_answer_need *nd, const struct ipcl_report_rows *rows,
		     int a, int b, const struct ipcl_report_figdef *d,
		     const struct filter *f, const char *what, const char *tail)
{
	int w, r, tied, nclean, nflag;
	char ratio[200], flag[120] = "";

	if (ans_best(rows, a, b, d, f, &w, &r, &tied, &nclean, &nflag))
		return -ENOMEM;
	if (nflag)
		snprintf(flag, sizeof flag, "; %d flagged row%s passed over", nflag,
			 nflag == 1 ? "" : "s");
	if (w < 0) {
		snprintf(
		    nd->why, sizeof nd->why,
		    "no clean row among the %s%s: rerun them (flagged rows never win)",
		    what, flag);
		return 1;
	}
	ans_fig(&nd->win, &rows->g[w], d, tail);
	if (r >= 0) {
		ans_fig(&nd->run, &rows->g[r], d, tail);
		ans_ratio(ratio, sizeof ratio, &rows->g[w], &rows->g[r], d, tied);
	} else {
		snprintf(ratio, sizeof ratio, "; no other transport ran clean");
	}
	snprintf(nd->why, sizeof nd->why, "%s %s among %d clean row%s of %s%s%s",
		 d->higher_better ? "highest" : "lowest",
		 d == &ipcl_report_fig_cpu ? "CPU per message (sender + receiver)"
		 : !strcmp(d->unit, "us") && !strcmp(d->name, "p50")
		     ? "median (merged p50)"
		 : !strcmp(d->unit, "us") ? "p99 (merged)"
					  : "median msgs/s",
		 nclean, nclean == 1 ? "" : "s", what, ratio, flag);
	return 0;
}

/* The first block of pattern (with by_size: each block is one size and rate
 * group) from *from on: its start, and its end into *end; -1 when none. */
static int ans_next_block(const struct ipcl_report_rows *rows, const char *pattern,
			  int from, int *end)
{
	for (int a = from, b; a < rows->ng; a = b) {
		b = ipcl_report_block(rows, a, 1);
		if (!strcmp(rows->g[a].runs->pattern, pattern)) {
			*end = b;
			return a;
		}
	}
	return -1;
}

/* The clean rows of the block [a, b). */
static int ans_clean(const struct ipcl_report_rows *rows, int a, int b)
{
	int n = 0;

	for (int g = a; g < b; g++)
		n += !rows->g[g].flags;
	return n;
}

/* The block of pattern with the most clean rows (the size most transports
 * ran clean; on a tie the smaller size), its end into *end; -1 when none. */
static int ans_main_block(const struct ipcl_report_rows *rows, const char *pattern,
			  int *end)
{
	int best = -1, bestn = -1, a, b;

	for (a = ans_next_block(rows, pattern, 0, &b); a >= 0;
	     a = ans_next_block(rows, pattern, b, &b)) {
		int n = ans_clean(rows, a, b);

		if (n > bestn) {
			best = a;
			bestn = n;
			*end = b;
		}
	}
	return best;
}

/* Does the block [a, b) hold a clean row that f admits? */
static int ans_block_has(const struct ipcl_report_rows *rows, int a, int b,
			 const struct filter *f)
{
	for (int g = a; g < b; g++)
		if (!rows->g[g].flags && ans_ok(&rows->g[g], f))
			return 1;
	return 0;
}

static const struct ipcl_report_figdef *ans_fig_of(const char *pattern, int k)
{
	const struct ipcl_report_figdef *fd[IPCL_REPORT_MAX_FIGS];
	int n = ipcl_report_figs(pattern, fd);

	return k < n ? fd[k] : fd[0];
}

/* Lowest latency with one message in flight: pingpong p50 at the size most
 * transports ran clean. */
static int ans_latency(struct ipcl_answer *an, const struct ipcl_report_rows *rows)
{
	struct ipcl_answer_need *nd =
	    ans_add(an, "Lowest latency, one message in flight");
	struct filter all = {NULL};
	char what[96];
	int b = 0, a = ans_main_block(rows, "pingpong", &b);

	if (!nd)
		return 0;
	if (a < 0) {
		snprintf(nd->why, sizeof nd->why,
			 "no pingpong records: `ipclab compare --quick` would answer it");
		return 0;
	}
	snprintf(what, sizeof what, "pingpong round trips at %lld B",
		 rows->g[a].runs->size);
	return ans_block(nd, rows, a, b, ans_fig_of("pingpong", 0), &all, what, "") < 0
		   ? -ENOMEM
		   : 0;
}

/* Highest throughput per stream size; lowest CPU per message at the size
 * most transports ran clean. */
static int ans_stream(struct ipcl_answer *an, const struct ipcl_report_rows *rows)
{
	struct filter all = {NULL};
	struct ipcl_answer_need *nd;
	char what[96];
	int a, b, first = -1, firstb = 0;

	for (a = ans_next_block(rows, "stream", 0, &b); a >= 0;
	     a = ans_next_block(rows, "stream", b, &b)) {
		if (first < 0) {
			first = a;
			firstb = b;
		}
		nd = ans_add(an, "Highest throughput, %lld B messages",
			     rows->g[a].runs->size);
		if (!nd)
			break;
		snprintf(what, sizeof what, "stream runs at %lld B",
			 rows->g[a].runs->size);
		if (ans_block(nd, rows, a, b, ans_fig_of("stream", 0), &all, what, "") <
		    0)
			return -ENOMEM;
	}
	if (first < 0 && (nd = ans_add(an, "Highest throughput by message size")))
		snprintf(nd->why, sizeof nd->why,
			 "no stream records: `ipclab compare --quick` would answer it");
	nd = ans_add(an, "Lowest CPU per message");
	if (!nd)
		return 0;
	if (first < 0) {
		snprintf(nd->why, sizeof nd->why,
			 "no stream records: `ipclab compare --quick` would answer it");
		return 0;
	}
	first = ans_main_block(rows, "stream", &firstb);
	snprintf(what, sizeof what, "stream runs at %lld B", rows->g[first].runs->size);
	return ans_block(nd, rows, first, firstb, &ipcl_report_fig_cpu, &all, what, "") <
		       0
		   ? -ENOMEM
		   : 0;
}

/* Lowest tail under a steady load: rate p99 at the size whose absolute-rate
 * runs most transports ran clean, at its highest rate that two or more
 * transports ran clean (else one). */
static int ans_rate(struct ipcl_answer *an, const struct ipcl_report_rows *rows)
{
	struct ipcl_answer_need *nd = ans_add(an, "Lowest tail under a steady load");
	struct filter all = {NULL};
	int best = -1, bestb = 0, bestn = 0, a, b, most = 0;
	long long size = -1, cur = -1;
	char what[160], rg[96];

	if (!nd)
		return 0;
	/* the size: most clean absolute-rate rows over its rates */
	for (int n = 0, a0 = ans_next_block(rows, "rate", 0, &b); a0 >= 0;
	     a0 = ans_next_block(rows, "rate", b, &b)) {
		const struct ipcl_report_rec *r = rows->g[a0].runs;

		if (r->size != cur)
			n = 0;
		cur = r->size;
		if (isnan(r->rate_frac))
			n += ans_clean(rows, a0, b);
		if (n > most) {
			most = n;
			size = cur;
		}
	}
	for (a = ans_next_block(rows, "rate", 0, &b); a >= 0;
	     a = ans_next_block(rows, "rate", b, &b)) {
		const struct ipcl_report_rec *r = rows->g[a].runs;
		int nclean = ans_clean(rows, a, b);

		/* fraction runs: each transport at its own rate, no common load */
		if (r->size != size || !isnan(r->rate_frac))
			continue;
		if (nclean && (best < 0 || (nclean >= 2 || bestn < 2))) {
			best = a;
			bestb = b;
			bestn = nclean;
		}
	}
	if (best < 0) {
		snprintf(nd->why, sizeof nd->why,
			 "no clean rate run at a common absolute rate: `ipclab compare "
			 "--quick --rates 1k,10k,100k` would answer it");
		return 0;
	}
	snprintf(what, sizeof what, "rate runs at %lld B%s (the highest rate %s)",
		 rows->g[best].runs->size,
		 ipcl_report_fmt_rategroup(rg, sizeof rg, &rows->g[best]),
		 bestn >= 2 ? "two or more transports ran clean"
			    : "any transport ran clean");
	snprintf(rg, sizeof rg, " at %.0f msgs/s", rows->g[best].runs->rate);
	return ans_block(nd, rows, best, bestb, ans_fig_of("rate", 0), &all, what, rg) < 0
		   ? -ENOMEM
		   : 0;
}

/* A need only transports with cap meet: the best clean pingpong p50 of them
 * at the smallest size where one ran, else the best stream msgs/s (pattern
 * order by prefer). */
static int ans_cap(struct ipcl_answer *an, const struct ipcl_report_rows *rows,
		   const char *need, const char *cap, const char *const *prefer,
		   const char *none)
{
	struct ipcl_answer_need *nd = ans_add(an, "%s", need);
	struct filter f = {cap};
	char what[160];

	if (!nd)
		return 0;
	for (int p = 0; prefer[p]; p++) {
		int a, b;

		for (a = ans_next_block(rows, prefer[p], 0, &b); a >= 0;
		     a = ans_next_block(rows, prefer[p], b, &b)) {
			int rc;

			if (!ans_block_has(rows, a, b, &f))
				continue;
			snprintf(what, sizeof what,
				 "%s runs at %lld B of transports with "
				 "the %s capability",
				 prefer[p], rows->g[a].runs->size, cap);
			rc = ans_block(nd, rows, a, b, ans_fig_of(prefer[p], 0), &f, what,
				       "");
			return rc < 0 ? -ENOMEM : 0;
		}
	}
	snprintf(nd->why, sizeof nd->why, "%s", none);
	return 0;
}

/* ---- fault records -------------------------------------------------------- */

/* Lost messages that count against a crash: "lost_after_ack" (acknowledged,
 * never delivered) where the fault object or verify has it, else "lost". */
static long long ans_fault_lost(json_t *j, int *acked)
{
	json_t *f = json_object_get(j, "fault"), *v = json_object_get(j, "verify");
	json_t *la = json_object_get(f, "lost_after_ack");

	if (!json_is_integer(la))
		la = json_object_get(v, "lost_after_ack");
	*acked = json_is_integer(la);
	return *acked ? json_integer_value(la)
		      : (long long)json_integer_value(json_object_get(f, "lost"));
}

/* A fault record that claims nothing: the event did not fire, or a mock
 * server. (A run that ended in an error did fire: what it lost counts.) */
static int ans_fault_void(json_t *j)
{
	json_t *f = json_object_get(j, "fault");

	return !json_is_object(f) || json_is_false(json_object_get(f, "fired")) ||
	       json_is_true(json_object_get(j, "mock")) ||
	       json_is_true(json_object_get(json_object_get(j, "limits"), "mock"));
}

/* Orders two surviving fault records: no duplicates first, then the shorter
 * recovery (none last). */
static int ans_fault_better(json_t *x, json_t *y)
{
	json_t *fx = json_object_get(x, "fault"), *fy = json_object_get(y, "fault");
	long long dx = json_integer_value(json_object_get(fx, "duplicated")),
		  dy = json_integer_value(json_object_get(fy, "duplicated"));
	double rx = ipcl_report_num(fx, "recovery_ms", NULL),
	       ry = ipcl_report_num(fy, "recovery_ms", NULL);

	if ((dx > 0) != (dy > 0))
		return dx == 0;
	if (isnan(rx) || isnan(ry))
		return !isnan(rx);
	return rx < ry;
}

static void ans_fault_pick(struct ipcl_answer_pick *p, json_t *j)
{
	json_t *f = json_object_get(j, "fault");
	double rec = ipcl_report_num(f, "recovery_ms", NULL);
	int acked;
	long long lost = ans_fault_lost(j, &acked);
	char r[48];

	snprintf(p->who, sizeof p->who, "%.100s",
		 ipcl_report_str(j, "transport", NULL, "?"));
	if (isnan(rec))
		snprintf(r, sizeof r, "no recovery time");
	else
		snprintf(r, sizeof r, "recovered in %.0f ms", rec);
	snprintf(p->fig, sizeof p->fig, "%s %lld, duplicated %lld, %s (%s)",
		 acked ? "lost after ack" : "lost", lost,
		 (long long)json_integer_value(json_object_get(f, "duplicated")), r,
		 ipcl_report_str(f, "guarantee", NULL, "?"));
}

/* The fault records (at most n) whose scenario contains sc and that lost
 * nothing, best first, into ok; returns how many. *tried counts the records
 * that claim something, *lossy those that lost, named in lost_names. */
static int ans_survivors(const struct ipcl_report_set *set, const char *sc, json_t **ok,
			 int n, int *tried, int *lossy, char *lost_names, size_t ln)
{
	int k = 0;
	size_t len = 0;

	*tried = *lossy = 0;
	lost_names[0] = 0;
	for (int i = 0; i < set->nfault; i++) {
		json_t *j = set->fault[i];
		const char *s =
		    ipcl_report_str(json_object_get(j, "fault"), "scenario", NULL, "");
		int acked;

		if (!strstr(s, sc) || ans_fault_void(j))
			continue;
		(*tried)++;
		if (ans_fault_lost(j, &acked) != 0) {
			(*lossy)++;
			if (len < ln)
				len += (size_t)snprintf(
				    lost_names + len, ln - len, "%s%s", len ? ", " : "",
				    ipcl_report_str(j, "transport", NULL, "?"));
			continue;
		}
		if (k < n)
			ok[k++] = j;
	}
	/* a transport that lost in any run does not qualify; one pick each */
	for (int i = 0; i < k;) {
		const char *t = ipcl_report_str(ok[i], "transport", NULL, "?");
		int drop = 0;

		for (int m = 0; m < set->nfault && !drop; m++) {
			json_t *j = set->fault[m];
			int acked;

			drop = strstr(ipcl_report_str(json_object_get(j, "fault"),
						      "scenario", NULL, ""),
				      sc) &&
			       !ans_fault_void(j) &&
			       !strcmp(ipcl_report_str(j, "transport", NULL, "?"), t) &&
			       ans_fault_lost(j, &acked) != 0;
		}
		for (int m = 0; m < i && !drop; m++)
			drop =
			    !strcmp(ipcl_report_str(ok[m], "transport", NULL, "?"), t) &&
			    !ans_fault_better(ok[i], ok[m]);
		if (drop)
			ok[i] = ok[--k];
		else
			i++;
	}
	for (int i = 1; i < k; i++) /* best first */
		for (int m = i; m > 0 && ans_fault_better(ok[m], ok[m - 1]); m--) {
			json_t *t = ok[m];

			ok[m] = ok[m - 1];
			ok[m - 1] = t;
		}
	return k;
}

/* The winner ok[0] and the runner-up: the next of another transport. */
static void ans_fault_picks(struct ipcl_answer_need *nd, json_t **ok, int k)
{
	if (!k)
		return;
	ans_fault_pick(&nd->win, ok[0]);
	for (int i = 1; i < k; i++)
		if (strcmp(ipcl_report_str(ok[i], "transport", NULL, "?"), nd->win.who)) {
			ans_fault_pick(&nd->run, ok[i]);
			break;
		}
}

/* Survives a consumer crash without loss: kill-consumer fault records. */
static void ans_crash(struct ipcl_answer *an, const struct ipcl_report_set *set)
{
	struct ipcl_answer_need *nd =
	    ans_add(an, "Survives a consumer crash without loss");
	json_t *ok[64];
	int tried, lossy, k;
	char lost[300];

	if (!nd)
		return;
	k = ans_survivors(set, "kill-consumer", ok, 64, &tried, &lossy, lost,
			  sizeof lost);
	if (!tried) {
		snprintf(nd->why, sizeof nd->why,
			 "no kill-consumer fault records: `ipclab faults --scenarios "
			 "kill-consumer` would answer it");
		return;
	}
	ans_fault_picks(nd, ok, k);
	snprintf(nd->why, sizeof nd->why,
		 "consumer killed mid-stream and a new one started (ipclab faults): %d "
		 "transport%s of %d runs lost nothing in every run%s; first no "
		 "duplicates, then the "
		 "shortest recovery%s%s",
		 k, k == 1 ? "" : "s", tried, k ? "" : " (none qualifies)",
		 lossy ? "; lost messages: " : "", lost);
}

/* The distinct transports of set's records (measured or fault) listing cap,
 * comma-separated into b (n bytes); returns how many. */
static int ans_cap_names(const struct ipcl_report_set *set, const char *cap, char *b,
			 size_t n)
{
	const char *seen[64];
	size_t len = 0;
	int k = 0;

	b[0] = 0;
	for (int i = 0; i < set->nr + set->nfault; i++) {
		json_t *j = i < set->nr ? set->r[i].j : set->fault[i - set->nr];
		const char *t = ipcl_report_str(j, "transport", NULL, "?");
		int s;

		if (!ipcl_report_has_cap(j, cap))
			continue;
		for (s = 0; s < k && strcmp(seen[s], t); s++)
			;
		if (s < k || k == 64)
			continue;
		seen[k++] = t;
		if (len < n)
			len += (size_t)snprintf(b + len, n - len, "%s%s",
						k > 1 ? ", " : "", t);
	}
	return k;
}

/* Durable across a broker restart: broker-restart fault records if any; else
 * what the records say (caps "durable") and what was measured of them. */
static void ans_durable(struct ipcl_answer *an, const struct ipcl_report_set *set)
{
	struct ipcl_answer_need *nd = ans_add(an, "Durable across a broker restart");
	json_t *ok[64];
	int tried, lossy, k, nd_caps;
	char lost[300], names[300];

	if (!nd)
		return;
	k = ans_survivors(set, "broker", ok, 64, &tried, &lossy, lost, sizeof lost);
	if (tried) {
		ans_fault_picks(nd, ok, k);
		snprintf(nd->why, sizeof nd->why,
			 "broker killed and restarted mid-stream: %d transport%s of %d "
			 "runs lost nothing%s%s",
			 k, k == 1 ? "" : "s", tried, lossy ? "; lost messages: " : "",
			 lost);
		return;
	}
	nd_caps = ans_cap_names(set, "durable", names, sizeof names);
	snprintf(nd->why, sizeof nd->why,
		 "not measured: no broker-restart fault records (ipclab faults has no "
		 "broker-restart scenario yet). %s%s%s. The run that would answer it: "
		 "kill and restart the broker mid-stream against %s, and count what "
		 "was acknowledged and lost",
		 nd_caps ? "Durable by their caps (a claim, not a measurement): " : "",
		 nd_caps ? names : "No transport in these records has the durable cap",
		 nd_caps ? ""
			 : " (`ipclab compare -t broker` runs the broker transports)",
		 nd_caps ? names : "the durable broker transports");
}

int ipcl_answer_make(struct ipcl_answer *a, const struct ipcl_report_set *set,
		     const struct ipcl_report_rows *rows)
{
	static const char *const lat_first[] = {"pingpong", "stream", NULL};
	static const char *const tput_first[] = {"stream", "pingpong", NULL};

	if (ans_latency(a, rows) || ans_stream(a, rows) || ans_rate(a, rows))
		return -ENOMEM;
	ans_crash(a, set);
	ans_durable(a, set);
	if (ans_cap(a, rows, "Fan-out (every consumer gets every message)", "fanout",
		    tput_first,
		    "no record of a transport with the fanout cap: `ipclab compare "
		    "--quick -t library,broker` would answer it (`ipclab list` shows "
		    "each transport's caps)") ||
	    ans_cap(a, rows, "Works across hosts", "cross_host", lat_first,
		    "no record of a transport with the cross_host cap: `ipclab compare "
		    "--quick -t all` would answer it") ||
	    ans_cap(a, rows, "Related processes only (a common parent)", "related_only",
		    lat_first,
		    "no record of a transport with the related_only cap: `ipclab compare "
		    "--quick -t kernel` would answer it"))
		return -ENOMEM;
	return 0;
}

void ipcl_answer_section(struct ipcl_doc *d, const struct ipcl_answer *a)
{
	static const char *head[] = {"need",      "winner",  "figures",
				     "runner-up", "figures", "why"};

	ipcl_doc_heading(d, 2, "What to use");
	ipcl_doc_para(d, "Each need answered from these records: the winner and the "
			 "runner-up (the best clean row of another transport) with their "
			 "figures. Rows flagged for loss, duplicates, corruption, a late "
			 "sender, a mock server or a failed run never win. A need the "
			 "records cannot answer says which run would.");
	d->text_table = 1;
	ipcl_doc_table_begin(d, 6, head);
	for (int i = 0; i < a->nn; i++) {
		const struct ipcl_answer_need *n = &a->n[i];
		const char *c[6] = {n->need,
				    n->win.who[0] ? n->win.who : "-",
				    n->win.fig[0] ? n->win.fig : "-",
				    n->run.who[0] ? n->run.who : "-",
				    n->run.fig[0] ? n->run.fig : "-",
				    n->why};

		ipcl_doc_row(d, n->win.who[0] ? NULL : "none", 6, c);
	}
	ipcl_doc_table_end(d);
	d->text_table = 0;
}

/* The need of a called key, or NULL. */
static const struct ipcl_answer_need *ans_find(const struct ipcl_answer *a,
					       const char *key)
{
	for (int i = 0; i < a->nn; i++)
		if (!strcmp(a->n[i].need, key))
			return &a->n[i];
	return NULL;
}

/* "pipe: p50 3.1 us ..." or "-" into b. */
static const char *ans_cell(char *b, size_t n, const struct ipcl_answer_pick *p)
{
	if (!p || !p->who[0])
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%s: %s", p->who, p->fig);
	return b;
}

/* One row of the side-by-side table: the need of now, of old, or of both. */
static void ans_compare_row(struct ipcl_doc *d, const char *key,
			    const struct ipcl_answer_need *o,
			    const struct ipcl_answer_need *n)
{
	char c1[340], c2[340], c3[340], c4[340], what[300];
	const char *c[6] = {key, c1, c2, c3, c4, what};
	const char *ow = o ? o->win.who : "", *nw = n ? n->win.who : "";

	ans_cell(c1, sizeof c1, o ? &o->win : NULL);
	ans_cell(c2, sizeof c2, n ? &n->win : NULL);
	ans_cell(c3, sizeof c3, o ? &o->run : NULL);
	ans_cell(c4, sizeof c4, n ? &n->run : NULL);
	if (!o)
		snprintf(what, sizeof what, "new need (not in the baseline)");
	else if (!n)
		snprintf(what, sizeof what, "only in the baseline");
	else if (!*ow && !*nw)
		snprintf(what, sizeof what, "unanswered in both");
	else if (!*ow)
		snprintf(what, sizeof what, "now answered: %s", nw);
	else if (!*nw)
		snprintf(what, sizeof what, "no longer answered (was %s)", ow);
	else if (strcmp(ow, nw))
		snprintf(what, sizeof what, "winner changed: %s -> %s", ow, nw);
	else if (strcmp(o->run.who, n->run.who))
		snprintf(what, sizeof what, "same winner; runner-up %s -> %s",
			 o->run.who[0] ? o->run.who : "-",
			 n->run.who[0] ? n->run.who : "-");
	else
		snprintf(what, sizeof what, "same");
	ipcl_doc_row(d, o && n && !strcmp(what, "same") ? NULL : "flag", 6, c);
}

void ipcl_answer_compare(struct ipcl_doc *d, const struct ipcl_answer *now,
			 const struct ipcl_answer *old)
{
	static const char *head[] = {"need",
				     "winner (baseline)",
				     "winner (new)",
				     "runner-up (baseline)",
				     "runner-up (new)",
				     "what changed"};

	ipcl_doc_heading(d, 2, "What to use: baseline and new");
	ipcl_doc_para(d, "The same answers worked out from the baseline's records and "
			 "from these, side by side; a row is marked where a winner or "
			 "runner-up changed.");
	d->text_table = 1;
	ipcl_doc_table_begin(d, 6, head);
	for (int i = 0; i < now->nn; i++)
		ans_compare_row(d, now->n[i].need, ans_find(old, now->n[i].need),
				&now->n[i]);
	for (int i = 0; i < old->nn; i++)
		if (!ans_find(now, old->n[i].need))
			ans_compare_row(d, old->n[i].need, &old->n[i], NULL);
	ipcl_doc_table_end(d);
	d->text_table = 0;
}
