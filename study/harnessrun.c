/*
 * harnessrun.c - one harness run for the study (harnessrun.h): ipcl_run() with
 * quiet defaults; every record is kept so `ipclab study` writes it next to the
 * study's own records. Leaves out: retrying a failed run.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ipclab/server.h>

#include "study/harnessrun.h"

#define NS 1000000000LL

static json_t *study_runs;

json_t *ipcl_study_runs(void)
{
	if (!study_runs)
		study_runs = json_array();
	return study_runs;
}

void ipcl_study_runcfg(struct ipcl_runcfg *c, const char *transport)
{
	ipcl_runcfg_init(c);
	snprintf(c->transport, sizeof c->transport, "%s", transport);
	c->timeout_ns = 20 * NS;
	c->open_timeout_ns = 5 * NS;
	c->progress = 0;
}

json_t *ipcl_study_run(const struct ipcl_runcfg *c, char *err)
{
	int failed = 0;
	json_t *rec;

	if (ipcl_run_check(c, err))
		return NULL;
	rec = ipcl_run(c, &failed, err);
	if (rec)
		json_array_append(ipcl_study_runs(), rec);
	return rec;
}

const char *ipcl_study_missing_server(const char *kind)
{
	const char *env = ipcl_server_env(kind);

	return env && getenv(env) && *getenv(env) ? NULL : env ? env : "URL";
}

double ipcl_study_num(const json_t *rec, const char *path)
{
	char key[64];
	const json_t *v = rec;

	while (v && *path) {
		size_t len = strcspn(path, ".");
		snprintf(key, sizeof key, "%.*s", (int)len, path);
		v = json_object_get(v, key);
		path += len + (path[len] == '.');
	}
	return v && json_is_number(v) ? json_number_value(v) : NAN;
}
