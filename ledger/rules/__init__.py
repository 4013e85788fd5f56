"""Reimbursement rules: versioned rule sets (data) and the pure adjudication of an invoice.

``ruleset`` holds the rule-set model; ``scope`` what a rule set applies to (visit types,
insured statuses); ``book`` picks the rule set that judges a claim and refuses
collections that overlap or leave a gap; ``loading``
validates the JSON rule files strictly; ``decision`` is the explained outcome;
``adjudicate`` applies one rule set to one invoice and explains the result line by
line; ``periods`` counts a person's supply of an item over a period across hospitals.
Nothing here touches SQL, HTTP or a chain: the claims service feeds in the invoice, the
person's category, their year-to-date figures and (for period limits) their earlier fee
lines, and stores the :class:`Decision`.
"""

from ledger.rules.adjudicate import adjudicate
from ledger.rules.book import RuleBook, RuleSource
from ledger.rules.decision import Decision, EarlierLine, Flag, LineDecision, Reason, Step, YearToDate
from ledger.rules.loading import load_ruleset
from ledger.rules.ruleset import DuplicateItems, PersonCategory, PersonRules, RuleSet
from ledger.rules.scope import AppliesTo, InsuredStatus

__all__ = [
    "AppliesTo", "Decision", "DuplicateItems", "EarlierLine", "Flag", "InsuredStatus", "LineDecision",
    "PersonCategory", "PersonRules", "Reason", "RuleBook", "RuleSet", "RuleSource", "Step", "YearToDate",
    "adjudicate", "load_ruleset",
]
