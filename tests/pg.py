"""Throw-away PostgreSQL clusters for the tests (used by the fixtures in tests/conftest.py).

A cluster lives in its own temp dir: `initdb` (trust auth, C locale, no fsync), then
`pg_ctl start` on a free port on 127.0.0.1 with the unix socket in the same dir. PostgreSQL
refuses to run as root, so as root every server command runs as the `postgres` system user
(`runuser`, else `setpriv`) and the temp dir is handed to that user. `stop()` is
`pg_ctl stop -m immediate`, then SIGKILL for anything still running in the data dir, then
the dir is removed. Clusters left behind by a killed test run are cleaned up by the next one.

Environment:
- EBILL_PG_BINDIR: the directory holding initdb/pg_ctl/postgres (default: the newest
  /usr/lib/postgresql/*/bin, then initdb on PATH). A directory without initdb means
  "no PostgreSQL", which is how the skip path is tested.
- EBILL_REQUIRE_POSTGRES=1: a missing PostgreSQL fails the tests instead of skipping them
  (`./dev test` sets it in CI once it has installed PostgreSQL).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

BINDIR_ENV = "EBILL_PG_BINDIR"
REQUIRE_ENV = "EBILL_REQUIRE_POSTGRES"
SUPERUSER = "ebill"
DATABASE = "ebill"
DIR_PREFIX = "ebill-pg-"
OWNER_FILE = "owner.pid"  # the pid of the test process that made the cluster

SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
}


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") == "1"


def find_bindir() -> Path:
    """The directory with initdb, pg_ctl and postgres, or PostgresUnavailable."""
    override = os.environ.get(BINDIR_ENV)
    if override:
        candidates = [Path(override)]
    else:

        def version(path: str) -> tuple[int, ...]:
            return tuple(int(n) for n in re.findall(r"\d+", Path(path).parents[1].name))

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True)
        candidates = [Path(p).parent for p in found]
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    where = f"{BINDIR_ENV}={override}" if override else "/usr/lib/postgresql/*/bin or PATH"
    raise PostgresUnavailable(
        f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) in {where}; "
        "`./dev test` installs Debian's postgresql when run as root"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user() -> tuple[list[str], str | None]:
    """(command prefix, user name): how to run server commands. Empty prefix unless root."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        if shutil.which("runuser"):
            return ["runuser", "-u", user, "--"], user
        if shutil.which("setpriv"):
            return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"], user
        break
    raise RuntimeError("running as root, but there is no postgres user with runuser or setpriv to start PostgreSQL")


def _processes_in(datadir: Path) -> list[int]:
    """Pids of the processes whose working directory is `datadir` (postgres chdirs there)."""
    pids = []
    target = str(datadir.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(entry / "cwd") == target:
                pids.append(int(entry.name))
    return pids


def _kill_all_in(datadir: Path) -> None:
    for pid in _processes_in(datadir):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Cluster:
    """One throw-away PostgreSQL cluster; `start()`, then `stop()` (idempotent)."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.prefix, self.user = _as_server_user()
        self.dir: Path | None = None
        self.port = 0
        self.timings: dict[str, float] = {}

    @property
    def datadir(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database, autocommit=True)

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TZ": "UTC", "LC_ALL": "C", "LANG": "C"}
        env.pop("PGDATA", None)
        return subprocess.run(
            [*self.prefix, *args],
            cwd=self.dir,  # a directory the server user can enter
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _log_tail(self) -> str:
        assert self.dir is not None
        with contextlib.suppress(OSError):
            return "\n".join((self.dir / "server.log").read_text(errors="replace").splitlines()[-20:])
        return ""

    def start(self) -> Cluster:
        t0 = time.perf_counter()
        cleanup_stale()
        self.dir = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        (self.dir / OWNER_FILE).write_text(str(os.getpid()))
        if self.user:
            os.chmod(self.dir, 0o700)
            os.chown(self.dir, pwd.getpwnam(self.user).pw_uid, pwd.getpwnam(self.user).pw_gid)
            if self._run("test", "-w", str(self.dir)).returncode != 0:
                raise RuntimeError(f"{self.dir} is not writable by the {self.user} user (TMPDIR under a private dir?)")
        init = self._run(
            str(self.bindir / "initdb"),
            *("-D", str(self.datadir), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"),
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}):\n{init.stdout}{init.stderr}")
        self.timings["initdb"] = time.perf_counter() - t0
        base_conf = (self.datadir / "postgresql.conf").read_text()
        settings = {**SETTINGS, "unix_socket_directories": f"'{self.dir}'"}
        for attempt in range(3):  # the free port may be taken before the server binds it
            self.port = free_port()
            conf = "".join(f"{k} = {v}\n" for k, v in {**settings, "port": str(self.port)}.items())
            (self.datadir / "postgresql.conf").write_text(base_conf + "\n# ebill tests\n" + conf)
            started = self._run(
                str(self.bindir / "pg_ctl"),
                *("-D", str(self.datadir), "-l", str(self.dir / "server.log"), "-w", "-t", "30", "start"),
            )
            if started.returncode == 0:
                break
            log = self._log_tail()
            self._stop_server()
            if "Address already in use" not in log or attempt == 2:
                raise RuntimeError(f"pg_ctl start failed ({started.returncode}):\n{started.stderr}\n{log}")
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        self.timings["total"] = time.perf_counter() - t0
        return self

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A new empty database for the duration of the block; yields its SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url(name)
        finally:
            with self.connect() as conn:  # FORCE: a test's leftover connections must not keep it alive
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _stop_server(self) -> None:
        if self.dir is None or not self.datadir.exists():
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "-t", "10", "stop")
        _kill_all_in(self.datadir)

    def stop(self) -> None:
        if self.dir is None:
            return
        try:
            self._stop_server()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def cleanup_stale() -> None:
    """Stop and remove clusters whose test process is gone (a run killed before its finalizer)."""
    for entry in Path(tempfile.gettempdir()).glob(f"{DIR_PREFIX}*"):
        try:
            owner = int((entry / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(owner):
            continue
        if (entry / "data").exists():
            _kill_all_in(entry / "data")
        shutil.rmtree(entry, ignore_errors=True)
