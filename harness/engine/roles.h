/*
 * roles.h - one role of a run, whatever runs it: open the endpoints, wait at
 * the board's barrier, run the pattern's loop (pinger/echoer, producer/
 * consumer), write the slot. A role runs as a thread (ipcl_role_thread), a
 * forked child (ipcl_role_run), or an exec'd copy of the binary
 * (ipcl_role_exec). Starting, watching and restarting roles is run.h's job.
 */
#ifndef IPCLAB_ROLES_H
#define IPCLAB_ROLES_H

#include "engine/board.h"
#include <ipclab/transport.h>

/* What a role needs besides the board: the transport and its channels. */
struct ipcl_role_ctx {
	struct ipcl_board *b;
	int slot;
	const struct ipcl_transport *t;
	struct ipcl_opts opts[2];
	struct ipcl_chan *chan[2];
};

/*
 * Run the role of slot x->slot to its end: its result, or its error, is in the
 * slot, whose state ends IPCL_SLOT_DONE or IPCL_SLOT_FAILED.
 */
void ipcl_role_run(struct ipcl_role_ctx *x);

/* pthread entry: ipcl_role_run(arg). Returns NULL. */
void *ipcl_role_thread(void *arg);

/*
 * Entry of an exec'd role process: `ipclab __role FD SLOT`. Maps the board,
 * attaches to the channels and runs the role. Returns the exit status: 0, 1
 * when the role failed, 2 when FD is not a board or has no such slot.
 */
int ipcl_role_exec(int board_fd, int slot);

#endif
