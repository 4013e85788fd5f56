"""Who may do what: one allow-list per operation, for every role.

Every use case, and every HTTP route (``api/policy.py``), names an operation. This table
says which roles may perform it and how far each may reach. A role not listed for an
operation may not perform it (there is no "every role but"), an unknown operation does
not exist, and a credential of an unknown role can do nothing. The API's edge
(``api/edge.py``) refuses a role before it reads a request body; the use cases then check
the reach against the record itself.

Reach:

- ``ANY``: every record of the kind (payers and auditors reading invoices: their duty is
  to adjudicate and to audit them);
- ``OWN``: the records of the credential's own hospital — a hospital's invoices,
  batches, monthly claims report and the claw-backs it owes, and, for its claims window (``clerk``), the
  invoices it files claims on and the claims it filed;
- ``PERSON``: a citizen's own bills and claims, and those of the persons who delegated to
  them (a parent for a child, a guardian for a ward);
- ``THIS_PAYER``: a payer credential of the payer this service acts for (another payer's
  credential may not decide, list or count this payer's claims);
- ``SELF``: the caller's own identity only.

Outside its reach a record is "not found" (:class:`~ledger.errors.NotFound`), never
"forbidden": fingerprints are public, holdings and medical bills are not, and a
different answer would confirm that someone else's bill exists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ledger.errors import Forbidden, Unauthenticated
from ledger.records import Role


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role, the member it acts for, and the credential used.

    ``subject`` is the institution id (hospital, clerk), the payer id, a name (auditor,
    admin), or the hex pseudonym of a citizen.
    """

    role: Role
    subject: str
    key_id: str

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.subject}:{self.key_id}"


#: the service itself acting on the command line (``ebill hospital register`` and the like)
SYSTEM = Principal(Role.ADMIN, "system", "local")


class Reach(StrEnum):
    ANY = "any"
    OWN = "own"
    PERSON = "person"
    THIS_PAYER = "this-payer"
    SELF = "self"


@dataclass(frozen=True)
class Operation:
    """An operation: what it does in words (for messages) and who may do it, how far.

    A public operation needs no credential at all (``roles`` is then empty).
    """

    name: str
    does: str
    roles: Mapping[Role, Reach] = field(default_factory=dict)
    public: bool = False


_H, _C, _Z, _P, _A, _D = Role.HOSPITAL, Role.CLERK, Role.CITIZEN, Role.PAYER, Role.AUDITOR, Role.ADMIN
_ANY, _OWN, _PERSON, _THIS, _SELF = Reach.ANY, Reach.OWN, Reach.PERSON, Reach.THIS_PAYER, Reach.SELF

