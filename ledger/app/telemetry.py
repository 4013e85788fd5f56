"""The telemetry of a service that reports nothing (tests, CLI commands, tools).

``ebill serve`` and its API workers report through the Prometheus adapter
(:mod:`ledger.adapters.metrics`); everything else, by default, through :data:`NO_TELEMETRY`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ledger.ports import Telemetry

__all__ = ["NO_TELEMETRY", "NoTelemetry"]


class NoTelemetry:
    """Reports nothing (see :class:`ledger.ports.Telemetry` for what each method would say)."""

    def uploaded(self, *, statuses: Mapping[str, int], fee_lines: int) -> None:
        pass

    def upload_refused(self, *, reason: str) -> None:
        pass

    def batches_anchored(self, *, invoices: Sequence[int], delays: Sequence[float]) -> None:
        pass

    def outbox(self, *, invoices: int, batches: int, voids: int, lag: float) -> None:
        pass

    def chain_seen(self, *, head: int, indexed: int) -> None:
        pass

    def chain_error(self, *, component: str, step: str) -> None:
        pass

    def worker_tick(self, *, seconds: float) -> None:
        pass

    def claims_filed(self, *, states: Sequence[str]) -> None:
        pass

    def claim_blocked(self, *, reason: str) -> None:
        pass

    def claims_by_state(self, counts: Mapping[str, int]) -> None:
        pass

    def stamper_round(self, *, seconds: float, done: Mapping[str, int]) -> None:
        pass

    def verified(self, *, verdict: str) -> None:
        pass


NO_TELEMETRY: Telemetry = NoTelemetry()
