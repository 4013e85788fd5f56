"""The service's Prometheus metric families, and their exposition at ``GET /metrics``.

One set of families per process, written through ``prometheus_client``. Under ``ebill serve``
every process (the main one with the chain worker and the stamper, and each API worker)
writes its values to files in one directory (the client's *multiprocess mode*,
``PROMETHEUS_MULTIPROC_DIR``, prepared by :mod:`ledger.adapters.metrics_dir` before this
module is imported) and a scrape of any API worker adds them all up: counters and histograms
summed over every process that ever ran since the service started (a worker that died keeps
its counts), gauges as each family's ``multiprocess_mode`` says. Elsewhere (tests, one-off
tools) the values live in this process's default registry.

Labels come from small fixed sets: a route's template (``/v1/claims/{claim_id}``, never the
path asked for), a status, a step, a verdict. Nothing that names an invoice, a claim or a
person is ever a label. The families are listed in ``docs/operations.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from ledger.ports import Telemetry

__all__ = ["MULTIPROCESS", "PrometheusTelemetry", "chain_transaction", "exposition", "http_request",
           "requests_in_flight"]

#: whether values go to the multiprocess directory (decided when prometheus_client was imported)
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SLOW = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)

# ------------------------------------------------------------------ HTTP (every API worker)

HTTP_DURATION = Histogram("ebill_http_request_duration_seconds",
                          "Time to answer an HTTP request, by method, route template and status",
                          ["method", "route", "status"], buckets=_FAST)
HTTP_IN_FLIGHT = Gauge("ebill_http_requests_in_flight", "HTTP requests being answered now, summed over API workers",
                       multiprocess_mode="livesum")

# ------------------------------------------------------------------ uploads

UPLOAD_INVOICES = Counter("ebill_upload_invoices", "Uploaded invoices by outcome (created, duplicate, conflict, "
                          "rejected)", ["status"])
UPLOAD_FEE_LINES = Counter("ebill_upload_fee_lines", "Fee lines of the invoices uploads stored")
UPLOAD_REFUSALS = Counter("ebill_upload_refusals", "Whole uploads refused before any invoice was judged, by kind",
                          ["reason"])

# ------------------------------------------------------------------ anchoring (the chain worker)

OUTBOX = Gauge("ebill_outbox_depth", "The anchoring outbox: invoices in no batch, batches not anchored, voids "
               "not stamped", ["queue"], multiprocess_mode="livemostrecent")
ANCHORING_LAG = Gauge("ebill_anchoring_lag_seconds", "Age of the oldest acknowledged invoice not anchored yet "
                      "(0: none waiting)", multiprocess_mode="livemostrecent")
ANCHOR_DELAY = Histogram("ebill_anchoring_delay_seconds", "Per anchored batch: seconds from its oldest invoice's "
                         "upload to its anchoring transaction", buckets=_SLOW)
BATCHES = Counter("ebill_batches_anchored", "Batches anchored by this service")
BATCH_INVOICES = Counter("ebill_invoices_anchored", "Invoices in the batches this service anchored")
CHAIN_TX = Counter("ebill_chain_transactions", "Transactions mined, by contract function", ["function"])
CHAIN_GAS = Counter("ebill_chain_gas_used", "Gas used by mined transactions, by contract function", ["function"])
CHAIN_HEAD = Gauge("ebill_chain_head_block", "The chain's head block as the node last reported it",
                   multiprocess_mode="livemostrecent")
CHAIN_INDEXED = Gauge("ebill_chain_indexed_block", "The block the chain index has read events up to",
                      multiprocess_mode="livemostrecent")
CHAIN_ERRORS = Counter("ebill_chain_errors", "Failed steps of the chain worker and the claims stamper",
                       ["component", "step"])
WORKER_TICKS = Histogram("ebill_chain_worker_tick_seconds", "Rounds of the chain worker (index, register, close, "
                         "anchor, void, index)", buckets=_FAST)

# ------------------------------------------------------------------ claims

CLAIMS_FILED = Counter("ebill_claims_filed", "Claims stored by filings, by the state they were decided into",
                       ["state"])
CLAIMS_BLOCKED = Counter("ebill_claims_blocked", "Filings refused without storing a claim, by reason", ["reason"])
CLAIMS = Gauge("ebill_claims", "Claims standing in each state now (refreshed by the stamper)", ["state"],
               multiprocess_mode="livemostrecent")
STAMPER_ROUNDS = Histogram("ebill_stamper_round_seconds", "Rounds of the claims stamper", buckets=_FAST)
STAMPER_DONE = Counter("ebill_stamper_outcomes", "What the stamper's rounds did: reserved, finalized, released, "
                       "refused, paid, voided, lost (sent again), decided (waited for earlier payers)", ["outcome"])

# ------------------------------------------------------------------ verification

VERIFICATIONS = Counter("ebill_verifications", "Verifications answered, by verdict", ["verdict"])
#: verdicts of :mod:`verifier.verdict`; anything else is counted as ``other`` (labels stay a fixed set)
VERDICTS = frozenset({"malformed", "unknown-issuer", "tampered-or-forged", "revoked-issuer", "anchored",
                      "fully-reimbursed", "voided", "not-anchored", "proof-mismatch", "proof-invalid"})


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    """One answered HTTP request (``route``: its template, or ``unmatched``)."""
    HTTP_DURATION.labels(method, route, str(status)).observe(seconds)


def requests_in_flight() -> Gauge:
    """The in-flight gauge (``with requests_in_flight().track_inprogress(): ...``)."""
    return HTTP_IN_FLIGHT


def chain_transaction(function: str, gas_used: int) -> None:
    """A mined transaction of contract function ``function``."""
    CHAIN_TX.labels(function).inc()
    CHAIN_GAS.labels(function).inc(gas_used)


def exposition() -> tuple[bytes, str]:
    """The text format of every family (all processes' values in multiprocess mode) and its media type."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class PrometheusTelemetry:
    """:class:`ledger.ports.Telemetry` on the families above."""

    def uploaded(self, *, statuses: Mapping[str, int], fee_lines: int) -> None:
        for status, n in statuses.items():
            if n:
                UPLOAD_INVOICES.labels(status).inc(n)
        if fee_lines:
            UPLOAD_FEE_LINES.inc(fee_lines)

    def upload_refused(self, *, reason: str) -> None:
        UPLOAD_REFUSALS.labels(reason).inc()

    def batches_anchored(self, *, invoices: Sequence[int], delays: Sequence[float]) -> None:
        if invoices:
            BATCHES.inc(len(invoices))
            BATCH_INVOICES.inc(sum(invoices))
        for d in delays:
            ANCHOR_DELAY.observe(max(0.0, d))

    def outbox(self, *, invoices: int, batches: int, voids: int, lag: float) -> None:
        OUTBOX.labels("invoices").set(invoices)
        OUTBOX.labels("batches").set(batches)
        OUTBOX.labels("voids").set(voids)
        ANCHORING_LAG.set(max(0.0, lag))

    def chain_seen(self, *, head: int, indexed: int) -> None:
        CHAIN_HEAD.set(head)
        CHAIN_INDEXED.set(indexed)

    def chain_error(self, *, component: str, step: str) -> None:
        CHAIN_ERRORS.labels(component, step).inc()

    def worker_tick(self, *, seconds: float) -> None:
        WORKER_TICKS.observe(seconds)

    def claims_filed(self, *, states: Sequence[str]) -> None:
        for state in states:
            CLAIMS_FILED.labels(state).inc()

    def claim_blocked(self, *, reason: str) -> None:
        CLAIMS_BLOCKED.labels(reason).inc()

    def claims_by_state(self, counts: Mapping[str, int]) -> None:
        for state, n in counts.items():
            CLAIMS.labels(state).set(n)

    def stamper_round(self, *, seconds: float, done: Mapping[str, int]) -> None:
        STAMPER_ROUNDS.observe(seconds)
        for outcome, n in done.items():
            if n:
                STAMPER_DONE.labels(outcome).inc(n)

    def verified(self, *, verdict: str) -> None:
        VERIFICATIONS.labels(verdict if verdict in VERDICTS else "other").inc()


_: type[Telemetry] = PrometheusTelemetry  # (mypy checks that it implements the port)
