/*
 * endpoint.h - the core's side of the transport life cycle: it allocates the
 * state a transport asked for and calls its hooks in order. The runner, the
 * contract tests and the CLI all go through these, never through the table.
 */
#ifndef IPCLAB_ENDPOINT_H
#define IPCLAB_ENDPOINT_H

#include <ipclab/transport.h>

/* Allocate a channel and run setup(). On failure *out is NULL and err is set. */
int ipcl_chan_create(const struct ipcl_transport *t, const struct ipcl_opts *o,
		     struct ipcl_chan **out, char *err);

/*
 * Allocate a channel known only by its address (in an exec'd role process, or to
 * tear down what a crashed run left): no setup() is run.
 */
int ipcl_chan_attach(const struct ipcl_transport *t, const struct ipcl_opts *o,
		     const char *addr, struct ipcl_chan **out, char *err);

/* Process mode: the roles are running; drop what only they need (detach()). */
void ipcl_chan_detach(struct ipcl_chan *c);

/* teardown() and free. Safe on NULL. */
void ipcl_chan_destroy(struct ipcl_chan *c);

/* Free without teardown (a role process leaves the objects to their creator). */
void ipcl_chan_release(struct ipcl_chan *c);

/* Allocate an endpoint and open() it. On failure *out is NULL and err is set. */
int ipcl_ep_open(struct ipcl_chan *c, enum ipcl_role role, int index, int64_t deadline_ns,
		 struct ipcl_ep **out, char *err);

/* flush() (producers, if the transport has it), close() and free. Safe on NULL. */
int ipcl_ep_close(struct ipcl_ep *ep, int64_t deadline_ns);

#endif
