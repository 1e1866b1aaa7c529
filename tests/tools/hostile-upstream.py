#!/usr/bin/env python3
"""hostile-upstream.py - a registry that lies, for the tests of a
pull-through mount against hostile upstreams (issue 15).

It speaks just enough of the distribution API for regfs to pin tags and
fetch blobs (/v2/, manifests by tag and digest, blobs, tags/list; _catalog
is 404, as many registries answer), and each repository misbehaves its own
way. Every tag is "v1": an ORAS-shaped manifest (empty config, one layer
with a title) whose layer is described below.

  ok         a healthy 1000-byte layer
  redir      the blob GET answers 307 Location: file:///etc/passwd
  huge       the layer declares --huge-size bytes (1e12 by default); the
             blob GET streams zeros for ever at --rate bytes/s
  short      the layer declares 50 bytes; the blob served is 25 bytes whose
             sha256 is the layer's digest
  slowblob   a --slow-size layer (4 MiB by default) of zeros at --rate
             bytes/s; its first GET is cut after half of it, later ones
             answer 503 (so the download breaks off for good)
  steady     a --slow-size layer of 0x01 bytes, served whole at --rate
  locked     every request answers 401 with WWW-Authenticate: Basic
  pages      tags/list answers --page-tags tags a page, with a Link to the
             next page, for ever
  fat        tags/list answers a 9 MiB JSON body
  deep       tags/list answers a JSON body nested 100 000 levels deep

Usage: hostile-upstream.py [--huge-size N] [--slow-size N] [--rate N]
       [--page-tags N]. It listens on 127.0.0.1 at a free port, prints the
port on the first line of stdout once listening, logs each request
("METHOD PATH STATUS") to stderr, and stops with status 0 on SIGTERM.
Python 3 standard library only; a threaded HTTP/1.1 server (keep-alive, as
registries are, so that clients reuse their connections and handles).
"""

import argparse
import hashlib
import http.server
import json
import re
import signal
import sys
import threading
import time

EMPTY = b"{}"
EMPTY_DIGEST = "sha256:" + hashlib.sha256(EMPTY).hexdigest()
MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"
CHUNK = 64 * 1024


