/*
 * endpoint.c - allocation and ordered calls of a transport's hooks (endpoint.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/endpoint.h"

static struct ipcl_chan *chan_alloc(const struct ipcl_transport *t,
				    const struct ipcl_opts *o)
{
	struct ipcl_chan *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->t = t;
	c->opts = o;
	if (t->chan_state_size) {
		c->state = calloc(1, t->chan_state_size);
		if (!c->state) {
			free(c);
			return NULL;
		}
	}
	return c;
}

int ipcl_chan_create(const struct ipcl_transport *t, const struct ipcl_opts *o,
		     struct ipcl_chan **out, char *err)
{
	struct ipcl_chan *c = chan_alloc(t, o);
	int rc;

	*out = NULL;
	if (!c)
		return ipcl_seterr(err, -ENOMEM, "%s: out of memory", t->name);
	rc = t->setup(c);
	if (rc) {
		ipcl_seterr(err, rc, "%s setup: %s", t->name,
			    c->err[0] ? c->err : ipcl_strerror(rc));
		ipcl_chan_release(c);
		return rc;
	}
	*out = c;
	return 0;
}

int ipcl_chan_attach(const struct ipcl_transport *t, const struct ipcl_opts *o,
		     const char *addr, struct ipcl_chan **out, char *err)
{
	struct ipcl_chan *c = chan_alloc(t, o);

	*out = NULL;
	if (!c)
		return ipcl_seterr(err, -ENOMEM, "%s: out of memory", t->name);
	snprintf(c->addr, sizeof c->addr, "%s", addr);
	*out = c;
	return 0;
}

void ipcl_chan_detach(struct ipcl_chan *c)
{
	if (c && c->t->detach)
		c->t->detach(c);
}

void ipcl_chan_release(struct ipcl_chan *c)
{
	if (!c)
		return;
	free(c->state);
	free(c);
}

void ipcl_chan_destroy(struct ipcl_chan *c)
{
	if (!c)
		return;
	if (c->t->teardown)
		c->t->teardown(c);
	ipcl_chan_release(c);
}

int ipcl_ep_open(struct ipcl_chan *c, enum ipcl_role role, int index, int64_t deadline_ns,
		 struct ipcl_ep **out, char *err)
{
	struct ipcl_ep *ep = calloc(1, sizeof *ep);
	int rc;

	*out = NULL;
	if (!ep)
		return ipcl_seterr(err, -ENOMEM, "%s: out of memory", c->t->name);
	ep->chan = c;
	ep->role = role;
	ep->index = index;
	if (c->t->ep_state_size) {
		ep->state = calloc(1, c->t->ep_state_size);
		if (!ep->state) {
			free(ep);
			return ipcl_seterr(err, -ENOMEM, "%s: out of memory", c->t->name);
		}
	}
	rc = c->t->open(ep, deadline_ns);
	if (rc) {
		ipcl_seterr(err, rc, "%s open (%s): %s", c->t->name,
			    role == IPCL_PRODUCER ? "producer" : "consumer",
			    ep->err[0] ? ep->err : ipcl_strerror(rc));
		c->t->close(ep);
		free(ep->state);
		free(ep);
		return rc;
	}
	*out = ep;
	return 0;
}

int ipcl_ep_close(struct ipcl_ep *ep, int64_t deadline_ns)
{
	int rc = 0;

	if (!ep)
		return 0;
	if (ep->role == IPCL_PRODUCER && ep->chan->t->flush)
		rc = ep->chan->t->flush(ep, deadline_ns);
	ep->chan->t->close(ep);
	free(ep->state);
	free(ep);
	return rc;
}
