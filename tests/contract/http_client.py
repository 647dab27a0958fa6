"""http_client.py - an HTTP client that is not ipclab's: Python's http.client
(standard library) POSTs to ipclab's http server and checks what comes back.

Usage: http_client.py HOST:PORT TOKEN
       http_client.py --probe

Three echoes on one keep-alive connection, then two refusals on connections
of their own (no token, a wrong token: 403). Closing the first connection is
the end of stream the server's recv() reports. Exit status 0 when every check
holds; each failed check prints one line and makes the status 1.
"""
import http.client
import os
import sys


def main():
    if sys.argv[1:] == ["--probe"]:
        return 0
    target, token = sys.argv[1:3]
    host, port = target.rsplit(":", 1)
    failures = 0

    def check(ok, what):
        nonlocal failures
        if not ok:
            failures += 1
            print("http_client: FAILED: " + what, file=sys.stderr)

    def post(conn, body, headers):
        conn.request("POST", "/echo", body=body,
                     headers=dict(headers, **{"Content-Type": "application/octet-stream"}))
        r = conn.getresponse()
        return r.status, r.read()

    # The refusals first, so that the run's connection is the last to close.
    for bad in ({}, {"X-Ipclab-Token": "0" * 32}):
        c = http.client.HTTPConnection(host, int(port), timeout=20)
        status, _ = post(c, b"stranger", bad)
        check(status == 403, "a POST with headers %r got %d, not 403" % (bad, status))
        c.close()

    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    payloads = [b"x", os.urandom(1000), os.urandom(100 * 1024)]
    for p in payloads:
        status, body = post(conn, p, {"X-Ipclab-Token": token})
        check(status == 200 and body == p,
              "echo of %d bytes: HTTP %d with %d bytes" % (len(p), status, len(body)))
    conn.close()
    print("http_client: %d echoes, 2 refusals: %s"
          % (len(payloads), "ok" if not failures else "%d FAILED" % failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
