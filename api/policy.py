"""Every route's policy: the operation it performs and the largest body it may send.

The operation names the allow-list of roles in :mod:`ledger.app.access`; the body limit
fits the route's purpose (a few KiB for control requests, the upload limit for uploads,
nothing for reads). :func:`api.edge.install` refuses to build an app with a route that
is not in this table, and the edge enforces it before any body is read. A test walks
every route of the OpenAPI document with every role against this table.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB

#: reads: no body
NO_BODY = 0
#: control requests (a claim of 20 invoices, a review with a 500-character reason, a void)
CONTROL = 16 * KIB
#: an approval in part: up to 1,000 fee lines not approved (an inpatient bill has hundreds), each with a
#: 100-character note (1.3 MB at worst, every character escaped)
REVIEW = 2 * MIB
#: enrolment of up to ~20,000 persons per request (the CLI reads larger files directly)
ENROLMENT = 2 * MIB
#: rule-set documents to import or check (a city's whole rule library is a few hundred KiB)
RULES = 4 * MIB
#: one year of the working-day calendar (a year is about 2 KiB; the loader refuses more than 64 KiB)
CALENDAR = 64 * KIB
#: a photo of an invoice for the public verifier (its JSON form is held to 64 KiB by the route)
PHOTO = 8 * MIB
#: stands for the service's upload limit (``EBILL_MAX_BODY_BYTES``, 64 MiB by default)
UPLOAD = -1


@dataclass(frozen=True)
class RoutePolicy:
    """What a route does (an operation of :mod:`ledger.app.access`) and the most body bytes it reads.

    ``throttled`` routes are public ones whose callers without a credential are rate-limited
    per client (the static front ends are not: they are cached files).
    """

    operation: str
    body_limit: int = NO_BODY
    throttled: bool = False


def _read(op: str) -> RoutePolicy:
    return RoutePolicy(op)


def _control(op: str) -> RoutePolicy:
    return RoutePolicy(op, CONTROL)


_INVOICE = "/v1/invoices/{fingerprint}"
_CLAIM = "/v1/claims/{claim_id}"
_CLAWBACK = "/v1/clawbacks/{clawback_id}"
_STATIC = RoutePolicy("web.static")

#: (method, path template) -> policy; HEAD is treated as GET
ROUTES: dict[tuple[str, str], RoutePolicy] = {
    # invoices
    ("POST", "/v1/invoices"): RoutePolicy("invoice.upload", UPLOAD),
    ("GET", "/v1/invoices"): _read("invoice.list"),
    ("GET", _INVOICE): _read("invoice.read"),
    ("GET", _INVOICE + "/fee-lines"): _read("invoice.read"),
    ("GET", _INVOICE + "/fee-lines/{seq}/disclosure"): _read("invoice.disclose"),
    ("GET", _INVOICE + "/qr"): _read("invoice.read"),
    ("GET", _INVOICE + "/qr.png"): _read("invoice.read"),
    ("GET", _INVOICE + "/qr.svg"): _read("invoice.read"),
    ("GET", _INVOICE + "/print"): _read("invoice.read"),
    ("GET", _INVOICE + "/print.pdf"): _read("invoice.read"),
    ("POST", _INVOICE + "/void"): _control("invoice.void"),
    ("GET", "/v1/batches/{root}"): _read("batch.read"),
    ("GET", "/v1/feed/batches"): _read("feed.read"),
    # public
    ("POST", "/v1/verify"): RoutePolicy("invoice.verify", PHOTO, throttled=True),
    ("GET", "/v1/proofs/{fingerprint}"): RoutePolicy("proof.read", throttled=True),
    ("GET", "/v1/health"): RoutePolicy("service.health", throttled=True),
    # an operator's machines: probes (no credential; readiness reads the database, so it is rate-limited
    # per address like the other public reads) and the metrics scraper (a monitor credential)
    ("GET", "/livez"): _read("service.live"),
    ("GET", "/readyz"): RoutePolicy("service.ready", throttled=True),
    ("GET", "/metrics"): _read("service.metrics"),
    # members
    ("POST", "/v1/hospitals"): _control("hospital.register"),
    ("GET", "/v1/hospitals"): _read("hospital.list"),
    ("GET", "/v1/hospitals/{institution_id}/keys"): _read("hospital.keys.read"),
    ("POST", "/v1/hospitals/{institution_id}/keys"): _control("hospital.keys.rotate"),
    ("POST", "/v1/hospitals/{institution_id}/keys/{account}/revoke"): _control("hospital.keys.revoke"),
    ("POST", "/v1/credentials"): _control("credential.create"),
    ("GET", "/v1/me"): _read("identity.read"),
    ("GET", "/v1/audit"): _read("audit.read"),
    # claims
    ("GET", "/v1/me/invoices"): _read("claim.invoices"),
    ("POST", "/v1/me/estimate"): _control("claim.estimate"),
    ("POST", "/v1/claims"): _control("claim.submit"),
    ("GET", "/v1/claims"): _read("claim.list"),
    ("GET", _CLAIM): _read("claim.read"),
    ("GET", _CLAIM + "/audit"): _read("claim.read"),
    ("POST", _CLAIM + "/appeal"): _control("claim.appeal"),
    ("POST", _CLAIM + "/approve"): RoutePolicy("claim.review", REVIEW),
    ("POST", _CLAIM + "/reject"): _control("claim.review"),
    ("GET", "/v1/review/queue"): _read("claim.review"),
    ("POST", _CLAIM + "/post-audit"): _control("claim.review"),
    ("GET", "/v1/review/post-payment"): _read("claim.review"),
    # what paid claims owe back
    ("GET", "/v1/clawbacks"): _read("clawback.list"),
    ("GET", _CLAWBACK): _read("clawback.read"),
    ("GET", _CLAIM + "/clawback"): _read("clawback.read"),
    ("POST", _CLAWBACK + "/recover"): _control("clawback.settle"),
    ("POST", _CLAWBACK + "/offset"): _control("clawback.settle"),
    ("POST", _CLAWBACK + "/write-off"): _control("clawback.settle"),
    ("POST", _CLAWBACK + "/write-off/approve"): _control("clawback.settle"),
    ("POST", _CLAWBACK + "/write-off/decline"): _control("clawback.settle"),
    ("POST", "/v1/persons"): RoutePolicy("person.enrol", ENROLMENT),
    ("POST", "/v1/delegations"): _control("delegation.grant"),
    ("GET", "/v1/stats/claims"): _read("claim.stats"),
    # the citizens' messages: the outbox (the operator's), the language a citizen wants them in
    ("GET", "/v1/notifications"): _read("notification.read"),
    ("PUT", "/v1/me/language"): _control("person.language"),
    ("GET", "/v1/reports/monthly"): _read("claim.report"),
    # the payer's rule sets
    ("GET", "/v1/rules"): _read("rules.read"),
    ("GET", "/v1/rules/diff"): _read("rules.read"),
    ("GET", "/v1/rules/{rule_id}/{version}"): _read("rules.read"),
    ("POST", "/v1/rules/validate"): RoutePolicy("rules.read", RULES),
    ("POST", "/v1/rules"): RoutePolicy("rules.import", RULES),
    ("POST", "/v1/rules/approve"): _control("rules.approve"),
    ("POST", "/v1/rules/retire"): _control("rules.retire"),
    # the working-day calendar (public holidays, make-up working days)
    ("GET", "/v1/calendar"): _read("calendar.read"),
    ("GET", "/v1/calendar/{year}"): _read("calendar.read"),
    ("POST", "/v1/calendar"): RoutePolicy("calendar.load", CALENDAR),
    # the front ends and the API documentation
    ("GET", "/"): _STATIC,
    ("GET", "/app"): _STATIC,
    ("GET", "/console"): _STATIC,
    ("GET", "/app/{path:path}"): _STATIC,
    ("GET", "/console/{path:path}"): _STATIC,
    ("GET", "/assets/{path:path}"): _STATIC,
    ("GET", "/openapi.json"): _STATIC,
    ("GET", "/docs"): _STATIC,
    ("GET", "/docs/oauth2-redirect"): _STATIC,
    ("GET", "/redoc"): _STATIC,
}


def markdown() -> str:
    """The policy as a Markdown table: ``docs/access-policy.md`` (a test fails when that file is stale)."""
    from ledger.app.access import OPERATIONS, Reach
    from ledger.records import Role

    words = {Reach.ANY: "all", Reach.OWN: "own", Reach.PERSON: "own + delegators'", Reach.THIS_PAYER: "this payer",
             Reach.SELF: "self"}
    roles = list(Role)
    lines = [
        "<!-- generated by `python -m api.policy` from api/policy.py and ledger/app/access.py: do not edit -->",
        "# Who may call what",
        "",
        "Every route, the operation it performs, the largest body it reads, and the reach of each role",
        "(blank: refused with 403; no credential: 401 unless the route is public). Outside its reach a",
        "record is \"not found\" (404). Public routes rate-limit callers without a credential per address",
        "(429 + `Retry-After`); requests without a valid credential are limited per address too.",
        "",
        "| Route | Operation | Body limit | " + " | ".join(r.value for r in roles) + " |",
        "|---|---|---|" + "---|" * len(roles),
    ]
    for (method, path), policy in ROUTES.items():
        op = OPERATIONS[policy.operation]
        size = policy.body_limit
        limit = ("upload limit" if size == UPLOAD else "none" if size == 0
                 else f"{size // KIB:,} KiB" if size < MIB else f"{size // MIB} MiB")
        cells = ["public" + (" (rate-limited)" if policy.throttled else "")] * len(roles) if op.public else \
            [words[op.roles[r]] if r in op.roles else "" for r in roles]
        lines.append(f"| `{method} {path}` | {op.name} | {limit} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
