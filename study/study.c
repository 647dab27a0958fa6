/*
 * study.c - what the experiments of `ipclab study` share: filling a section
 * object (study.h), CPU and context-switch accounting from getrusage and /proc,
 * pinning, and running an independent tool (perf bench) with its output
 * captured. Syscalls: getrusage, sched_setaffinity, fork/execvp/waitpid, poll.
 * Leaves out: rendering (harness/cli/study.c does Markdown, HTML and charts).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/transport.h>

#include "study/study.h"

static json_t *study_array(json_t *sec, const char *key)
{
	json_t *a = json_object_get(sec, key);

	if (!a) {
		a = json_array();
		json_object_set_new(sec, key, a);
	}
	return a;
}

void ipcl_study_experiment(json_t *sec, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	json_object_set_new(sec, "experiment", json_string(buf));
}

json_t *ipcl_study_table(json_t *sec, const char *caption, const char *const *cols)
{
	json_t *t = json_object(), *c = json_array(), *rows = json_array();

	for (int i = 0; cols[i]; i++)
		json_array_append_new(c, json_string(cols[i]));
	json_object_set_new(t, "caption", json_string(caption));
	json_object_set_new(t, "columns", c);
	json_object_set_new(t, "rows", rows);
	json_array_append_new(study_array(sec, "tables"), t);
	return rows;
}

void ipcl_study_row(json_t *rows, const char *fmt, ...)
{
	char buf[1024], *cell;
	json_t *r = json_array();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	/* strtok_r would merge empty cells: cut by hand */
	cell = buf;
	for (char *p = buf;; p++)
		if (*p == '|' || *p == 0) {
			int end = *p == 0;
			*p = 0;
			json_array_append_new(r, json_string(cell));
			if (end)
				break;
			cell = p + 1;
		}
	json_array_append_new(rows, r);
}

json_t *ipcl_study_chart(json_t *sec, const char *id, const char *title,
			 const char *xlabel, const char *ylabel, int logx, int logy)
{
	json_t *ch = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:[]}", "id", id, "title",
			       title, "xlabel", xlabel, "ylabel", ylabel, "logx", logx,
			       "logy", logy, "series");

	json_array_append_new(study_array(sec, "charts"), ch);
	return json_object_get(ch, "series");
}

json_t *ipcl_study_series(json_t *chart, const char *name)
{
	json_t *s = json_pack("{s:s, s:[]}", "name", name, "points");

	json_array_append_new(chart, s);
	return json_object_get(s, "points");
}

void ipcl_study_point(json_t *points, double x, double y)
{
	if (isfinite(x) && isfinite(y))
		json_array_append_new(points, json_pack("[f, f]", x, y));
}

void ipcl_study_figure(json_t *sec, const char *key, double v)
{
	json_t *f = json_object_get(sec, "figures");

	if (!f) {
		f = json_object();
		json_object_set_new(sec, "figures", f);
	}
	json_object_set_new(f, key, isfinite(v) ? json_real(v) : json_null());
}

void ipcl_study_note(json_t *sec, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	json_array_append_new(study_array(sec, "notes"), json_string(buf));
}

void ipcl_study_verdict(json_t *sec, const char *verdict, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	json_object_set_new(sec, "verdict", json_string(verdict));
	json_object_set_new(sec, "why", json_string(buf));
}

void ipcl_study_progress(const struct ipcl_study_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (!o->progress)
		return;
	fputs("ipclab study: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int64_t study_tv_ns(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000000000LL + (int64_t)tv->tv_usec * 1000LL;
}

int64_t ipcl_study_cpu_self_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return -1;
	return study_tv_ns(&ru.ru_utime) + study_tv_ns(&ru.ru_stime);
}

int64_t ipcl_study_cpu_children_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_CHILDREN, &ru))
		return -1;
	return study_tv_ns(&ru.ru_utime) + study_tv_ns(&ru.ru_stime);
}

int64_t ipcl_study_cpu_pid_ns(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	/* fields after the command name, which is in parentheses and may hold spaces */
	if (!(p = strrchr(buf, ')')) || hz <= 0)
		return -1;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		   &st) != 2)
		return -1;
	return (int64_t)((ut + st) * (1000000000ULL / (unsigned long long)hz));
}

int ipcl_study_ctxsw(pid_t pid, uint64_t *voluntary, uint64_t *involuntary)
{
	char path[300], line[256];
	struct dirent *de;
	DIR *d;

	*voluntary = *involuntary = 0;
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return -errno;
	while ((de = readdir(d))) {
		FILE *f;
		unsigned long long v;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.32s/status", (int)pid,
			 de->d_name);
		if (!(f = fopen(path, "re")))
			continue; /* the thread has just exited */
		while (fgets(line, sizeof line, f)) {
			if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1)
				*voluntary += v;
			else if (sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) ==
				 1)
				*involuntary += v;
		}
		fclose(f);
	}
	closedir(d);
	return 0;
}

int ipcl_study_pin_last_cpu(void)
{
	cpu_set_t set;
	int cpu = -1;

	if (sched_getaffinity(0, sizeof set, &set))
		return -errno;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			cpu = i;
	if (cpu < 0)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set))
		return -errno;
	return cpu;
}

int ipcl_study_have(const char *name)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");

		snprintf(buf, sizeof buf, "%.*s/%s", (int)len, len ? path : ".", name);
		if (access(buf, X_OK) == 0)
			return 1;
		path += len + (path[len] == ':');
	}
	return 0;
}

int ipcl_study_exec(char *const argv[], int cpu, char *out, size_t cap,
		    int64_t timeout_ns)
{
	int pfd[2], status, rc;
	size_t used = 0;
	int64_t deadline = ipcl_now_ns() + timeout_ns;
	pid_t pid;

	if (cap)
		out[0] = 0;
	if (!ipcl_study_have(argv[0]))
		return -ENOENT;
	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return rc;
	}
	if (pid == 0) {
		if (cpu >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			sched_setaffinity(0, sizeof set, &set);
		}
		if (dup2(pfd[1], 1) < 0 || dup2(pfd[1], 2) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		int64_t left = deadline - ipcl_now_ns();
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		char tmp[4096];
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		rc = poll(&p, 1, (int)(left / 1000000 + 1));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			continue;
		n = read(pfd[0], tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (cap && used + 1 < cap) {
			size_t k =
			    (size_t)n < cap - 1 - used ? (size_t)n : cap - 1 - used;
			memcpy(out + used, tmp, k);
			used += k;
			out[used] = 0;
		}
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (ipcl_now_ns() >= deadline && WIFSIGNALED(status) &&
	    WTERMSIG(status) == SIGKILL)
		return -ETIMEDOUT;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

double ipcl_study_us(const struct ipcl_hist *h, double p)
{
	return h->count ? (double)ipcl_hist_percentile(h, p) / 1000.0 : NAN;
}
