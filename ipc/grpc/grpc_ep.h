/*
 * grpc_ep.h - what the files of the grpc transport share (grpc.c, server.c,
 * client.c, proto.c): the completion-queue tags, a call, the endpoint with its
 * server and client halves, the channel address, and each file's helpers.
 * Local to ipc/grpc/ (named so as not to shadow <grpc/grpc.h>).
 */
#ifndef IPCL_GRPC_EP_H
#define IPCL_GRPC_EP_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include <ipclab/peer.h>
#include <ipclab/transport.h>

#define GRPC_MAX_PAYLOAD  (16u << 20)             /* bytes of harness message per Msg */
#define GRPC_MAX_WIRE     (GRPC_MAX_PAYLOAD + 64) /* a Msg: payload + tag + length */
#define GRPC_TOKEN_BYTES  IPCL_TOKEN_LEN
#define GRPC_TOKEN_KEY    "x-ipclab-token"
#define GRPC_LINGER_NS    (2000LL * 1000 * 1000) /* close() waits this for the server */
#define GRPC_DRAIN_NS     (5000LL * 1000 * 1000) /* and this for gRPC to let go */
#define GRPC_MAX_INFLIGHT 1024

enum gm { GM_ECHO, GM_COLLECT, GM_BYE, GM_N };

/* A completion-queue tag: what finished, and for which call. */
enum gtag_kind { GT_NEW, GT_RECV, GT_SEND, GT_DONE, GT_SHUTDOWN };

struct gtag {
	enum gtag_kind kind;
	struct gcall *c;
};

/* One call, on either side. Freed when no batch is pending and nothing holds it. */
struct gcall {
	struct grpc_ep *e;
	enum gm method;
	grpc_call *call;
	int batches; /* operations started and not yet completed */
	int held;    /* references from the endpoint (queue, current call, list) */
	struct gtag t_new, t_recv, t_send, t_done;
	grpc_byte_buffer *in;  /* a received message (request or response) */
	grpc_byte_buffer *out; /* the message being sent */
	grpc_metadata_array md, tmd;
	gpr_timespec deadline;
	int cancelled; /* server: RECV_CLOSE_ON_SERVER result */
	int recv_busy, send_busy;
	int sent; /* client: the request left (send batch done) */
	int done; /* client: status received */
	grpc_status_code status;
	grpc_slice details;  /* client: the status text received */
	grpc_slice sdetails; /* server: the status text sent */
	grpc_metadata smd;   /* client: the token, sent as initial metadata */
	unsigned char *data; /* client: the response's payload */
	size_t len;
	uint64_t count, bytes; /* server: Collect's tally */
	struct gcall *next;    /* client: calls in issue order */
};

/* A request the server has and recv() has not returned yet. */
struct gitem {
	struct gcall *c; /* a unary call to answer, or NULL for a streamed message */
	unsigned char *data;
	size_t len;
	struct gitem *next;
};

struct grpc_ep {
	int init; /* grpc_init() was called (close() must grpc_shutdown()) */
	grpc_completion_queue *cq;
	int live; /* gcalls allocated and not freed */
	int err;  /* the first failure that ends the endpoint: -errno / IPCL_E* */
	char errtext[IPCL_ERR_MAX];
	char token[2 * GRPC_TOKEN_BYTES + 1];
	int port;

	/* server */
	grpc_server *srv;
	void *rm[GM_N];
	struct gitem *head, *tail;
	struct gcall *current; /* the unary call recv() returned last */
	int answered;          /* reply() may be called (recv() returned a request) */
	struct gcall *stream;  /* the open Collect call */
	int eof;
	int closing;
	struct gtag t_shutdown;
	int shutdown_done;

	/* client */
	grpc_channel *ch;
	int streaming;
	int coalesce; /* Collect messages carry GRPC_WRITE_BUFFER_HINT */
	long inflight;
	struct gcall *calls, *last; /* unary calls in issue order */
	int ncalls;
	struct gcall *collect;
	int connected; /* the channel was made (close() says goodbye) */
};

