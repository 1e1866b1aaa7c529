#!/usr/bin/env python3
"""bad-proxy.py - a misbehaving HTTP reverse proxy in front of a registry.

It forwards every request to an upstream URL (method, path, body and the
headers, Authorization and Range included; the Host header is kept, so the
registry's Location headers point back at the proxy) and injects the faults a
real registry cannot be made to produce:

  --corrupt-blobs      flip one byte in the middle of every blob GET body
  --cut-after BYTES    blob GETs: send the headers and BYTES of the body, then
                       close the connection (--cut-times N: only the first N
                       such requests, default 1; 0 means all)
  --fail-status CODE   answer CODE (503, 429, ...) without asking upstream, to
                       the first --fail-times N matching requests (default 1;
                       0 means all), with Retry-After: --retry-after SECONDS
                       when given
  --delay-ms MS        wait MS milliseconds before answering each matching
                       request
  --rate BYTES         send blob bodies at most BYTES per second (so that the
                       upstream can be killed mid-transfer)
  --match REGEX        which requests the faults above apply to, matched
                       against "METHOD PATH" (default: blob GETs,
                       '^GET /v2/.+/blobs/sha256:'); --delay-ms applies to
                       every request unless --match is given
  --count-file F       append one line "METHOD PATH" per request to F
  --set-header 'NAME: VALUE'
                       in the answers to matching requests, NAME says VALUE
                       instead of what the registry said (repeatable; a
                       Content-Type holding an escape sequence, say)

Usage: bad-proxy.py [options] UPSTREAM-URL. It listens on 127.0.0.1 (--port,
0 by default: a free port), prints the port on the first line of stdout once
listening, logs each request and the fault it got to stderr (never the
Authorization header), and stops with status 0 on SIGTERM. Python 3
standard library only; a threaded server.
"""

import argparse
import http.client
import http.server
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
              "te", "trailers", "transfer-encoding", "upgrade"}
BLOB_GET = r"^GET /v2/.+/blobs/sha256:"
CHUNK = 64 * 1024


def log(msg):
    sys.stderr.write("bad-proxy: %s\n" % msg)
    sys.stderr.flush()


