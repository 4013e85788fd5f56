"""The one hand-made JSON-RPC client: an ``http://`` or ``https://`` node, on kept-alive connections.

The hot chain reads (an invoice's record on every verification and claim) skip web3's
machinery: through its provider (the ``requests`` library) an ``eth_call`` costs
≈ 1.3 ms of CPU, through its contract layer ≈ 4.8 ms; a raw HTTP/1.1 request on a
kept-alive connection ≈ 0.15 ms from a thread, a few tens of µs awaited on an event
loop, where many can be in flight at once. One endpoint, two ways in:

- :meth:`JsonRpcHttp.post`, blocking: one connection per thread (workers, use cases);
- :meth:`JsonRpcHttp.apost`, awaited: a pool of connections per event loop (a uvicorn
  worker has one loop; used from another loop, the pool is forgotten and refilled).

``http://`` or ``https://`` (TLS checked with the ``ssl_context`` given, else the system's
CAs), with extra headers on every request (a Besu node's ``Authorization: Bearer`` token,
see :mod:`~ledger.adapters.rpc_access`); any other URL is refused at construction with
``ValueError``, so the caller keeps web3's provider for it.

Errors: a node that cannot be reached, answers another HTTP status than 200, or answers
something that is not a JSON object raises :class:`~ledger.errors.ChainUnavailable`
(HTTP 401/403 says that the node refused the token).
A JSON-RPC ``error`` member is returned in the answer: what it means depends on the
call, which the caller knows.
"""

from __future__ import annotations

import asyncio
import http.client
import ssl
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

import orjson

from ledger.errors import ChainUnavailable

#: idle connections kept per event loop
MAX_IDLE = 64
_MAX_RESPONSE = 1 << 20

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def request_body(method: str, params: list[object]) -> bytes:
    """A JSON-RPC 2.0 request (id 1: one request per connection at a time)."""
    return orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})


class JsonRpcHttp:
    """A JSON-RPC endpoint at an ``http://`` or ``https://`` URL."""

    def __init__(self, url: str, *, timeout: float = 10.0, headers: Mapping[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"only http:// and https:// JSON-RPC endpoints are supported here, got {url!r}")
        self.url = url
        self._host, self._port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        self._path = parts.path or "/"
        self._ssl = (ssl_context or ssl.create_default_context()) if parts.scheme == "https" else None
        extra = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-type", "content-length",
                                                                              "host", "connection")}
        if any(c in "\r\n" for kv in extra.items() for c in "".join(kv)):
            raise ValueError("a header holds a line break")
        self._headers = {"Content-Type": "application/json", **extra}
        self._head = (f"POST {self._path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                      + "".join(f"{k}: {v}\r\n" for k, v in self._headers.items())
                      + "Connection: keep-alive\r\nContent-Length: ").encode()
        self._timeout = timeout
        self._local = threading.local()      # .conn: this thread's http.client connection
        self._idle: list[_Conn] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def where(self) -> str:
        return f"{self._host}:{self._port}"

    # ------------------------------------------------------------------ blocking

    def call(self, method: str, params: list[object]) -> dict[str, object]:
        """The answer to ``method(params)`` (blocking)."""
        return self.post(request_body(method, params))

    def post(self, body: bytes) -> dict[str, object]:
        """The answer to the request ``body``, on this thread's kept-alive connection (blocking)."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        # a kept-alive connection the node closed meanwhile: reconnect once
        for attempt in (0, 1):
            fresh = conn is None
            if conn is None:
                conn = (http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=self._ssl)
                        if self._ssl is not None else
                        http.client.HTTPConnection(self._host, self._port, timeout=self._timeout))
                self._local.conn = conn
            try:
                conn.request("POST", self._path, body, self._headers)
                resp = conn.getresponse()
                payload = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = self._local.conn = None
                if attempt == 0 and not fresh:
                    continue
                raise ChainUnavailable(f"chain node {self.where} failed: {type(exc).__name__}: {exc}") from exc
            if resp.status != 200:
                raise ChainUnavailable(_status_message(self.where, resp.status))
            return _document(payload)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ awaited

    async def acall(self, method: str, params: list[object]) -> dict[str, object]:
        """The answer to ``method(params)``, awaited."""
        return await self.apost(request_body(method, params))

    async def apost(self, body: bytes) -> dict[str, object]:
        """The answer to the request ``body`` on a pooled kept-alive connection of this event loop."""
        request = self._head + str(len(body)).encode() + b"\r\n\r\n" + body
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that opened them
            self._idle.clear()
            self._loop = loop
        # a pooled connection may have been closed by the node: one retry on a fresh one
        for attempt in (0, 1):
            fresh = not self._idle
            try:
                async with asyncio.timeout(self._timeout):  # not wait_for: that starts a task per call
                    conn = self._idle.pop() if self._idle else await asyncio.open_connection(
                        self._host, self._port, ssl=self._ssl)
            except (OSError, TimeoutError) as exc:
                raise ChainUnavailable(f"chain node {self.where} unreachable: {exc}") from exc
            try:
                async with asyncio.timeout(self._timeout):
                    payload, keep = await _exchange(conn, request)
            except _Refused as exc:
                conn[1].close()
                raise ChainUnavailable(_status_message(self.where, exc.status)) from exc
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                conn[1].close()
                if attempt == 0 and not fresh:
                    continue
                raise ChainUnavailable(f"chain node {self.where} failed: {type(exc).__name__}: {exc}") from exc
            if keep and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
            else:
                conn[1].close()
            return _document(payload)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the idle connections of the event loop (call it on that loop) and of this thread."""
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _Refused(Exception):
    """The node answered with an HTTP status other than 200."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _status_message(where: str, status: int) -> str:
    if status in (401, 403):
        return (f"chain node {where} refused the request (HTTP {status}): its RPC needs a valid token "
                "(EBILL_RPC_TOKEN_FILE; issue one with `ebill chain besu-token`)")
    return f"chain node {where} answered HTTP {status}"


def _document(payload: bytes) -> dict[str, object]:
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ChainUnavailable(f"chain node answered non-JSON: {payload[:200]!r}") from exc
    if not isinstance(doc, dict):
        raise ChainUnavailable(f"chain node answered {payload[:200]!r}")
    return doc


async def _exchange(conn: _Conn, request: bytes) -> tuple[bytes, bool]:
    """Send ``request``, read one HTTP/1.1 answer (Content-Length or chunked): its body, and
    whether the connection may be kept. ``ValueError`` for anything else."""
    reader, writer = conn
    writer.write(request)
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    if not head.startswith((b"http/1.1 200 ", b"http/1.0 200 ")):
        status = head[9:12]
        if head.startswith(b"http/1.") and status.isdigit():
            raise _Refused(int(status))
        raise ValueError(f"HTTP status {head[:40]!r}")
    keep = b"\r\nconnection: close" not in head
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        length = int(head[at + 17:head.index(b"\r\n", at + 2)])
        if length > _MAX_RESPONSE:
            raise ValueError(f"response of {length} bytes")
        return await reader.readexactly(length), keep
    if b"\r\ntransfer-encoding: chunked" in head:
        chunks: list[bytes] = []
        size_so_far = 0
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(chunks), keep
            size_so_far += size
            if size_so_far > _MAX_RESPONSE:
                raise ValueError("response too large")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    raise ValueError("response without Content-Length or chunked encoding")
