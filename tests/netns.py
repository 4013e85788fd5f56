"""Hosts of their own for the organisations of an end-to-end test: Linux network namespaces.

:class:`Network` makes one namespace per host (``ip netns add``) and joins it to the test's
own namespace by a veth pair on a /24 of its own: the host is ``10.X.k.2``, the test's end
``10.X.k.1``. Hosts do not reach each other directly: whatever runs between them is the
test's business (``tests/netfaults.py``'s delaying proxies listen on the test's ends), so
every byte between organisations crosses two veth links and the test's namespace, and never
leaves the machine. :meth:`Network.down` takes a host's link down (a partition: its packets
go nowhere, in both directions) and :meth:`Network.up` brings it back; the kernel restores
the link's route by itself.

Names carry the test process's pid (``ebnt-<pid>-<host>``, veths ``ebnt<pid><k>``), so
:func:`cleanup_stale` removes what a killed run left (its processes, its namespaces, and
with them its veths) without touching a run still going. :meth:`Network.close` ends every
process left in the run's namespaces and deletes them; tests call it in ``finally``.

Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2's ``ip``. Environment:
- EBILL_REQUIRE_NETNS=1: a missing prerequisite fails the test instead of skipping it
  (``./dev test`` sets it in CI when it runs as root).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

PREFIX = "ebnt"
REQUIRE_ENV = "EBILL_REQUIRE_NETNS"
_NAME = re.compile(rf"^{PREFIX}-(\d+)-[a-z0-9]+$")


class NetnsUnavailable(RuntimeError):
    """This process cannot make network namespaces (not root, no ``ip``, or the kernel refuses)."""


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


def check() -> None:
    """Raise :class:`NetnsUnavailable` saying why, unless a namespace can be made and removed here."""
    if shutil.which("ip") is None:
        raise NetnsUnavailable("iproute2's `ip` is not installed")
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root (CAP_NET_ADMIN): run the test as root")
    probe = f"{PREFIX}-{os.getpid()}-probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        raise NetnsUnavailable(f"`ip netns add` refused: {made.stderr.strip()}")
    _ip("netns", "del", probe, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    listed = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in listed.splitlines() if line.strip()]


def _end_processes(netns: str, *, grace: float = 10.0) -> None:
    """SIGTERM every process in ``netns``, then SIGKILL what is left after ``grace`` seconds."""
    def pids() -> list[int]:
        return [int(p) for p in _ip("netns", "pids", netns, check=False).stdout.split() if p.isdigit()]

    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        left = pids()
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and pids():
            time.sleep(0.1)


def _delete(netns: str) -> None:
    _end_processes(netns, grace=2.0)
    _ip("netns", "del", netns, check=False)


def cleanup_stale() -> list[str]:
    """Delete the namespaces of test runs whose process is gone (a run killed before its clean-up)."""
    removed = []
    for netns in _namespaces():
        m = _NAME.match(netns)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            _delete(netns)
            removed.append(netns)
    return removed


@dataclass(frozen=True)
class Host:
    """One namespace: ``addr`` is its address, ``gateway`` the test's end of its link ``link``."""

    name: str
    netns: str
    addr: str
    gateway: str
    link: str

    def command(self, *argv: str) -> list[str]:
        """``argv`` run on this host."""
        return ["ip", "netns", "exec", self.netns, *argv]


def _free_octet() -> int:
    """A second octet X such that 10.X.0.0/16 is used by nothing on this machine's addresses and routes."""
    text = _ip("-4", "-o", "addr", "show", check=False).stdout + _ip("-4", "route", "show", "table", "all",
                                                                       check=False).stdout
    nets = [ipaddress.ip_network(m, strict=False) for m in re.findall(r"\b\d+\.\d+\.\d+\.\d+(?:/\d+)?\b", text)]
    choices = list(range(64, 255))
    random.shuffle(choices)
    for x in choices:
        mine = ipaddress.ip_network(f"10.{x}.0.0/16")
        if not any(mine.overlaps(n) for n in nets if n.prefixlen > 0):
            return x
    raise RuntimeError("no free 10.X.0.0/16 for the test's links")


class Network:
    """The run's hosts; :meth:`close` removes them and everything running on them."""

    def __init__(self) -> None:
        check()
        cleanup_stale()
        self.octet = _free_octet()
        self.hosts: dict[str, Host] = {}

    def add(self, name: str) -> Host:
        """A new host ``name`` (lowercase letters and digits) with its link up."""
        k = len(self.hosts) + 1
        host = Host(name, f"{PREFIX}-{os.getpid()}-{name}", f"10.{self.octet}.{k}.2", f"10.{self.octet}.{k}.1",
                    f"{PREFIX}{os.getpid()}{k}")
        assert _NAME.match(host.netns) and len(host.link) <= 15, host
        self.hosts[name] = host              # before it exists: close() removes a half-made host too
        _ip("netns", "add", host.netns)
        _ip("link", "add", host.link, "type", "veth", "peer", "name", "wan0", "netns", host.netns)
        _ip("addr", "add", f"{host.gateway}/24", "dev", host.link)
        _ip("link", "set", host.link, "up")
        for args in (("addr", "add", f"{host.addr}/24", "dev", "wan0"), ("link", "set", "wan0", "up"),
                     ("link", "set", "lo", "up")):
            _ip("-n", host.netns, *args)
        return host

    def down(self, *hosts: Host) -> None:
        """Partition: take each host's own end of its link down. The host sees its link go (its
        sends fail at once); to everyone else its packets vanish, as behind a cut cable: the
        test's end stays up, so its route stays and nothing is sent elsewhere (taking that end
        down would remove the route and send the host's traffic to the default gateway)."""
        for h in hosts:
            _ip("-n", h.netns, "link", "set", "wan0", "down")

    def up(self, *hosts: Host) -> None:
        """Heal: bring each host's link back up (its route comes back with it)."""
        for h in hosts:
            _ip("-n", h.netns, "link", "set", "wan0", "up")

    def close(self) -> None:
        for host in self.hosts.values():
            _end_processes(host.netns, grace=2.0)
            _ip("link", "del", host.link, check=False)   # at once (a namespace's veths go some time after it)
            _ip("netns", "del", host.netns, check=False)
        self.hosts.clear()

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