def log(msg):
    sys.stderr.write("hostile-upstream: %s\n" % msg)
    sys.stderr.flush()


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Repos:
    """What each repository declares and serves."""

    def __init__(self, args):
        self.args = args
        self.ok = bytes(range(250)) * 4
        self.short = b"short but with the digest!"[:25]
        self.slow_cut = threading.Lock()
        self.slow_gets = 0
        # name -> (declared size, digest of the layer)
        self.layers = {
            "ok": (len(self.ok), sha(self.ok)),
            "redir": (1000, sha(b"r" * 1000)),
            "huge": (args.huge_size, sha(b"huge")),
            "short": (50, sha(self.short)),
            "slowblob": (args.slow_size, sha(b"\0" * args.slow_size)),
            "steady": (args.slow_size, sha(b"\1" * args.slow_size)),
            "locked": (10, sha(b"locked")),
            "pages": (10, sha(b"pages")),
            "fat": (10, sha(b"fat")),
            "deep": (10, sha(b"deep")),
        }
        # Made once, at start: it takes a second.
        names = ["x%08d" % i for i in range(9 * 1024 * 1024 // 12 + 1)]
        self.fat = json.dumps({"name": "fat", "tags": names}).encode()
        self.manifests = {}
        for name, (size, digest) in self.layers.items():
            body = json.dumps({
                "schemaVersion": 2,
                "mediaType": MANIFEST_MT,
                "artifactType": "application/vnd.unknown.artifact.v1",
                "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                           "digest": EMPTY_DIGEST, "size": 2},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": digest, "size": size,
                            "annotations": {"org.opencontainers.image.title": name + ".bin"}}],
            }, separators=(",", ":")).encode()
            self.manifests[name] = body


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    repos = None

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body=b"", ctype="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        log("%s %s %d" % (self.command, self.path, status))

    def not_found(self):
        self.answer(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}')

    def stream(self, status, length, pace, until=None, headers=(), byte=b"\0"):
        """byte at --rate bytes/s: length bytes, or for ever (None)."""
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if length is not None:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        log("%s %s %d (streaming)" % (self.command, self.path, status))
        sent = 0
        chunk = byte * CHUNK
        try:
            while length is None or sent < length:
                n = CHUNK if length is None else min(CHUNK, length - sent)
                if until is not None and sent + n > until:
                    n = until - sent
                    if n <= 0:
                        break
                if length is None:
                    self.wfile.write(b"%x\r\n" % n + chunk[:n] + b"\r\n")
                else:
                    self.wfile.write(chunk[:n])
                sent += n
                time.sleep(n / pace)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True
        log("%s %s: stopped after %d bytes" % (self.command, self.path, sent))

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        r = self.repos
        path = self.path.split("?", 1)[0]
        if path == "/v2/":
            return self.answer(200, b"{}")
        m = re.match(r"^/v2/([a-z0-9]+)/(manifests|blobs|tags)/(.+)$", path)
        if not m or m.group(1) not in r.layers:
            return self.not_found()
        repo, kind, ref = m.groups()
        if repo == "locked":
            return self.answer(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                               headers=[("WWW-Authenticate", 'Basic realm="hostile"')])
        if kind == "manifests":
            body = r.manifests[repo]
            if ref not in ("v1", sha(body)):
                return self.not_found()
            return self.answer(200, body, MANIFEST_MT, [("Docker-Content-Digest", sha(body))])
        if kind == "tags":
            return self.tags(repo)
        size, digest = r.layers[repo]
        if ref == EMPTY_DIGEST:
            return self.answer(200, EMPTY, "application/octet-stream")
        if ref != digest:
            return self.not_found()
        if repo == "ok":
            return self.answer(200, r.ok, "application/octet-stream")
        if repo == "short":
            return self.answer(200, r.short, "application/octet-stream")
        if repo == "redir":
            return self.answer(307, b"", headers=[("Location", "file:///etc/passwd")])
        if repo == "huge":
            return self.stream(200, size, self.server.args.rate)
        if repo == "steady":
            return self.stream(200, size, self.server.args.rate, byte=b"\1")
        if repo == "slowblob":
            with r.slow_cut:
                r.slow_gets += 1
                first = r.slow_gets == 1
            if not first:
                return self.answer(503, b'{"errors":[{"code":"UNAVAILABLE","message":"later"}]}')
            return self.stream(200, size, self.server.args.rate, until=size // 2)
        return self.not_found()

    def tags(self, repo):
        args = self.server.args
        if repo == "pages":
            m = re.search(r"[?&]last=t(\d+)", self.path)
            first = int(m.group(1)) + 1 if m else 0
            names = ["t%d" % i for i in range(first, first + args.page_tags)]
            body = json.dumps({"name": repo, "tags": names}).encode()
            link = '</v2/pages/tags/list?n=%d&last=%s>; rel="next"' % (args.page_tags, names[-1])
            return self.answer(200, body, headers=[("Link", link)])
        if repo == "fat":
            return self.answer(200, self.repos.fat)
        if repo == "deep":
            return self.answer(200, b'{"name":"deep","tags":' + b"[" * 100000 + b"]" * 100000 + b"}")
        return self.answer(200, json.dumps({"name": repo, "tags": ["v1"]}).encode())


def main():
    ap = argparse.ArgumentParser(description="a registry that lies")
    ap.add_argument("--huge-size", type=int, default=10**12)
    ap.add_argument("--slow-size", type=int, default=4 << 20)
    ap.add_argument("--rate", type=float, default=20e6, help="bytes/s of streamed blobs")
    ap.add_argument("--page-tags", type=int, default=20000)
    args = ap.parse_args()
    Handler.repos = Repos(args)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.args = args

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
