/*
 * pipes.c - claim 4: "anonymous pipes connect only related processes; named
 * pipes (FIFOs) connect any".
 *
 * A "stranger" is started before the pipe exists and detached (double fork and
 * setsid: its parent is then init or a subreaper, not this process), so it holds
 * no copy of the pipe's descriptors. Told only this process's PID and the
 * descriptor number, it tries: the pipe's name (readlink /proc/PID/fd/N gives
 * "pipe:[inode]", which is no path); opening /proc/PID/fd/N, which works when it
 * may ptrace-read this process (same user, or root); the same as user nobody,
 * when this runs as root; a FIFO by its path; and receiving the descriptor over
 * a Unix socket (SCM_RIGHTS), the way meant for it. This process then reads what
 * arrived through the pipe and the FIFO.
 *
 * Syscalls: pipe2, fork, setsid, readlink, open, mkfifo, mkdtemp, sendmsg and
 * recvmsg with SCM_RIGHTS, setuid. Leaves out: pidfd_getfd(2) (ptrace-attach
 * rights, the same rule as /proc in practice).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "study/study.h"

struct ask {
	pid_t owner;
	int wfd;
	char fifo[PATH_MAX];
};

struct told {
	pid_t ppid;                   /* the stranger's parent: not the owner */
	char link[64];                /* readlink of /proc/OWNER/fd/WFD */
	int open_name;                /* open(link): 0 or errno */
	int open_proc;                /* open(/proc/OWNER/fd/WFD) and write: 0 or errno */
	int nobody_proc, nobody_fifo; /* as uid 65534: 0, errno, or -1 not tried */
	int open_fifo;                /* open(fifo path) and write: 0 or errno */
	int scm; /* write to the fd received by SCM_RIGHTS: 0 or errno */
};

static int pipes_write_to(const char *path, const char *msg)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK), rc = 0;

	if (fd < 0)
		return errno;
	if (write(fd, msg, strlen(msg)) < 0)
		rc = errno;
	close(fd);
	return rc;
}

static int pipes_io(int fd, void *buf, size_t len, int wr)
{
	char *p = buf;

	while (len) {
		ssize_t n = wr ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* As user nobody: try path; 0 or errno. */
static int pipes_as_nobody(const char *path)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return errno;
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(255);
		_exit(pipes_write_to(path, "N") & 0xff);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return errno;
	return WIFEXITED(status) && WEXITSTATUS(status) != 255 ? WEXITSTATUS(status) : -1;
}

/* The stranger: reads its instructions from ctl, tries each way, reports. */
static void pipes_stranger(int ctl)
{
	struct ask a;
	struct told t = {.nobody_proc = -1, .nobody_fifo = -1};
	char path[64], cbuf[CMSG_SPACE(sizeof(int))], one;
	struct iovec iov = {.iov_base = &one, .iov_len = 1};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof cbuf};
	struct cmsghdr *cm;
	ssize_t n;

	alarm(20); /* never outlive a stuck study */
	if (chdir("/") || pipes_io(ctl, &a, sizeof a, 0))
		_exit(1);
	t.ppid = getppid();
	snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)a.owner, a.wfd);
	n = readlink(path, t.link, sizeof t.link - 1);
	t.link[n > 0 ? n : 0] = 0;
	t.open_name = n > 0 ? pipes_write_to(t.link, "X") : errno;
	t.open_proc = pipes_write_to(path, "P");
	if (geteuid() == 0) {
		t.nobody_proc = pipes_as_nobody(path);
		t.nobody_fifo = pipes_as_nobody(a.fifo);
	}
	t.open_fifo = pipes_write_to(a.fifo, "F");
	/* the descriptor handed over a Unix socket */
	t.scm = EBADF;
	while ((n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n == 1 && (cm = CMSG_FIRSTHDR(&mh)) && cm->cmsg_type == SCM_RIGHTS) {
		int fd;
		memcpy(&fd, CMSG_DATA(cm), sizeof fd);
		t.scm = write(fd, "S", 1) == 1 ? 0 : errno;
		close(fd);
	}
	pipes_io(ctl, &t, sizeof t, 1);
	_exit(0);
}

static const char *pipes_res(int e, char *buf, size_t cap)
{
	if (e == 0)
		snprintf(buf, cap, "succeeded");
	else if (e < 0)
		snprintf(buf, cap, "not tried (needs root to switch user)");
	else
		snprintf(buf, cap, "failed: %s (%s)",
			 strerrorname_np(e) ? strerrorname_np(e) : "?", strerror(e));
	return buf;
}

