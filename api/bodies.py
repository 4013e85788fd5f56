"""JSON request bodies read strictly: bounded nesting, no duplicate keys, our problem answers.

FastAPI parses a JSON body with the stdlib (``Request.json()``) before it validates it
against the route's model. That parser recurses in C once per nesting level, so a small
body of deeply nested arrays costs stack, not just time (with the recursion limit some
library raised, it crashed the process: see :mod:`ledger.adapters.recursion_limit`);
duplicate keys are silently resolved to the last value; and whatever it raises besides
a syntax error becomes FastAPI's generic 400 "There was an error parsing the body".

:class:`JsonBodyRoute` (a router's ``route_class``) gives its routes a request whose
``.json()`` parses with orjson (:mod:`ledger.formats.strict_json`, which refuses more
than 1,024 levels without recursing on the C stack) and refuses documents nested deeper
than :data:`MAX_BODY_DEPTH` and objects with a key twice. For routes that declare a
JSON body, the route reads it before FastAPI does, so a refusal reaches the
problem handlers as :class:`~ledger.errors.MalformedBody` (400, the reason in ``detail``)
rather than through FastAPI's generic body error; FastAPI then reuses the parsed value.
No API document needs more than a few levels (a list of persons is two deep).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from ledger.errors import MalformedBody
from ledger.formats.strict_json import MalformedJson, depth_exceeds, parse

__all__ = ["MAX_BODY_DEPTH", "JsonBodyRequest", "JsonBodyRoute", "parse_body"]

#: nesting levels a request body may have (arrays and objects)
MAX_BODY_DEPTH = 32


def parse_body(raw: bytes) -> Any:
    """The value of a JSON request body; raises :class:`MalformedBody` saying what is wrong with it."""
    try:
        parsed = parse(raw)
    except MalformedJson as exc:
        if exc.rule == "json-depth":
            raise MalformedBody(f"the JSON body nests deeper than {MAX_BODY_DEPTH} levels") from None
        raise MalformedBody(f"the body is {exc.message}") from None
    if depth_exceeds(parsed.value, MAX_BODY_DEPTH):
        raise MalformedBody(f"the JSON body nests deeper than {MAX_BODY_DEPTH} levels")
    if parsed.duplicates:
        dup = parsed.duplicates[0]
        raise MalformedBody(f"the JSON body has the key {dup.key!r} twice in one object, at {dup.at()}: "
                            "which value is meant is ambiguous")
    return parsed.value


class JsonBodyRequest(Request):
    """A request whose ``.json()`` is :func:`parse_body`'s (cached, like Starlette's)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_body(await self.body())
        return self._json


class JsonBodyRoute(APIRoute):
    """An API route whose JSON body is read by :class:`JsonBodyRequest` (see the module doc)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        takes_json = self.body_field is not None

        async def handler(request: Request) -> Response:
            request = JsonBodyRequest(request.scope, request.receive)
            if takes_json and _is_json(request.headers.get("content-type", "")) and await request.body():
                await request.json()  # refused here, as our problem; FastAPI reuses the value
            return await handle(request)

        return handler


def _is_json(content_type: str) -> bool:
    """Whether FastAPI would parse a body of this type as JSON (``application/json`` or ``application/*+json``)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