OPERATIONS: dict[str, Operation] = {op.name: op for op in (
    # the invoice ledger
    Operation("invoice.upload", "upload invoices", {_H: _OWN}),
    Operation("invoice.list", "list invoices", {_H: _OWN, _P: _ANY, _A: _ANY}),
    Operation("invoice.read", "read an invoice (status, fee lines, QR code, print)",
              {_H: _OWN, _C: _OWN, _Z: _PERSON, _P: _ANY, _A: _ANY}),
    Operation("invoice.disclose", "disclose a fee line (the issuing hospital holds the salts)", {_H: _OWN}),
    Operation("invoice.void", "void an invoice", {_H: _OWN}),
    Operation("batch.read", "read a batch's leaves", {_H: _OWN, _P: _ANY, _A: _ANY}),
    Operation("feed.read", "read the invoice feed (payers' mirrors, auditors)", {_P: _ANY, _A: _ANY}),
    Operation("proof.read", "read an inclusion proof", public=True),
    Operation("invoice.verify", "verify an invoice from its QR code", public=True),
    Operation("service.health", "read the service's health", public=True),
    Operation("service.live", "ask whether the process answers (liveness probe)", public=True),
    Operation("service.ready", "ask whether the service is ready (readiness probe)", public=True),
    # the service's metrics hold no personal data, but their volumes are a payer's and hospitals' business:
    # an operator's scraper reads them with a credential of its own that can do nothing else
    Operation("service.metrics", "read the service's metrics", {Role.MONITOR: Reach.ANY}),
    Operation("web.static", "load the front ends and the API documentation", public=True),
    # members and credentials
    Operation("hospital.register", "register hospitals", {_D: _ANY}),
    # the registry's names and regions (public facts): every member's staff names hospitals by them
    Operation("hospital.list", "list the registered hospitals", {_H: _ANY, _C: _ANY, _P: _ANY, _A: _ANY, _D: _ANY}),
    # hospitals' signing keys: the governance binds and revokes them on chain; a hospital reads its own
    Operation("hospital.keys.read", "read a hospital's signing keys", {_H: _OWN, _A: _ANY, _D: _ANY}),
    Operation("hospital.keys.rotate", "rotate a hospital's signing key", {_D: _ANY}),
    Operation("hospital.keys.revoke", "revoke a hospital's signing key", {_D: _ANY}),
    # the pseudonym pepper's versions (ebill pepper): ids and dates only, never a pepper
    Operation("pepper.read", "read the pepper versions", {_A: _ANY, _D: _ANY}),
    Operation("pepper.rotate", "rotate the pseudonym pepper", {_D: _ANY}),
    Operation("payer.register", "register payers", {_D: _ANY}),
    Operation("credential.create", "create API credentials", {_D: _ANY}),
    Operation("identity.read", "say who a credential belongs to", {r: _SELF for r in Role}),
    Operation("audit.read", "read the audit trail", {_A: _ANY, _D: _ANY}),
    # claims (a payer's service)
    Operation("claim.invoices", "list a person's claimable invoices", {_Z: _PERSON}),
    Operation("claim.estimate", "estimate what claiming a set of invoices would pay", {_Z: _PERSON}),
    Operation("claim.submit", "file claims", {_Z: _PERSON, _C: _OWN}),
    Operation("claim.list", "list claims", {_Z: _PERSON, _P: _THIS, _A: _ANY}),
    Operation("claim.read", "read a claim and its audit trail", {_Z: _PERSON, _C: _OWN, _P: _THIS, _A: _ANY}),
    Operation("claim.appeal", "appeal a rejected claim", {_Z: _PERSON}),
    Operation("claim.review", "review claims (queue, approve, reject)", {_P: _THIS}),
    Operation("claim.stats", "read the claims figures", {_P: _THIS, _A: _ANY, _D: _ANY}),
    # the monthly report holds no personal data; a hospital reads its own (its accountability)
    Operation("claim.report", "read the monthly claims report", {_P: _THIS, _A: _ANY, _D: _ANY, _H: _OWN}),
    # what paid claims owe back: the hospital sees what it owes, the citizen their claims'; the payer's office settles
    Operation("clawback.list", "list claw-backs", {_H: _OWN, _Z: _PERSON, _P: _THIS, _A: _ANY}),
    Operation("clawback.read", "read a claw-back", {_H: _OWN, _Z: _PERSON, _P: _THIS, _A: _ANY}),
    Operation("clawback.settle", "record what was recovered, offset or written off of a claw-back", {_P: _THIS}),
    Operation("person.enrol", "enrol insured persons", {_D: _ANY, _P: _THIS}),
    # whom a claim is for, as the payer's enrolment holds it: the payer's reviewers, who decide it (no route:
    # the review answers carry it for them and for nobody else)
    Operation("person.read", "read whom a claim is for (the payer's enrolment)", {_P: _THIS}),
    # the citizens' messages: a citizen says which language they want them in; the outbox is the operator's
    Operation("person.language", "record the language of one's messages", {_Z: _SELF}),
    Operation("notification.read", "read the outbox of the citizens' messages", {_D: _ANY}),
    Operation("delegation.grant", "record delegations", {_D: _ANY, _P: _THIS}),
    # the payer's rule sets (a second admin approves what one imported: ledger/rules/administration.py)
    Operation("rules.read", "read the rule sets", {_D: _ANY, _P: _THIS, _A: _ANY}),
    Operation("rules.import", "import rule sets", {_D: _ANY}),
    Operation("rules.approve", "approve rule sets", {_D: _ANY}),
    Operation("rules.retire", "retire rule sets", {_D: _ANY}),
    # the working-day calendar (public holidays, make-up working days): every member's staff reads it
    Operation("calendar.read", "read the working-day calendar", {_H: _ANY, _C: _ANY, _P: _ANY, _A: _ANY, _D: _ANY}),
    Operation("calendar.load", "load a year of the working-day calendar", {_D: _ANY}),
)}


def operation(name: str) -> Operation:
    """The operation called ``name``; a name not in the table is a programming error."""
    try:
        return OPERATIONS[name]
    except KeyError:
        raise KeyError(f"no access policy for operation {name!r}: add it to ledger/app/access.py") from None


def authorize(principal: Principal | None, name: str, *, payer_id: str | None = None) -> Reach:
    """How far ``principal`` reaches in operation ``name``; raises if it may not perform it.

    ``payer_id`` is the payer this service acts for (needed for ``THIS_PAYER`` reach).
    Raises :class:`Unauthenticated` without a principal (unless the operation is public)
    and :class:`Forbidden` for a role not in the operation's allow-list.
    """
    op = operation(name)
    if op.public:
        return Reach.ANY
    if principal is None:
        raise Unauthenticated("missing credential: send `Authorization: Bearer …`")
    reach = op.roles.get(principal.role)
    if reach is None:
        allowed = sorted(r.value for r in op.roles)
        raise Forbidden(f"a {principal.role.value} credential may not {op.does} (allowed: {', '.join(allowed)})")
    if reach is Reach.THIS_PAYER and principal.subject != payer_id:
        if payer_id is None:
            raise Forbidden(f"this service acts for no payer: no payer credential may {op.does} here")
        raise Forbidden(f"this service acts for payer {payer_id}; a credential of payer {principal.subject} may not "
                        f"{op.does} here")
    return reach


def reaches_invoice(principal: Principal, reach: Reach, *, issuer: str, patient: bytes,
                    acts_for: Callable[[bytes], bool] | None = None) -> bool:
    """Whether ``principal`` (at ``reach``) may see an invoice of ``issuer`` for ``patient``.

    ``acts_for(person)`` says whether the citizen holds a delegation from ``person``.
    """
    if reach is Reach.ANY:
        return True
    if reach is Reach.OWN:
        return principal.role in (Role.HOSPITAL, Role.CLERK) and issuer == principal.subject
    if reach is Reach.PERSON:
        me = citizen_person(principal)
        return patient == me or (acts_for is not None and acts_for(patient))
    return False


def citizen_person(principal: Principal) -> bytes:
    """The pseudonym a citizen's credential stands for."""
    if principal.role is not Role.CITIZEN:
        raise Forbidden(f"a {principal.role.value} credential stands for no insured person")
    return bytes.fromhex(principal.subject)


__all__ = ["OPERATIONS", "SYSTEM", "Operation", "Principal", "Reach", "authorize", "citizen_person", "operation",
           "reaches_invoice"]
