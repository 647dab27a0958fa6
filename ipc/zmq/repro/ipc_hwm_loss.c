/* #4660 in C: PAIR over ipc://, sender sends N and closes with a long linger;
 * the receiver (RCVHWM=hwm) reads slowly. Prints how many arrived. */
#include <zmq.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static int hwm;
static const char *ep = "ipc:///tmp/ipcl-zmq-repro.sock";
static void *server(void *ctx)
{
	void *s = zmq_socket(ctx, ZMQ_PAIR);
	int l = 60000;
	zmq_setsockopt(s, ZMQ_LINGER, &l, 4);
	zmq_bind(s, ep);
	usleep(100000);
	for (int i = 0; i < 10; i++)
		zmq_send(s, &i, 4, 0);
	zmq_close(s);
	zmq_ctx_term(ctx);
	return NULL;
}
int main(int c, char **v)
{
	hwm = atoi(v[1]);
	void *sc = zmq_ctx_new(), *cc = zmq_ctx_new();
	pthread_t t;
	pthread_create(&t, NULL, server, sc);
	void *s = zmq_socket(cc, ZMQ_PAIR);
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, 4);
	zmq_connect(s, ep);
	int got = 0, to = 2000;
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &to, 4);
	for (;;) {
		int i;
		usleep(50000);
		if (zmq_recv(s, &i, 4, 0) < 0)
			break;
		got++;
	}
	printf("hwm=%d received %d of 10\n", hwm, got);
	pthread_join(t, NULL);
	zmq_close(s);
	zmq_ctx_term(cc);
	return 0;
}
