"""Claim requests waiting for the chain, polled together in each event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from ledger.claims.model import Claim
from ledger.claims.states import WAITING_FOR_CHAIN
from ledger.ports import ClaimsRepository

log = logging.getLogger("ebill.claims")


class ClaimWaiter:
    """Claims waiting to leave :data:`~ledger.claims.states.WAITING_FOR_CHAIN`, polled together:
    one query per ``interval`` for every waiting request of the event loop, whatever their
    number (a poll per request would cost a query per request every few milliseconds under load)."""

    def __init__(self, store: ClaimsRepository, *, interval: float = 0.01) -> None:
        self._store = store
        self._interval = interval
        # per event loop (uvicorn has one; test clients may run several at once)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWaiters] = \
            weakref.WeakKeyDictionary()

    async def wait(self, claim_ids: Sequence[str], *, timeout: float) -> dict[str, Claim]:
        """The claims of ``claim_ids`` that moved on within ``timeout`` seconds, by id."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopWaiters()
        futures: dict[str, asyncio.Future[Claim]] = {}
        for cid in claim_ids:
            futures[cid] = loop.create_future()
            state.waiting.setdefault(cid, []).append(futures[cid])
        if state.poller is None or state.poller.done():
            state.poller = loop.create_task(self._poll(state))
        try:
            await asyncio.wait(futures.values(), timeout=timeout)
        finally:
            for cid, fut in futures.items():
                waiting = state.waiting.get(cid)
                if waiting is not None and fut in waiting:
                    waiting.remove(fut)
                    if not waiting:
                        del state.waiting[cid]
        return {cid: fut.result() for cid, fut in futures.items() if fut.done() and not fut.cancelled()}

    async def _poll(self, state: _LoopWaiters) -> None:
        loop = asyncio.get_running_loop()
        while state.waiting:
            await asyncio.sleep(self._interval)
            ids = list(state.waiting)
            if not ids:
                break
            try:
                moved = await loop.run_in_executor(None, functools.partial(self._store.moved_on, ids,
                                                                           from_states=WAITING_FOR_CHAIN))
            except Exception as exc:   # the database is busy or gone: a later poll works, or the waiters time out
                log.warning("claims waiter: %s", exc)
                continue
            for c in moved:
                for fut in state.waiting.pop(c.id, []):
                    if not fut.done():
                        fut.set_result(c)


@dataclass
class _LoopWaiters:
    waiting: dict[str, list[asyncio.Future[Claim]]] = field(default_factory=dict)
    poller: asyncio.Task[None] | None = None
