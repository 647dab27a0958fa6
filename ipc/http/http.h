/*
 * http.h - what the files of the http transport share (http.c, server.c,
 * client.c): the channel address, the endpoint with its server and client
 * halves, and the helpers each side offers the transport. Local to ipc/http/.
 */
#ifndef IPCL_HTTP_H
#define IPCL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include <ipclab/peer.h>
#include <ipclab/transport.h>

#define HTTP_MAX_BODY    (16u << 20)    /* bytes; larger bodies get 413, both ways */
#define HTTP_TOKEN_BYTES IPCL_TOKEN_LEN /* random bytes, sent as 32 hex digits */
#define HTTP_TOKEN_HDR   "X-Ipclab-Token"
#define HTTP_PATH        "/echo"
#define HTTP_MAX_CONNS   64
#define HTTP_LINGER_NS   (1000LL * 1000 * 1000) /* close() waits this for uploads */

/* Everything open() needs, as written into chan->addr. */
struct http_addr {
	int fd;   /* the listening socket in the creating process */
	int port; /* its port on 127.0.0.1 */
	int conns;
	char token[2 * HTTP_TOKEN_BYTES + 1];
};

struct http_chan {
	int valid; /* fd was made by setup() in this process and is still open */
	int fd;
};

/* One request, from its first byte until libmicrohttpd is done with it. */
struct http_req {
	struct http_ep *e;
	struct MHD_Connection *conn;
	struct http_req *next; /* in the queue of complete requests */
	unsigned char *body;
	size_t len, cap;
	unsigned status;            /* != 0: refuse with this status */
	int queued;                 /* complete, suspended, waiting for recv() */
	int suspended;              /* its connection is suspended */
	struct MHD_Response *reply; /* set by reply(): queue it when resumed */
	int drop;                   /* resumed without a reply: close the connection */
};

/* One connection: does it belong to this run (a request carried the token)? */
struct http_conn {
	int member;
};

struct http_ep {
	/* server */
	struct MHD_Daemon *d;
	int epfd;                     /* libmicrohttpd's epoll descriptor */
	struct http_req *head, *tail; /* complete requests recv() has not taken */
	struct http_req *call;        /* the request recv() returned last */
	int members_seen, members_open;
	int oom; /* an allocation failed inside a callback */
	char token[2 * HTTP_TOKEN_BYTES + 1];

	/* client */
	CURLM *multi;
	int curl_ok; /* curl_global_init succeeded (close() must undo it) */
	int conns;   /* slots */
	struct http_slot *slot;
	struct curl_slist *hdrs;
	char url[64];
	int cerr; /* first failed transfer: -errno / IPCL_E*; sticky */
	char cerr_text[IPCL_ERR_MAX];
	/* replies that arrived and recv() has not taken: [size_t len][bytes] ... */
	unsigned char *rq;
	size_t rq_cap, rq_head, rq_tail;
};

/* A client transfer: one easy handle, reused (its connection stays alive). */
struct http_slot {
	struct http_ep *e;
	CURL *h;
	int busy; /* added to the multi handle, not done yet */
	unsigned char *body;
	size_t len, cap;
	unsigned char *resp; /* the response body as it arrives */
	size_t rlen, rcap;
	int toobig; /* the response outgrew HTTP_MAX_BODY */
};

int ipcl_http_grow(unsigned char **buf, size_t *cap, size_t need);

/*
 * Run the server until ready(e) holds: 0 when it does, IPCL_EOF when it cannot
 * any more because every client of this run has gone, -ETIMEDOUT at the
 * deadline. One round is a poll() on libmicrohttpd's epoll descriptor, bounded
 * by the deadline and by libmicrohttpd's own timeout, then MHD_run().
 */
int ipcl_http_serve(struct http_ep *e, int (*ready)(const struct http_ep *),
		    int64_t deadline_ns);

int ipcl_http_has_request(const struct http_ep *e);

/* Resume every suspended connection without an answer, so they can close. */
void ipcl_http_drop_all(struct http_ep *e);

/* Let libcurl do what it can without waiting, and collect finished transfers. */
int ipcl_http_perform(struct http_ep *e);

/*
 * Drive the client until ready(e) holds: 0, the first transfer error, or
 * -ETIMEDOUT at the deadline. Each round waits in curl_multi_poll() (at most
 * until the deadline, in ms) and then performs.
 */
int ipcl_http_drive(struct http_ep *e, int (*ready)(const struct http_ep *),
		    int64_t deadline_ns);

int ipcl_http_free_slot(const struct http_ep *e);

int ipcl_http_has_reply(const struct http_ep *e);

/* Every request's body has left (uploaded), or its transfer has ended. */
int ipcl_http_uploaded(const struct http_ep *e);

/* Is fd the channel's listening socket? (A role checks before adopting it.) */
int ipcl_http_fd_is(int fd, int port);

int ipcl_http_open_server(struct ipcl_ep *ep, const struct http_addr *a, int made_here);

int ipcl_http_open_client(struct ipcl_ep *ep, const struct http_addr *a, int made_here);

#endif
