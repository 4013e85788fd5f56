"""The service's log lines: one JSON object a line, in the published schema (docs/log-line.schema.json),
with the request id bound for a request, and other formatters' leftovers dropped."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jsonschema_rs
import structlog

from ledger.adapters.logs import configure

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "log-line.schema.json").read_text())


@contextmanager
def _lines(fmt: str = "json") -> Iterator[io.StringIO]:
    stream = io.StringIO()
    level = logging.getLogger("ebill").level
    handler = configure(fmt=fmt, stream=stream)  # type: ignore[arg-type]
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("ebill").setLevel(level)


def _parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lines_follow_the_schema_with_the_common_keys_first() -> None:
    validator = jsonschema_rs.validator_for(SCHEMA)
    with _lines() as out:
        log = logging.getLogger("ebill.test")
        tokens = structlog.contextvars.bind_contextvars(request_id="req-0001-abcd")
        log.info("request", extra={"method": "POST", "route": "/v1/invoices", "status": 200, "ms": 12.5})
        log.info("batch anchored", extra={"root": "0x" + "ab" * 32, "request_ids": ["req-0001-abcd"], "invoices": 3})
        structlog.contextvars.reset_contextvars(**tokens)
        log.warning("slow tick (%.1f s)", 2.5)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("unexpected")
        logging.getLogger("ebill.debugged").debug("not shown at info")
    lines = _parsed(out)
    assert [ln["event"] for ln in lines] == ["request", "batch anchored", "slow tick (2.5 s)", "unexpected"]
    for line in lines:
        validator.validate(line)
        assert list(line)[:5] == ["ts", "level", "logger", "pid", "event"]
    assert lines[0]["request_id"] == lines[1]["request_id"] == "req-0001-abcd"
    assert "request_id" not in lines[2]            # bound for the request only
    assert "ValueError: boom" in str(lines[3]["exception"])


def test_the_request_id_follows_work_handed_to_a_thread_and_leaves_with_the_request() -> None:
    """Starlette runs sync routes in a worker thread with a copy of the request's context."""
    import contextvars

    with _lines() as out:
        tokens = structlog.contextvars.bind_contextvars(request_id="req-thread-0001")
        ctx = contextvars.copy_context()
        t = threading.Thread(target=ctx.run, args=(logging.getLogger("ebill.t").info, "in a thread"))
        t.start()
        t.join()
        structlog.contextvars.reset_contextvars(**tokens)
        logging.getLogger("ebill.t").info("after the request")
    lines = _parsed(out)
    assert lines[0]["request_id"] == "req-thread-0001" and "request_id" not in lines[1]


def test_leftovers_of_other_formatters_are_not_fields() -> None:
    with _lines() as out:
        record = logging.LogRecord("ebill.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
        logging.Formatter("%(asctime)s %(message)s").format(record)   # sets record.message, record.asctime
        record.color_message = "\x1b[1mhello\x1b[0m"   # (uvicorn passes this as extra)
        logging.getLogger("ebill.x").handle(record)
    (line,) = _parsed(out)
    assert line["event"] == "hello you" and not {"message", "asctime", "color_message"} & set(line)


def test_console_format_is_for_a_person() -> None:
    with _lines("console") as out:
        logging.getLogger("ebill.x").info("batch anchored", extra={"invoices": 3})
    text = out.getvalue()
    assert "batch anchored" in text and "invoices=3" in text and not text.startswith("{")
