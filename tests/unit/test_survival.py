"""A worker's loop survives an unexpected error (ledger/app/survival.py): logged with its stack, counted,
retried after a pause that doubles up to a minute and falls back after a round that ends normally."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from ledger.app.survival import MAX_PAUSE, Survival


class Stop(threading.Event):
    """Records the pauses instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        return self.is_set()


class Counted:
    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def chain_error(self, *, component: str, step: str) -> None:
        self.errors.append((component, step))


def test_rounds_go_on_after_a_bug_with_growing_pauses_and_back(caplog: pytest.LogCaptureFixture) -> None:
    stop, telemetry = Stop(), Counted()
    survival = Survival("chain worker", log=logging.getLogger("test.survival"), stop=stop,
                        telemetry=telemetry, component="chain-worker")   # type: ignore[arg-type]
    outcomes: list[Any] = [KeyError("issuer"), KeyError("issuer"), None, TypeError("x"), None]
    done = []
    with caplog.at_level(logging.ERROR, logger="test.survival"):
        for outcome in outcomes:
            with survival.round():
                if outcome is not None:
                    raise outcome
                done.append(True)
    assert done == [True, True]
    assert stop.waits == [1.0, 2.0, 1.0]           # doubled while failing, first pause again after a good round
    assert telemetry.errors == [("chain-worker", "unexpected")] * 3
    assert survival.failures == 3
    failures = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert len(failures) == 3 and all(r.exc_info for r in failures)   # with the stack, for whoever mends it


def test_a_persistent_bug_pauses_a_minute_at_most() -> None:
    stop = Stop()
    survival = Survival("mirror", log=logging.getLogger("test.survival"), stop=stop)
    for _ in range(10):
        with survival.round():
            raise RuntimeError("always")
    assert stop.waits[:7] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, MAX_PAUSE] and max(stop.waits) == MAX_PAUSE


def test_what_is_not_an_exception_is_not_kept() -> None:
    """Ctrl-C and SystemExit (SIGTERM) stop the worker as before."""
    survival = Survival("stamper", log=logging.getLogger("test.survival"), stop=Stop())
    for stopping in (KeyboardInterrupt(), SystemExit(0)):
        with pytest.raises(type(stopping)), survival.round():
            raise stopping


def test_the_mirror_keeps_pulling_after_a_feed_that_broke_unexpectedly() -> None:
    """The invoice mirror's real loop: a feed that raises what no adapter translates, then answers."""
    from ledger.app.mirror import InvoiceMirror

    class Store:
        def get_meta(self, key: str) -> None:
            return None

    class Feed:
        def __init__(self) -> None:
            self.calls = 0

        def page(self, *, after: str | None, limit: int) -> list[dict[str, Any]]:
            self.calls += 1
            if self.calls == 1:
                raise ValueError("a library's error nobody translated")
            mirror.stop()
            return []

    feed = Feed()
    mirror = InvoiceMirror(Store(), None, feed, source="http://hospitals", clock=None, page=4)   # type: ignore[arg-type]
    stop = Stop()
    mirror._stop = stop
    mirror.run_forever(interval=0.01)
    assert feed.calls == 2 and stop.waits[0] == 1.0
