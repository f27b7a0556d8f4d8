"""A distribution-spec client: the auth handshake, manifests and blobs over http.client.

Each thread keeps its own keep-alive connection per host. Authentication follows the registry's
lead: a request answered 401 with ``WWW-Authenticate: Bearer realm=...`` gets a token from the
realm (sending basic credentials if we have them) and is retried; ``Basic`` gets the credentials
directly. Transient failures (refused or dropped connections, timeouts, 429 and 5xx) are retried
with back-off; everything else becomes one sentence the user can act on.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from lading import log
from lading.errors import LadingError, NotFoundError
from lading.image.auth import Challenge, Credentials, parse_challenge
from lading.spec import image as spec

MANIFEST_ACCEPT = ", ".join((spec.OCI_INDEX, spec.OCI_MANIFEST, spec.DOCKER_MANIFEST_LIST, spec.DOCKER_MANIFEST))
_TIMEOUT = 30.0
_TRANSIENT = (OSError, http.client.HTTPException)  # socket errors, timeouts, TLS, bad/short responses


class TransientError(LadingError):
    """Worth retrying: the registry is down, slow, or dropped the connection."""


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: http.client.HTTPResponse

    def read_all(self, limit: int) -> bytes:
        try:
            data = self.body.read(limit + 1)
        except _TRANSIENT as e:
            raise LadingError(f"the registry connection broke during a response: {e!r}") from None
        if len(data) > limit:
            raise LadingError(f"registry response larger than {limit} bytes")
        if self.body.length:
            raise LadingError("the registry closed the connection in the middle of a response")
        return data

    def chunk(self, size: int) -> bytes:
        """The next part of the body; b"" at its end; IncompleteRead if the connection ends early."""
        data = self.body.read1(size)  # what has arrived, not waiting for all of ``size``
        if not data:
            if self.body.length:  # http.client returns b"" rather than raising
                raise http.client.IncompleteRead(b"", self.body.length)
            self.body.read()  # marks the response done, so the connection can be reused
        return data


class Registry:
    """One registry host, seen through one repository (tokens are scoped to it)."""

    def __init__(
        self,
        host: str,
        repository: str,
        creds: Credentials | None = None,
        insecure: bool = False,
        retries: int = 3,
    ) -> None:
        self.host, self.repository, self.creds = host, repository, creds
        self.insecure, self.retries = insecure, retries
        self.scheme = "https"
        self._local = threading.local()
        self._auth_lock = threading.Lock()
        self._authorization = ""
        self._pinged = False
        self._all: list[http.client.HTTPConnection] = []  # every thread's, for abort()
        self._all_lock = threading.Lock()

    # --- connections ----------------------------------------------------------------------------

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        conn = pool.get((scheme, netloc))
        if conn is None:
            if scheme == "https":
                ctx = ssl.create_default_context()
                if self.insecure:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                conn = http.client.HTTPSConnection(netloc, timeout=_TIMEOUT, context=ctx)
            else:
                conn = http.client.HTTPConnection(netloc, timeout=_TIMEOUT)
            pool[(scheme, netloc)] = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _drop(self, scheme: str, netloc: str) -> None:
        pool = self._local.__dict__.get("pool", {})
        conn = pool.pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def abort(self) -> None:
        """Unblock every thread waiting on this registry (Ctrl-C): their reads fail at once."""
        with self._all_lock:
            for conn in self._all:
                if conn.sock is not None:
                    with contextlib.suppress(OSError):
                        conn.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        for conn in self._local.__dict__.get("pool", {}).values():
            conn.close()
        self._local.__dict__["pool"] = {}

    def _send(self, method: str, url: str, headers: dict[str, str]) -> Response:
        """One request, following redirects (without our credentials when the host changes)."""
        for _ in range(6):
            u = urllib.parse.urlsplit(url)
            conn = self._connection(u.scheme, u.netloc)
            target = u.path + (f"?{u.query}" if u.query else "")
            try:
                conn.request(method, target, headers=headers)
                resp = conn.getresponse()
            except _TRANSIENT:
                self._drop(u.scheme, u.netloc)  # a stale keep-alive connection; retried by the caller
                raise
            if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
                resp.read()
                nxt = urllib.parse.urljoin(url, resp.getheader("Location", ""))
                if urllib.parse.urlsplit(nxt).netloc != u.netloc:
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                url = nxt
                continue
            return Response(resp.status, resp.headers, resp)
        raise LadingError(f"{url}: too many redirects")

    # --- auth -----------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"

    def _ping(self) -> None:
        """Find the scheme of an --insecure registry: plain HTTP if it answers that, else TLS
        without verification (a TLS port answers a plain request with 400)."""
        if self._pinged:
            return
        if self.insecure:
            self.scheme = "http"
            try:
                resp = self._send("GET", self._url("/v2/"), {})
                resp.body.read()
                if resp.status == 400:
                    self.scheme = "https"
            except _TRANSIENT:
                self._drop("http", self.host)
                self.scheme = "https"
        self._pinged = True

    def _authenticate(self, challenge: Challenge) -> None:
        if challenge.scheme == "basic":
            if self.creds is None:
                raise LadingError(
                    f"{self.host} requires authentication: pass --creds USER:PASSWORD or add it to"
                    " ~/.docker/config.json"
                )
            self._authorization = self.creds.basic()
            return
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            raise LadingError(f"{self.host}: unsupported authentication challenge {challenge.scheme!r}")
        query = {"scope": challenge.params.get("scope") or f"repository:{self.repository}:pull"}
        if "service" in challenge.params:
            query["service"] = challenge.params["service"]
        realm = challenge.params["realm"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {"Authorization": self.creds.basic()} if self.creds else {}
        resp = self._with_retries(lambda: self._send("GET", url, headers))
        body = resp.read_all(1 << 20)
        if resp.status in (401, 403):
            who = f"as {self.creds.username!r}" if self.creds else "anonymously"
            raise LadingError(f"authentication to {self.host} failed {who}: the token server said {resp.status}")
        if resp.status != 200:
            raise LadingError(f"{self.host}: token server {realm} answered {resp.status}")
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise LadingError(f"{self.host}: token server {realm} sent no token")
        self._authorization = f"Bearer {token}"

    def request(self, path: str, accept: str = "", byte_range: int = 0) -> Response:
        """GET an API path, authenticating when challenged; the body is left to the caller."""
        self._ping()
        for attempt in range(2):
            headers = {"User-Agent": "lading"}
            if accept:
                headers["Accept"] = accept
            if byte_range:
                headers["Range"] = f"bytes={byte_range}-"
            if self._authorization:
                headers["Authorization"] = self._authorization
            resp = self._with_retries(functools.partial(self._checked, path, headers))
            if resp.status != 401:
                return resp
            sent_auth = bool(self._authorization)
            challenge = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
            resp.body.read()
            if attempt == 1 or (sent_auth and challenge.scheme == "basic"):
                who = f"as {self.creds.username!r}" if self.creds else "anonymously"
                raise LadingError(f"authentication to {self.host} failed {who}: access denied to {self.repository}")
            with self._auth_lock:
                self._authenticate(challenge)
        raise AssertionError("unreachable")

    def _checked(self, path: str, headers: dict[str, str]) -> Response:
        resp = self._send("GET", self._url(path), headers)
        if resp.status == 429 or resp.status >= 500:
            resp.body.read()
            raise TransientError(f"{self.host} answered {resp.status} {resp.body.reason}")
        return resp

    def _with_retries(self, fn: Callable[[], Response]) -> Response:
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except (TransientError, *_TRANSIENT) as e:
                if attempt == self.retries:
                    raise unreachable(self.host, e) from None
                log.info(f"{self.host}: {e}; retrying in {delay:.1f}s")
                time.sleep(delay)
                delay = min(delay * 2, 8)
        raise AssertionError("unreachable")

    # --- API ------------------------------------------------------------------------------------

    def manifest(self, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, Docker-Content-Digest header or "") of a manifest or index."""
        resp = self.request(f"/v2/{self.repository}/manifests/{reference}", accept=MANIFEST_ACCEPT)
        body = resp.read_all(4 << 20)
        if resp.status == 404 and not reference.startswith("sha"):
            self._unknown_tag(reference)
        if resp.status != 200:
            raise api_error(self.host, self.repository, reference, resp.status, body)
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        if not media_type or media_type == "application/json":
            try:
                media_type = json.loads(body).get("mediaType", "")
            except (ValueError, AttributeError):
                media_type = ""
        return body, media_type, resp.headers.get("Docker-Content-Digest", "")

    def _unknown_tag(self, tag: str) -> None:
        """A missing manifest: say whether the tag or the whole repository is unknown."""
        resp = self.request(f"/v2/{self.repository}/tags/list")
        body = resp.read_all(4 << 20)
        what = f"{self.host}/{self.repository}"
        if resp.status == 404:
            raise NotFoundError(f"unknown image {what}: the registry has no such repository")
        tags: list[str] = []
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            tags = [str(t) for t in json.loads(body).get("tags") or []]
        hint = f" (it has: {', '.join(tags[:8])}{', ...' if len(tags) > 8 else ''})" if tags else ""
        raise NotFoundError(f"unknown tag {tag!r} for image {what}{hint}")

    def blob(self, digest: str, offset: int = 0) -> Response:
        """Open a blob (from ``offset``); status 206 means the range was honoured, 200 the whole blob."""
        resp = self.request(f"/v2/{self.repository}/blobs/{digest}", byte_range=offset)
        if resp.status == 416 and offset:
            resp.body.read()
            return self.blob(digest, 0)
        if resp.status not in (200, 206):
            body = resp.read_all(1 << 20)
            raise api_error(self.host, self.repository, digest, resp.status, body)
        return resp


