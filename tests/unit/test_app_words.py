"""The citizens' app says the domain's codes in words, in both languages: a code added to the
domain cannot reach a citizen as a bare code.

- every claw-back reason code (ledger/claims/clawback_reasons.py) has one sentence, ``cbr_<code>``;
- every person category has a name (``cat_<category>``): the explanation says whom the claim was judged as;
- every scheme of the shipped rule sets has a name (``scheme_<scheme>``): it says under which rules.

The English table comes first in strings.js, then the Chinese one.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest

from ledger.claims.clawback_reasons import REASONS
from ledger.claims.states import ClaimState
from ledger.rules.ruleset import PersonCategory

STRINGS_DIR = Path(__file__).resolve().parents[2] / "api/web/app"
STRINGS = (STRINGS_DIR / "strings.js").read_text(encoding="utf-8")
_ZH = STRINGS.index("'zh-CN': {")


def _labels(key: str) -> tuple[list[str], list[str]]:
    """The (English, Chinese) texts of ``key``."""
    pattern = rf"""(?:^|[\s{{,])['"]?{re.escape(key)}['"]?\s*:\s*'((?:[^'\\]|\\.)*)'"""
    found = [(m.start(), m.group(1)) for m in re.finditer(pattern, STRINGS, re.MULTILINE)]
    return [text for at, text in found if at < _ZH], [text for at, text in found if at > _ZH]


def _schemes() -> set[str]:
    folder = resources.files("ledger.rules") / "data"
    return {json.loads(p.read_text(encoding="utf-8"))["scheme"] for p in folder.iterdir() if p.name.endswith(".json")}


@pytest.mark.parametrize("key", [f"cbr_{r.value}" for r in REASONS] + [f"cat_{c.value}" for c in PersonCategory]
                         + [f"scheme_{s}" for s in sorted(_schemes())])
def test_each_code_has_words_in_both_languages(key: str) -> None:
    en, zh = _labels(key)
    assert len(en) == 1 and len(zh) == 1, (key, en, zh)
    assert en[0].strip() and zh[0].strip() and en[0] != zh[0], (key, en, zh)
    assert re.search(r"[\u4e00-\u9fff]", zh[0]), f"{key}: the Chinese text is not Chinese: {zh[0]!r}"


def test_the_person_owes_only_for_what_the_person_did() -> None:
    """A reason the hospital owes never tells the person that they did something, and the reverse."""
    for reason, rule in REASONS.items():
        en, _ = _labels(f"cbr_{reason.value}")
        if rule.debtor.value == "hospital":
            assert " you " not in f" {en[0]} ".lower(), (reason, en)


def test_every_reason_an_invoice_is_not_claimable_is_worded() -> None:
    """The listing's reasons (``GET /v1/me/invoices``) reach the citizen in words: each is mapped in
    invoices.js to a key with a text in both languages (a restore's forgotten claim included)."""
    from ledger.app.claims import citizens
    from ledger.claims.policy import why_not_claimable

    reasons = {citizens.NO_RULES_YET, citizens.CHAIN_UNREADABLE, citizens.NOT_DECIDABLE, citizens.CLAIMED_FORGOTTEN,
               "fully reimbursed"}
    for i, v, a, latest in ((False, False, True, None), (True, True, True, None), (True, False, False, None),
                            (True, False, True, ClaimState.PAID)):
        reasons.add(str(why_not_claimable(insured=i, voided=v, anchored=a, latest=latest)))
    mapped = dict(re.findall(r"^\s*'([a-z ,]+)': '(reason_\w+)',", (STRINGS_DIR / "invoices.js").read_text(), re.M))
    for reason in reasons - {citizens.NO_RULES_YET}:   # worded from its facts (noRulesText)
        assert reason in mapped, reason
        en, zh = _labels(mapped[reason])
        assert len(en) == 1 and len(zh) == 1 and re.search(r"[\u4e00-\u9fff]", zh[0]), (reason, en, zh)
