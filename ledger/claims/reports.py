"""A payer's monthly report, for the regulator and for hospital accountability.

The report covers the claims **filed** in one calendar month in China time
(:class:`~ledger.months.Month`), each as it stands when the report is made: a claim filed
on 30 November and approved on 2 December counts in November, as approved. For each
hospital (by institution id, with its name), and in a total over all of them:

- ``claims``, ``claimedFen`` (what the patients paid themselves and asked back:
  ``requested_fen``), ``paidFen`` (the amounts of claims the bank paid: states ``paid``
  and ``clawback``), the claims in each state;
- ``instantClaims``: approved at once by the machine audit, no reviewer involved (states
  ``approved``, ``paid``, ``clawback``);
- ``manualClaims``, ``manualClaimedFen``, ``manualPaidFen``: claims a reviewer decided,
  decides or will decide (:func:`is_manual`) — what counts against the hospital in its
  annual clearance; ``windowClaims``: filed at the hospital's claims window by a clerk;
- ``clawbackClaims``: paid, then owed back (state ``clawback``; the claw-back's own record
  is another module's);
- refusals and flags **by rule** (the rule set ``id@vN`` that decided, the rule id and its
  name, :mod:`ledger.claims.rule_names`) and **by item** (the fee item's normalised code
  and its name on one of the hospital's invoices).

What counts as a refusal, per fee line: a rule that made part of it the patient's to pay
(its ``selfPaidFen``; the Class B co-payment share is the scheme's, not a refusal), and a
reviewer who did not approve the line in an approval in part (rule ``review:<reason>``; it
refuses what was still eligible on the line). A line counts once in ``refusedLines``
however many rules refused parts of it; ``refusedFen`` adds up what each refused, never
more than the line's amount. A flag is a rule that sent the claim to a reviewer; by rule
it counts the lines it names. Every claim filed in the month counts, also one refused
later (a voided invoice) or filed again after a refusal.

The report holds no personal data: no person, pseudonym, name, resident ID, claim id or
reviewer; hospitals, rules, items and figures only. Money is integer fen. The result does
not depend on the order the claims come in: hospitals are ordered by id, rules (refusals
first, then flags) and items by the fen refused, then by count, then by key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.claims.model import Claim
from ledger.claims.rule_names import RuleName, refuses, review_rule, rule_name
from ledger.claims.states import PAID_STATES, ClaimState
from ledger.months import Month

REFUSAL = "refusal"
FLAG = "flag"
#: what a claim filed by a hospital's claims window records as its relation
WINDOW = "clerk"

S = ClaimState
_REVIEW_STATES = frozenset((S.IN_REVIEW, S.REJECTED, S.APPEALED))
_HEADED_FOR_REVIEW = frozenset((S.SUBMITTED, S.APPROVED, S.PAID, S.CLAWBACK))
_APPROVED = frozenset((S.APPROVED, S.PAID, S.CLAWBACK))


def is_manual(c: Claim) -> bool:
    """Whether a reviewer decided, decides or will decide the claim (a manual claim): it was
    reviewed, is in review, rejected or appealed, or the machine audit did not approve it at
    once and it goes to review. A claim that waits for earlier payers, pays nothing, or was
    refused before anyone reviewed it is not manual."""
    if c.reviews or c.state in _REVIEW_STATES:
        return True
    return not c.instant and c.state in _HEADED_FOR_REVIEW


@dataclass(frozen=True)
class RuleFigures:
    """A rule's refusals or flags: in how many claims, on how many lines, how many fen refused."""

    rule_set: str          # "id@vN" of the rule set that decided; "" for a reviewer's reason
    rule: str
    name: RuleName
    kind: str              # refusal | flag
    claims: int
    lines: int
    refused_fen: int

    def to_json(self) -> dict[str, Any]:
        return {"ruleSet": self.rule_set, "rule": self.rule, "name": self.name.en, "nameZh": self.name.zh,
                "kind": self.kind, "claims": self.claims, "lines": self.lines, "refusedFen": self.refused_fen}


@dataclass(frozen=True)
class ItemFigures:
    """A fee item's refused and flagged lines (by normalised code, with its name)."""

    item_code: str
    item_name: str
    claims: int
    refused_lines: int
    refused_fen: int
    flagged_lines: int

    def to_json(self) -> dict[str, Any]:
        return {"itemCode": self.item_code, "itemName": self.item_name, "claims": self.claims,
                "refusedLines": self.refused_lines, "refusedFen": self.refused_fen,
                "flaggedLines": self.flagged_lines}


