"""Prometheus multiprocess mode as ``ebill serve`` sets it up: the directory emptied at start, each
process's values in files, gauges kept by the mode their family says, a dead worker's live gauges
dropped and its counts kept. Processes are real (prometheus_client decides at import)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from ledger.adapters import metrics_dir

ROOT = Path(__file__).resolve().parents[2]

_WRITER = """
import sys
from pathlib import Path
from ledger.adapters import metrics_dir
metrics_dir.prepare(Path(sys.argv[1])) if sys.argv[2] == "prepare" else None
from ledger.adapters import metrics
t = metrics.PrometheusTelemetry()
t.uploaded(statuses={"created": int(sys.argv[3]), "rejected": 1}, fee_lines=10)
t.outbox(invoices=int(sys.argv[3]), batches=1, voids=0, lag=2.5)
metrics.requests_in_flight().inc()
print(metrics.MULTIPROCESS)
"""


def _write(home: Path, created: int, *, prepare: bool) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not prepare:
        env[metrics_dir.ENV] = str(home / "metrics")
    else:
        env.pop(metrics_dir.ENV, None)
    p = subprocess.run([sys.executable, "-c", _WRITER, str(home), "prepare" if prepare else "inherit", str(created)],
                       env=env, capture_output=True, text=True, check=True, timeout=60)
    assert p.stdout.strip() == "True", p.stderr
    return _pids(home)[-1]


def _pids(home: Path) -> list[int]:
    return sorted({int(f.stem.rsplit("_", 1)[1]) for f in (home / "metrics").glob("*.db")})


def _values(home: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(home / "metrics"))  # type: ignore[no-untyped-call]
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(generate_latest(registry).decode()) for s in f.samples}


def test_processes_add_up_and_a_dead_ones_live_gauges_go(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_999999.db").write_bytes(b"left over from the last run")
    first = _write(tmp_path, 3, prepare=True)        # `ebill serve` at start: the directory emptied
    assert _pids(tmp_path) == [first]
    second = _write(tmp_path, 4, prepare=False)      # an API worker: inherits the directory
    v = _values(tmp_path)
    assert v[("ebill_upload_invoices_total", (("status", "created"),))] == 7          # summed
    assert v[("ebill_upload_fee_lines_total", ())] == 20
    assert v[("ebill_outbox_depth", (("queue", "invoices"),))] == 4                    # the most recent
    assert v[("ebill_http_requests_in_flight", ())] == 2                               # summed over the live
    metrics_dir.process_exited(None)                                                    # (nothing to do)
    os.environ[metrics_dir.ENV] = str(tmp_path / "metrics")
    try:
        metrics_dir.process_exited(second)
    finally:
        del os.environ[metrics_dir.ENV]
    v = _values(tmp_path)
    assert v[("ebill_http_requests_in_flight", ())] == 1          # the dead one's live gauge is gone
    assert v[("ebill_outbox_depth", (("queue", "invoices"),))] == 3
    assert v[("ebill_upload_invoices_total", (("status", "created"),))] == 7   # what it counted stays


def test_prepare_refuses_once_the_client_was_imported_in_process_mode(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics_dir.ENV, raising=False)
    assert "prometheus_client" in sys.modules
    with pytest.raises(RuntimeError, match="imported before the metrics directory"):
        metrics_dir.prepare(tmp_path)
    assert not (tmp_path / "metrics").exists()
