/*
 * proccpu.h - the CPU time of a process tree from /proc: a throwaway server
 * and every process descended from it (Postgres backends under the
 * postmaster, RabbitMQ's beam.smp under its start script), threads included,
 * and children that exited and were reaped (cutime, cstime). Used by the
 * orchestrator at the start and the end of a run; nothing here runs a role.
 * Left out: processes that left the tree (re-parented to init) before the end.
 */
#ifndef IPCLAB_PROCCPU_H
#define IPCLAB_PROCCPU_H

#include <stdint.h>
#include <sys/types.h>

/*
 * Parse one /proc/PID/stat line: *ppid, and *ticks = utime + stime + cutime +
 * cstime (clock ticks). 0, or -EINVAL when the line is not one. Pure.
 */
int ipcl_stat_parse(const char *line, pid_t *ppid, uint64_t *ticks);

/*
 * CPU time (ns) of root and all its descendants now. 0 with *ns set, or
 * -ESRCH when root is gone, -errno when /proc cannot be read.
 */
int ipcl_proc_tree_cpu(pid_t root, int64_t *ns);

#endif