@dataclass(frozen=True)
class HospitalFigures:
    """One hospital's month (``hospital_id`` None: the total over the report's hospitals)."""

    hospital_id: str | None
    hospital_name: str
    claims: int
    claimed_fen: int
    paid_fen: int
    instant_claims: int
    manual_claims: int
    manual_claimed_fen: int
    manual_paid_fen: int
    window_claims: int
    by_state: Mapping[ClaimState, int]
    refused_lines: int
    refused_fen: int
    flagged_claims: int
    flags: int
    by_rule: tuple[RuleFigures, ...]
    by_item: tuple[ItemFigures, ...]

    @property
    def clawback_claims(self) -> int:
        return self.by_state[S.CLAWBACK]

    @property
    def rejected_claims(self) -> int:
        return self.by_state[S.REJECTED]

    def to_json(self) -> dict[str, Any]:
        return {"hospitalId": self.hospital_id, "hospitalName": self.hospital_name, "claims": self.claims,
                "claimedFen": self.claimed_fen, "paidFen": self.paid_fen, "instantClaims": self.instant_claims,
                "manualClaims": self.manual_claims, "manualClaimedFen": self.manual_claimed_fen,
                "manualPaidFen": self.manual_paid_fen, "windowClaims": self.window_claims,
                "clawbackClaims": self.clawback_claims,
                "claimsByState": {s.value: n for s, n in self.by_state.items()},
                "refusedLines": self.refused_lines, "refusedFen": self.refused_fen,
                "flaggedClaims": self.flagged_claims, "flags": self.flags,
                "byRule": [r.to_json() for r in self.by_rule], "byItem": [i.to_json() for i in self.by_item]}


@dataclass(frozen=True)
class MonthlyReport:
    """The report of one month: per hospital and the total (``hospital``: the one hospital it is
    limited to, for that hospital's own report; None: every hospital)."""

    month: Month
    payer_id: str
    payer_name: str
    hospital: str | None
    generated_at: datetime
    hospitals: tuple[HospitalFigures, ...]
    total: HospitalFigures

    @property
    def complete(self) -> bool:
        """Whether the month had ended when the report was made (else later claims are missing)."""
        return self.generated_at >= self.month.end

    def to_json(self) -> dict[str, Any]:
        """The report as the API and ``ebill report monthly --format json`` give it (money in fen)."""
        return {"month": str(self.month), "timeZone": "+08:00", "from": self.month.start.isoformat(),
                "to": self.month.end.isoformat(), "complete": self.complete,
                "generatedAt": self.generated_at.isoformat(),
                "payer": {"id": self.payer_id, "name": self.payer_name}, "hospital": self.hospital,
                "hospitals": [h.to_json() for h in self.hospitals], "total": self.total.to_json()}


# ---------------------------------------------------------------------------------- counting

_Line = tuple[bytes, int]   # (invoice fingerprint, fee line seq): where an item's name is read


@dataclass
class _Hits:
    """What one claim's decision refused and flagged."""

    rules: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)   # key -> [lines, fen]
    items: dict[str, list[Any]] = field(default_factory=dict)   # code -> [refused lines, fen, flagged, line]
    flags: int = 0


def _hits(c: Claim) -> _Hits:
    d = c.decision
    ruleset = d.get("ruleset")
    rule_set = f"{ruleset['id']}@v{ruleset['version']}" if isinstance(ruleset, dict) and "id" in ruleset else ""
    lines = {int(line["seq"]): line for line in d.get("lines", [])}
    out = _Hits()
    refused: dict[int, int] = {}

    def count(key: tuple[str, str, str], lines_: int, fen: int) -> None:
        acc = out.rules.setdefault(key, [0, 0])
        acc[0] += lines_
        acc[1] += fen

    for seq, line in lines.items():
        for r in line.get("reasons", []):
            fen = int(r.get("selfPaidFen", 0))
            if fen > 0 and refuses(r["rule"]):
                count((rule_set, r["rule"], REFUSAL), 1, fen)
                refused[seq] = refused.get(seq, 0) + fen
    for verdict in (d.get("review") or {}).get("lines", []):
        seq = int(verdict["seq"])
        known = lines.get(seq)
        fen = int(known["eligibleFen"]) if known is not None else int(verdict.get("amountFen", 0))
        count(("", review_rule(str(verdict["reason"])), REFUSAL), 1, fen)
        refused[seq] = refused.get(seq, 0) + fen
    flagged: set[int] = set()
    for f in d.get("flags", []):
        seqs = {int(s) for s in f.get("seqs", [])}
        count((rule_set, f["rule"], FLAG), len(seqs), 0)
        flagged |= seqs
        out.flags += 1
    for seq in sorted(refused.keys() | flagged):
        line = lines.get(seq)
        if line is None:   # a flag naming a line the decision does not list: no item to name
            continue
        code = str(line.get("canonicalCode") or line["itemCode"])
        item = out.items.setdefault(code, [0, 0, 0, (c.fingerprint, seq)])
        if seq in refused:
            item[0] += 1
            item[1] += refused[seq]
        if seq in flagged:
            item[2] += 1
    return out


