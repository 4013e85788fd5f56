"""Adjudication: what one rule set pays on one invoice, explained line by line.

Pure and deterministic: integer fen throughout, exact fractions for shares, no clock.

Per fee line, in this order (the first rule that excludes a line ends its journey):

1. Class C (丙类) lines are self-paid in full: ``class-c-self-pay``.
2. Lines whose *normalised* code is on the person category's negative list are
   self-paid in full: ``negative-list:<code or prefix>``.
3. Under ``"duplicateItems": "self-pay-repeats"``, a line repeating an earlier line's
   normalised code on the same service date is self-paid in full, naming that line:
   ``duplicate-item``.
4. Quantity beyond the per-line or per-day limit of the code is self-paid, its share
   of the line amount: ``quantity-limit``.
5. Quantity beyond the code's period limit, counting what the person was supplied in
   the period at every hospital (:mod:`ledger.rules.periods`), is self-paid, its share
   of the line amount, naming the other invoices: ``period-limit``.
6. Class B (乙类) lines: the patient first pays the tier's share of what is left:
   ``class-b-first-self-pay-10pct`` (the tier chosen by unit price, both band bounds
   inclusive: a ¥100.00 item is in a band "from ¥100" and in a band "up to and
   including ¥100", never in both, as the loader refuses overlapping bands).

The rest of the line is *eligible*. A payer in an order of payers whose base is
``left-by-earlier`` first takes off what the earlier payers reserved or paid
(``left-by-earlier-payers``, :mod:`ledger.rules.coordination`). Then, for the invoice: the
eligible total (or that base) first
uses up what is left of the annual deductible (``deductible``), the ratio applies to
the remainder (``ratio``), and the result is limited, when the person category sets
them, to the cap per invoice (``invoice-cap``) and the cap per visit of the invoice's
visit type (``visit-cap``; one invoice is one visit, see :mod:`ledger.rules.ruleset`),
and always to what is left of the annual cap after the year-to-date payments
(``annual-cap``). Each cap is a step with the amount after it; an unset cap is no step.
A payer in an order pays, together with the earlier payers, no more than its eligible
total (``payers-in-order``).

Rounding: round half up to the fen, **at each line** for the line's own splits
(quantity share, Class B share) and **once at the end** for the ratio. The line
figures are what the citizen sees, so they must be whole fen that add up exactly to
the invoice figures; the ratio cannot be applied per line anyway (the deductible is
an invoice-level amount), and applying it once avoids up to half a fen of drift per
line on an 85-line invoice.

Fraud flags never change an amount; they send the claim to review (``needs_review``):
``duplicate-same-day`` (one normalised code on one service date in several lines whose
quantity together exceeds its limit), ``duplicate-item`` (under ``"duplicateItems":
"flag"``: one normalised code on one service date in several lines, any code, any
quantity), ``lines-not-summing-to-total`` (defensive; the upload refuses it),
``several-codes-one-item`` (several catalogue codes of one drug). Duplicates are found
in one pass over the lines (a dict by normalised code and service date).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from fractions import Fraction

from ledger.errors import InvalidInput, NotFound
from ledger.invoice import FeeCategory, FeeLine, Invoice
from ledger.rules.coordination import EarlierPayers, coordinated_base, coordinated_limit
from ledger.rules.decision import Decision, EarlierLine, Flag, LineDecision, Reason, Step, YearToDate
from ledger.rules.periods import PeriodSupply
from ledger.rules.ruleset import BP, ClassBTier, DuplicateItems, PersonCategory, PersonRules, RuleSet

_ZERO = Decimal(0)


def half_up(value: Fraction) -> int:
    """Round a non-negative exact amount half up to a whole fen."""
    if value < 0:
        raise ValueError(f"amounts are never negative here, got {value}")
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


def _percent(bp: int) -> str:
    """Basis points as a percentage without trailing zeros: 1000 -> "10", 1250 -> "12.5"."""
    return f"{(Decimal(bp) / 100).normalize():f}"


def adjudicate(invoice: Invoice, *, person: PersonCategory, year_to_date: YearToDate, ruleset: RuleSet,
               normalise: Callable[[str], str] | None = None,
               earlier: Sequence[EarlierLine] | None = None,
               earlier_payers: EarlierPayers | None = None) -> Decision:
    """Apply ``ruleset`` to ``invoice`` for a person of category ``person``.

    Requires the rule set to be in force on the invoice's issue date (else InvalidInput)
    and to cover ``person`` (else NotFound). ``normalise`` (e.g. a catalogue's
    ``normalise``) runs before the rule set's own alias map. ``earlier``: the person's fee
    lines of the period-limited items on other invoices, at any hospital, in the periods
    before the invoice's service dates (:func:`ledger.rules.periods.history_needed`);
    required when the invoice bills such an item (else InvalidInput: deciding without
    them would pay what the limit refuses).
    ``earlier_payers``: for a payer in an order of payers, the earlier payers' figures on the
    invoice (its base and limit follow them).
    """
    if not ruleset.in_force(date.fromisoformat(invoice.issue_date)):
        raise InvalidInput.single("issuedAt", "rules-in-force",
                                  f"{ruleset.label} is not in force on the issue date {invoice.issue_date}")
    rules = ruleset.persons.get(person)
    if rules is None:
        raise NotFound(f"{ruleset.label} does not cover person category {person.value!r}")

    def canonical(code: str) -> str:
        return ruleset.normalise(normalise(code) if normalise else code)

    codes = [canonical(line.item_code) for line in invoice.fee_lines]
    flags, flagged, repeats = _flags(invoice, codes, ruleset)
    supply = None
    if ruleset.period_limits and not ruleset.period_limits.keys().isdisjoint(codes):
        if earlier is None:
            raise InvalidInput.single("periodLimits", "history-required",
                                      f"{ruleset.label} limits items over a period across hospitals; this invoice "
                                      "cannot be decided without the person's earlier fee lines")
        supply = PeriodSupply(invoice, codes, ruleset, earlier, canonical)
    day_used: dict[tuple[str, str], Decimal] = defaultdict(lambda: _ZERO)
    lines = tuple(_line(line, code, rules, ruleset, day_used, flagged.get(line.seq, ()), repeats.get(line.seq),
                        supply)
                  for line, code in zip(invoice.fee_lines, codes, strict=True))

    eligible = sum(d.eligible_fen for d in lines)
    steps: list[Step] = []
    base, what = eligible, "eligible"
    if earlier_payers is not None:   # payers in order (ledger.rules.coordination)
        base, left = coordinated_base(eligible, earlier_payers)
        if left is not None:
            steps.append(left)
            what = "left by earlier payers"
    remaining_deductible = max(0, rules.deductible_fen - year_to_date.deductible_used_fen)
    deductible_used = min(base, remaining_deductible)
    above = base - deductible_used
    steps.append(Step("deductible", above,
                      f"¥{_yuan(base)} {what} − ¥{_yuan(deductible_used)} deductible "
                      f"(¥{_yuan(remaining_deductible)} of ¥{_yuan(rules.deductible_fen)} left this year)"))
    by_ratio = half_up(Fraction(above * rules.ratio_bp, BP))
    steps.append(Step("ratio", by_ratio, f"¥{_yuan(above)} × {_percent(rules.ratio_bp)} %"))
    capped = by_ratio
    for rule, cap, per in _caps(rules, invoice):
        steps.append(Step(rule, min(capped, cap), f"{_within(capped, cap)} the ¥{_yuan(cap)} cap per {per}"))
        capped = min(capped, cap)
    cap_remaining = max(0, rules.annual_cap_fen - year_to_date.reimbursed_fen)
    reimbursable = min(capped, cap_remaining)
    steps.append(Step("annual-cap", reimbursable,
                      f"limited to ¥{_yuan(cap_remaining)} left of the ¥{_yuan(rules.annual_cap_fen)} annual cap"
                      if capped > cap_remaining else
                      f"within the ¥{_yuan(cap_remaining)} left of the ¥{_yuan(rules.annual_cap_fen)} annual cap"))
    if earlier_payers is not None:
        reimbursable, limit = coordinated_limit(reimbursable, eligible, earlier_payers)
        steps.append(limit)
    after = YearToDate(year_to_date.deductible_used_fen + deductible_used,
                       year_to_date.reimbursed_fen + reimbursable)
    return Decision(
        ruleset_id=ruleset.id, ruleset_version=ruleset.version, person=person, invoice_key=invoice.key,
        issue_date=invoice.issue_date, total_fen=invoice.total_fen, lines=lines, eligible_fen=eligible,
        deductible_used_fen=deductible_used, ratio_bp=rules.ratio_bp, cap_remaining_fen=cap_remaining,
        reimbursable_fen=reimbursable, steps=tuple(steps), year_to_date_before=year_to_date,
        year_to_date_after=after, flags=flags, earlier_payers=earlier_payers)


def _caps(rules: PersonRules, invoice: Invoice) -> list[tuple[str, int, str]]:
    """(step rule, cap, what it is per) of the invoice and visit caps the person category sets."""
    caps = []
    if rules.invoice_cap_fen is not None:
        caps.append(("invoice-cap", rules.invoice_cap_fen, "invoice"))
    visit_cap = rules.visit_cap_fen.get(invoice.visit_type)
    if visit_cap is not None:   # one invoice is one visit (ledger.rules.ruleset)
        caps.append(("visit-cap", visit_cap, f"{invoice.visit_type.value} visit (this invoice)"))
    return caps


def _within(amount: int, cap: int) -> str:
    return "limited to" if amount > cap else "within"


def _line(line: FeeLine, code: str, rules: PersonRules, ruleset: RuleSet,
          day_used: dict[tuple[str, str], Decimal], flag_reasons: tuple[Reason, ...],
          repeats: FeeLine | None, supply: PeriodSupply | None) -> LineDecision:
    amount = line.amount_fen
    reasons: list[Reason] = []
    allowed = amount
    if line.category is FeeCategory.SELF_PAY:
        reasons.append(Reason("class-c-self-pay", amount, "Class C (丙类) items are not eligible"))
        allowed = 0
    elif (entry := rules.negative_entry(code)) is not None:
        what = "is" if entry == code else f"starts with {entry}, which is"
        reasons.append(Reason(f"negative-list:{entry}", amount, f"{code} {what} on the negative list"))
        allowed = 0
    elif repeats is not None:
        reasons.append(Reason("duplicate-item", amount,
                              f"{code} on {line.service_date} is charged in line {repeats.seq} already: "
                              "a repeat of an item on one day is not reimbursed"))
        allowed = 0
    else:
        allowed, quantity = _within_quantity_limit(line, code, ruleset, day_used, reasons)
        if supply is not None and code in ruleset.period_limits:
            allowed = _within_period_limit(line, code, ruleset, supply, allowed, quantity, reasons)
        if line.category is FeeCategory.CLASS_B and allowed:
            tier = ruleset.class_b_tier(line.unit_price_fen)
            first = half_up(Fraction(allowed * tier.self_pay_bp, BP))
            reasons.append(Reason(f"class-b-first-self-pay-{_percent(tier.self_pay_bp)}pct", first,
                                  f"Class B (乙类), unit price ¥{_yuan(line.unit_price_fen)} "
                                  f"({_band(ruleset, tier)}): the patient first pays "
                                  f"{_percent(tier.self_pay_bp)} % of ¥{_yuan(allowed)}"))
            allowed -= first
    reasons.extend(flag_reasons)
    return LineDecision(line.seq, line.item_code, code, amount, allowed, amount - allowed, tuple(reasons))


def _within_quantity_limit(line: FeeLine, code: str, ruleset: RuleSet,
                           day_used: dict[tuple[str, str], Decimal], reasons: list[Reason]) -> tuple[int, Decimal]:
    """(the line amount for the quantity within the limits, that quantity); the rest becomes self-paid."""
    limit = ruleset.quantity_limits.get(code)
    qty = Decimal(line.quantity)
    if limit is None:
        return line.amount_fen, qty
    ok = qty
    if limit.max_per_line is not None:
        ok = min(ok, limit.max_per_line)
    if limit.max_per_day is not None:
        ok = min(ok, max(_ZERO, limit.max_per_day - day_used[(code, line.service_date)]))
    day_used[(code, line.service_date)] += ok  # what was reimbursed counts against the day
    if ok == qty:
        return line.amount_fen, qty
    allowed = half_up(Fraction(line.amount_fen) * Fraction(ok) / Fraction(qty))
    reasons.append(Reason("quantity-limit", line.amount_fen - allowed,
                          f"quantity {line.quantity}, at most {ok.normalize():f} reimbursable "
                          f"(per line {_q(limit.max_per_line)}, per day {_q(limit.max_per_day)})"))
    return allowed, ok


def _within_period_limit(line: FeeLine, code: str, ruleset: RuleSet, supply: PeriodSupply, allowed: int,
                         quantity: Decimal, reasons: list[Reason]) -> int:
    """The line amount for the quantity within the period limit (of ``quantity``, what the
    quantity limits left); the rest becomes self-paid."""
    limit = ruleset.period_limits[code]
    before = supply.before(code, line)
    room = max(_ZERO, limit.max_quantity - before.quantity)
    if quantity <= room:
        return allowed
    within = half_up(Fraction(line.amount_fen) * Fraction(room) / Fraction(Decimal(line.quantity)))
    where = [f"{e.issued_at[:10]} at {e.issuer}" for e in
             sorted({e.invoice_key: e for e in before.on_other_invoices}.values(), key=lambda e: e.issued_at)]
    if before.on_this_invoice:
        where.append(f"{_q(before.on_this_invoice)} on this invoice")
    sources = f" ({'; '.join(where)})" if where else ""
    reasons.append(Reason("period-limit", allowed - within,
                          f"{_q(before.quantity)} of {code} supplied in the {limit.days} days to {line.service_date}"
                          f"{sources}, at most {_q(limit.max_quantity)} in {limit.days} days: "
                          f"{_q(room)} of quantity {line.quantity} reimbursable"))
    return within


def _flags(invoice: Invoice, codes: list[str], ruleset: RuleSet
           ) -> tuple[tuple[Flag, ...], dict[int, tuple[Reason, ...]], dict[int, FeeLine]]:
    """Review flags, the reasons each flagged line shows (amount 0: a flag pays nothing less),
    and under ``self-pay-repeats`` the line each repeated line repeats (by seq)."""
    flags: list[Flag] = []
    per_line: dict[int, list[Reason]] = defaultdict(list)
    repeats: dict[int, FeeLine] = {}
    same_day: dict[tuple[str, str], list[FeeLine]] = defaultdict(list)
    raw_codes: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for line, code in zip(invoice.fee_lines, codes, strict=True):
        same_day[(code, line.service_date)].append(line)
        raw_codes[code].setdefault(line.item_code, []).append(line.seq)
    for (code, day), group in same_day.items():
        if len(group) > 1 and ruleset.duplicate_items is DuplicateItems.FLAG:
            seqs = tuple(x.seq for x in group)
            detail = f"{code} charged in lines {_seq_list(seqs)} on {day}"
            flags.append(Flag("duplicate-item", seqs, detail))
            for s in seqs:
                per_line[s].append(Reason("duplicate-item", 0, detail))
        elif len(group) > 1 and ruleset.duplicate_items is DuplicateItems.SELF_PAY_REPEATS:
            repeats.update((x.seq, group[0]) for x in group[1:])
        limit = ruleset.quantity_limits.get(code)
        day_max = None if limit is None else (
            limit.max_per_day if limit.max_per_day is not None else limit.max_per_line)
        total = sum((Decimal(x.quantity) for x in group), _ZERO)
        if len(group) > 1 and day_max is not None and total > day_max:
            seqs = tuple(x.seq for x in group)
            detail = f"{code} charged {len(group)} times on {day}, quantity {total.normalize():f} > limit {_q(day_max)}"
            flags.append(Flag("duplicate-same-day", seqs, detail))
            for s in seqs:
                per_line[s].append(Reason("duplicate-same-day", 0, detail))
    line_sum = sum(line.amount_fen for line in invoice.fee_lines)
    if line_sum != invoice.total_fen:
        flags.append(Flag("lines-not-summing-to-total", (),
                          f"fee lines sum to {line_sum} fen, invoice total is {invoice.total_fen} fen"))
    for code, by_raw in raw_codes.items():
        if len(by_raw) > 1:
            seqs = tuple(sorted(s for v in by_raw.values() for s in v))
            detail = f"{len(by_raw)} catalogue codes for {code}: {', '.join(sorted(by_raw))}"
            flags.append(Flag("several-codes-one-item", seqs, detail))
            for s in seqs:
                per_line[s].append(Reason("several-codes-one-item", 0, detail))
    return tuple(flags), {s: tuple(r) for s, r in per_line.items()}, repeats


def _seq_list(seqs: tuple[int, ...]) -> str:
    """Line numbers in words: "1 and 3", "1, 3 and 4"."""
    words = [str(s) for s in seqs]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _band(ruleset: RuleSet, tier: ClassBTier) -> str:
    """The unit-price band of a Class B tier in words, as the rule file draws it: "under
    ¥100.00", "up to and including ¥100.00", "¥100.01 and above"."""
    tiers = ruleset.class_b_tiers
    i = tiers.index(tier)
    if tier.to_unit_price_fen is not None:
        upper = f"up to and including ¥{_yuan(tier.to_unit_price_fen)}"
    else:
        upper = f"under ¥{_yuan(tiers[i + 1].from_unit_price_fen)}" if i + 1 < len(tiers) else ""
    if tier.from_unit_price_fen == 0:
        return upper or "any unit price"
    lower = f"¥{_yuan(tier.from_unit_price_fen)}"
    if not upper:
        return f"{lower} and above"
    return f"{lower} {upper}" if tier.to_unit_price_fen is not None else f"{lower} to {upper}"


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def _q(v: Decimal | None) -> str:
    return "none" if v is None else f"{v.normalize():f}"


