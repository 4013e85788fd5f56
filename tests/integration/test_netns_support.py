"""The network namespaces of the organisations test (tests/netns.py): a clear reason when they
cannot be made, a partition that drops packets and heals, and nothing left behind — by the
run itself, or by a run that was killed (its namespaces are removed by the next one)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import netns
import pytest


def test_not_root_is_a_clear_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(netns.NetnsUnavailable, match="need root"):
        netns.check()


def _links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout


def _namespaces() -> list[str]:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split()


def test_hosts_partition_heal_and_leave_nothing_behind() -> None:
    try:
        net = netns.Network()
    except netns.NetnsUnavailable as exc:
        if netns.required():
            pytest.fail(f"{netns.REQUIRE_ENV}=1 but {exc}", pytrace=False)
        pytest.skip(str(exc))
    try:
        host = net.add("srv")
        server = subprocess.Popen(host.command(sys.executable, "-c", (
            "import socket\n"
            f"s = socket.create_server(({host.addr!r}, 9000))\n"
            "while True:\n"
            "    c, _ = s.accept(); c.sendall(b'hi'); c.close()\n")))
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection((host.addr, 9000), timeout=1) as s:
                    assert s.recv(2) == b"hi"
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        net.down(host)                              # packets vanish: a connection attempt times out
        with pytest.raises(TimeoutError):
            socket.create_connection((host.addr, 9000), timeout=0.5)
        route = subprocess.run(["ip", "route", "get", host.addr], capture_output=True, text=True).stdout
        assert host.link in route, f"the route must stay on the host's link while it is down: {route}"
        net.up(host)
        with socket.create_connection((host.addr, 9000), timeout=3) as s:
            assert s.recv(2) == b"hi"
    finally:
        net.close()
    assert server.wait(timeout=10) is not None      # close() ended the processes on the host
    assert host.netns not in _namespaces() and host.link not in _links()


def test_a_killed_runs_namespaces_are_removed_by_the_next() -> None:
    try:
        netns.check()
    except netns.NetnsUnavailable as exc:
        pytest.skip(str(exc))
    gone = subprocess.Popen(["true"])
    gone.wait()                                     # a pid that no longer runs: the "killed run"
    name = f"{netns.PREFIX}-{gone.pid}-left"
    subprocess.run(["ip", "netns", "add", name], check=True)
    sleeper = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "60"])
    try:
        assert name in netns.cleanup_stale()
        assert name not in _namespaces()
        assert sleeper.wait(timeout=10) != 0        # its processes were ended with it
    finally:
        sleeper.kill()
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
