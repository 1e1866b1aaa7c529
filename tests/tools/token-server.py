#!/usr/bin/env python3
"""token-server.py - a small Docker/OCI bearer-token service for the tests.

It plays the "realm" of a registry configured with Distribution's
`auth: token:` (the flow of docs/spec/auth/token.md):

  GET /token?service=S&scope=repository:R:pull,push[&scope=...]
      with HTTP basic credentials

answers 401 without credentials or with wrong ones, and otherwise
{"token": JWT, "access_token": JWT, "expires_in": N, "issued_at": ...}.

The JWT is RS256, signed with the `openssl` command-line tool (no Python
crypto library needed). Its header carries the signing certificate in "x5c";
Distribution checks that chain against its `rootcertbundle`, which is the
self-signed certificate this service writes at start:

  DIR/token-cert.pem   give it to the registry as auth.token.rootcertbundle
  DIR/token-key.pem    the RSA key (0600)

Claims: iss (--issuer), sub (the user), aud (the requested service), exp, nbf,
iat, jti and access, which grants every action asked for (or only the ones
--actions allows). Distribution 2.8 accepts a token up to 60 s past its exp
(a leeway), so a short --expires does not make the registry refuse tokens
soon; --stale N makes the first N tokens already expired (exp two minutes
ago, while expires_in still says --expires): the registry answers 401 to
them, which is how a test makes a client refresh its token.

Usage:
  token-server.py --dir DIR --user USER:PASS [--user USER:PASS...]
                  [--port N] [--issuer NAME] [--expires SECONDS]
                  [--stale N] [--actions pull,push]

With --port 0 (the default) it picks a free port. The first line of stdout is
the port, printed once it listens. Each request is logged to stderr (method,
path, user, status; never a password or a token). SIGTERM stops it with
status 0. Python 3 standard library only.
"""

import argparse
import base64
import http.server
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.parse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def log(msg):
    sys.stderr.write("token-server: %s\n" % msg)
    sys.stderr.flush()


class Signer:
    """An RSA key and its self-signed certificate, made with openssl."""

    def __init__(self, directory, issuer):
        os.makedirs(directory, exist_ok=True)
        self.key = os.path.join(directory, "token-key.pem")
        self.cert = os.path.join(directory, "token-cert.pem")
        if not (os.path.exists(self.key) and os.path.exists(self.cert)):
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                 "-keyout", self.key, "-out", self.cert, "-days", "2",
                 "-subj", "/CN=" + issuer],
                check=True, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            os.chmod(self.key, 0o600)
        der = subprocess.run(
            ["openssl", "x509", "-in", self.cert, "-outform", "DER"],
            check=True, stdout=subprocess.PIPE).stdout
        self.x5c = base64.b64encode(der).decode("ascii")

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode())
                         + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", self.key, "-binary"],
            input=signing_input.encode("ascii"), check=True,
            stdout=subprocess.PIPE).stdout
        return signing_input + "." + b64url(sig)


def parse_scope(scope, allowed):
    """'repository:org/app:pull,push' -> an access entry, or None.

    The name may contain ':' (a registry host with a port), so the type is
    the first field and the actions the last one.
    """
    first = scope.find(":")
    last = scope.rfind(":")
    if first <= 0 or last <= first:
        return None
    typ, name, actions = scope[:first], scope[first + 1:last], scope[last + 1:]
    acts = [a for a in actions.split(",") if a]
    if allowed is not None:
        acts = [a for a in acts if a in allowed or "*" in allowed]
    return {"type": typ, "name": name, "actions": acts}


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "regfs-test-token-server/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 (the base's name)
        pass  # our own log line per request, without the query's secrets

    def reply(self, status, body, extra=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def user(self):
        """The authenticated user name, or None."""
        h = self.headers.get("Authorization", "")
        if not h.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(h[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if self.server.users.get(user) == password and user:
            return user
        return None

    def handle_token(self, query, user, had_auth):
        url = urllib.parse.urlsplit(self.path)
        service = (query.get("service") or [""])[0]
        scopes = []
        for s in query.get("scope", []):
            scopes.extend(s.split(" "))  # several scopes may share one parameter
        desc = "%s %s service=%r scopes=%r" % (self.command, url.path, service, scopes)
        if user is None:
            log("%s user=%s -> 401" % (desc, "(bad credentials)" if had_auth
                                      else "(none)"))
            self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                         "message": "authentication required"}]},
                       {"WWW-Authenticate": 'Basic realm="regfs-test-token-server"'})
            return
        now = int(time.time())
        access = []
        for s in scopes:
            a = parse_scope(s, self.server.allowed)
            if a is not None:
                access.append(a)
        exp = now + self.server.expires
        stale = ""
        with self.server.lock:
            if self.server.stale > 0:
                self.server.stale -= 1
                exp = now - 120  # past Distribution's 60 s leeway
                stale = ", stale: already expired"
        claims = {
            "iss": self.server.issuer,
            "sub": user,
            "aud": service,
            "exp": exp,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        token = self.server.signer.sign(claims)
        log("%s user=%s -> 200 (expires in %ds%s)" % (desc, user, self.server.expires, stale))
        self.reply(200, {
            "token": token,
            "access_token": token,
            "expires_in": self.server.expires,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        })

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            log("%s %s -> 404" % (self.command, url.path))
            self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such path"}]})
            return
        self.handle_token(urllib.parse.parse_qs(url.query), self.user(),
                          "Authorization" in self.headers)

    def do_POST(self):
        # The OAuth2 form (grant_type=password) some clients try first.
        url = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode(errors="replace"))
        if url.path != "/token":
            log("%s %s -> 404" % (self.command, url.path))
            self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such path"}]})
            return
        user = (form.get("username") or [""])[0]
        password = (form.get("password") or [None])[0]
        if form.get("grant_type", [""])[0] == "password" and password is not None:
            ok = user and self.server.users.get(user) == password
            self.handle_token(form, user if ok else None, True)
        else:
            self.handle_token(form, self.user(), "Authorization" in self.headers)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--dir", required=True, help="where the key and certificate go")
    ap.add_argument("--user", action="append", required=True, metavar="USER:PASS",
                    help="accepted basic credentials (repeatable)")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--issuer", default="regfs-test-token-server")
    ap.add_argument("--expires", type=int, default=300, metavar="SECONDS")
    ap.add_argument("--stale", type=int, default=0, metavar="N",
                    help="the first N tokens are already expired (exp in the past) "
                    "while expires_in still says --expires")
    ap.add_argument("--actions", default=None,
                    help="grant only these actions (comma-separated), e.g. pull")
    args = ap.parse_args()

    users = {}
    for u in args.user:
        name, sep, password = u.partition(":")
        if not sep or not name:
            ap.error("--user takes USER:PASS")
        users[name] = password

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signer = Signer(args.dir, args.issuer)
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.signer = signer
    srv.users = users
    srv.issuer = args.issuer
    srv.expires = args.expires
    srv.stale = args.stale
    srv.lock = threading.Lock()
    srv.allowed = None if args.actions is None else set(args.actions.split(","))
    print(srv.server_address[1], flush=True)
    log("listening on 127.0.0.1:%d, issuer %r, certificate %s"
        % (srv.server_address[1], args.issuer, signer.cert))
    try:
        srv.serve_forever()
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
