/*
 * account.c - the system account a throwaway server runs as when ipclab is
 * root (see <ipclab/server.h>): looked up with getpwnam_r/getgrouplist,
 * switched to with setgroups/setresgid/setresuid in the forked child, and the
 * server's own subdirectory made for it (mkdir + lchown). Leaves out: ambient
 * capabilities and user namespaces (a plain unprivileged account is enough).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipclab/server.h>

int ipcl_server_user(const char *name, struct ipcl_server_user *u)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = (int)(sizeof u->groups / sizeof u->groups[0]);

	memset(u, 0, sizeof *u);
	if (geteuid() != 0)
		return 0;
	if (getpwnam_r(name, &pw, buf, sizeof buf, &res) != 0 || !res)
		return -ENOENT;
	if (pw.pw_uid == 0)
		return -EPERM; /* an account that is root again: no gain */
	u->drop = 1;
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	if (getgrouplist(name, pw.pw_gid, u->groups, &n) < 0) {
		u->groups[0] = pw.pw_gid; /* too many groups: keep the primary */
		n = 1;
	}
	u->ngroups = n;
	return 0;
}

int ipcl_server_user_drop(const struct ipcl_server_user *u)
{
	if (!u || !u->drop)
		return 0;
	if (setgroups((size_t)u->ngroups, u->groups) < 0 ||
	    setresgid(u->gid, u->gid, u->gid) < 0 ||
	    setresuid(u->uid, u->uid, u->uid) < 0)
		return -1;
	return 0;
}

int ipcl_server_user_dir(const char *dir, const char *name,
			 const struct ipcl_server_user *u, char *path, size_t cap)
{
	if ((size_t)snprintf(path, cap, "%s/%s", dir, name) >= cap)
		return -ENAMETOOLONG;
	if (mkdir(path, 0700) < 0)
		return -errno;
	if (u && u->drop && lchown(path, u->uid, u->gid) < 0)
		return -errno;
	return 0;
}
