/*
 * common.c - the small services transport.h promises: error names and texts,
 * facts, option look-up, the monotonic clock. No allocation, no output.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ipclab/transport.h>

static const struct {
	int code;
	const char *name;
	const char *text;
} own_errors[] = {
    {IPCL_EOF, "IPCL_EOF", "end of stream: the peer closed the channel"},
    {IPCL_EPROTO, "IPCL_EPROTO", "protocol error: the data is not a valid frame"},
    {IPCL_EBROKER, "IPCL_EBROKER", "the server answered with an error"},
    {IPCL_EINVAL, "IPCL_EINVAL", "invalid option value"},
    {IPCL_ETOOBIG, "IPCL_ETOOBIG", "message larger than the transport allows"},
    {IPCL_EUNAVAIL, "IPCL_EUNAVAIL", "mechanism unavailable on this machine"},
    {IPCL_ETRUNC, "IPCL_ETRUNC", "receive buffer smaller than the message"},
};

const char *ipcl_errname(int err)
{
	for (size_t i = 0; i < sizeof own_errors / sizeof own_errors[0]; i++)
		if (own_errors[i].code == err)
			return own_errors[i].name;
	if (err < 0 && err > -4096) {
		const char *n = strerrorname_np(-err);
		if (n)
			return n;
	}
	return err == 0 ? "OK" : "EUNKNOWN";
}

const char *ipcl_strerror(int err)
{
	for (size_t i = 0; i < sizeof own_errors / sizeof own_errors[0]; i++)
		if (own_errors[i].code == err)
			return own_errors[i].text;
	if (err < 0 && err > -4096)
		return strerror(-err);
	return err == 0 ? "success" : "unknown error";
}

int ipcl_seterr(char *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err, IPCL_ERR_MAX, fmt, ap);
	va_end(ap);
	return rc;
}

void ipcl_fact(struct ipcl_probe *p, const char *key, const char *fmt, ...)
{
	va_list ap;
	struct ipcl_kv *kv = NULL;

	for (int i = 0; i < p->n; i++)
		if (strcmp(p->kv[i].key, key) == 0)
			kv = &p->kv[i];
	if (!kv) {
		if (p->n >= IPCL_FACTS_MAX)
			return;
		kv = &p->kv[p->n++];
	}
	snprintf(kv->key, sizeof kv->key, "%s", key);
	va_start(ap, fmt);
	vsnprintf(kv->val, sizeof kv->val, fmt, ap);
	va_end(ap);
}

const char *ipcl_opt(const struct ipcl_opts *o, const struct ipcl_option *table,
		     const char *name)
{
	for (int i = 0; o && i < o->nkv; i++)
		if (strcmp(o->kv[i].key, name) == 0)
			return o->kv[i].val;
	for (const struct ipcl_option *t = table; t && t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t->def;
	return NULL;
}

int ipcl_opt_int(const struct ipcl_opts *o, const struct ipcl_option *table,
		 const char *name, long long lo, long long hi, long long *out, char *err)
{
	const char *v = ipcl_opt(o, table, name);
	char *end;
	long long x;

	if (!v)
		return ipcl_seterr(err, IPCL_EINVAL, "option %s is not known", name);
	errno = 0;
	x = strtoll(v, &end, 0);
	if (errno || end == v || *end || x < lo || x > hi)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option %s=%s: want an integer from %lld to %lld",
				   name, v, lo, hi);
	*out = x;
	return 0;
}

int64_t ipcl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
