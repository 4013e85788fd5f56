"""Instances starting at once against one database migrate it once (ledger/adapters/sql/migrations/env.py).

Four processes (Alembic's ``context`` is a module-level proxy: one migration per process, not per
thread) upgrade the same empty database at the same moment: every one succeeds, the schema is at
head once, and the lease table has its fencing-token column exactly once. On PostgreSQL the
advisory migration lock serialises them; on SQLite the migrations' IMMEDIATE transaction does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from ledger.adapters.sql.engine import head_revision

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4

#: each process waits for the same wall-clock moment, then migrates
_MIGRATE = """
import sys, time
from ledger.adapters.sql.engine import upgrade
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
upgrade(sys.argv[1])
print("migrated")
"""


def test_instances_starting_at_once_migrate_once(database_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    start = time.time() + 4.0   # (the processes' imports take a second or two on a busy machine)
    procs = [subprocess.Popen([sys.executable, "-c", _MIGRATE, database_url, repr(start)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(PROCESSES)]
    results = [(p.wait(timeout=240), *p.communicate()) for p in procs]
    for code, out, err in results:
        assert code == 0 and out.strip() == "migrated", f"exit {code}:\n{err[-3000:]}"
        assert "Traceback" not in err
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
        columns = [c["name"] for c in inspect(engine).get_columns("leases")]
        assert columns.count("epoch") == 1
    finally:
        engine.dispose()
