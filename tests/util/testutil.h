/*
 * testutil.h - shared helpers for the cmocka tests: what IPC objects and temp
 * dirs exist now (to prove a test left nothing behind), and a broker URL for a
 * transport that needs a server (from the environment, or a throwaway server),
 * and the options of one test channel.
 */
#ifndef IPCL_TESTUTIL_H
#define IPCL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ipclab/server.h>
#include <ipclab/transport.h>

/*
 * A sorted, newline-separated list of the ipcl-* entries in /dev/shm,
 * /dev/mqueue and $TMPDIR (or /tmp) that this process made (their names carry
 * its pid, as every tag does), and of the SysV message queues whose key
 * carries its pid (sysv-mq's key scheme). Returns buf.
 */
char *ipcl_test_leftovers(char *buf, size_t cap);

/*
 * The URL of a server of kind for a test: $IPCLAB_*_URL when set, else a
 * throwaway server started into *srv (stop it with ipcl_server_stop). NULL with
 * err set when neither works.
 */
const char *ipcl_test_server_url(const char *kind, struct ipcl_server *srv, char *err);

/* The options of one channel in a test; o points into kv and tag. */
struct ipcl_test_opts {
	struct ipcl_opts o;
	struct ipcl_kv kv[16];
	char tag[48];
};

/*
 * Fill t for one channel in thread mode: msg_size-byte messages, one producer,
 * `consumers` consumers, a fresh tag "<prefix><pid>-<n>" (n counts the calls in
 * this process), option url=<url> first when url is not NULL, then the options
 * of kv: "name", "value" pairs ending in NULL (kv may be NULL). Fails the test
 * when kv does not fit. Returns &t->o.
 */
struct ipcl_opts *ipcl_test_opts(struct ipcl_test_opts *t, const char *prefix,
				 const char *url, size_t msg_size, int consumers,
				 const char *const *kv);

/*
 * Runs argv (argv[0] a path, argv NULL-terminated) as a child process, with no
 * shell: its stdout into out (up to cap - 1 bytes, NUL-terminated; out may be
 * NULL), the number of lines it wrote on stderr into *err_lines (may be NULL).
 * Returns its exit status, or -1 when it could not be run or was killed.
 */
int ipcl_test_run(char *const argv[], char *out, size_t cap, int *err_lines);

/* 1 when an executable called name is in a directory of $PATH, else 0. */
int ipcl_test_have_program(const char *name);

/*
 * A test program that runs ipcl_run() is also its roles' program: the runner
 * execs /proc/self/exe as `__role FD SLOT`. Call first in main(): for a role
 * invocation it runs the role and sets *status (its exit status) and returns
 * 1; else it returns 0 and the tests run.
 */
int ipcl_test_role_entry(int argc, char **argv, int *status);

#endif
