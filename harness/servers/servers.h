/*
 * servers.h - what the files of harness/servers/ share among themselves (not for the
 * launchers in brokers/, which see <ipclab/server.h> only).
 */
#ifndef IPCL_SERVERS_H
#define IPCL_SERVERS_H

#include <sys/types.h>

/* Send sig (0: none) to every process but us inside dir; returns how many.
 * Zombies have no cwd: they are not counted. */
int ipcl_servers_signal_dir(const char *dir, int sig);

/* Signal every process inside dir with sig, wait up to 10 s for them to go,
 * SIGKILL the rest. Returns how many there were at first. */
int ipcl_servers_stop_dir(const char *dir, int sig);

/* Remove dir and everything under it (no symlink followed), only if
 * ipcl_server_dir_ok(dir). */
void ipcl_servers_remove_dir(const char *dir);

/* /proc/PID/stat's start time, or 0 when pid is gone. */
unsigned long long ipcl_servers_starttime(pid_t pid);

/* Replace dir/owner (0600, temp + rename) with text. 0 or -errno. */
int ipcl_servers_write_owner(const char *dir, const char *text);

#endif
