"""The delaying TCP proxy of the network-fault tests (tests/netfaults.py): it adds the latency it
says, keeps a stream in order under jitter, resets every open connection on a cut and accepts
new ones right after, loses the replies it is told to lose, and closes a client's connection at
once when its target is unreachable."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from netfaults import ProxyHub


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """A TCP echo server on 127.0.0.1, one thread per connection."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(ConnectionResetError):   # the proxy's cut resets this side too
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()
    stop.set()
    server.close()


def _read(sock: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return got


def test_latency_order_cut_and_unreachable(echo: tuple[str, int]) -> None:
    with ProxyHub() as hub:
        proxy = hub.add("echo", listen="127.0.0.1", target=echo, delay=0.1, jitter=0.05)
        with socket.create_connection((proxy.host, proxy.port), timeout=5) as s:
            t0 = time.monotonic()
            s.sendall(b"ping")
            assert _read(s, 4) == b"ping"
            rtt = time.monotonic() - t0
            assert 0.2 <= rtt < 0.2 + 2 * 0.05 + 0.2, rtt          # one delay each way, plus at most the jitter
            payload = bytes(range(256)) * 64
            for k in range(0, len(payload), 97):                    # many small chunks: jitter must not reorder
                s.sendall(payload[k:k + 97])
            assert _read(s, len(payload)) == payload

            assert hub.cut() == 1
            with pytest.raises(OSError):                           # reset: the next read or write fails
                s.sendall(b"x")
                assert s.recv(1) == b""
                raise ConnectionResetError
        assert proxy.stats.cut == 1 and proxy.stats.connections == 1

        hub.set_delay(0.0)
        with socket.create_connection((proxy.host, proxy.port), timeout=5) as s:   # accepted again after a cut
            t0 = time.monotonic()
            s.sendall(b"again")
            assert _read(s, 5) == b"again" and time.monotonic() - t0 < 0.2

        hub.lose_replies("echo", 1, matching=b"doomed")
        with socket.create_connection((proxy.host, proxy.port), timeout=5) as s:
            s.sendall(b"fine")
            assert _read(s, 4) == b"fine"                           # not a request that matches
            with pytest.raises(OSError):
                s.sendall(b"a doomed request")                      # delivered, echoed, and the echo lost
                assert s.recv(1) == b""
                raise ConnectionResetError
        assert proxy.stats.lost_replies == 1
        with socket.create_connection((proxy.host, proxy.port), timeout=5) as s:
            s.sendall(b"doomed again")                              # only the count given is lost
            assert _read(s, 12) == b"doomed again"

        closed = socket.create_server(("127.0.0.1", 0))
        gone = closed.getsockname()
        closed.close()
        dead = hub.add("dead", listen="127.0.0.1", target=gone)
        with socket.create_connection((dead.host, dead.port), timeout=5) as s, pytest.raises(OSError):
            s.sendall(b"x")
            assert s.recv(1) == b""
            raise ConnectionResetError
        assert dead.stats.refused == 1
