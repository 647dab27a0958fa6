/*
 * safefile.h - opening the files and directories ipclab writes its outputs to
 * (results, reports, charts, study pages) so that a directory or a symbolic
 * link another user planted on the way cannot redirect what root writes.
 *
 * The rule: a directory is written into only when it is the caller's own and
 * nobody else may write in it (then nothing in it was planted); a file that
 * already exists is appended to only when it is a regular file of the caller's
 * with one name; the last component is never followed when it is a symbolic
 * link. Files that are rewritten go to a new temporary name in the directory
 * (O_EXCL) and are renamed over the old one, so a planted name is replaced,
 * never written through.
 *
 * Every function returns a negative errno on failure and, when err is not
 * NULL, the reason in a few words ("it belongs to uid 1001, not to this user
 * (uid 0)", "it is a symbolic link (not followed)", or strerror): the caller
 * names the path.
 */
#ifndef IPCLAB_SAFEFILE_H
#define IPCLAB_SAFEFILE_H

#include <stddef.h>
#include <stdio.h>

/* Room for the sentence a failed call leaves in err. */
#define IPCL_OUTPUT_ERRLEN 512

/*
 * Creates directory path (mode 0755 before the umask) or accepts an existing
 * one that is owned by the caller (geteuid()) and not writable by group or
 * others; a symbolic link as the last component is refused. Returns the
 * directory opened O_DIRECTORY|O_CLOEXEC (close it), or -EPERM (not the
 * caller's, or writable by others), -ELOOP (a symbolic link), -ENOTDIR, or
 * another -errno.
 */
int ipcl_output_dir_open(const char *path, char *err, size_t errlen);

/* As ipcl_output_dir_open, for the entry name of the open directory dirfd
 * (AT_FDCWD for a path relative to the working directory). */
int ipcl_output_dir_openat(int dirfd, const char *name, char *err, size_t errlen);

/*
 * Opens path for appending (O_APPEND|O_NOFOLLOW|O_CLOEXEC): creates it (mode
 * 0644 before the umask, O_EXCL) when absent, or accepts an existing regular
 * file owned by the caller with a single link, or a character device
 * (/dev/null, /dev/full: only root can make one, and the last component is
 * never a link). *created (may be NULL) says
 * whether this call made the file. Returns the descriptor, or -ELOOP (a
 * symbolic link), -EPERM (another user's file, or a file with other names),
 * -EINVAL (not a regular file), or another -errno.
 */
int ipcl_output_open_append(const char *path, int *created, char *err, size_t errlen);

/*
 * A file written under a temporary name in a directory and renamed over its
 * real name by ipcl_output_commit: readers never see half of it, and whatever
 * stood at the name before (a planted link included) is replaced, not
 * followed.
 */
struct ipcl_outfile {
	FILE *f;        /* write here; NULL when not open */
	int dirfd;      /* the directory (not owned: the caller closes it) */
	char tmp[64];   /* .NAME-XXXXXX: the temporary name in dirfd */
	char name[256]; /* the real name (one path component) */
};

/*
 * Opens a new temporary file in dirfd (openat O_CREAT|O_EXCL|O_NOFOLLOW, mode
 * 0644 before the umask) for name, one path component. Returns 0 with o->f
 * open, or -errno.
 */
int ipcl_output_create(struct ipcl_outfile *o, int dirfd, const char *name, char *err,
		       size_t errlen);

/*
 * Closes o->f and, when ok and every write and the close succeeded, renames
 * the temporary file to its name (renameat); otherwise removes it. Returns 0,
 * or -errno (the file is then removed); a closed o is left alone (0).
 */
int ipcl_output_commit(struct ipcl_outfile *o, int ok, char *err, size_t errlen);

/* Writes len bytes of buf as dirfd/name through ipcl_output_create and
 * ipcl_output_commit. Returns 0 or -errno. */
int ipcl_output_replace(int dirfd, const char *name, const void *buf, size_t len,
			char *err, size_t errlen);

#endif
