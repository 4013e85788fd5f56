"""The OpenAPI document, made to say what the service does.

FastAPI derives the document from the routes. What the edge and the access policy
decide (:mod:`api.edge`, :mod:`api.policy`, :mod:`ledger.app.access`) is added here from
the same tables that drive the behaviour, so the two cannot drift apart:

- who may call each operation: ``x-ebill-access`` (operation, roles and their reach) and
  a line in its description; public operations take a credential optionally
  (``security: [{}, {bearer}]``), the others need one;
- the errors each can answer, every one ``application/problem+json`` with the
  :class:`~api.schemas.Problem` schema: 400 (a JSON body that is malformed, too deep or
  has a key twice), 401 (no valid credential; ``WWW-Authenticate``), 403 (a role outside
  the allow-list), 413 (a body over the route's limit), 429 (``Retry-After``: too many
  requests without credential on a public route, or too many failed sign-ins), besides
  the route's own (404, 409, 415, 422, 503; and 502 with 503: a chain node that answers,
  but not as expected);
- every schema a route documents by hand (the upload formats) is in
  ``components/schemas``, so every ``$ref`` resolves.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from api.policy import ROUTES, UPLOAD
from ledger.app.access import OPERATIONS, Reach
from ledger.records import Role

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_WORDS = {
    400: "Malformed body: not JSON, nested too deep, or a key given twice",
    401: "No valid credential",
    403: "The credential's role may not do this",
    404: "Not found (or outside the caller's reach)",
    409: "Conflicts with recorded state",
    413: "The body is larger than this route accepts",
    415: "Unsupported content type",
    422: "Invalid input: every broken rule is named in `errors`",
    429: "Too many requests: retry after `Retry-After` seconds",
    502: "The chain node answered, but not as this service expects (e.g. another deployment than configured)",
    503: "The database, the chain or the bank is unavailable; retry later",
}
_REACH = {Reach.ANY: "any", Reach.OWN: "its own", Reach.PERSON: "their own and their delegators'",
          Reach.THIS_PAYER: "this service's payer only", Reach.SELF: "itself"}


def install(app: FastAPI, *, models: tuple[type[BaseModel], ...] = ()) -> None:
    """Make ``app.openapi()`` describe the policy; ``models`` are schemas routes refer to by hand."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        doc = generate()
        if not doc.get("x-ebill-described"):
            describe(doc, models=models)
            doc["x-ebill-described"] = True
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def describe(doc: dict[str, Any], *, models: tuple[type[BaseModel], ...] = ()) -> None:
    """Add the access policy, the edge's answers and the hand-written schemas to ``doc``."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas.setdefault(model.__name__, schema)
    bearer = next(iter(doc["components"].get("securitySchemes", {})), "HTTPBearer")
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            policy = ROUTES[(method.upper(), path)]
            access = OPERATIONS[policy.operation]
            errors = {int(s) for s in op.get("responses", {}) if str(s).isdigit() and int(s) >= 400}
            errors |= {401, 413}
            if access.public:
                op["security"] = [{}, {bearer: []}]
                if policy.throttled:
                    errors.add(429)
                errors.discard(403)
            else:
                op["security"] = [{bearer: []}]
                errors.add(429)
                if set(access.roles) != set(Role) or Reach.THIS_PAYER in access.roles.values():
                    errors.add(403)
                else:
                    errors.discard(403)
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                errors.add(400)
            if 503 in errors:   # a route that reaches the chain may also meet a node answering unexpectedly
                errors.add(502)
            declared = op.get("responses", {})
            responses = {s: r for s, r in declared.items() if not (str(s).isdigit() and int(s) >= 400)}
            for status in sorted(errors):
                responses[str(status)] = _problem_response(status, declared.get(str(status), {}))
            op["responses"] = responses
            op["x-ebill-access"] = {
                "operation": access.name, "public": access.public,
                "roles": {role.value: reach.value for role, reach in access.roles.items()},
                "bodyLimitBytes": None if policy.body_limit == UPLOAD else policy.body_limit,
            }
            who = ("Anyone, with no credential." if access.public else
                   "Who: " + "; ".join(f"{role.value} ({_REACH[reach]})" for role, reach in access.roles.items())
                   + ".")
            op["description"] = (op.get("description", "").rstrip() + "\n\n" + who).strip()
    for unused in ("HTTPValidationError", "ValidationError"):
        if not _referenced(doc, f"#/components/schemas/{unused}"):
            schemas.pop(unused, None)


def _problem_response(status: int, declared: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _WORDS.get(status, declared.get("description") or "Error"),
        "content": {"application/problem+json": {"schema": PROBLEM_REF}},
    }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"},
                                                    "description": 'Bearer realm="ebill"'}}
    if status == 429:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer", "minimum": 1},
                                               "description": "seconds until a request may be made again"}}
    return response


def _referenced(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_referenced(v, ref) for k, v in node.items() if k != "components")
    if isinstance(node, list):
        return any(_referenced(v, ref) for v in node)
    return False


def unresolved_refs(doc: dict[str, Any]) -> list[str]:
    """Every ``$ref`` of ``doc`` that does not resolve (for the tests)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target: Any = doc
                for part in ref.removeprefix("#/").split("/"):
                    target = target.get(part) if isinstance(target, dict) else None
                if ref.startswith("#/") and target is None:
                    found.append(ref)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return sorted(set(found))