def unreachable(host: str, e: BaseException) -> LadingError:
    if isinstance(e, TransientError):
        return LadingError(f"registry {host} is failing: {e}")
    if isinstance(e, socket.timeout | TimeoutError):
        return LadingError(f"registry {host} timed out")
    if isinstance(e, ssl.SSLError):
        return LadingError(f"registry {host}: TLS failed ({e.reason}); for a plain-HTTP registry use --insecure")
    if isinstance(e, ConnectionRefusedError):
        return LadingError(f"registry {host} is down or not listening (connection refused)")
    if isinstance(e, socket.gaierror):
        return LadingError(f"registry {host} not found: {e.strerror}")
    return LadingError(f"registry {host} is unreachable: {e}")


def api_error(host: str, repository: str, reference: str, status: int, body: bytes) -> LadingError:
    """Turn a registry error response into what it means for the user."""
    codes: list[str] = []
    with contextlib.suppress(ValueError, AttributeError):
        codes = [e.get("code", "") for e in json.loads(body).get("errors", [])]
    what = f"{host}/{repository}"
    if "NAME_UNKNOWN" in codes:
        return NotFoundError(f"unknown image {what}: the registry has no such repository")
    if "MANIFEST_UNKNOWN" in codes or (status == 404 and not reference.startswith("sha")):
        kind = "manifest" if ":" in reference else "tag"
        return NotFoundError(f"unknown {kind} {reference!r} for image {what}")
    if "BLOB_UNKNOWN" in codes or status == 404:
        return NotFoundError(f"{what}: the registry has no {reference}")
    if status in (401, 403) or "DENIED" in codes or "UNAUTHORIZED" in codes:
        return LadingError(f"access to {what} denied (unknown image, or credentials needed: --creds)")
    return LadingError(f"{what}: {reference}: registry answered {status} {','.join(codes)}".rstrip())
