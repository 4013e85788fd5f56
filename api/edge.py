"""The edge: each request meets its route's policy before the app reads a byte of its body.

In this order (an ASGI middleware in front of every route):

1. the request is matched to its route and that route's :class:`~api.policy.RoutePolicy`
   (a path no route serves goes on to the router, which answers 404 or 405 without
   reading a body);
2. a declared body (``Content-Length``) larger than the route's limit: 413;
3. the credential (``Authorization: Bearer …``) is authenticated — staff tokens against
   the store, citizens' e-vouchers by their signature. None, or an invalid one, on a
   route that needs one: 401 (429 once the client's failed sign-ins are spent, see
   :mod:`api.throttle`);
4. the role is checked against the operation's allow-list (:mod:`ledger.app.access`): 403;
5. a public route called without a credential spends the client's public budget: 429;
6. only then does the route get the body, through a counter that stops it at the
   route's limit while it streams (413), whatever ``Content-Length`` said or if it
   said nothing (chunked).

The authenticated principal reaches the route as ``request.state.principal``
(:func:`api.deps.get_principal`). Routes then check the reach against the record itself
(a hospital's own invoice, a citizen's own bill) in the use cases.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.policy import ROUTES, UPLOAD, RoutePolicy
from api.problems import problem_of
from api.throttle import Throttle
from ledger.app.access import Principal, authorize, operation
from ledger.errors import LedgerError, PayloadTooLarge, Unauthenticated

Authenticate = Callable[[str | None], Principal]


@dataclass(frozen=True)
class _Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    template: str
    policy: RoutePolicy
    body_limit: int


class EdgeGuard:
    """The middleware; built by :func:`install`."""

    def __init__(self, app: ASGIApp, *, routes: list[_Route], authenticate: Authenticate, throttle: Throttle,
                 payer_id: str | None) -> None:
        self.app = app
        self._routes = routes
        self._authenticate = authenticate
        self._throttle = throttle
        self._payer_id = payer_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self._match(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["route"] = route.template   # (the access log and metrics label: api.observe)
        try:
            principal = await self._admit(scope, route)
        except LedgerError as exc:
            await problem_of(exc, instance=scope["path"])(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, _limited(receive, route.body_limit), send)

    def _match(self, scope: Scope) -> _Route | None:
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        path = scope["path"]
        for route in self._routes:
            if method in route.methods and route.pattern.match(path):
                return route
        return None

    async def _admit(self, scope: Scope, route: _Route) -> Principal | None:
        """The principal of an admitted request (None: a public route called without credential)."""
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > route.body_limit:
            raise PayloadTooLarge(_too_large(route, int(declared)))
        token = _bearer(headers.get("authorization"))
        public = operation(route.policy.operation).public
        if token is None and public:
            if route.policy.throttled:
                self._throttle.public_request(_client(scope))
            return None
        try:
            principal = await run_in_threadpool(self._authenticate, token)
        except Unauthenticated:
            self._throttle.failed_sign_in(_client(scope))  # raises RateLimited once the budget is spent
            raise
        if not public:
            authorize(principal, route.policy.operation, payer_id=self._payer_id)
        return principal


def install(app: FastAPI, *, authenticate: Authenticate, throttle: Throttle, payer_id: str | None,
            upload_limit: int) -> None:
    """Put the edge in front of ``app``'s routes; every route must have a policy in :data:`api.policy.ROUTES`.

    Raises ``RuntimeError`` naming a route without a policy (or a policy naming an
    operation that :mod:`ledger.app.access` does not know): a route added without one
    never serves a request.
    """
    routes = compile_routes(app.routes, upload_limit=upload_limit)
    app.add_middleware(EdgeGuard, routes=routes, authenticate=authenticate, throttle=throttle,
                       payer_id=payer_id)


def compile_routes(app_routes: list[BaseRoute], *, upload_limit: int) -> list[_Route]:
    """Each route of the app with its policy, in the app's matching order."""
    compiled, missing = [], []
    for r in _flat(app_routes):
        template, pattern = getattr(r, "path", None), getattr(r, "path_regex", None)
        methods: set[str] | None = getattr(r, "methods", None)
        if template is None or pattern is None:
            missing.append(repr(r))
            continue
        for method in sorted((methods or {"GET"}) - {"HEAD"}):
            policy = ROUTES.get((method, template))
            if policy is None:
                missing.append(f"{method} {template}")
                continue
            operation(policy.operation)  # a KeyError names an unknown operation
            limit = upload_limit if policy.body_limit == UPLOAD else policy.body_limit
            compiled.append(_Route(frozenset({method}), pattern, template, policy, limit))
    if missing:
        raise RuntimeError("routes without an access policy in api/policy.py: " + ", ".join(missing))
    return compiled


def _flat(app_routes: list[BaseRoute]) -> list[Any]:
    """The app's routes as they match requests (FastAPI from 0.16x keeps included routers
    as lazy entries of ``app.routes``; its ``iter_route_contexts`` flattens them, as its
    OpenAPI generation does)."""
    from fastapi import routing

    flatten = getattr(routing, "iter_route_contexts", None)
    return list(flatten(app_routes)) if flatten is not None else list(app_routes)


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that stops a body at ``limit`` bytes as it streams."""
    received = 0

    async def receive_limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # an HTTPException: FastAPI re-raises it from its body parsing (anything else
                # becomes a generic 400 there); the problem handler makes it problem+json
                raise HTTPException(413, detail=f"the body exceeds {limit:,} bytes, the most this route accepts")
        return message

    return receive_limited


def _too_large(route: _Route, declared: int) -> str:
    if route.body_limit == 0:
        return f"{route.template} takes no request body (this one declares {declared:,} bytes)"
    return f"the body is {declared:,} bytes; {route.template} accepts at most {route.body_limit:,}"


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
