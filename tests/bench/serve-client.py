#!/usr/bin/env python3
"""serve-client.py - the one OCI client of bench-serve.sh, for both sides.

A small HTTP/1.1 client over plain sockets (keep-alive, Content-Length or
chunked bodies), so that the registry, not the client, is what a figure
measures: no http.client header parsing, no TLS, bodies read into one
reused buffer and dropped. Only for 127.0.0.1 (http://HOST:PORT).

  serve-client.py push URL REPO COUNT SIZE
      COUNT ORAS-shaped artifacts of SIZE random bytes, one after the
      other on one connection, each as oras push sends it: HEAD the layer
      (404), POST an upload, PUT it with ?digest=, HEAD the empty config
      {} (POST+PUT it when missing), PUT the manifest under tag pNNNN.
      The bytes are made before the clock starts.
  serve-client.py load URL REPO TAG CLIENTS ROUNDS
      CLIENTS connections at once, each pulling the image ROUNDS times:
      GET the manifest by tag, then GET its config and layers, one request
      after the other on its keep-alive connection; one thread, a selector
      loop. Every answer must be 200 with the expected length. Before the
      clock starts the image is read once and every blob's digest checked.
  serve-client.py image URL REPO TAG image|artifact FILE...
      Push an image, one layer a file (streamed from it), with a real
      config (image) or the empty config {} of an ORAS artifact
      (artifact); prints the manifest's digest. Not timed: set-up.
  serve-client.py pull URL REPO TAG PARALLEL [--verify]
      One pull of the image: GET the manifest by tag, then its config and
      layers over PARALLEL connections (docker pulls 3 at once). --verify
      checks every blob's sha256 (slower: for an untimed check).

Each prints one line of key=value pairs (seconds, requests, ...; load adds
rps, p50_ms, p99_ms, max_ms; every command adds client_cpu, the seconds of
CPU this process used while the clock ran) and exits 0, or prints what went
wrong on stderr and exits 1.
"""
import hashlib
import json
import os
import resource
import selectors
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])
EMPTY_CONFIG = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
TIMEOUT = 120.0


