/*
 * testutil.c - helpers shared by the tests (testutil.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	p = popen("ipcs -q 2>/dev/null", "r");
	while (p && fgets(line, sizeof line, p) && n < 1024) {
		unsigned long key, id;

		/* sysv-mq keys are 0x68000000 | pid << 4 | n (ipc/mq/sysv.c). */
		if (sscanf(line, "0x%lx %lu", &key, &id) == 2 &&
		    (key & 0x7c000000) == 0x68000000 &&
		    (pid_t)((key >> 4) & 0x3fffff) == getpid() &&
		    asprintf(&names[n], "ipcs:%lu", id) > 0)
			n++;
	}
	if (p)
		pclose(p);
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
