/*
 * inject.h - fault injection (--fault) and its record: the kill of a victim
 * role, the consumer stall, the message over the transport's limit, and the
 * "fault" object that says what the event did (docs/faults.md). The roles call
 * the injectors at the exact message count, so the outcome does not depend on
 * when the orchestrator looks. Left out: restarting a killed consumer (run.c)
 * and killing a broker.
 */
#ifndef IPCLAB_INJECT_H
#define IPCLAB_INJECT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/board.h"
#include <ipclab/transport.h>

/* Note on the board that the event happens now; returns that time (ns). */
int64_t ipcl_fault_fire(struct ipcl_board *b);

/*
 * The victim ends here: it notes its slot and the time on the board, then dies
 * of SIGKILL, which no handler can soften, as a crash would. Never returns.
 */
_Noreturn void ipcl_fault_die(struct ipcl_board *b, int slot);

/*
 * IPCL_FAULT_OVERSIZE, producer side: send one message of b->oversize_len
 * bytes, one more than the transport's probed limit, and note what send() said
 * in b->oversize_rc.
 */
void ipcl_fault_oversize_send(struct ipcl_board *b, const struct ipcl_transport *t,
			      struct ipcl_ep *out);

/* Consumer side: a message longer than the data's arrived; count it whole or not. */
void ipcl_fault_oversize_recv(struct ipcl_board *b, const void *rx, size_t len);

/*
 * Add the "fault" object to a fault run's record rec (made by
 * ipcl_result_record from the same board): what the event did, the counts of
 * "verify" again, the delivery guarantee they show; and mark the killed and the
 * replacement role in "roles". Call once every role has ended.
 */
void ipcl_fault_record(const struct ipcl_board *b, json_t *rec);

#endif
