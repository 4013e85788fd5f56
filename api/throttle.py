"""Per-client rate limits at the edge, on the maintained ``limits`` library.

Two budgets, both per client address:

- **public**: requests to the endpoints anyone may call without a credential
  (``POST /v1/verify``, ``GET /v1/proofs/…``, ``GET /v1/health``) made without one. A
  caller presenting a valid credential is not counted: a payer's clerk or a commercial
  insurer checking invoices in bulk authenticates;
- **failed sign-ins**: requests whose credential is missing, malformed, unknown or
  revoked, on any endpoint that needs one. Once spent, such requests get 429 instead of
  401 until the window moves on (a valid credential is never refused by it).

Exceeding a budget answers ``429 Too Many Requests`` with ``Retry-After``. The counters
live in each API worker's memory (a sliding window counter): with N workers behind one
socket a client gets at most N times the budget, which is what an edge limit needs to be
(bounded), without a shared store on the hot path. The budgets are settings
(``EBILL_PUBLIC_RATE_LIMIT``, ``EBILL_AUTH_FAILURE_RATE_LIMIT``) in the ``limits``
notation, e.g. ``20/second;600/minute``.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from ledger.errors import RateLimited


class Throttle:
    """The public and failed-sign-in budgets of one API worker."""

    def __init__(self, *, public: str, auth_failures: str) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._public: list[RateLimitItem] = parse_many(public)
        self._failures: list[RateLimitItem] = parse_many(auth_failures)

    def public_request(self, client: str) -> None:
        """Count a request without credential to a public endpoint; raises :class:`RateLimited`."""
        self._spend(self._public, "public", client,
                    "too many requests without a credential from your address; try again later "
                    "(or authenticate: callers with a credential are not limited here)")

    def failed_sign_in(self, client: str) -> None:
        """Count a request with no valid credential; raises :class:`RateLimited` once the budget is spent."""
        self._spend(self._failures, "sign-in", client,
                    "too many requests without a valid credential from your address; try again later")

    def _spend(self, items: list[RateLimitItem], namespace: str, client: str, message: str) -> None:
        for item in items:
            if not self._limiter.hit(item, namespace, client):
                raise RateLimited(f"{message} (limit {item})",
                                  retry_after=self._retry_after(item, namespace, client))

    def _retry_after(self, item: RateLimitItem, namespace: str, client: str) -> int:
        reset = self._limiter.get_window_stats(item, namespace, client).reset_time
        return max(1, math.ceil(reset - time.time()))