class Failed(Exception):
    pass


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Conn:
    """One keep-alive connection; request() returns (status, headers, body)."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.sock = None
        self.buf = b""
        self.scratch = bytearray(1 << 20)

    def connect(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise Failed("the server closed the connection")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _discard(self, n, hasher=None, keep=False):
        """Read n body bytes: kept (returned), hashed, or dropped."""
        out = []
        take = min(n, len(self.buf))
        if take:
            chunk, self.buf = self.buf[:take], self.buf[take:]
            n -= take
            if keep:
                out.append(chunk)
            if hasher:
                hasher.update(chunk)
        view = memoryview(self.scratch)
        while n:
            got = self.sock.recv_into(view, min(n, len(self.scratch)))
            if not got:
                raise Failed("the server closed the connection mid-body")
            n -= got
            if keep:
                out.append(bytes(view[:got]))
            if hasher:
                hasher.update(view[:got])
        return b"".join(out)

    def request(self, method, path, headers=None, body=b"", keep=True, hasher=None):
        if self.sock is None:
            self.connect()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 "User-Agent: regfs-bench-serve"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body or method in ("PUT", "POST", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.sock.sendall(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.sock.sendall(body)
        return self.request_answer(method, keep, hasher)

    def request_answer(self, method, keep=True, hasher=None):
        """Read the answer to a request sent on this connection."""
        status_line = self._line()
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise Failed(f"not an HTTP answer: {status_line[:80]!r}")
        status = int(parts[1])
        hdrs = {}
        while True:
            line = self._line()
            if not line:
                break
            k, _, v = line.partition(b":")
            hdrs[k.strip().lower().decode()] = v.strip().decode("latin-1")
        data = b""
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            pass
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                chunks.append(self._discard(size, hasher, keep or status >= 400))
                self._line()
            data = b"".join(chunks)
        elif "content-length" in hdrs:
            # An error's body is kept, to be shown.
            data = self._discard(int(hdrs["content-length"]), hasher, keep or status >= 400)
        else:
            raise Failed(f"{method}: an answer without a length")
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return status, hdrs, data


def split_url(url):
    u = urlsplit(url)
    if u.scheme != "http" or not u.hostname or not u.port:
        raise Failed(f"want http://HOST:PORT, not {url!r}")
    return u.hostname, u.port


def expect(what, status, want, hdrs=None, data=b""):
    if status not in want:
        raise Failed(f"{what}: HTTP {status} (wanted {'/'.join(map(str, want))}): "
                     f"{data[:300]!r}")


def upload_path(loc, digest):
    if loc.startswith("http://") or loc.startswith("https://"):
        u = urlsplit(loc)
        loc = u.path + ("?" + u.query if u.query else "")
    return loc + ("&" if "?" in loc else "?") + "digest=" + digest


def push_blob(c, repo, data, digest, what):
    st, h, b = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    expect(f"POST an upload for {what}", st, (202,), h, b)
    loc = h.get("location")
    if not loc:
        raise Failed(f"no Location for the upload of {what}")
    st, h, b = c.request("PUT", upload_path(loc, digest),
                         {"Content-Type": "application/octet-stream"}, data)
    expect(f"PUT {what}", st, (201,), h, b)
    return 3


def cmd_push(url, repo, count, size):
    host, port = split_url(url)
    count, size = int(count), int(size)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cfg_digest = sha256(EMPTY_CONFIG)
    arts = []
    for i in range(count):
        data = os.urandom(size)
        d = sha256(data)
        man = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.unknown.artifact.v1",
            "config": {"mediaType": EMPTY_TYPE, "digest": cfg_digest, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": d, "size": size,
                        "annotations": {"org.opencontainers.image.title": f"file{i:04d}"}}],
            "annotations": {"org.opencontainers.image.created": created},
        }
        arts.append((data, d, json.dumps(man, separators=(",", ":")).encode()))
    c = Conn(host, port)
    c.connect()
    lat = []
    requests = 0
    c0, t0 = cpu(), time.perf_counter()
    for i, (data, d, man) in enumerate(arts):
        s = time.perf_counter()
        st, h, b = c.request("HEAD", f"/v2/{repo}/blobs/{d}")
        requests += 1
        if st == 404:
            requests += push_blob(c, repo, data, d, f"layer {i}") - 1
        else:
            expect(f"HEAD layer {i}", st, (200,), h, b)
        st, h, b = c.request("HEAD", f"/v2/{repo}/blobs/{cfg_digest}")
        requests += 1
        if st == 404:
            requests += push_blob(c, repo, EMPTY_CONFIG, cfg_digest, "the config") - 1
        else:
            expect("HEAD the config", st, (200,), h, b)
        st, h, b = c.request("PUT", f"/v2/{repo}/manifests/p{i:04d}",
                             {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, man)
        requests += 1
        expect(f"PUT manifest p{i:04d}", st, (201,), h, b)
        got = h.get("docker-content-digest")
        if got and got != sha256(man):
            raise Failed(f"manifest p{i:04d}: the server says {got}, not {sha256(man)}")
        lat.append(time.perf_counter() - s)
    t1, c1 = time.perf_counter(), cpu()
    c.close()
    lat.sort()
    print(f"seconds={t1 - t0:.6f} pushes={count} requests={requests} "
          f"rate={count / (t1 - t0):.1f} p50_ms={pct(lat, 50) * 1e3:.3f} "
          f"p99_ms={pct(lat, 99) * 1e3:.3f} client_cpu={c1 - c0:.3f}")


def pct(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def image_blobs(c, repo, tag, roles=False):
    """The manifest (by tag) and [(digest, size)] of its config and layers
    (with roles: [(digest, size, "config" or "layer N")])."""
    st, h, man = c.request("GET", f"/v2/{repo}/manifests/{tag}", {"Accept": MANIFEST_TYPES})
    expect(f"GET manifest {repo}:{tag}", st, (200,), h, man)
    m = json.loads(man)
    blobs = [(m["config"]["digest"], m["config"]["size"], "config")]
    blobs += [(l["digest"], l["size"], f"layer {i + 1}") for i, l in enumerate(m["layers"])]
    return man, (blobs if roles else [b[:2] for b in blobs])


def verify_blobs(c, repo, blobs):
    for d, size in blobs:
        hasher = hashlib.sha256()
        st, h, b = c.request("GET", f"/v2/{repo}/blobs/{d}", keep=False, hasher=hasher)
        expect(f"GET blob {d}", st, (200,), h, b)
        got = "sha256:" + hasher.hexdigest()
        if got != d:
            raise Failed(f"blob {d}: its bytes hash to {got}")


def cmd_load(url, repo, tag, clients, rounds):
    host, port = split_url(url)
    clients, rounds = int(clients), int(rounds)
    c = Conn(host, port)
    man, blobs = image_blobs(c, repo, tag)
    verify_blobs(c, repo, blobs)
    c.close()
    def get(path, accept=""):
        return (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"User-Agent: regfs-bench-serve\r\n{accept}\r\n").encode()

    reqs = [(get(f"/v2/{repo}/manifests/{tag}", f"Accept: {MANIFEST_TYPES}\r\n"), len(man))]
    reqs += [(get(f"/v2/{repo}/blobs/{d}"), size) for d, size in blobs]
    per_round = len(reqs)
    scratch = bytearray(1 << 20)
    view = memoryview(scratch)
    sel = selectors.DefaultSelector()
    lat = []
    state = {}
    errors = []

    def send_next(s, st):
        r, _ = reqs[st["i"]]
        st["t"] = time.perf_counter()
        st["head"] = b""
        st["left"] = -1
        # A request is small and the socket's send buffer empty (the
        # answer before it was read whole): one send takes it.
        n = s.send(r)
        if n != len(r):
            s.setblocking(True)
            s.sendall(r[n:])
            s.setblocking(False)

    c0, t0 = cpu(), time.perf_counter()
    for k in range(clients):
        s = socket.create_connection((host, port), timeout=TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        st = {"i": 0, "round": 0}
        state[s] = st
        s.setblocking(False)
        send_next(s, st)
        sel.register(s, selectors.EVENT_READ, st)
    live = clients
    deadline = time.monotonic() + TIMEOUT * 5
    while live:
        events = sel.select(timeout=TIMEOUT)
        if not events or time.monotonic() > deadline:
            raise Failed(f"no answer for {TIMEOUT:.0f} s with {live} clients left")
        for key, _ in events:
            s, st = key.fileobj, key.data
            if st["left"] < 0:
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                if not d:
                    raise Failed("the server closed a connection")
                st["head"] += d
                end = st["head"].find(b"\r\n\r\n")
                if end < 0:
                    continue
                head = st["head"][:end]
                rest = len(st["head"]) - end - 4
                status = head[9:12]
                clen = -1
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        clen = int(v)
                        break
                want = reqs[st["i"]][1]
                if status != b"200" or clen != want:
                    errors.append(f"request {st['i']}: {head[:12]!r}, length {clen} (wanted {want})")
                    raise Failed(errors[-1])
                st["left"] = clen - rest
            else:
                try:
                    got = s.recv_into(view, min(st["left"], len(scratch)))
                except BlockingIOError:
                    continue
                if not got:
                    raise Failed("the server closed a connection mid-body")
                st["left"] -= got
            if st["left"] < 0:
                raise Failed("the server sent more than the body")
            if st["left"] == 0:
                lat.append(time.perf_counter() - st["t"])
                st["i"] += 1
                if st["i"] == per_round:
                    st["i"] = 0
                    st["round"] += 1
                    if st["round"] == rounds:
                        sel.unregister(s)
                        s.close()
                        live -= 1
                        continue
                send_next(s, st)
    t1, c1 = time.perf_counter(), cpu()
    n = len(lat)
    lat.sort()
    secs = t1 - t0
    print(f"seconds={secs:.6f} requests={n} rps={n / secs:.1f} "
          f"p50_ms={pct(lat, 50) * 1e3:.3f} p99_ms={pct(lat, 99) * 1e3:.3f} "
          f"max_ms={lat[-1] * 1e3:.3f} client_cpu={c1 - c0:.3f}")


def cmd_pull(url, repo, tag, parallel, *opts):
    host, port = split_url(url)
    parallel = int(parallel)
    verify = "--verify" in opts
    c0, t0 = cpu(), time.perf_counter()
    c = Conn(host, port)
    man, blobs = image_blobs(c, repo, tag, roles=True)
    todo = list(blobs)
    lock = threading.Lock()
    fails = []
    total = [0]

    # Every blob is asked for, whatever failed before: a failure names
    # each blob that failed and how.
    def worker(conn):
        while True:
            with lock:
                if not todo:
                    return
                d, size, role = todo.pop(0)
            try:
                hasher = hashlib.sha256() if verify else None
                st, h, b = conn.request("GET", f"/v2/{repo}/blobs/{d}", keep=False, hasher=hasher)
                expect(f"GET {role} {d} ({size} bytes)", st, (200,), h, b)
                if h.get("content-length") not in (None, str(size)):
                    raise Failed(f"{role} {d}: {h.get('content-length')} bytes, not {size}")
                if hasher and "sha256:" + hasher.hexdigest() != d:
                    raise Failed(f"{role} {d}: its bytes hash to sha256:{hasher.hexdigest()}")
                with lock:
                    total[0] += size
            except (Failed, OSError, ValueError) as e:
                with lock:
                    fails.append(str(e))
                conn.close()

    conns = [c] + [Conn(host, port) for _ in range(parallel - 1)]
    threads = [threading.Thread(target=worker, args=(k,)) for k in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t1, c1 = time.perf_counter(), cpu()
    for k in conns:
        k.close()
    if fails:
        raise Failed(f"{len(fails)} of {len(blobs)} blobs failed: " + "; ".join(fails))
    print(f"seconds={t1 - t0:.6f} requests={len(blobs) + 1} blobs={len(blobs)} "
          f"bytes={total[0]} client_cpu={c1 - c0:.3f}")


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return "sha256:" + h.hexdigest(), os.path.getsize(path)


def put_blob_file(c, repo, path, digest, size):
    """HEAD the blob; unless there, POST an upload and PUT the file."""
    st, h, b = c.request("HEAD", f"/v2/{repo}/blobs/{digest}")
    if st == 200:
        return
    st, h, b = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    expect(f"POST an upload for {path}", st, (202,), h, b)
    loc = h.get("location")
    if not loc:
        raise Failed(f"no Location for the upload of {path}")
    if c.sock is None:
        c.connect()
    head = (f"PUT {upload_path(loc, digest)} HTTP/1.1\r\nHost: {c.host}:{c.port}\r\n"
            f"User-Agent: regfs-bench-serve\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()
    c.sock.sendall(head)
    with open(path, "rb") as f:
        c.sock.sendfile(f)
    # The answer, read as request() reads one (nothing more to send).
    st, h, b = c.request_answer("PUT")
    expect(f"PUT {path}", st, (201,), h, b)


def cmd_image(url, repo, tag, kind, *files):
    """An image (KIND image: a real config) or an ORAS-shaped artifact (KIND
    artifact: the empty config {}) with one layer a file; prints the
    manifest's digest."""
    host, port = split_url(url)
    if kind not in ("image", "artifact") or not files:
        raise Failed("image URL REPO TAG image|artifact FILE...")
    c = Conn(host, port)
    layers = []
    for path in files:
        d, size = file_digest(path)
        put_blob_file(c, repo, path, d, size)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                       "digest": d, "size": size,
                       "annotations": {"org.opencontainers.image.title": os.path.basename(path)}})
    if kind == "image":
        cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                          "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}},
                         separators=(",", ":")).encode()
        cfg_type = "application/vnd.oci.image.config.v1+json"
    else:
        cfg, cfg_type = EMPTY_CONFIG, EMPTY_TYPE
    cfg_digest = sha256(cfg)
    st, h, b = c.request("HEAD", f"/v2/{repo}/blobs/{cfg_digest}")
    if st != 200:
        push_blob(c, repo, cfg, cfg_digest, "the config")
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
    if kind == "artifact":
        man["artifactType"] = "application/vnd.unknown.artifact.v1"
    man["config"] = {"mediaType": cfg_type, "digest": cfg_digest, "size": len(cfg)}
    man["layers"] = layers
    body = json.dumps(man, separators=(",", ":")).encode()
    st, h, b = c.request("PUT", f"/v2/{repo}/manifests/{tag}",
                         {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, body)
    expect(f"PUT manifest {repo}:{tag}", st, (201,), h, b)
    c.close()
    print(sha256(body))


def main(argv):
    cmds = {"push": (cmd_push, 4), "load": (cmd_load, 5), "pull": (cmd_pull, 4),
            "image": (cmd_image, 5)}
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 < cmds[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        cmds[argv[1]][0](*argv[2:])
    except (Failed, OSError, ValueError, KeyError) as e:
        print(f"serve-client {argv[1]}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
