"""Reimbursement rules: versioned rule sets (data) and the pure adjudication of an invoice.

``ruleset`` holds the rule-set model; ``scope`` what a rule set applies to (visit types,
insured statuses); ``book`` picks the rule set that judges a claim and refuses
collections that overlap or leave a gap; ``loading``
validates the JSON rule files strictly; ``decision`` is the explained outcome;
``adjudicate`` applies one rule set to one invoice and explains the result line by
line. Nothing here touches SQL, HTTP or a chain: the claims service feeds in the
invoice, the person's category and their year-to-date figures, and stores the
:class:`Decision`.
"""

from ledger.rules.adjudicate import adjudicate
from ledger.rules.book import RuleBook
from ledger.rules.decision import Decision, Flag, LineDecision, Reason, Step, YearToDate
from ledger.rules.loading import load_ruleset
from ledger.rules.ruleset import PersonCategory, PersonRules, RuleSet
from ledger.rules.scope import AppliesTo, InsuredStatus

__all__ = [
    "AppliesTo", "Decision", "Flag", "InsuredStatus", "LineDecision", "PersonCategory", "PersonRules", "Reason",
    "RuleBook", "RuleSet", "Step", "YearToDate", "adjudicate", "load_ruleset",
]
