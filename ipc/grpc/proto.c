/*
 * proto.c - the protobuf glue of the grpc transport (grpc.c): the method paths
 * of ipclab.Echo (echo.proto), and ipclab.Msg in and out of gRPC byte buffers
 * with protobuf-c (echo.pb-c.h, generated at build time by protoc-c):
 * decode a received buffer into a malloc'ed payload, encode a payload into a
 * fresh grpc_byte_buffer.
 *
 * Left out: the Summary message is packed and unpacked where it is used
 * (server.c, client.c); no reflection, no JSON mapping.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ipclab/transport.h>

#include "echo.pb-c.h"

#include "grpc_ep.h"

const char *const ipcl_grpc_method_path[GM_N] = {
    "/ipclab.Echo/Echo", "/ipclab.Echo/Collect", "/ipclab.Echo/Bye"};

/* Decode an ipclab.Msg from a received byte buffer into a malloc'ed copy. */
int ipcl_grpc_msg_decode(grpc_byte_buffer *bb, unsigned char **data, size_t *len)
{
	grpc_byte_buffer_reader r;
	grpc_slice s;
	Ipclab__Msg *m;
	int rc = 0;

	if (!grpc_byte_buffer_reader_init(&r, bb))
		return IPCL_EPROTO;
	s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	m = ipclab__msg__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	if (!m)
		return IPCL_EPROTO;
	*len = m->data.len;
	*data = malloc(m->data.len ? m->data.len : 1);
	if (!*data)
		rc = -ENOMEM;
	else if (m->data.len)
		memcpy(*data, m->data.data, m->data.len);
	ipclab__msg__free_unpacked(m, NULL);
	return rc;
}

/* Encode a protobuf-c message straight into a gRPC slice. */
grpc_byte_buffer *ipcl_grpc_pb_encode(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(n);
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

grpc_byte_buffer *ipcl_grpc_msg_encode(const void *data, size_t len)
{
	Ipclab__Msg m = IPCLAB__MSG__INIT;

	m.data.data = (uint8_t *)data;
	m.data.len = len;
	return ipcl_grpc_pb_encode(&m.base);
}