/* Everything open() needs, as written into chan->addr. */
struct grpc_addr {
	int port;
	int inflight;
	int coalesce;
	char token[2 * GRPC_TOKEN_BYTES + 1];
};

struct grpc_chan {
	int valid; /* fd was made by setup() in this process and is still open */
	int fd;    /* the socket that reserves the port */
};

extern const char *const ipcl_grpc_method_path[GM_N];

void ipcl_grpc_fail(struct grpc_ep *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Decode an ipclab.Msg from a received byte buffer into a malloc'ed copy. */
int ipcl_grpc_msg_decode(grpc_byte_buffer *bb, unsigned char **data, size_t *len);

/* Encode a protobuf-c message straight into a gRPC slice. */
grpc_byte_buffer *ipcl_grpc_pb_encode(const ProtobufCMessage *m);

grpc_byte_buffer *ipcl_grpc_msg_encode(const void *data, size_t len);

struct gcall *ipcl_grpc_gcal__new(struct grpc_ep *e, enum gm method);

/* Free the call if no batch is pending and nothing holds it. */
void ipcl_grpc_gcal__check(struct gcall *c);

/* Drop one reference (queue, current call, list) and free the call if unused. */
void ipcl_grpc_gcal__put(struct gcall *c);

/* Start a batch; one completion (tag t) will follow when it returns 0. */
int ipcl_grpc_gcal__batch(struct gcall *c, const grpc_op *ops, size_t n, struct gtag *t);

/* End a call: the response (if any), the status, and wait for the close. */
int ipcl_grpc_gsrv_finish(struct gcall *c, grpc_status_code st, const char *text,
			  grpc_byte_buffer *resp);

int ipcl_grpc_gsrv_recv_next(struct gcall *c);

void ipcl_grpc_gsrv_event(struct grpc_ep *e, struct gtag *t, int ok);

int ipcl_grpc_gcli_status_errno(grpc_status_code st);

void ipcl_grpc_gcli_event(struct grpc_ep *e, struct gtag *t, int ok);

/* Start a call of method m with the token in its initial metadata. */
struct gcall *ipcl_grpc_gcli_start(struct grpc_ep *e, enum gm m, grpc_byte_buffer *first);

/*
 * Take completions until ready(e) holds: 0, the endpoint's error, or
 * -ETIMEDOUT at the deadline.
 */
int ipcl_grpc_drive(struct grpc_ep *e, int (*ready)(const struct grpc_ep *),
		    int64_t deadline_ns);

int ipcl_grpc_gsrv_has_request(const struct grpc_ep *e);

int ipcl_grpc_gcli_window_open(const struct grpc_ep *e);

int ipcl_grpc_gcli_head_done(const struct grpc_ep *e);

int ipcl_grpc_gcli_all_sent(const struct grpc_ep *e);

int ipcl_grpc_gcli_all_done(const struct grpc_ep *e);

int ipcl_grpc_gcli_collect_idle(const struct grpc_ep *e);

int ipcl_grpc_gsrv_shut(const struct grpc_ep *e);

int ipcl_grpc_open_server(struct ipcl_ep *ep);

/*
 * Make the channel and start connecting. It does not wait for READY: gRPC
 * core makes progress only while some thread of the process polls a
 * completion queue, and in process mode the server's thread waits at the
 * harness's start barrier until this open() returns. Calls are made
 * wait-for-ready instead, so the first one waits for the server.
 */
int ipcl_grpc_open_client(struct ipcl_ep *ep, int64_t deadline_ns);

/*
 * Client: say goodbye, wait (bounded), let go. The Collect call is
 * half-closed; in unary mode a Bye call follows once every call has its
 * answer (the server could see a Bye overtake a call still in flight).
 */
void ipcl_grpc_gcli_close(struct grpc_ep *e);

/*
 * Server: cancel the calls recv() did not take or reply() did not answer,
 * then shut down gracefully, so that answers already given still reach the
 * client (up to GRPC_LINGER_NS); whatever is left after that is cancelled.
 */
void ipcl_grpc_gsrv_close(struct grpc_ep *e);

#endif
