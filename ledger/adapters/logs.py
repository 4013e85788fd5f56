"""The service's log lines: one JSON object per line on stderr, rendered by ``structlog``.

Why ``structlog`` over the standard library plus a JSON formatter: the code logs through
the standard library (``logging.getLogger("ebill.…")``, and so do uvicorn and the other
libraries), and structlog's :class:`~structlog.stdlib.ProcessorFormatter` renders *those*
records as JSON through one chain of processors, which also merges the context-local values
bound for a request (:func:`structlog.contextvars.bind_contextvars`: its ``request_id``) into
every line logged while answering it, in the event loop or in a worker thread. A JSON
formatter alone would need a hand-written filter for that context. One line::

    {"ts": "2026-12-06T21:14:03.123456Z", "level": "info", "logger": "ebill.http", "pid": 4242,
     "event": "request", "request_id": "5f0c…", "method": "POST", "route": "/v1/invoices",
     "status": 200, "ms": 41.7}

Keys every line has: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``pid``, ``event`` (the
message); the rest are the fields the call passed (``extra={...}``). ``EBILL_LOG_FORMAT=console``
renders the same lines for a person at a terminal.

No personal data is logged: loggers name invoices by fingerprint, claims by id and requests
by request id, never a person, a national id, a name or a token (a test runs the flows and
searches the captured lines for them).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor

__all__ = ["configure", "processors"]

Format = Literal["json", "console"]

#: the handler :func:`configure` installed (replaced on a second call, e.g. in tests)
_HANDLER_NAME = "ebill-structured"


#: attributes other handlers' formatters leave on a record (``message``), or libraries pass as extra
#: (uvicorn's ``color_message``): not fields of ours
_LEFTOVERS = ("message", "asctime", "color_message")
#: the keys every line starts with, in this order
_FIRST = ("ts", "level", "logger", "pid", "event", "request_id")


def _add_pid(logger: Any, method: str, event: EventDict) -> EventDict:
    event.setdefault("pid", os.getpid())
    return event


def _tidy(logger: Any, method: str, event: EventDict) -> EventDict:
    """Drop leftovers of other formatters, and put the common keys first (a person reads them first)."""
    for key in _LEFTOVERS:
        event.pop(key, None)
    ordered = {k: event.pop(k) for k in _FIRST if k in event}
    ordered.update(event)
    return ordered


def processors() -> list[Processor]:
    """The chain every record goes through before it is rendered."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _add_pid,
        _tidy,
    ]


def configure(*, fmt: Format = "json", level: str = "info", stream: TextIO | None = None) -> logging.Handler:
    """Render every standard-library log record of this process as JSON lines (or ``console`` text)
    on ``stream`` (stderr); ``ebill.*`` loggers at ``level``, uvicorn's at warning. Returns the
    handler (a test may read what it wrote)."""
    renderer: Processor = (structlog.processors.JSONRenderer(sort_keys=False) if fmt == "json"
                           else structlog.dev.ConsoleRenderer(colors=False))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("ebill").setLevel(level.upper())
    logging.getLogger("ledger").setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()       # (uvicorn's own text handlers, if it configured any)
        lg.propagate = True
        lg.setLevel(logging.WARNING)
    # structlog's own loggers (none are used here yet) render through the same handler
    structlog.configure(processors=[*processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
                        logger_factory=structlog.stdlib.LoggerFactory(), cache_logger_on_first_use=True)
    return handler
