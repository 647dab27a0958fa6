"""grpc_client.py - a gRPC client that is not ipclab's: Python grpcio (Debian's
python3-grpcio) calls ipclab's grpc server and checks what comes back.

Usage: grpc_client.py DESCRIPTOR_SET HOST:PORT TOKEN
       grpc_client.py --probe    (exit 0 when grpc and protobuf import)

The message classes come from echo.proto itself: protoc-c wrote its descriptor
set at build time, and python3-protobuf builds ipclab.Msg and ipclab.Summary
from it (no generated Python, no hand-made protobuf). Exit status 0 when every
check holds; each failed check prints one line and makes the status 1.
"""
import os
import sys

try:
    import grpc
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError as e:
    print("grpc_client: %s (apt-get install python3-grpcio python3-protobuf)" % e,
          file=sys.stderr)
    sys.exit(3)


def classes(desc_path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(desc_path, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fdp in fds.file:
        pool.Add(fdp)
    factory = message_factory.MessageFactory(pool)
    get = lambda name: factory.GetPrototype(pool.FindMessageTypeByName(name))
    return get("ipclab.Msg"), get("ipclab.Summary")


def main():
    if sys.argv[1:] == ["--probe"]:
        return 0
    desc, target, token = sys.argv[1:4]
    Msg, Summary = classes(desc)
    failures = 0

    def check(ok, what):
        nonlocal failures
        if not ok:
            failures += 1
            print("grpc_client: FAILED: " + what, file=sys.stderr)

    channel = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])
    grpc.channel_ready_future(channel).result(timeout=20)
    echo = channel.unary_unary("/ipclab.Echo/Echo",
                               request_serializer=Msg.SerializeToString,
                               response_deserializer=Msg.FromString)
    collect = channel.stream_unary("/ipclab.Echo/Collect",
                                   request_serializer=Msg.SerializeToString,
                                   response_deserializer=Summary.FromString)
    md = [("x-ipclab-token", token)]

    # Unary Echo: ipclab's server (the test's consumer) answers with what it got.
    payloads = [b"", b"x", os.urandom(1000), os.urandom(100 * 1024)]
    for p in payloads:
        r = echo(Msg(data=p), metadata=md, timeout=20)
        check(r.data == p, "echo of %d bytes came back as %d bytes" % (len(p), len(r.data)))

    # A caller without the run's token is refused, and its call never reaches recv().
    for bad in ([], [("x-ipclab-token", "0" * 32)]):
        try:
            echo(Msg(data=b"stranger"), metadata=bad, timeout=20)
            check(False, "a call with token %r was answered" % (bad,))
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.PERMISSION_DENIED,
                  "a call without the token got %s, not PERMISSION_DENIED" % e.code())

    # Client streaming: five messages, one summary; the half-close ends the run.
    msgs = [Msg(data=bytes([65 + i]) * 10) for i in range(5)]
    s = collect(iter(msgs), metadata=md, timeout=20)
    check(s.messages == 5 and s.bytes == 50,
          "Collect summary says %d messages, %d bytes (want 5, 50)" % (s.messages, s.bytes))
    channel.close()
    print("grpc_client: %d echoes, 2 refusals, 1 Collect call: %s"
          % (len(payloads), "ok" if not failures else "%d FAILED" % failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
