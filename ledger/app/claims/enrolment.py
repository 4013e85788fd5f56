"""Setting a payer up: its chain account, the persons insured with it, and delegations."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

from ledger.app.access import Principal, authorize
from ledger.app.claims.context import ClaimsContext
from ledger.claims.languages import Language
from ledger.claims.model import PayerRecord, PersonRecord
from ledger.errors import FieldProblem, InvalidInput
from ledger.identity import national_id_problem
from ledger.rules import PersonCategory
from ledger.signature import DigestSigner

_PAYER_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,31}\Z")
RELATIONS = ("spouse", "parent", "child", "guardian", "other")
#: problems listed when an enrolment is refused (the count is given)
_PROBLEMS_LISTED = 100


class Enrolee(NamedTuple):
    """One person to enrol: who, their category, and where they are insured (the region, a
    division code such as ``330600``; None: not recorded, their care is judged as off-site)
    and whether they registered for off-site care (备案), and the language they prefer their
    messages in (``zh`` or ``en``; None: not said, the one recorded is kept). A plain
    (id, name, category) works too."""

    national_id: str
    name: str
    category: str
    insured_region: str | None = None
    offsite_registered: bool = False
    language: str | None = None


class Enrolment(ClaimsContext):
    """Payers, enrolment and delegations."""

    def register_payer(self, *, payer_id: str, name: str, by: Principal) -> PayerRecord:
        """A payer with a new chain account (its key kept like hospitals' keys: sealed at rest, or on
        the service's PKCS#11 token)."""
        authorize(by, "payer.register")
        if not _PAYER_RE.match(payer_id):
            raise InvalidInput.single("payerId", "pattern", "1-32 letters, digits, '.', '_' or '-'")
        if not name.strip() or len(name) > 200:
            raise InvalidInput.single("name", "length", "name must be 1-200 characters")
        held = self.service.keys.create(owner=payer_id)
        record = PayerRecord(payer_id, name.strip(), held.address, held.reference, self.clock.now(), None)
        self.store.add_payer(record, actor=by.actor)
        return record

    def payer_signer(self, payer_id: str) -> DigestSigner:
        """The signer of a payer's chain account (its key opened from the keystore, or on the token)."""
        p = self.store.payer(payer_id)
        return self.service.keys.open(p.sealed_key, owner=p.payer_id, address=p.account)

    def enrol(self, entries: Sequence[Enrolee | tuple[str, str, str]], *, by: Principal) -> int:
        """Enrol persons with this payer (admin or payer); enrolling a person again replaces
        the payer's record of them."""
        authorize(by, "person.enrol", payer_id=self.payer_id)
        if not 1 <= len(entries) <= 100_000:
            raise InvalidInput.single("(body)", "count", "enrol 1-100,000 persons at a time")
        records, problems, ids = [], [], []
        categories = {c.value for c in PersonCategory}
        for n, entry in enumerate(entries):
            nid, name, category, region, registered, language = Enrolee(*entry)
            why = national_id_problem(nid)
            if why is not None:
                problems.append(FieldProblem(f"[{n}].nationalId", "resident-id", why))
            if category not in categories:
                problems.append(FieldProblem(f"[{n}].category", "enum",
                                             f"expected one of {', '.join(c.value for c in PersonCategory)}"))
            if region is not None and not 1 <= len(region.strip()) <= 64:
                problems.append(FieldProblem(f"[{n}].insuredRegion", "length",
                                             "the insured region must be 1-64 characters (a division code such as "
                                             "330600), or left out"))
            if language is not None and language not in {lang.value for lang in Language}:
                problems.append(FieldProblem(f"[{n}].language", "enum",
                                             f"expected one of {', '.join(lang.value for lang in Language)}"))
            if not problems:
                ids.append(nid)
                records.append(PersonRecord(b"", name.strip()[:100], category,
                                            region.strip() if region is not None else None, bool(registered),
                                            Language(language) if language else None))
        if problems:  # every broken entry in one answer, as for uploads; nothing is enrolled
            more = len(problems) - _PROBLEMS_LISTED
            raise InvalidInput(problems[:_PROBLEMS_LISTED] + (
                [FieldProblem("(body)", "more", f"… and {more:,} more problems")] if more > 0 else []))
        # each person under the pseudonym they are known by here (a person enrolled before a pepper
        # rotation keeps theirs: their claims and year-to-date figures stay theirs)
        persons = self.known_as(ids)
        return self.store.enrol([replace(r, pseudonym=p) for r, p in zip(records, persons, strict=True)],
                                actor=by.actor)

    def delegate(self, *, holder_id: str, person_id: str, relation: str, by: Principal) -> None:
        """Record that the holder (resident ID) may claim for the person (resident ID)."""
        authorize(by, "delegation.grant", payer_id=self.payer_id)
        if relation not in RELATIONS:
            raise InvalidInput.single("relation", "enum", f"expected one of {', '.join(RELATIONS)}")
        problems = [FieldProblem(name, "resident-id", why) for name, why in (
            ("holderNationalId", national_id_problem(holder_id)), ("personNationalId", national_id_problem(person_id)))
            if why is not None]
        if problems:
            raise InvalidInput(problems)
        holder, person = self.known_as([holder_id, person_id])
        if holder == person:
            raise InvalidInput.single("holder", "distinct", "a person does not need a delegation from themselves")
        self.store.delegate(holder=holder, person=person, relation=relation, actor=by.actor)