class _Tally:
    """One hospital's (or the total's) running figures."""

    def __init__(self, hospital_id: str | None, hospital_name: str) -> None:
        self.hospital_id, self.hospital_name = hospital_id, hospital_name
        self.claims = self.claimed = self.paid = self.instant = self.window = 0
        self.manual = self.manual_claimed = self.manual_paid = 0
        self.refused_lines = self.refused_fen = self.flagged = self.flags = 0
        self.states = dict.fromkeys(ClaimState, 0)
        self.rules: dict[tuple[str, str, str], list[int]] = {}   # key -> [claims, lines, fen]
        self.items: dict[str, list[Any]] = {}   # code -> [claims, refused lines, fen, flagged lines, line]

    def add(self, c: Claim, hits: _Hits) -> None:
        paid = c.amount_fen if c.state in PAID_STATES else 0
        self.claims += 1
        self.claimed += c.requested_fen
        self.paid += paid
        self.instant += c.instant and not c.reviews and c.state in _APPROVED
        if is_manual(c):
            self.manual += 1
            self.manual_claimed += c.requested_fen
            self.manual_paid += paid
        self.window += c.relation == WINDOW
        self.flagged += hits.flags > 0
        self.states[c.state] += 1
        self.flags += hits.flags
        for key, (lines, fen) in hits.rules.items():
            acc = self.rules.setdefault(key, [0, 0, 0])
            acc[0] += 1
            acc[1] += lines
            acc[2] += fen
        for code, (refused_lines, fen, flagged, line) in hits.items.items():
            item = self.items.setdefault(code, [0, 0, 0, 0, line])
            item[0] += 1
            item[1] += refused_lines
            item[2] += fen
            item[3] += flagged
            item[4] = min(item[4], line)    # the same line whatever the order the claims came in
            self.refused_lines += refused_lines
            self.refused_fen += fen

    def figures(self, names: Mapping[_Line, str]) -> HospitalFigures:
        rules = sorted((RuleFigures(rs, rule, rule_name(rule), kind, *acc) for (rs, rule, kind), acc in
                        self.rules.items()),
                       key=lambda r: (r.kind != REFUSAL, -r.refused_fen, -r.lines, -r.claims, r.rule_set, r.rule))
        items = sorted((ItemFigures(code, names.get(acc[4], ""), *acc[:4]) for code, acc in self.items.items()),
                       key=lambda i: (-i.refused_fen, -i.refused_lines, -i.flagged_lines, -i.claims, i.item_code))
        return HospitalFigures(
            self.hospital_id, self.hospital_name, claims=self.claims, claimed_fen=self.claimed, paid_fen=self.paid,
            instant_claims=self.instant, manual_claims=self.manual, manual_claimed_fen=self.manual_claimed,
            manual_paid_fen=self.manual_paid, window_claims=self.window, by_state=dict(self.states),
            refused_lines=self.refused_lines, refused_fen=self.refused_fen, flagged_claims=self.flagged,
            flags=self.flags, by_rule=tuple(rules), by_item=tuple(items))


class MonthlyTally:
    """The month's report, counted claim by claim (so a month of claims is never held at once).

    Add every claim filed in the month (:meth:`add`), look up the names of the items of
    :meth:`lines_to_name` on their invoices, then make the :meth:`report`.
    """

    def __init__(self, month: Month, *, hospital: str | None = None) -> None:
        self.month = month
        self.hospital = hospital
        self._hospitals: dict[str, _Tally] = {}
        self._total = _Tally(None, "Total")

    def add(self, c: Claim) -> None:
        """Count ``c``. Requires it to be filed in the month (and at the report's hospital, if
        the report is limited to one): else ValueError, as counting it would be wrong."""
        if not self.month.holds(c.created_at):
            raise ValueError(f"claim {c.id} was filed at {c.created_at.isoformat()}, not in {self.month} in China")
        if self.hospital is not None and c.issuer != self.hospital:
            raise ValueError(f"claim {c.id} is on an invoice of {c.issuer}, not of {self.hospital}")
        hits = _hits(c)
        tally = self._hospitals.get(c.issuer)
        if tally is None:
            tally = self._hospitals[c.issuer] = _Tally(c.issuer, c.hospital_name)
        tally.add(c, hits)
        self._total.add(c, hits)

    def lines_to_name(self) -> list[_Line]:
        """The fee lines whose item names the report shows (one line per item and hospital)."""
        return sorted({acc[4] for t in (*self._hospitals.values(), self._total) for acc in t.items.values()})

    def report(self, *, payer_id: str, payer_name: str, generated_at: datetime,
               names: Mapping[_Line, str] | None = None) -> MonthlyReport:
        """The report as of ``generated_at``, the items named by ``names`` (a line -> its item's name)."""
        names = names or {}
        hospitals = tuple(self._hospitals[h].figures(names) for h in sorted(self._hospitals))
        return MonthlyReport(self.month, payer_id, payer_name, self.hospital, generated_at, hospitals,
                             self._total.figures(names))


def monthly_report(month: Month, claims: Iterable[Claim], *, payer_id: str, payer_name: str,
                   generated_at: datetime, names: Mapping[_Line, str] | None = None,
                   hospital: str | None = None) -> MonthlyReport:
    """The report of ``claims`` (all filed in ``month``) in one call."""
    tally = MonthlyTally(month, hospital=hospital)
    for c in claims:
        tally.add(c)
    return tally.report(payer_id=payer_id, payer_name=payer_name, generated_at=generated_at, names=names)
