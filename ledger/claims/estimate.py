"""What a tap would claim, before it is tapped: the invoices of one set decided as the claim decides them.

One tap files one claim per invoice, in the order the invoices are listed, in one
transaction (:meth:`ledger.ports.ClaimsRepository.submit`): each is decided by
:func:`ledger.claims.transitions.file_claim` with the person's year-to-date figures *as
the claims before it in the same tap left them*, so the deductible is used once across
the set, by the first invoices, and what the later ones pay grows accordingly. An
estimate of each invoice on its own therefore misleads as soon as several are picked
(three cards each saying "¥0.00, deductible not met" while the tap pays ¥1,002.49).

:func:`estimate_set` runs that same decision over the same filings, in the same order,
on a running copy of the year-to-date figures, and also decides each invoice *alone*
(on the stored figures), so an app can say per invoice what depends on the others.
Nothing is stored, reserved or counted: the year-to-date figures it is given are read,
the ones it computes are thrown away. Pure: no clock (``now`` is only stamped on the
throw-away change), no store.

The running figures move as the store moves them (:meth:`YearFigures.add
<ledger.adapters.sql.claims.years.YearFigures.add>`): each claim's
:attr:`~ledger.claims.transitions.Change.year` is added, never going below zero, per
(scheme, year) -- an outpatient and an inpatient invoice count in different schemes and
do not share a deductible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from ledger.claims.model import ClaimDraft
from ledger.claims.policy import Filing, decide
from ledger.claims.states import ClaimState
from ledger.claims.transitions import file_claim
from ledger.rules import YearToDate


class Outcome(StrEnum):
    """What happens to a claim filed as estimated, in the citizen's terms."""

    AT_ONCE = "paid-at-once"            # reserved, then approved and paid without a reviewer
    REVIEW = "review"                   # reserved, then a reviewer decides (above the instant limit, or flagged)
    NOTHING_PAYABLE = "nothing-payable"  # the rules pay nothing (e.g. all of it goes to the deductible)
    REFUSED = "refused"                 # the rules pay something, but nothing is left to pay on the invoice
    WAITING = "waiting"                 # an earlier payer decides first; no amount yet


@dataclass(frozen=True)
class Estimate:
    """One invoice of the set: the claim as the tap would file it (``together``) and as a tap of
    this invoice alone would (``alone``)."""

    together: ClaimDraft
    alone: ClaimDraft

    @property
    def fingerprint(self) -> bytes:
        return self.together.fingerprint

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.together)

    @property
    def depends_on_others(self) -> bool:
        """Whether the invoices before it change what it pays (or how it is paid)."""
        return (self.together.amount_fen, outcome_of(self.together)) != (self.alone.amount_fen,
                                                                         outcome_of(self.alone))


def outcome_of(draft: ClaimDraft) -> Outcome:
    """What becomes of a claim filed as ``draft``."""
    if draft.state is ClaimState.SUBMITTED:
        return Outcome.AT_ONCE if draft.instant else Outcome.REVIEW
    return {ClaimState.NOTHING_PAYABLE: Outcome.NOTHING_PAYABLE, ClaimState.REFUSED: Outcome.REFUSED,
            ClaimState.WAITING: Outcome.WAITING}[draft.state]


def plus(ytd: YearToDate, delta: tuple[int, int]) -> YearToDate:
    """``ytd`` after a claim's year effect (deductible, reimbursed), bounded below by zero as the store bounds it."""
    return YearToDate(max(0, ytd.deductible_used_fen + delta[0]), max(0, ytd.reimbursed_fen + delta[1]))


def estimate_set(filings: Sequence[Filing], year_to_date: Callable[[str, int], YearToDate], *,
                 now: datetime) -> list[Estimate]:
    """Each of ``filings`` decided in order as one tap decides it, and alone.

    ``year_to_date(scheme, year)`` gives the person's stored figures (read once per scheme and
    year). Requires every filing to be of one person (a tap is).
    """
    if len({f.person.pseudonym for f in filings}) > 1:
        raise ValueError("one tap claims for one person")
    stored: dict[tuple[str, int], YearToDate] = {}
    running: dict[tuple[str, int], YearToDate] = {}
    out: list[Estimate] = []
    for filing in filings:
        key = (filing.scheme, filing.year)
        if key not in stored:
            stored[key] = running[key] = year_to_date(*key)
        together, change = file_claim(filing, running[key], now=now)
        alone = together if running[key] == stored[key] else file_claim(filing, stored[key], now=now)[0]
        running[key] = plus(running[key], change.year)
        out.append(Estimate(together, alone))
    return out


def totals(estimates: Sequence[Estimate]) -> dict[Outcome, int]:
    """The amounts of the set by outcome (fen; every outcome present)."""
    sums = dict.fromkeys(Outcome, 0)
    for e in estimates:
        sums[e.outcome] += e.together.amount_fen
    return sums


def alone_fen(filing: Filing, year_to_date: YearToDate) -> int:
    """What a claim of ``filing``'s invoice alone would pay on ``year_to_date``: as the tap would
    decide it now, or, while an earlier payer has not decided (the tap would wait), as it would
    be decided if their figures on the invoice stayed as they are."""
    draft = decide(filing, year_to_date)
    earlier = filing.earlier_payers
    if draft.state is ClaimState.WAITING and earlier is not None:
        draft = decide(replace(filing, earlier_payers=replace(earlier, seen_at=earlier.window_ends)), year_to_date)
    return draft.amount_fen
