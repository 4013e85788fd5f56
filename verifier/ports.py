"""What the verification service (:mod:`verifier.service`) needs from the outside, as Protocols.

The service holds no web3, no SQL and no HTTP: the chain adapter
(``ledger.adapters.verify_chain.Web3VerifyingChain``) and this deployment's own record
of its invoices (``ledger.app.service.LedgerService``) implement these. Every method
blocks (the service calls it in a worker thread) except :class:`LiveInvoiceState`'s,
which is awaited on the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from ledger.batch import Batch
from ledger.hashing import Fingerprint, MerkleRoot
from ledger.onchain import InvoiceChainState, Stamp
from ledger.proofdoc import InvoiceInclusion
from verifier.inclusion import ChainView
from verifier.online import VoidSource
from verifier.registry import RegistrySnapshot

T = TypeVar("T")


class LiveInvoiceState(Protocol):
    """The contract's record of an invoice, awaited (a raw ``eth_call`` on the event loop)."""

    async def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState: ...


class VerifyingChain(ChainView, VoidSource, Protocol):
    """The chain as verification reads it: the contract's views, a void's event, the registry."""

    def advance_registry(self, old: RegistrySnapshot | None) -> tuple[RegistrySnapshot, bool]:
        """The registry snapshot at the chain's head, and whether ``old``'s block is still on the chain
        (when it is not, what was learnt from the chain since must be forgotten)."""
        ...

    @property
    def live(self) -> LiveInvoiceState | None:
        """The awaitable ``invoiceRecord`` (None: read :meth:`invoice_state` in a worker thread)."""
        ...

    @property
    def background_refresh(self) -> bool:
        """Whether the registry may be read from a thread of the service's own (False for an
        in-process EVM, which its owner drives)."""
        ...


class InvoiceRecords(Protocol):
    """This deployment's own record of the invoices it anchored (``ledger.app.service.LedgerService``)."""

    def public_record(self, fingerprint: Fingerprint, *,
                      batch_of: Callable[[MerkleRoot], Batch]) -> tuple[InvoiceInclusion | None, list[Stamp]]:
        """The invoice's inclusion document once its batch is anchored (None before, or for an
        invoice this deployment does not hold), and the stamps its index read from the chain.
        ``batch_of`` loads a batch's tree (the service's cache)."""
        ...

    def batch_tree(self, root: MerkleRoot) -> Batch:
        """The leaves of a closed batch (they never change)."""
        ...


class Offload(Protocol):
    """Runs a blocking call in a worker thread and awaits it (``asyncio.to_thread``, or the
    web framework's own pool: ``starlette.concurrency.run_in_threadpool``)."""

    def __call__(self, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> Awaitable[T]: ...
