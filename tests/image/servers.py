"""Real servers for pull tests, all on 127.0.0.1: Debian's docker-registry (open, htpasswd basic
auth, or token auth), a token server beside it, and a faulty proxy that drops or stalls blob
downloads part way through."""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, ClassVar

REGISTRY = "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


class Registry:
    """docker-registry on a free port, storing under ``tmp``; ``extra`` is YAML appended to its
    config after the ``http`` section (an ``auth`` section, or indented keys of ``http`` itself)."""

    def __init__(self, tmp: Path, extra: str = "") -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        config = tmp / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n  secret: lading-test-secret\n" + extra
        )
        self.log = open(tmp / "registry.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_port(self.port)
        except TimeoutError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def htpasswd(path: Path, user: str, password: str) -> str:
    out = subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True)
    path.write_text(out.stdout)
    return f"auth:\n  htpasswd:\n    realm: lading-test\n    path: {path}\n"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Server(http.server.ThreadingHTTPServer):
    """Joins its handler threads on close, so no socket outlives the test that made it."""

    daemon_threads = False
    block_on_close = True


class TokenServer:
    """Issues registry JWTs (RS256, signed by openssl, certificate in x5c) to one user."""

    SERVICE = "lading-test"
    ISSUER = "lading-test-issuer"

    def __init__(self, tmp: Path, user: str, password: str) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.key, self.cert = tmp / "key.pem", tmp / "cert.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
             "-out", self.cert, "-days", "2", "-subj", "/CN=lading-test-token"],
            check=True, capture_output=True,
        )  # fmt: skip
        der = subprocess.run(
            ["openssl", "x509", "-in", self.cert, "-outform", "DER"], check=True, capture_output=True
        ).stdout
        self.x5c = base64.b64encode(der).decode()
        self.user, self.password = user, password
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                auth = self.headers.get("Authorization", "")
                want = "Basic " + base64.b64encode(f"{outer.user}:{outer.password}".encode()).decode()
                if auth != want:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                body = json.dumps({"token": outer.token(query.get("scope", []))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            for one in scope.split(" "):
                kind, _, rest = one.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {
            "iss": self.ISSUER, "sub": self.user, "aud": self.SERVICE, "exp": now + 600, "nbf": now - 60,
            "iat": now, "jti": os.urandom(8).hex(), "access": access,
        }  # fmt: skip
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", self.key], input=signing_input.encode(),
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        return f"{signing_input}.{_b64(sig)}"

    def registry_auth(self) -> str:
        return (
            f"auth:\n  token:\n    realm: http://127.0.0.1:{self.port}/token\n    service: {self.SERVICE}\n"
            f"    issuer: {self.ISSUER}\n    rootcertbundle: {self.cert}\n"
        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FaultyProxy:
    """Forwards GETs to a registry; blob downloads can be cut off or stalled after ``cut`` bytes."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.cut: int | None = None  # bytes of a full blob response to send before misbehaving
        self.stall = False  # after the cut, hang instead of dropping the connection
        self.faults_left = 0
        self.corrupt = False  # flip a byte of every blob
        self.stopping = threading.Event()
        self.ranges: list[str] = []  # Range headers of blob requests
        self.blob_gets: dict[str, int] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            closers: ClassVar[list[Any]] = []

            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection(outer.upstream, timeout=30)
                conn.request("GET", self.path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                blob = "/blobs/" in self.path
                fault = False
                if blob:
                    digest = self.path.rsplit("/", 1)[1]
                    with outer.lock:
                        outer.ranges.append(self.headers.get("Range", ""))
                        if resp.status in (200, 206):
                            outer.blob_gets[digest] = outer.blob_gets.get(digest, 0) + 1
                        big = outer.cut is not None and len(body) > outer.cut
                        if big and outer.faults_left > 0 and resp.status == 200:
                            outer.faults_left -= 1
                            fault = True
                if blob and outer.corrupt and body:
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
                self.send_response_only(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if fault:
                    assert outer.cut is not None
                    self.wfile.write(body[: outer.cut])
                    self.wfile.flush()
                    if outer.stall:
                        outer.stopping.wait(60)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
