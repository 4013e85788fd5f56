"""Helpers of the observability tests: captured JSON log lines and parsed metric scrapes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from ledger.adapters.logs import configure

#: a scrape: (sample name, sorted labels) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Captured:
    """The log lines written while capturing, as text and as parsed objects."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def decoded(self) -> str:
        """Every line re-encoded without escapes (a name in Chinese is searchable as itself)."""
        return "\n".join(json.dumps(obj, ensure_ascii=False) for obj in self.lines())

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == event]


@contextmanager
def captured_logs(level: str = "debug") -> Iterator[Captured]:
    """The service's JSON log lines (:func:`ledger.adapters.logs.configure`) written to a buffer."""
    stream = io.StringIO()
    names = ("ebill", "ledger", "uvicorn", "uvicorn.error", "uvicorn.access")
    levels = {n: logging.getLogger(n).level for n in names}
    root_level = logging.getLogger().level
    handler = configure(fmt="json", level=level, stream=stream)
    try:
        yield Captured(stream)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(root_level)
        for n, lvl in levels.items():
            logging.getLogger(n).setLevel(lvl)


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition (parsed by prometheus_client's own parser)."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= set(lab))
