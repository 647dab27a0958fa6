/*
 * testutil.c - helpers shared by the tests (testutil.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/roles.h"
#include "testutil.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *ipcl_test_leftovers(char *buf, size_t cap)
{
	const char *tmp = getenv("TMPDIR");
	const char *dirs[] = {"/dev/shm", "/dev/mqueue", tmp && *tmp ? tmp : "/tmp"};
	char *names[1024];
	int n = 0;
	size_t len = 0;
	FILE *p;
	char line[512], mine[32];

	/* Only names made by this process (tags start with its pid): others may run. */
	snprintf(mine, sizeof mine, "%d-", (int)getpid());

	for (int d = 0; d < 3; d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *e;

		if (!dir)
			continue;
		while ((e = readdir(dir)) != NULL && n < 1024)
			if (strncmp(e->d_name, "ipcl-", 5) == 0 &&
			    strstr(e->d_name, mine) &&
			    asprintf(&names[n], "%s/%s", dirs[d], e->d_name) > 0)
				n++;
		closedir(dir);
	}
	/*
	 * SysV queues and segments from /proc (columns: key id ...), not `ipcs`
	 * through a shell: sysv-mq keys are 0x68000000 | pid << 4 | n
	 * (ipc/mq/sysv.c), shm's SysV segments 0x6c000000 | pid << 4 | n
	 * (ipc/shm/shm.c; removed at once, so a keyed one is a leak).
	 */
	for (int m = 0; m < 2; m++) {
		p = fopen(m ? "/proc/sysvipc/shm" : "/proc/sysvipc/msg", "re");
		while (p && fgets(line, sizeof line, p) && n < 1024) {
			long long key;
			unsigned long id;

			if (sscanf(line, "%lld %lu", &key, &id) == 2 &&
			    (key & 0x7c000000) == (m ? 0x6c000000 : 0x68000000) &&
			    (pid_t)((key >> 4) & 0x3fffff) == getpid() &&
			    asprintf(&names[n], "%s:%lu", m ? "shm" : "ipcs", id) > 0)
				n++;
		}
		if (p)
			fclose(p);
	}
	qsort(names, (size_t)n, sizeof names[0], cmp_str);
	buf[0] = 0;
	for (int i = 0; i < n; i++) {
		int w = snprintf(buf + len, cap - len, "%s\n", names[i]);

		if (w > 0 && (size_t)w < cap - len)
			len += (size_t)w;
		free(names[i]);
	}
	return buf;
}

const char *ipcl_test_server_url(const char *kind, struct ipcl_server *srv, char *err)
{
	const char *env = ipcl_server_env(kind), *url = env ? getenv(env) : NULL;

	if (url && *url)
		return url;
	if (ipcl_server_start(kind, srv, ipcl_now_ns() + 90 * 1000000000LL, err))
		return NULL;
	return srv->url;
}

struct ipcl_opts *ipcl_test_opts(struct ipcl_test_opts *t, const char *prefix,
				 const char *url, size_t msg_size, int consumers,
				 const char *const *kv)
{
	static int seq;
	const int max = (int)(sizeof t->kv / sizeof t->kv[0]);

	memset(t, 0, sizeof *t);
	snprintf(t->tag, sizeof t->tag, "%s%d-%d", prefix, (int)getpid(), ++seq);
	if (url) {
		snprintf(t->kv[0].key, sizeof t->kv[0].key, "url");
		snprintf(t->kv[0].val, sizeof t->kv[0].val, "%s", url);
		t->o.nkv = 1;
	}
	for (int i = 0; kv && kv[i]; i += 2, t->o.nkv++) {
		assert_true(t->o.nkv < max);
		assert_non_null(kv[i + 1]);
		snprintf(t->kv[t->o.nkv].key, sizeof t->kv[0].key, "%s", kv[i]);
		snprintf(t->kv[t->o.nkv].val, sizeof t->kv[0].val, "%s", kv[i + 1]);
	}
	t->o.msg_size = msg_size;
	t->o.producers = 1;
	t->o.consumers = consumers;
	t->o.threads = 1;
	t->o.tag = t->tag;
	t->o.kv = t->kv;
	return &t->o;
}

int ipcl_test_run(char *const argv[], char *out, size_t cap, int *err_lines)
{
	int po[2], pe[2], st, lines = 0;
	size_t len = 0;
	pid_t pid;
	struct pollfd fds[2];

	if (pipe2(po, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	fds[0] = (struct pollfd){.fd = po[0], .events = POLLIN};
	fds[1] = (struct pollfd){.fd = pe[0], .events = POLLIN};
	while (pid > 0 && (fds[0].fd >= 0 || fds[1].fd >= 0)) {
		char buf[4096];
		ssize_t r;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (fds[i].fd < 0 || !fds[i].revents)
				continue;
			r = read(fds[i].fd, buf, sizeof buf);
			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				close(fds[i].fd);
				fds[i].fd = -1;
				continue;
			}
			if (i == 1)
				for (ssize_t k = 0; k < r; k++)
					lines += buf[k] == '\n';
			else if (out && cap) {
				size_t take =
				    (size_t)r < cap - 1 - len ? (size_t)r : cap - 1 - len;

				memcpy(out + len, buf, take);
				len += take;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0)
			close(fds[i].fd);
	if (out && cap)
		out[len] = 0;
	if (err_lines)
		*err_lines = lines;
	if (pid < 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int ipcl_test_have_program(const char *name)
{
	const char *path = getenv("PATH");
	char *dirs, *save = NULL;
	int found = 0;

	dirs = strdup(path && *path ? path : "/usr/bin:/bin");
	if (!dirs)
		return 0;
	for (char *d = strtok_r(dirs, ":", &save); d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		char full[4096];

		if (snprintf(full, sizeof full, "%s/%s", d, name) < (int)sizeof full)
			found = access(full, X_OK) == 0;
	}
	free(dirs);
	return found;
}

int ipcl_test_role_entry(int argc, char **argv, int *status)
{
	if (argc < 4 || strcmp(argv[1], "__role") != 0)
		return 0;
	*status = ipcl_role_exec(atoi(argv[2]), atoi(argv[3]));
	return 1;
}
