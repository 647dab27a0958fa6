/*
 * transport.h - the interface every ipclab transport implements.
 *
 * A transport moves opaque messages one way, from producer endpoints to consumer
 * endpoints, over one channel. It is a const table of function pointers (the model
 * is fio's ioengine_ops): the core allocates all state, calls setup() once in the
 * process that creates the channel, open() once per endpoint (possibly in another
 * process, after fork+exec), then send()/recv() in the hot path.
 *
 * A transport includes this header only. It never prints and never exits: it
 * returns 0 or a negative error (an errno value, or one of the IPCL_E* codes
 * below) and leaves a one-line human explanation in the endpoint's or channel's
 * err buffer with ipcl_seterr().
 *
 * Left out on purpose: payload framing (the harness owns the message header) and
 * any notion of a pattern (ping-pong is two one-way channels).
 */
#ifndef IPCLAB_TRANSPORT_H
#define IPCLAB_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#define IPCL_ADDR_MAX  512 /* bytes of chan->addr, NUL included */
#define IPCL_ERR_MAX   256 /* bytes of an err buffer, NUL included */
#define IPCL_FACTS_MAX 24  /* key/value facts one probe may report */

/* An absolute CLOCK_MONOTONIC time in ns that never comes: block with no timer. */
#define IPCL_FOREVER INT64_MAX

/*
 * Error codes of ipclab's own, far below the errno range. Every function that
 * can fail returns 0 on success or -errno / one of these on failure.
 */
enum {
	IPCL_EOF = -10000,     /* the peer closed the channel cleanly: no more messages */
	IPCL_EPROTO = -10001,  /* the peer sent something that is not a valid frame */
	IPCL_EBROKER = -10002, /* the server answered with an error */
	IPCL_EINVAL = -10003,  /* a transport option has a bad value (exit status 2) */
	IPCL_ETOOBIG = -10004, /* the message is larger than the transport allows */
	IPCL_EUNAVAIL = -10005, /* the mechanism cannot work here (reason in err) */
	IPCL_ETRUNC = -10006,   /* the receive buffer is smaller than the message */
};

/* Name ("IPCL_EOF", "ETIMEDOUT") and text of an error code from any of the above. */
const char *ipcl_errname(int err);
const char *ipcl_strerror(int err);

enum ipcl_role {
	IPCL_PRODUCER = 0,
	IPCL_CONSUMER = 1,
};

/* Capabilities: what a transport guarantees or needs. */
enum {
	IPCL_CAP_MSG_BOUNDARY = 1u
				<< 0, /* the mechanism itself keeps message boundaries */
	IPCL_CAP_DURABLE = 1u << 1,   /* messages can survive a crash of the server */
	IPCL_CAP_MULTI_PRODUCER = 1u << 2, /* several producers may share a channel */
	IPCL_CAP_MULTI_CONSUMER = 1u << 3, /* several consumers share the work */
	IPCL_CAP_CROSS_HOST = 1u << 4,     /* could span hosts (loopback here) */
	IPCL_CAP_RELATED_ONLY = 1u << 5, /* peers must share an ancestor: fork, no exec */
	IPCL_CAP_NEEDS_SERVER = 1u << 6, /* a broker process must be running */
	IPCL_CAP_LOSSY = 1u << 7,        /* may drop messages by design (UDP, signals) */
	IPCL_CAP_FANOUT = 1u << 8,       /* every consumer receives every message */
	IPCL_CAP_THREADS_ONLY = 1u << 9, /* endpoints must live in one process */
	IPCL_CAP_HAS_EOF = 1u << 10, /* recv() reports IPCL_EOF when producers close */
	IPCL_CAP_REQREP = 1u << 11,  /* request/response: replies come back on the
					same channel (see reply()) */
};

/* One "key": "value" fact: a probed limit, a setting actually used, a version. */
struct ipcl_kv {
	char key[40];
	char val[256];
};

/* What probe() reports: the real limits and settings on this machine. */
struct ipcl_probe {
	size_t max_msg; /* largest message that can be sent here; 0 = no limit */
	int n;
	struct ipcl_kv kv[IPCL_FACTS_MAX];
};

