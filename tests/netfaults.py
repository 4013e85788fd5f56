"""A delaying TCP proxy for the network-fault tests: latency and cut connections without ``netem``.

The kernel of the test machines has no ``netem`` queueing discipline, so latency cannot be
added to a link. Instead every path between two organisations runs through a
:class:`DelayProxy`: it accepts a connection, opens one to its target, and forwards each
chunk it reads ``delay`` seconds (plus up to ``jitter``) after it arrived, in both
directions, in order. It does not throttle: chunks in flight overlap, as on a long link.

:meth:`ProxyHub.cut` resets every connection open through a proxy at once (an RST both ways,
as when a NAT box or a load balancer drops its state); new connections are accepted again
right after. :meth:`ProxyHub.lose_replies` makes requests of a kind reach their target and
then lose their answer: the connection is reset as the reply starts back (the window in which
a client cannot know whether what it asked for was done). A proxy whose target does not
answer closes the client's connection at once (what a client sees when the far side is
unreachable behind a gateway).

All proxies of a test run in one event loop in one background thread (:class:`ProxyHub`);
the test changes them from its own thread. Nothing here needs privileges.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

#: bytes read at once from either side
CHUNK = 64 * 1024
#: seconds a proxy waits for its target to accept a connection
CONNECT_TIMEOUT = 5.0


@dataclass
class ProxyStats:
    """What went through one proxy."""

    connections: int = 0
    refused: int = 0           # the target did not accept: the client's connection was closed
    cut: int = 0               # connections reset by :meth:`ProxyHub.cut`
    lost_replies: int = 0      # requests delivered whose reply was dropped (:meth:`ProxyHub.lose_replies`)
    bytes_up: int = 0          # client → target
    bytes_down: int = 0        # target → client


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    #: a request passed on upstream is to have its reply dropped: the connection is reset instead
    doomed: bool = False

    def reset(self) -> None:
        for writer in (self.client, self.upstream):
            _reset(writer)
        for task in self.tasks:
            task.cancel()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST rather than a FIN: SO_LINGER 0, then abort."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class DelayProxy:
    """``listen_host:port`` → ``target_host:target_port``, each chunk ``delay`` (+ jitter) s late."""

    def __init__(self, hub: ProxyHub, name: str, *, target: tuple[str, int], delay: float, jitter: float) -> None:
        self.hub, self.name, self.target = hub, name, target
        self.delay, self.jitter = delay, jitter
        self.stats = ProxyStats()
        self.host, self.port = "", 0
        self._server: asyncio.base_events.Server | None = None
        self._open: set[_Connection] = set()
        self._random = random.Random(name)
        self._lose: list[bytes] = []      # one entry per reply still to lose: the request must contain it

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _listen(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port, reuse_address=True)
        self.host, self.port = self._server.sockets[0].getsockname()[:2]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target), CONNECT_TIMEOUT)
        except (TimeoutError, OSError):
            self.stats.refused += 1
            _reset(writer)
            return
        conn = _Connection(writer, up_writer)
        self._open.add(conn)
        conn.tasks = [asyncio.ensure_future(self._pipe(reader, up_writer, conn, up=True)),
                      asyncio.ensure_future(self._pipe(up_reader, writer, conn, up=False))]
        try:
            done, pending = await asyncio.wait(conn.tasks, return_when=asyncio.FIRST_EXCEPTION)
            if any(not t.cancelled() and t.exception() is not None for t in done):
                conn.reset()              # one direction broke: the connection is gone both ways
            elif pending:
                await asyncio.wait(pending)
        finally:
            self._open.discard(conn)
            for w in (writer, up_writer):
                w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: _Connection, *,
                    up: bool) -> None:
        """Forward ``reader`` to ``writer``, each chunk due ``delay`` after it was read, in order; a
        reply to a doomed request resets the connection instead of going through."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:                      # the other side finished sending: pass the FIN on
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                if up and not conn.doomed:
                    for k, pattern in enumerate(self._lose):
                        if pattern in data:
                            del self._lose[k]
                            conn.doomed = True
                            break
                elif not up and conn.doomed:
                    self.stats.lost_replies += 1
                    self._open.discard(conn)
                    conn.reset()                  # the request was served; its answer never arrives
                    return
                writer.write(data)
                await writer.drain()
                if up:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)

        sender = asyncio.ensure_future(send())
        last_due = 0.0
        try:
            while not sender.done():
                data = await reader.read(CHUNK)
                delay = self.delay + (self._random.uniform(0, self.jitter) if self.jitter else 0.0)
                last_due = max(last_due, loop.time() + delay)   # jitter never reorders a stream
                queue.put_nowait((last_due, data))
                if not data:
                    break
            await sender                          # raises what broke the sending side
        finally:
            sender.cancel()

    def _cut(self) -> int:
        n = len(self._open)
        for conn in list(self._open):
            conn.reset()
        self._open.clear()
        self.stats.cut += n
        return n

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._cut()


class ProxyHub:
    """An event loop in a background thread that runs every :class:`DelayProxy` of a test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.proxies: dict[str, DelayProxy] = {}
        self._thread = threading.Thread(target=self.loop.run_forever, name="delay-proxies", daemon=True)
        self._thread.start()

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def add(self, name: str, *, listen: str, target: tuple[str, int], delay: float = 0.0, jitter: float = 0.0,
            port: int = 0) -> DelayProxy:
        """A new proxy listening on ``listen`` (``port`` 0: any free one), forwarding to ``target``."""
        proxy = DelayProxy(self, name, target=target, delay=delay, jitter=jitter)
        self._run(proxy._listen(listen, port))
        self.proxies[name] = proxy
        return proxy

    def set_delay(self, delay: float, jitter: float = 0.0) -> None:
        """Every proxy's one-way delay from now on (chunks already read keep theirs)."""
        def apply() -> None:
            for p in self.proxies.values():
                p.delay, p.jitter = delay, jitter
        self.loop.call_soon_threadsafe(apply)

    def cut(self, *names: str) -> int:
        """Reset every connection open through the named proxies (all when none named); how many."""
        async def cut() -> int:
            return sum(p._cut() for n, p in self.proxies.items() if not names or n in names)
        return self._run(cut())

    def lose_replies(self, name: str, count: int, *, matching: bytes) -> None:
        """Drop the replies to the next ``count`` requests through proxy ``name`` that contain
        ``matching`` (within one chunk read): each request reaches its target, which serves it,
        and then the connection is reset before a byte of the answer gets back."""
        proxy = self.proxies[name]
        self.loop.call_soon_threadsafe(proxy._lose.extend, [matching] * count)

    def stats(self) -> dict[str, ProxyStats]:
        return {n: p.stats for n, p in self.proxies.items()}

    def close(self) -> None:
        if not self.loop.is_running():
            return
        with contextlib.suppress(Exception):
            async def close_all() -> None:
                for p in self.proxies.values():
                    await p._close()
            self._run(close_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()

    def __enter__(self) -> ProxyHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