class Faults:
    def __init__(self, args):
        self.args = args
        self.match = re.compile(args.match or BLOB_GET)
        self.delay_all = args.match is None
        self.lock = threading.Lock()
        self.cuts = 0
        self.fails = 0
        self.count_file = args.count_file

    def take(self, kind):
        """Whether the next matching request gets the fault (counted)."""
        with self.lock:
            if kind == "cut":
                if self.args.cut_times and self.cuts >= self.args.cut_times:
                    return False
                self.cuts += 1
                return True
            if self.args.fail_times and self.fails >= self.args.fail_times:
                return False
            self.fails += 1
            return True

    def count(self, method, path):
        if not self.count_file:
            return
        with self.lock:
            with open(self.count_file, "a") as f:
                f.write("%s %s\n" % (method, path))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "regfs-test-bad-proxy/1"

    def log_message(self, format, *args):  # noqa: A002 (the base's name)
        pass

    def forward(self):
        faults = self.server.faults
        args = faults.args
        what = "%s %s" % (self.command, urllib.parse.urlsplit(self.path).path)
        faults.count(self.command, self.path)
        matched = bool(faults.match.search(what))
        notes = []

        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self.read_chunked()

        if args.delay_ms and (matched or faults.delay_all):
            time.sleep(args.delay_ms / 1000.0)
            notes.append("delayed %d ms" % args.delay_ms)

        if args.fail_status and matched and faults.take("fail"):
            data = b'{"errors":[{"code":"UNAVAILABLE","message":"injected by bad-proxy"}]}'
            self.send_response(args.fail_status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if args.retry_after is not None:
                self.send_header("Retry-After", str(args.retry_after))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            log("%s -> %d (injected)" % (what, args.fail_status))
            return

        up = self.server.upstream
        conn_cls = http.client.HTTPSConnection if up.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(up.hostname, up.port or (443 if up.scheme == "https" else 80), timeout=60)
        try:
            conn.putrequest(self.command, up.path.rstrip("/") + self.path,
                            skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() in HOP_BY_HOP or k.lower() == "content-length":
                    continue
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
        except OSError as e:
            conn.close()
            log("%s -> 502 (upstream: %s)" % (what, e))
            self.send_error(502, "upstream: %s" % e)
            return

        try:
            self.relay(resp, what, matched, notes)
        finally:
            conn.close()

    def read_chunked(self):
        out = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return out
            out += self.rfile.read(size)
            self.rfile.readline()

    def relay(self, resp, what, matched, notes):
        args = self.server.faults.args
        is_blob_get = matched and self.command == "GET" and 200 <= resp.status < 300
        length = resp.getheader("Content-Length")
        body_expected = self.command != "HEAD" and resp.status not in (204, 304)
        data = None
        if body_expected and length is None:
            data = resp.read()  # chunked or close-delimited: buffer it
            length = str(len(data))

        self.send_response_only(resp.status, resp.reason)
        forced = {}
        if matched:
            for h in args.set_header or []:
                k, _, v = h.partition(":")
                forced[k.strip().lower()] = (k.strip(), v.strip())
        if forced:
            notes.append("headers set: " + ", ".join(sorted(forced)))
        for k, v in resp.getheaders():
            if k.lower() in HOP_BY_HOP or k.lower() == "content-length" or k.lower() in forced:
                continue
            self.send_header(k, v)
        for k, v in forced.values():
            self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        if not body_expected:
            log("%s -> %d%s" % (what, resp.status, " (" + ", ".join(notes) + ")" if notes else ""))
            return

        total = int(length)
        flip_at = total // 2 if (args.corrupt_blobs and is_blob_get and total > 0) else -1
        cut_at = -1
        if args.cut_after is not None and is_blob_get and self.server.faults.take("cut"):
            cut_at = min(args.cut_after, total)
        if flip_at >= 0:
            notes.append("byte %d flipped" % flip_at)
        if cut_at >= 0:
            notes.append("cut after %d of %d bytes" % (cut_at, total))
        rate = args.rate if is_blob_get else 0
        if rate:
            notes.append("%d B/s" % rate)
        log("%s -> %d%s" % (what, resp.status, " (" + ", ".join(notes) + ")" if notes else ""))

        sent = 0
        t0 = time.monotonic()
        try:
            while sent < total:
                if data is not None:
                    chunk = data[sent:sent + CHUNK]
                else:
                    chunk = resp.read(min(CHUNK, total - sent, rate or CHUNK))
                if not chunk:
                    log("%s: upstream closed after %d of %d bytes" % (what, sent, total))
                    break  # so do we
                if 0 <= flip_at - sent < len(chunk):
                    b = bytearray(chunk)
                    b[flip_at - sent] ^= 0xFF
                    chunk = bytes(b)
                if cut_at >= 0 and sent + len(chunk) >= cut_at:
                    self.wfile.write(chunk[:cut_at - sent])
                    self.wfile.flush()
                    self.abort()
                    return
                self.wfile.write(chunk)
                sent += len(chunk)
                if rate:
                    ahead = sent / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
            if sent < total:
                self.abort()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away
        except (http.client.HTTPException, OSError) as e:
            log("%s: upstream failed mid-body after %d bytes: %s" % (what, sent, e))
            self.abort()

    def abort(self):
        """Close the client's connection now, the body unfinished."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("upstream", help="http://127.0.0.1:PORT")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--corrupt-blobs", action="store_true")
    ap.add_argument("--cut-after", type=int, metavar="BYTES")
    ap.add_argument("--cut-times", type=int, default=1, metavar="N")
    ap.add_argument("--fail-status", type=int, metavar="CODE")
    ap.add_argument("--fail-times", type=int, default=1, metavar="N")
    ap.add_argument("--set-header", action="append", metavar="'NAME: VALUE'")
    ap.add_argument("--retry-after", type=int, metavar="SECONDS")
    ap.add_argument("--delay-ms", type=int, default=0, metavar="MS")
    ap.add_argument("--rate", type=int, default=0, metavar="BYTES")
    ap.add_argument("--match", metavar="REGEX")
    ap.add_argument("--count-file", metavar="FILE")
    args = ap.parse_args()
    up = urllib.parse.urlsplit(args.upstream)
    if up.scheme not in ("http", "https") or not up.hostname:
        ap.error("the upstream must be an http:// or https:// URL")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.upstream = up
    srv.faults = Faults(args)
    print(srv.server_address[1], flush=True)
    log("listening on 127.0.0.1:%d, forwarding to %s" % (srv.server_address[1], args.upstream))
    try:
        srv.serve_forever()
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
