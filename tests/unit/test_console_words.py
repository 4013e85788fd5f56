"""The staff console names every code the API sends in both languages (api/web/console/strings.js), so a code
added to the core cannot show up raw on a screen: states of claims, claw-backs, rule sets and messages, the
adjudication's rules (with the names ledger/claims/rule_names.py gives them), the office's stages, who owes, the
reasons, the steps, and what the outbox says. The browser test in Chinese (tests/browser/test_console_office.py)
checks the screens themselves."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

import pytest

from ledger.chain_gaps import FORGOTTEN_RELEASED
from ledger.claims.clawback_reasons import REASONS, Debtor
from ledger.claims.clawbacks import ClawbackEvent, ClawbackState
from ledger.claims.languages import Language
from ledger.claims.lines import LineReason
from ledger.claims.notice_outbox import DeliveryState
from ledger.claims.notices import NoticeKind
from ledger.claims.reconcile import RECONCILED
from ledger.claims.rule_names import _RULES, CO_PAYMENT
from ledger.claims.stamps import StampOp, StampStatus
from ledger.claims.states import ClaimState, Stage
from ledger.invoice import FeeCategory, VisitType
from ledger.rules import PersonCategory
from ledger.rules.administration import RuleSetState

STRINGS = (Path(__file__).resolve().parents[2] / "api/web/console/strings.js").read_text(encoding="utf-8")


def labels(key: str) -> list[str]:
    """The labels of ``key`` in the tables, English first, then Chinese."""
    return re.findall(rf"""(?<![\w-])['"]?{re.escape(key)}['"]?\s*:\s*'([^']*)'""", STRINGS)


def both(keys: Iterable[str]) -> list[str]:
    """Those of ``keys`` not labelled exactly once in each language."""
    return [k for k in keys if len(labels(k)) != 2 or not all(labels(k))]


CODES: list[tuple[str, type[StrEnum]]] = [
    ("state_", ClaimState), ("cbState_", ClawbackState), ("cbEvent_", ClawbackEvent), ("rsState_", RuleSetState),
    ("obState_", DeliveryState), ("noticeKind_", NoticeKind), ("lang_", Language), ("debtor_", Debtor),
    ("stage_", Stage), ("lineReason_", LineReason), ("category_", PersonCategory), ("visit_", VisitType),
    ("cat_", FeeCategory), ("stamp_", StampStatus), ("stampOp_", StampOp),
]


@pytest.mark.parametrize(("prefix", "codes"), CODES, ids=[p for p, _ in CODES])
def test_every_code_of_the_core_has_its_words_in_both_languages(prefix: str, codes: type[StrEnum]) -> None:
    assert not both(prefix + c.value for c in codes)


def test_every_reason_for_a_claw_back_is_named() -> None:
    """A finding's code by its finding label, the others by their own."""
    assert not both(("finding_" if labels("finding_" + r.value) else "cbReason_") + r.value for r in REASONS)


def test_the_rules_are_named_as_the_core_names_them() -> None:
    for rule, name in _RULES.items():
        assert labels(f"rule_{rule}") == [name.en, name.zh], rule
    assert CO_PAYMENT in _RULES


def test_the_steps_of_the_calculation_are_named() -> None:
    """The invoice-level steps the adjudication and the payers' order write (ledger/rules)."""
    import importlib

    source = "".join(Path(str(importlib.import_module(f"ledger.rules.{m}").__file__)).read_text()
                     for m in ("adjudicate", "coordination"))
    steps = set(re.findall(r'Step\("([a-z-]+)"', source)) | {"invoice-cap", "visit-cap"}
    assert {"deductible", "ratio", "annual-cap", "left-by-earlier-payers", "payers-in-order"} <= steps
    assert not both(f"step_{s}" for s in steps)


def test_the_audit_trails_actions_are_named() -> None:
    """Every action the store audits with a fixed name (claim.<state> and rules.<state> are worded by state)."""
    root = Path(__file__).resolve().parents[2] / "ledger"
    source = "\n".join(p.read_text() for p in root.rglob("*.py"))
    fixed = set(re.findall(r'action="([a-z][a-z.-]+)"', source)) - {"claim.x"}
    fixed |= {f"claim.review.{v}" for v in ("approve", "reject")} | {f"claim.post-audit.{o}" for o in ("cleared",
                                                                                                      "finding")}
    fixed |= {f"clawback.{e.value}" for e in ClawbackEvent} | {f"calendar.{o}" for o in ("loaded", "replaced",
                                                                                       "unchanged")}
    fixed |= {f"claim.stamp.{op.stamped.value}" for op in StampOp} | {f"claim.stamp.{op.value}-refused" for op in
                                                                     StampOp}
    # after a restore (named by constants: the regex above does not see them)
    fixed |= {RECONCILED, FORGOTTEN_RELEASED}
    worded_by_state = {f"claim.{s.value}" for s in ClaimState}
    assert len(fixed) > 30
    assert not both(f"act_{a}" for a in fixed - worded_by_state)
    assert not both(f"state_{a.removeprefix('claim.')}" for a in fixed & worded_by_state)


def test_every_reason_a_claim_is_refused_before_filing_is_named() -> None:
    """A claim refused before filing (``ClaimBlocked``) is audited with its reason code and the server's English
    sentence; the console shows the code in words and the sentence only to an English reader."""
    root = Path(__file__).resolve().parents[2] / "ledger"
    source = "\n".join(p.read_text() for p in root.rglob("*.py"))
    reasons = set(re.findall(r'ClaimBlocked\(\s*"([a-z-]+)"', source))
    assert {"duplicate", "voided"} <= reasons
    assert not both(f"blockedWhy_{r}" for r in reasons)


def test_every_problem_the_console_can_name_is_worded_in_both_languages() -> None:
    """The console says a failure in the reader's language (api/web/shared/problems.js maps the problem's type
    and rule to a string), the service's English only behind a disclosure: each of those strings is in both
    of the console's tables, and every problem type the core raises that a clerk meets at a desk is mapped."""
    shared = (Path(__file__).resolve().parents[2] / "api/web/shared/problems.js").read_text(encoding="utf-8")
    mapped = dict(re.findall(r"^\s+'?([a-z-]+)'?: '(\w+)',$", shared, re.M))
    desk = {"separation-of-duties", "conflict", "invalid-input", "forbidden", "not-found", "rate-limited"}
    assert desk <= set(mapped)
    assert not both({*mapped.values(), "p_invalid", "p_unavailable", "p_internal", "networkError", "detailsEn"}
                    - {"sessionEnded"})
    assert labels("sessionEnded")