/* Add a fact; values that parse as integers are written as JSON numbers. */
void ipcl_fact(struct ipcl_probe *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A transport option: name=value given with `-O name=value`. */
struct ipcl_option {
	const char *name;
	const char *def; /* default value as text */
	const char *help;
	/* NULL, or the only values allowed, '|'-separated ("spin|block|hybrid").
	 * Without choices, an option whose default is a number takes only a
	 * number. The CLI checks both before a run (cli/optcheck.c). */
	const char *choices;
};

/* The run parameters a transport may look at. */
struct ipcl_opts {
	size_t msg_size; /* largest message the harness will send on this channel */
	int producers;   /* producer endpoints that will open this channel */
	int consumers;   /* consumer endpoints that will open this channel */
	int threads;     /* 1: all endpoints are threads of the creating process */
	int streaming;   /* IPCL_CAP_REQREP hint: 1 when producers send without
			    waiting for each reply (stream, rate), 0 when each
			    send() is followed by a recv() of its reply */
	const char *tag; /* unique per run and channel: use it in names (mq, keys ...) */
	int one_cpu;     /* 1: every role of the run is pinned to one and the same
			    CPU, so a side that spins keeps its peer off the CPU */
	int nkv;         /* transport options from the command line */
	const struct ipcl_kv *kv;
};

/*
 * The value of option `name` from the command line, or its default from the
 * transport's option table (NULL when the transport declares no such option).
 */
const char *ipcl_opt(const struct ipcl_opts *o, const struct ipcl_option *table,
		     const char *name);

/* Parse an option as an integer in [lo, hi]; IPCL_EINVAL with err set otherwise. */
int ipcl_opt_int(const struct ipcl_opts *o, const struct ipcl_option *table,
		 const char *name, long long lo, long long hi, long long *out, char *err);

/*
 * A one-way channel. setup() runs in the creating process and must write into
 * addr everything open() needs, because open() may run in a process that was
 * exec'd and knows the channel only by addr (inherited descriptors may be named
 * there by number). state is setup()'s own, valid only in the creating process
 * and, in thread mode, in the roles too.
 */
struct ipcl_chan {
	const struct ipcl_transport *t;
	const struct ipcl_opts *opts;
	char addr[IPCL_ADDR_MAX];
	void *state; /* t->chan_state_size bytes, zeroed, owned by the core */
	char err[IPCL_ERR_MAX];
};

/* One endpoint: a producer or a consumer of one channel, in one thread. */
struct ipcl_ep {
	struct ipcl_chan *chan;
	enum ipcl_role role;
	int index;   /* 0..producers-1 or 0..consumers-1 */
	void *state; /* t->ep_state_size bytes, zeroed, owned by the core */
	char err[IPCL_ERR_MAX];
	/*
	 * Peers this endpoint refused as not the run's own: connections without
	 * the channel's token, datagrams from another address (ipclab/peer.h).
	 * The transport counts, the harness reports it in the record.
	 */
	uint64_t refused;
};

struct ipcl_transport {
	const char *name;    /* "pipe", "shm", "redis-stream" ... */
	const char *summary; /* one line for `ipclab list` */
	uint32_t caps;       /* IPCL_CAP_* */
	size_t chan_state_size;
	size_t ep_state_size;
	const struct ipcl_option *options; /* NULL-terminated, or NULL */

	/*
	 * NULL, or the kind of server the transport talks to: "redis", "rabbitmq",
	 * "postgres". Its URL reaches the transport as option "url" (declare it in
	 * options); the core fills it from -O url=, the environment
	 * (IPCLAB_REDIS_URL, IPCLAB_AMQP_URL, IPCLAB_PG_URL) or a throwaway server.
	 */
	const char *server;

	/*
	 * Optional, broker transports: remove from the server at url what runs of
	 * dead processes left there (keys, queues, tables named with a run tag
	 * "<pid>-..."). dead(pid) says whether that process is gone; every object
	 * removed (with dry: that would be) is passed to seen(arg, name). Returns
	 * how many, or a negative error with err set. Transports of one source
	 * file share one function: `ipclab clean --brokers` calls it once.
	 */
	int (*sweep)(const char *url, int dry, int (*dead)(long pid),
		     void (*seen)(void *arg, const char *name), void *arg, char *err);

	/*
	 * Optional. Report the real limits and settings on this machine (probed from
	 * the OS or the server, never assumed). May be called without setup(). Returns
	 * 0, or a negative error with err set when the transport cannot work here.
	 */
	int (*probe)(const struct ipcl_opts *, struct ipcl_probe *, char *err);

	/* Create the shared objects and fill chan->addr. Undo all of it on failure. */
	int (*setup)(struct ipcl_chan *);

	/*
	 * Optional. Called in the creating process once every role process has been
	 * started (process mode only): drop what only the roles need, e.g. the
	 * anonymous pipe's descriptors, so that the producer's close gives EOF.
	 */
	void (*detach)(struct ipcl_chan *);

	/*
	 * Remove every shared object. Idempotent; must also work in a fresh process
	 * that knows only chan->addr (after a crash), so rely on addr, not state.
	 */
	void (*teardown)(struct ipcl_chan *);

	/*
	 * Open one endpoint. chan->addr is set; chan->state is valid only in thread
	 * mode. Blocks at most until deadline (IPCL_FOREVER: no limit). On failure,
	 * releases what it took; close() is still called and must cope.
	 */
	int (*open)(struct ipcl_ep *, int64_t deadline_ns);

	/*
	 * Send one whole message of len bytes (len <= opts->msg_size). Returns 0 when
	 * the message was handed over, -ETIMEDOUT at the deadline, IPCL_ETOOBIG, or
	 * another error.
	 */
	int (*send)(struct ipcl_ep *, const void *msg, size_t len, int64_t deadline_ns);

	/*
	 * Receive one whole message into buf (cap bytes) and set *len. Returns 0,
	 * -ETIMEDOUT at the deadline, IPCL_EOF when every producer has closed (only
	 * with IPCL_CAP_HAS_EOF), IPCL_ETRUNC, or another error.
	 */
	int (*recv)(struct ipcl_ep *, void *buf, size_t cap, size_t *len,
		    int64_t deadline_ns);

	/* Optional: acknowledge the message recv() returned last (brokers). */
	int (*ack)(struct ipcl_ep *);

	/*
	 * Optional: push out anything send() batched (pipelining, publisher
	 * confirms). The harness calls it before a producer closes and wherever it
	 * needs every sent message to be on its way.
	 */
	int (*flush)(struct ipcl_ep *, int64_t deadline_ns);

	/*
	 * Optional: on a consumer, answer the request recv() returned last; on the
	 * producer, recv() returns the next reply, in request order. A ping-pong
	 * then uses this one channel instead of two (the echo is the reply).
	 * With IPCL_CAP_REQREP (RPC, REQ/REP) every request must be answered, so
	 * a stream's consumer replies to each message too and send() may block
	 * while the window of requests in flight is full. Without it (a duplex
	 * connection: tcp, unix) replies are only what the ping-pong needs, and a
	 * stream sends none.
	 */
	int (*reply)(struct ipcl_ep *, const void *msg, size_t len, int64_t deadline_ns);

	/*
	 * Optional, producers: how many of the messages this endpoint has sent
	 * the receiving side has acknowledged so far (a publisher confirm, the
	 * server's reply to LPUSH/XADD, a COMMIT, a reply to a request).
	 * Acknowledgments are counted in send order: the first N messages are
	 * acknowledged. Returns -1 when this endpoint gets no acknowledgments
	 * (confirms off); then a returned send() is all the harness knows. Cheap:
	 * the harness calls it after every send() and stores the count where it
	 * survives the producer's death (the Jepsen rule: a write that was
	 * acknowledged and then lost breaks the guarantee; an unacknowledged one
	 * is indeterminate).
	 */
	int64_t (*acked)(struct ipcl_ep *);

	/*
	 * Optional, zero-copy (loan) endpoints; a transport has all four or none.
	 * The harness then writes each message in place and reads it in place.
	 * loan(): a producer gets room for one message of len bytes in the channel
	 * itself (*slot; blocking like send() while there is none); publish()
	 * hands the len bytes written there to the consumers. peek(): a consumer
	 * gets the next message in place (*msg, *len; errors as recv()), valid
	 * until release() gives its room back. One loan and one peek at a time.
	 */
	int (*loan)(struct ipcl_ep *, size_t len, void **slot, int64_t deadline_ns);
	int (*publish)(struct ipcl_ep *, size_t len);
	int (*peek)(struct ipcl_ep *, const void **msg, size_t *len, int64_t deadline_ns);
	int (*release)(struct ipcl_ep *);

	/* Release the endpoint; a producer's close lets consumers see EOF. */
	void (*close)(struct ipcl_ep *);

	/*
	 * Optional, broker transports (timing, issue 12): the CPU time (ns) the
	 * server reached by o's url has used since it started, as the server
	 * itself reports it (Redis: INFO cpu, used_cpu_user + used_cpu_sys). The
	 * harness reads it at the start and the end of a run on a server it did
	 * not start. 0, or an error with err set.
	 */
	int (*server_cpu)(const struct ipcl_opts *o, int64_t *ns, char *err);
};

/* Write a one-line explanation into an err buffer (IPCL_ERR_MAX bytes); returns rc. */
int ipcl_seterr(char *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* CLOCK_MONOTONIC now, in ns. */
int64_t ipcl_now_ns(void);

#endif