int ipcl_study_pipes(const struct ipcl_study_opts *o, json_t *sec)
{
	int ctl[2] = {-1, -1}, pfd[2] = {-1, -1}, ffd = -1, rc = 0;
	char dir[PATH_MAX] = "", got_pipe[16] = "", got_fifo[16] = "", b1[160];
	const char *tmp = getenv("TMPDIR");
	struct ask a = {.owner = getpid()};
	struct told t;
	pid_t mid;
	json_t *rows;

	ipcl_study_experiment(
	    sec,
	    "A stranger process, started before the pipe existed and detached from this "
	    "one (double fork, setsid), is told this process's PID and the pipe's "
	    "write descriptor number and tries every way in; this process then reads "
	    "what arrived.");
	ipcl_study_progress(o, "pipes: stranger against an anonymous pipe and a FIFO");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl))
		return -errno;
	if ((mid = fork()) < 0) {
		rc = -errno;
		goto out;
	}
	if (mid == 0) {
		close(ctl[0]);
		setsid();
		if (fork() == 0)
			pipes_stranger(ctl[1]);
		_exit(0); /* the stranger is re-parented */
	}
	close(ctl[1]);
	ctl[1] = -1;
	while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
		;
	/* only now the pipe and the FIFO exist */
	snprintf(dir, sizeof dir, "%s/ipcl-study-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		rc = -errno;
		dir[0] = 0;
		goto out;
	}
	snprintf(a.fifo, sizeof a.fifo, "%s/fifo", dir);
	if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) || mkfifo(a.fifo, 0600) ||
	    (ffd = open(a.fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto out;
	}
	a.wfd = pfd[1];
	if (pipes_io(ctl[0], &a, sizeof a, 1)) {
		rc = -EPIPE;
		goto out;
	}
	{
		char cbuf[CMSG_SPACE(sizeof(int))] = {0}, one = 'x';
		struct iovec iov = {.iov_base = &one, .iov_len = 1};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof cbuf};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pfd[1], sizeof(int));
		if (sendmsg(ctl[0], &mh, MSG_NOSIGNAL) != 1) {
			rc = -errno;
			goto out;
		}
	}
	struct pollfd p = {.fd = ctl[0], .events = POLLIN};
	if (poll(&p, 1, 15000) != 1 || pipes_io(ctl[0], &t, sizeof t, 0)) {
		rc = -ETIMEDOUT;
		goto out;
	}
	ssize_t n = read(pfd[0], got_pipe, sizeof got_pipe - 1);
	got_pipe[n > 0 ? n : 0] = 0;
	n = read(ffd, got_fifo, sizeof got_fifo - 1);
	got_fifo[n > 0 ? n : 0] = 0;

	rows =
	    ipcl_study_table(sec, "What a process that did not inherit the pipe can do",
			     (const char *const[]){"attempt", "result", "arrived", NULL});
	ipcl_study_row(rows, "the stranger's parent PID (this process is %d)|%d|",
		       (int)a.owner, (int)t.ppid);
	ipcl_study_row(rows, "the pipe's name: readlink /proc/%d/fd/%d|%s|", (int)a.owner,
		       a.wfd, t.link[0] ? t.link : "(unreadable)");
	ipcl_study_row(rows, "open(\"%s\") as a path|%s|%s", t.link,
		       pipes_res(t.open_name, b1, sizeof b1),
		       strchr(got_pipe, 'X') ? "yes" : "no");
	ipcl_study_row(rows, "open(\"/proc/%d/fd/%d\", O_WRONLY), same user|%s|%s",
		       (int)a.owner, a.wfd, pipes_res(t.open_proc, b1, sizeof b1),
		       strchr(got_pipe, 'P') ? "yes" : "no");
	ipcl_study_row(rows, "the same as user nobody|%s|%s",
		       pipes_res(t.nobody_proc, b1, sizeof b1),
		       strchr(got_pipe, 'N') ? "yes" : "no");
	ipcl_study_row(rows, "descriptor received over a Unix socket (SCM_RIGHTS)|%s|%s",
		       pipes_res(t.scm, b1, sizeof b1),
		       strchr(got_pipe, 'S') ? "yes" : "no");
	ipcl_study_row(rows, "open(FIFO path, O_WRONLY), same user|%s|%s",
		       pipes_res(t.open_fifo, b1, sizeof b1),
		       strchr(got_fifo, 'F') ? "yes" : "no");
	ipcl_study_row(rows, "the FIFO as user nobody (directory 0700, FIFO 0600)|%s|%s",
		       pipes_res(t.nobody_fifo, b1, sizeof b1),
		       strchr(got_fifo, 'N') ? "yes" : "no");
	ipcl_study_figure(sec, "by_name", t.open_name == 0);
	ipcl_study_figure(sec, "via_proc", strchr(got_pipe, 'P') != NULL);
	ipcl_study_figure(sec, "via_proc_other_user", strchr(got_pipe, 'N') != NULL);
	ipcl_study_figure(sec, "via_scm_rights", strchr(got_pipe, 'S') != NULL);
	ipcl_study_figure(sec, "via_fifo", strchr(got_fifo, 'F') != NULL);
	ipcl_study_note(
	    sec,
	    "/proc/PID/fd/N is a \"magic link\": opening it opens the object the "
	    "descriptor refers to, allowed when the opener passes a ptrace read check "
	    "on the owner (same user and not made non-dumpable, or CAP_SYS_PTRACE). So "
	    "an anonymous pipe is private to its holders against other users, not "
	    "against the same user's processes: a separate user (or prctl "
	    "PR_SET_DUMPABLE 0) is the boundary, not the pipe.");
	if (t.open_name != 0 && strchr(got_fifo, 'F') && !strchr(got_pipe, 'N'))
		ipcl_study_verdict(
		    sec, "holds",
		    "With a qualification. The pipe has no name to open (\"%s\" is "
		    "not a path); a stranger got in only by receiving the descriptor "
		    "(SCM_RIGHTS)%s. The FIFO was opened by its path.",
		    t.link,
		    strchr(got_pipe, 'P')
			? " or through /proc/PID/fd as the same user (another user "
			  "was refused)"
			: "");
	else
		ipcl_study_verdict(
		    sec, "does not hold here",
		    "A stranger %s the pipe by name or as another user, or could "
		    "not open the FIFO.",
		    t.open_name == 0 || strchr(got_pipe, 'N') ? "reached" : "missed");
out:
	if (ctl[0] >= 0)
		close(ctl[0]);
	if (ctl[1] >= 0)
		close(ctl[1]);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (ffd >= 0)
		close(ffd);
	if (a.fifo[0])
		unlink(a.fifo);
	if (dir[0])
		rmdir(dir);
	return rc;
}
