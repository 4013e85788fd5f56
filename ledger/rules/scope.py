"""What a rule set applies to: visit types and insured statuses (its ``appliesTo``).

A payer's office does not judge every bill under one scheme: an inpatient stay in the
person's own city is paid under the local inpatient rules, the same stay in another
province without registration (备案) under the lower off-site rules. A rule set therefore
says which (visit type, insured status) pairs it applies to; the person categories it
covers are the keys of its ``persons``. For one claim the :class:`~ledger.rules.book.RuleBook`
picks, among the payer's rule sets in force on the invoice date that apply, the most
specific: one that names the visit type or the insured status beats one that leaves it
open (``"*"``), and one that names both beats one that names either.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ledger.invoice import VisitType


class InsuredStatus(StrEnum):
    """Where the person was treated, as their payer sees it (see :func:`ledger.claims.insured.insured_status`)."""

    LOCAL = "local"                                  # in the region the person is insured in
    OFFSITE_REGISTERED = "offsite-registered"        # elsewhere, registered for off-site care (异地就医备案)
    OFFSITE_UNREGISTERED = "offsite-unregistered"    # elsewhere, without registration
    EMERGENCY = "emergency"                          # elsewhere, an emergency (needs no registration)


#: how each status reads in a sentence ("inpatient care treated off-site without registration")
STATUS_WORDS = {
    InsuredStatus.LOCAL: "treated locally",
    InsuredStatus.OFFSITE_REGISTERED: "treated off-site with registration",
    InsuredStatus.OFFSITE_UNREGISTERED: "treated off-site without registration",
    InsuredStatus.EMERGENCY: "treated off-site as an emergency",
}


@dataclass(frozen=True, slots=True)
class AppliesTo:
    """The visit types and insured statuses a rule set applies to; None: all of them (``"*"``)."""

    visit_types: frozenset[VisitType] | None = None
    insured_status: frozenset[InsuredStatus] | None = None

    def covers(self, visit_type: VisitType, status: InsuredStatus) -> bool:
        """True if a claim of ``visit_type`` by a person of ``status`` falls under this scope."""
        return ((self.visit_types is None or visit_type in self.visit_types)
                and (self.insured_status is None or status in self.insured_status))

    @property
    def specificity(self) -> int:
        """How many of the two dimensions are named (0-2): the highest among matching sets wins."""
        return (self.visit_types is not None) + (self.insured_status is not None)

    def describe(self) -> str:
        """The scope in words, e.g. ``inpatient care treated off-site without registration``."""
        visits = "all care" if self.visit_types is None else \
            " and ".join(sorted(v.value for v in self.visit_types)) + " care"
        if self.insured_status is None:
            return visits
        return visits + " " + " or ".join(STATUS_WORDS[s] for s in InsuredStatus if s in self.insured_status)


#: a rule set without ``appliesTo`` applies to every visit type and insured status
EVERYTHING = AppliesTo()
