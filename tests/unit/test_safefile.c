/*
 * test_safefile.c - engine/safefile.c in a private temp dir: what an output
 * directory or file may be (the caller's, not writable by others, no symbolic
 * link, one name), and that a rewritten file replaces a link at its name
 * instead of writing through it. Needs no second user: ownership refusals are
 * in tests/security/output_paths.sh.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/safefile.h"
#include <ipclab/fdio.h>
#include <ipclab/transport.h>

static char base[128];

/* base/name into buf. */
static const char *at(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", base, name);
	return buf;
}

/* The content of path ("" when unreadable) into buf. */
static const char *slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? 0 : read(fd, buf, cap - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

static void test_dir(void **state)
{
	char p[256], q[256], err[IPCL_OUTPUT_ERRLEN];
	int fd;

	(void)state;
	fd = ipcl_output_dir_open(at(p, sizeof p, "new"), err, sizeof err);
	assert_true(fd >= 0); /* made */
	close(fd);
	fd = ipcl_output_dir_open(p, err, sizeof err);
	assert_true(fd >= 0); /* ours already */
	close(fd);
	assert_int_equal(chmod(p, 0777), 0);
	assert_int_equal(ipcl_output_dir_open(p, err, sizeof err), -EPERM);
	assert_non_null(strstr(err, "writable by others"));
	assert_int_equal(chmod(p, 0775), 0);
	assert_int_equal(ipcl_output_dir_open(p, err, sizeof err), -EPERM);
	assert_int_equal(symlink(p, at(q, sizeof q, "link")), 0);
	assert_int_equal(ipcl_output_dir_open(q, err, sizeof err), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(ipcl_output_dir_open(at(q, sizeof q, "none/x"), err, sizeof err),
			 -ENOENT);
}

static void test_append(void **state)
{
	char p[256], q[256], buf[64], err[IPCL_OUTPUT_ERRLEN];
	int fd, created = -1;

	(void)state;
	fd = ipcl_output_open_append(at(p, sizeof p, "a.jsonl"), &created, err,
				     sizeof err);
	assert_true(fd >= 0);
	assert_int_equal(created, 1);
	assert_int_equal(write(fd, "1\n", 2), 2);
	close(fd);
	fd = ipcl_output_open_append(p, &created, err, sizeof err);
	assert_true(fd >= 0);
	assert_int_equal(created, 0);
	assert_int_equal(write(fd, "2\n", 2), 2);
	close(fd);
	assert_string_equal(slurp(p, buf, sizeof buf), "1\n2\n");
	/* A dangling link: nothing is made at its target. */
	assert_int_equal(symlink(at(q, sizeof q, "target"), at(p, sizeof p, "dangling")),
			 0);
	assert_int_equal(ipcl_output_open_append(p, NULL, err, sizeof err), -ELOOP);
	assert_int_equal(access(q, F_OK), -1);
	/* A link to an existing file, a second name, a FIFO: refused. */
	assert_int_equal(symlink(at(q, sizeof q, "a.jsonl"), at(p, sizeof p, "l2")), 0);
	assert_int_equal(ipcl_output_open_append(p, NULL, err, sizeof err), -ELOOP);
	assert_int_equal(link(q, at(p, sizeof p, "hard")), 0);
	assert_int_equal(ipcl_output_open_append(p, NULL, err, sizeof err), -EPERM);
	assert_non_null(strstr(err, "hard links"));
	assert_int_equal(mkfifo(at(p, sizeof p, "fifo"), 0600), 0);
	assert_int_equal(ipcl_output_open_append(p, NULL, err, sizeof err), -EINVAL);
	assert_string_equal(slurp(q, buf, sizeof buf), "1\n2\n");
}

static void test_replace(void **state)
{
	char p[256], q[256], buf[64], err[IPCL_OUTPUT_ERRLEN];
	struct ipcl_outfile o;
	struct stat st;
	int dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	(void)state;
	assert_true(dfd >= 0);
	/* The victim, and a link to it at the name about to be written. */
	at(q, sizeof q, "victim");
	assert_int_equal(ipcl_output_replace(dfd, "victim", "keep", 4, err, sizeof err),
			 0);
	assert_int_equal(symlink(q, at(p, sizeof p, "report.md")), 0);
	assert_int_equal(ipcl_output_replace(dfd, "report.md", "new", 3, err, sizeof err),
			 0);
	assert_string_equal(slurp(q, buf, sizeof buf), "keep");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode)); /* the link was replaced */
	assert_string_equal(slurp(p, buf, sizeof buf), "new");
	/* A failed write leaves the old file and no temporary name. */
	assert_int_equal(ipcl_output_create(&o, dfd, "report.md", err, sizeof err), 0);
	fputs("half", o.f);
	assert_int_equal(ipcl_output_commit(&o, 0, err, sizeof err), 0);
	assert_null(o.f);
	assert_string_equal(slurp(p, buf, sizeof buf), "new");
	assert_int_equal(ipcl_output_create(&o, dfd, "a/b", err, sizeof err), -EINVAL);
	assert_int_equal(ipcl_output_create(&o, dfd, "..", err, sizeof err), -EINVAL);
	close(dfd);
	/* No temporary name is left: the dir holds victim and report.md only. */
	{
		DIR *d = opendir(base);
		struct dirent *e;
		int n = 0;

		assert_non_null(d);
		while ((e = readdir(d)) != NULL)
			n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
		closedir(d);
		assert_int_equal(n, 2);
	}
}

static int setup(void **state)
{
	char err[IPCL_ERR_MAX];

	(void)state;
	return ipcl_private_dir(base, sizeof base, "sfile", err) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	ipcl_remove_dir(base);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
