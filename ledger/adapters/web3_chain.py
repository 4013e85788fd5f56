"""The ledger contract through web3.py: embedded EVM, anvil, or any JSON-RPC node.

:class:`Web3Ledger` is :class:`ledger.ports.LedgerChain`: the contract's operations
(registry, anchoring, voids, reimbursement stamps) and its reads. What they stand on
lives beside it: :mod:`~ledger.adapters.transactions` signs, sends and awaits
transactions and translates web3's errors; :mod:`~ledger.adapters.contract_codec`
spells ids and names reverts; :mod:`~ledger.adapters.invoice_record` reads the hot
``invoiceRecord`` over :mod:`~ledger.adapters.jsonrpc`, the raw JSON-RPC client, when
the node has a plain ``http://`` endpoint; :mod:`~ledger.adapters.keyring` holds the keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from contracts import load_artifact
from ledger.adapters.contract_codec import ContractErrors, bytes32_to_id, id_to_bytes32
from ledger.adapters.invoice_record import (
    AsyncInvoiceReader,
    InvoiceRecordCall,
    calldata,
    decode_invoice_record,
    record_layout,
)
from ledger.adapters.jsonrpc import JsonRpcHttp
from ledger.adapters.keyring import Keyring
from ledger.adapters.rpc_access import RpcAccess
from ledger.adapters.transactions import Funder, Transactor, deploy_artifact
from ledger.errors import ChainError, ChainUnavailable, ContractReverted
from ledger.hashing import Fingerprint, Hash32, MerkleRoot, to_hex
from ledger.onchain import (
    AccountInfo,
    Address,
    AnchoredBatch,
    BatchAuthorisation,
    ChainClaim,
    InvoiceChainState,
    Reservation,
    StampOutcome,
    TxReceipt,
)
from ledger.voids import VoidReason, reason_to_bytes32

_KINDS = {0: "none", 1: "hospital", 2: "payer"}
#: batched stamp operations: contract function and the gas each item may take
_STAMP_OPS = {"reserve": ("reserveMany", 120_000), "finalize": ("finalizeMany", 45_000),
              "release": ("releaseMany", 45_000)}
#: Reimbursement*(fingerprint, payerId, claimId indexed; institutionId, amountFen): claim id is topic 3
_STAMP_TOPICS = frozenset(keccak(text=f"{name}(bytes32,bytes32,bytes32,bytes32,uint256)") for name in (
    "ReimbursementReserved", "ReimbursementReleased", "ReimbursementFinalized"))
_REFUSED_TOPIC = keccak(text="StampRefused(bytes32,bytes32,bytes4)")
_CLAIM_STATUS = {0: "none", 1: "reserved", 2: "released", 3: "finalized"}


class Web3Ledger:
    """:class:`ledger.ports.LedgerChain` over a deployed ``EbillLedger`` contract."""

    def __init__(
        self, w3: Web3, *, address: Address, keyring: Keyring, relayer: Address,
        funder: Funder | None = None, receipt_timeout: float = 60.0, access: RpcAccess | None = None,
    ) -> None:
        artifact = load_artifact()
        self.w3 = w3
        self.keyring = keyring
        self.relayer = to_checksum_address(relayer)
        self.contract: Contract = w3.eth.contract(address=to_checksum_address(address), abi=artifact.abi)
        self._errors = ContractErrors(artifact.abi)
        try:
            chain_id = int(w3.eth.chain_id)
        except Exception as exc:  # requests / httpx / OS errors differ per provider
            raise ChainUnavailable(f"cannot reach the chain node: {exc}") from exc
        self._tx = Transactor(w3, keyring=keyring, chain_id=chain_id, errors=self._errors, funder=funder,
                              receipt_timeout=receipt_timeout)
        self._record = InvoiceRecordCall(self.contract.address, layout=record_layout(artifact.abi),
                                         errors=self._errors.decode)
        #: the node's endpoint, read raw; None: an in-process EVM or IPC (web3's provider). Without
        #: ``access``, a plain http:// provider's URL with no credentials
        self.access: RpcAccess | None = access
        self._rpc: JsonRpcHttp | None = None
        endpoint = getattr(w3.provider, "endpoint_uri", None)
        if access is None and isinstance(endpoint, str) and endpoint.startswith("http://"):
            self.access = RpcAccess(endpoint)
        if self.access is not None:
            self._rpc = JsonRpcHttp(self.access.url, timeout=30.0, headers=self.access.headers(),
                                    ssl_context=self.access.ssl_context())

    # ------------------------------------------------------------------ construction

    @classmethod
    def deploy(cls, w3: Web3, *, keyring: Keyring, governance: Address, admin: Address | None = None,
               funder: Funder | None = None, access: RpcAccess | None = None) -> Web3Ledger:
        """Deploy a fresh ``EbillLedger`` relayed and registered by ``governance`` (its
        ``REGISTRAR_ROLE``); ``admin`` holds its ``DEFAULT_ADMIN_ROLE``: the consortium's
        timelock in production (``ebill chain deploy``), ``governance`` itself by default
        (development chains)."""
        owner = to_checksum_address(governance)
        receipt = deploy_artifact(w3, keyring=keyring, sender=owner, artifact=load_artifact(),
                                  args=(to_checksum_address(admin or owner), owner), funder=funder)
        ledger = cls(w3, address=receipt["contractAddress"], keyring=keyring, relayer=governance, funder=funder,
                     access=access)
        ledger._tx.count(receipt, "deploy")
        return ledger

    @property
    def chain_id(self) -> int:
        return self._tx.chain_id

    @property
    def contract_address(self) -> Address:
        return str(self.contract.address)

    @property
    def tx_count(self) -> int:
        """Transactions this adapter saw mined."""
        return self._tx.tx_count

    @property
    def gas_used_total(self) -> int:
        """Gas those transactions used."""
        return self._tx.gas_used_total

    @property
    def poll_latency(self) -> float:
        """Seconds between receipt polls: a stamped claim's latency includes up to one of them."""
        return self._tx.poll_latency

    @poll_latency.setter
    def poll_latency(self, seconds: float) -> None:
        self._tx.poll_latency = seconds

    def forget_session_state(self) -> None:
        """Drop cached nonces and funded accounts (after the node lost blocks or restarted)."""
        self._tx.forget_session_state()

    def send_pipelined(self, calls: Sequence[tuple[Address, Any, int]], *, in_flight: int = 256) -> list[TxReceipt]:
        """Send many ``(sender, contract function call, gas limit)`` without waiting for each
        (see :meth:`Transactor.send_pipelined <ledger.adapters.transactions.Transactor.send_pipelined>`)."""
        return self._tx.send_pipelined(calls, in_flight=in_flight)

    # ------------------------------------------------------------------ registry

    def register_hospital(self, institution_id: str, account: Address) -> TxReceipt:
        fn = self.contract.functions.registerHospital(id_to_bytes32(institution_id), to_checksum_address(account))
        return self._tx.transact(self.relayer, fn, "registerHospital")

    def register_payer(self, payer_id: str, account: Address) -> TxReceipt:
        fn = self.contract.functions.registerPayer(id_to_bytes32(payer_id), to_checksum_address(account))
        return self._tx.transact(self.relayer, fn, "registerPayer")

    def register_hospitals(self, members: Sequence[tuple[str, Address]]) -> list[TxReceipt]:
        """Bind each ``(institution id, account)``, all transactions sent before any is awaited.

        An id not yet on chain is registered; an id already registered with another
        account (a re-created store, a new key) gets this account added. A dry run of
        ``registerHospital`` tells which, so no pipelined transaction reverts; any other
        refusal (the relayer lacks ``REGISTRAR_ROLE``, the account is bound elsewhere) is
        raised as the contract says it, before anything is sent.
        """
        functions = self.contract.functions
        calls = []
        for member_id, account in members:
            member, checksummed = id_to_bytes32(member_id), to_checksum_address(account)
            fn = functions.registerHospital(member, checksummed)
            try:
                self._tx.dry_run(self.relayer, fn)
            except ContractReverted as exc:
                if exc.error != "MemberAlreadyRegistered":
                    raise
                fn = functions.addKey(member, checksummed)
            calls.append((self.relayer, fn, 300_000))
        return self._tx.send_pipelined(calls, in_flight=256)

    def add_key(self, member_id: str, account: Address) -> TxReceipt:
        """Bind another account to an existing member (governance only)."""
        fn = self.contract.functions.addKey(id_to_bytes32(member_id), to_checksum_address(account))
        return self._tx.transact(self.relayer, fn, "addKey")

    def revoke_key(self, account: Address) -> TxReceipt:
        fn = self.contract.functions.revokeKey(to_checksum_address(account))
        return self._tx.transact(self.relayer, fn, "revokeKey")

    def account_info(self, account: Address) -> AccountInfo:
        member, kind, added, revoked = self._tx.call(self.contract.functions.accountInfo(to_checksum_address(account)))
        return AccountInfo(bytes32_to_id(member), _KINDS.get(kind, "none"), added, revoked)

    # ------------------------------------------------------------------ anchoring

    def authorise_batch(self, *, signer: Address, root: MerkleRoot, leaf_count: int) -> BatchAuthorisation:
        """The hospital key's EIP-712 ``AnchorBatch(root, leafCount)`` signature."""
        typed = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
                ],
                "AnchorBatch": [{"name": "root", "type": "bytes32"}, {"name": "leafCount", "type": "uint32"}],
            },
            "primaryType": "AnchorBatch",
            "domain": {"name": "EbillLedger", "version": "1", "chainId": self.chain_id,
                       "verifyingContract": self.contract_address},
            "message": {"root": bytes(root), "leafCount": leaf_count},
        }
        return BatchAuthorisation(root, leaf_count, self.keyring.sign_typed_data(signer, typed))

    def anchor_batch(self, *, hospital: Address, root: MerkleRoot, leaf_count: int) -> TxReceipt:
        return self._tx.transact(hospital, self.contract.functions.anchorBatch(bytes(root), leaf_count), "anchorBatch")

    def anchor_authorised(self, groups: Sequence[Sequence[BatchAuthorisation]]) -> list[TxReceipt]:
        """One relayer transaction per group, all sent before any is awaited (pipelined)."""
        hashes = []
        for group in groups:
            signed = [(bytes(b.root), b.leaf_count, b.signature) for b in group]
            fn = self.contract.functions.anchorSignedBatches(signed)
            hashes.append(self._tx.send(self.relayer, fn, "anchorSignedBatches", gas=None))
        return [self._tx.wait(h, "anchorSignedBatches") for h in hashes]

    def batches(self, roots: Sequence[MerkleRoot]) -> list[AnchoredBatch | None]:
        """The chain's record of many roots in one call (None where not anchored)."""
        found: list[AnchoredBatch | None] = []
        for start in range(0, len(roots), 512):  # keep each eth_call's return data modest
            chunk = roots[start : start + 512]
            records, issuers = self._tx.call(self.contract.functions.batchesOf([bytes(r) for r in chunk]))
            for root, (hospital, leaf_count, at, block), issuer in zip(chunk, records, issuers, strict=True):
                found.append(AnchoredBatch(root, bytes32_to_id(issuer), leaf_count, at, block) if hospital else None)
        return found

    def batch(self, root: MerkleRoot) -> AnchoredBatch | None:
        hospital, leaf_count, anchored_at, block = self._tx.call(self.contract.functions.batchOf(bytes(root)))
        if hospital == 0:
            return None
        issuer = self._tx.call(self.contract.functions.batchIssuer(bytes(root)))
        return AnchoredBatch(root, bytes32_to_id(issuer), leaf_count, anchored_at, block)

    # ------------------------------------------------------------------ voids and stamps

    def void_invoice(
        self, *, hospital: Address, fingerprint: Fingerprint, total_fen: int,
        batch_root: MerkleRoot, proof: Sequence[Hash32], reason: VoidReason,
    ) -> TxReceipt:
        """Void the hospital's anchored invoice; the chain records ``reason`` as its code
        (:func:`ledger.voids.reason_to_bytes32`), never a hospital's free text."""
        fn = self.contract.functions.voidInvoice(
            bytes(fingerprint), total_fen, bytes(batch_root), [bytes(p) for p in proof], reason_to_bytes32(reason))
        return self._tx.transact(hospital, fn, "voidInvoice")

    def reserve(
        self, *, payer: Address, claim_id: bytes, issuer: str, fingerprint: Fingerprint, total_fen: int,
        amount_fen: int, batch_root: MerkleRoot, proof: Sequence[Hash32],
    ) -> TxReceipt:
        """Reserve ``amount_fen`` of ``issuer``'s anchored invoice for the payer's claim ``claim_id``."""
        item = _reservation_args(Reservation(claim_id, issuer, fingerprint, total_fen, amount_fen, batch_root,
                                             tuple(proof)))
        return self._tx.transact(payer, self.contract.functions.reserve(item), "reserve")

    def finalize(self, *, payer: Address, claim_id: bytes) -> TxReceipt:
        return self._tx.transact(payer, self.contract.functions.finalize(bytes(claim_id)), "finalize")

    def release(self, *, payer: Address, claim_id: bytes) -> TxReceipt:
        return self._tx.transact(payer, self.contract.functions.release(bytes(claim_id)), "release")

    def stamp_many(self, payer: Address, op: str, items: Sequence[Reservation | bytes], *,
                   per_tx: int = 100) -> list[StampOutcome]:
        """Batched stamps: ``op`` is ``reserve`` (items are :class:`Reservation`), ``finalize``
        or ``release`` (items are chain claim ids). All transactions are sent before any is
        awaited (one block holds them all); each item's outcome comes from the receipt's
        events: the stamp event, or ``StampRefused`` with the error a single call would
        have reverted with. Items of a transaction that failed as a whole raise.
        """
        if op not in _STAMP_OPS:
            raise ValueError(f"unknown stamp operation {op!r}")
        fn_name, per_item_gas = _STAMP_OPS[op]
        sent: list[tuple[bytes, list[bytes]]] = []
        for start in range(0, len(items), per_tx):
            chunk = items[start : start + per_tx]
            args: list[Any] = []
            ids: list[bytes] = []
            for item in chunk:
                if isinstance(item, Reservation) != (op == "reserve"):
                    raise ValueError(f"{op} takes {'Reservation' if op == 'reserve' else 'claim id'} items, "
                                     f"got a {type(item).__name__}")
                args.append(_reservation_args(item) if isinstance(item, Reservation) else bytes(item))
                ids.append(bytes(item.claim_id) if isinstance(item, Reservation) else bytes(item))
            fn = getattr(self.contract.functions, fn_name)(args)
            sent.append((self._tx.send(payer, fn, fn_name, gas=60_000 + per_item_gas * len(chunk)), ids))
        outcomes: list[StampOutcome] = []
        for tx_hash, ids in sent:
            raw = self._tx.wait_raw(tx_hash, fn_name)
            tx, block = to_hex(bytes(raw["transactionHash"])), int(raw["blockNumber"])
            seen: dict[bytes, str | None] = {}
            for log in raw["logs"]:
                topics = log["topics"]
                if not topics or log["address"].lower() != self.contract.address.lower():
                    continue
                topic0 = bytes(topics[0])
                if topic0 in _STAMP_TOPICS and len(topics) == 4:
                    seen[bytes(topics[3])] = None
                elif topic0 == _REFUSED_TOPIC and len(topics) == 3:
                    selector = bytes(log["data"])[:4]
                    seen[bytes(topics[2])] = self._errors.name_of(selector)
            for claim_id in ids:
                if claim_id not in seen:
                    raise ChainError(f"{fn_name} {tx} has no event for claim 0x{claim_id.hex()}")
                outcomes.append(StampOutcome(claim_id, seen[claim_id], tx, block))
        return outcomes

    def claim_of(self, payer_id: str, claim_id: bytes) -> ChainClaim:
        """(status, amount fen, fingerprint) of a payer's claim on chain; status ``none`` if unknown."""
        fp, amount, _payer, _hospital, status, at = self._tx.call(
            self.contract.functions.claimOf(id_to_bytes32(payer_id), bytes(claim_id)))
        return ChainClaim(_CLAIM_STATUS[int(status)], int(amount), bytes(fp), int(at))

    def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState:
        """Reserved / paid / voided state and pinned total of ``issuer``'s invoice ``fingerprint``.

        The hot read of every verification and claim: over HTTP(S) one raw ``eth_call``
        on a kept-alive connection (≈ 0.15 ms of CPU where web3's contract machinery costs
        ≈ 4.8 ms, measured on anvil); otherwise through web3's provider. Either way the
        record is read by :func:`~ledger.adapters.invoice_record.decode_invoice_record`.
        """
        if self._rpc is not None:
            return self._record.state(self._rpc.post(self._record.request(issuer, fingerprint)))
        out = self._tx.call_raw(self.contract.address, calldata(issuer, fingerprint), "invoiceRecord")
        return decode_invoice_record(out, self._record.layout)

    def invoice_reader(self, *, timeout: float = 10.0) -> AsyncInvoiceReader | None:
        """``invoiceRecord`` to await on an event loop (None without an HTTP endpoint)."""
        if self.access is None:
            return None
        return AsyncInvoiceReader(self.access.url, contract=self.contract_address, layout=self._record.layout,
                                  timeout=timeout, errors=self._errors.decode, headers=self.access.headers(),
                                  ssl_context=self.access.ssl_context())

    @property
    def rpc_url(self) -> str | None:
        """The node's JSON-RPC URL (None: an in-process EVM or IPC)."""
        return self.access.url if self.access is not None else None

    def is_anchored(
        self, *, fingerprint: Fingerprint, total_fen: int, root: MerkleRoot, proof: Sequence[Hash32]
    ) -> bool:
        fn = self.contract.functions.isAnchored(bytes(fingerprint), total_fen, bytes(root), [bytes(p) for p in proof])
        return bool(self._tx.call(fn))

    def events(self, name: str, receipt_or_hash: TxReceipt | str) -> list[dict[str, Any]]:
        """Decoded events ``name`` emitted by one transaction."""
        tx_hash = receipt_or_hash.tx_hash if isinstance(receipt_or_hash, TxReceipt) else receipt_or_hash
        receipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        return [dict(e["args"]) for e in getattr(self.contract.events, name)().process_receipt(receipt, errors=DISCARD)]


def _reservation_args(r: Reservation) -> tuple[Any, ...]:
    """A :class:`Reservation` as the contract's ``ReserveItem`` tuple."""
    return (bytes(r.claim_id), id_to_bytes32(r.issuer), bytes(r.fingerprint), r.total_fen, r.amount_fen,
            bytes(r.batch_root), [bytes(p) for p in r.proof])
