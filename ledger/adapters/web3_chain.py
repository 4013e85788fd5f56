"""The ledger contract through web3.py: embedded EVM, anvil, or any JSON-RPC node.

Transactions are signed client-side (eth-account, with coincurve) with nonces managed
per sender, so the same code runs against eth-tester, anvil and Hyperledger Besu.
Reverts are decoded into :class:`ContractReverted` carrying the contract's custom error
name and arguments; connection failures become :class:`ChainUnavailable`.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import function_abi_to_4byte_selector, keccak, to_checksum_address
from eth_utils.exceptions import ValidationError as EthValidationError
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, Web3Exception

from contracts import load_artifact
from ledger.adapters.recursion_limit import hold_recursion_limit
from ledger.errors import ChainError, ChainUnavailable, ContractReverted, NotFound
from ledger.hashing import Fingerprint, Hash32, MerkleRoot, to_hex
from ledger.ports import (
    AccountInfo,
    Address,
    AnchoredBatch,
    BatchAuthorisation,
    InvoiceChainState,
    TxReceipt,
)
from ledger.voids import VoidReason, reason_to_bytes32

try:  # the embedded EVM raises its own exception type for reverts
    from eth_tester.exceptions import TransactionFailed as _TesterReverted
except ImportError:  # pragma: no cover - eth-tester is only needed for the embedded chain
    class _TesterReverted(Exception):  # type: ignore[no-redef]
        pass

hold_recursion_limit()  # eth-account (through py_ecc) and eth-tester (py-evm) have just raised it

_REVERTS = (ContractCustomError, ContractLogicError, _TesterReverted)

_KINDS = {0: "none", 1: "hospital", 2: "payer"}
#: ETH given to an account the first time it must pay gas itself (dev chains only)
_TOP_UP_WEI = 10**20
_PANIC = bytes.fromhex("4e487b71")
#: selector of invoiceRecord(bytes32,bytes32), for the raw eth_call of invoice_state
_INVOICE_RECORD = function_abi_to_4byte_selector(
    {"type": "function", "name": "invoiceRecord", "inputs": [{"type": "bytes32"}, {"type": "bytes32"}]})
#: bytes of invoiceRecord's result: InvoiceRecord(uint80 reservedFen, uint80 paidFen, uint80 totalFen, bool voided)
INVOICE_RECORD_SIZE = 4 * 32
_ERROR_STRING = bytes.fromhex("08c379a0")
#: batched stamp operations: contract function and the gas each item may take
_STAMP_OPS = {"reserve": ("reserveMany", 120_000), "finalize": ("finalizeMany", 45_000),
              "release": ("releaseMany", 45_000)}
#: Reimbursement*(fingerprint, payerId, claimId indexed; institutionId, amountFen): claim id is topic 3
_STAMP_TOPICS = frozenset(keccak(text=f"{name}(bytes32,bytes32,bytes32,bytes32,uint256)") for name in (
    "ReimbursementReserved", "ReimbursementReleased", "ReimbursementFinalized"))
_REFUSED_TOPIC = keccak(text="StampRefused(bytes32,bytes32,bytes4)")
_CLAIM_STATUS = {0: "none", 1: "reserved", 2: "released", 3: "finalized"}


@dataclass(frozen=True)
class Reservation:
    """A payer's request to reserve ``amount_fen`` of an anchored invoice for claim ``claim_id``."""

    claim_id: bytes
    issuer: str
    fingerprint: bytes
    total_fen: int
    amount_fen: int
    batch_root: bytes
    proof: tuple[bytes, ...]

    def as_tuple(self) -> tuple[Any, ...]:
        return (bytes(self.claim_id), id_to_bytes32(self.issuer), bytes(self.fingerprint), self.total_fen,
                self.amount_fen, bytes(self.batch_root), [bytes(p) for p in self.proof])


@dataclass(frozen=True)
class StampOutcome:
    """One item of a batched stamp: ``refused`` is None when it took effect, else the error name."""

    claim_id: bytes
    refused: str | None
    tx: str
    block: int


def id_to_bytes32(text: str) -> bytes:
    """Institution / payer id as bytes32: its ASCII, right-padded with zeros (readable in explorers)."""
    raw = text.encode("ascii")
    if not raw or len(raw) > 32:
        raise ValueError(f"id must be 1-32 ASCII characters, got {text!r}")
    return raw.ljust(32, b"\0")


def decode_invoice_record(out: bytes) -> InvoiceChainState:
    """The ABI-encoded result of ``invoiceRecord``: the words reservedFen, paidFen, totalFen, voided."""
    if len(out) != INVOICE_RECORD_SIZE:
        raise ChainError(f"invoiceRecord returned {len(out)} bytes, expected {INVOICE_RECORD_SIZE}")
    words = [int.from_bytes(out[i : i + 32], "big") for i in range(0, INVOICE_RECORD_SIZE, 32)]
    if words[3] > 1 or max(words[:3]) >= 2**80:
        raise ChainError(f"invoiceRecord returned a malformed record 0x{out.hex()}")
    return InvoiceChainState(words[0], words[1], words[3] == 1, words[2])


def bytes32_to_id(raw: bytes) -> str:
    return bytes(raw).rstrip(b"\0").decode("ascii", errors="replace")


class Keyring:
    """Private keys of the accounts this process signs for."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._accounts: dict[str, LocalAccount] = {}
        for key in keys:
            self.add(key)

    def add(self, private_key: str) -> Address:
        acct: LocalAccount = Account.from_key(private_key)
        self._accounts[acct.address] = acct
        return str(acct.address)

    def new(self) -> Address:
        acct: LocalAccount = Account.create()
        self._accounts[acct.address] = acct
        return str(acct.address)

    def __getitem__(self, address: Address) -> LocalAccount:
        try:
            return self._accounts[to_checksum_address(address)]
        except KeyError:
            raise NotFound(f"no private key for account {address} in this keyring") from None

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and to_checksum_address(address) in self._accounts

    def export(self) -> dict[Address, str]:
        """Address -> hex private key (development keyrings only; production uses keystores)."""
        return {a: to_hex(bytes(acct.key)) for a, acct in self._accounts.items()}


@dataclass
class _PendingTx:
    tx_hash: bytes
    label: str


class Web3Ledger:
    """:class:`ledger.ports.LedgerChain` over a deployed ``EbillLedger`` contract."""

    def __init__(
        self, w3: Web3, *, address: Address, keyring: Keyring, relayer: Address,
        funder: Callable[[Address, int], None] | None = None, receipt_timeout: float = 60.0,
    ) -> None:
        artifact = load_artifact()
        self.w3 = w3
        self.keyring = keyring
        self.relayer = to_checksum_address(relayer)
        self.contract: Contract = w3.eth.contract(address=to_checksum_address(address), abi=artifact.abi)
        self._funder = funder
        self._receipt_timeout = receipt_timeout
        self._errors = _error_decoder(artifact.abi)
        self._nonces: dict[str, int] = {}
        self._nonce_lock = threading.Lock()
        self._funded: set[str] = set()
        try:
            self._chain_id = int(w3.eth.chain_id)
        except Exception as exc:  # requests / httpx / OS errors differ per provider
            raise ChainUnavailable(f"cannot reach the chain node: {exc}") from exc
        self.gas_used_total = 0
        self.tx_count = 0
        #: seconds between receipt polls: a stamped claim's latency includes up to one of them
        self.poll_latency = 0.01
        self._http = threading.local()   # per thread: a kept-alive connection for _raw_rpc
        self._selector_names = {function_abi_to_4byte_selector(e): str(e["name"])
                                for e in artifact.abi if e.get("type") == "error"}

    # ------------------------------------------------------------------ construction

    @classmethod
    def deploy(
        cls, w3: Web3, *, keyring: Keyring, governance: Address,
        funder: Callable[[Address, int], None] | None = None,
    ) -> Web3Ledger:
        """Deploy a fresh ``EbillLedger`` governed (and relayed) by ``governance``."""
        artifact = load_artifact()
        if funder is not None and w3.eth.get_balance(to_checksum_address(governance)) == 0:
            funder(governance, _TOP_UP_WEI)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx = factory.constructor(to_checksum_address(governance)).build_transaction({
            "from": to_checksum_address(governance), "nonce": w3.eth.get_transaction_count(governance),
            "chainId": int(w3.eth.chain_id), "gasPrice": w3.eth.gas_price,
        })
        signed = keyring[governance].sign_transaction(tx)
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
        if receipt["status"] != 1:
            raise ChainError(f"contract deployment reverted (tx {to_hex(receipt['transactionHash'])})")
        ledger = cls(w3, address=receipt["contractAddress"], keyring=keyring, relayer=governance, funder=funder)
        ledger.gas_used_total += receipt["gasUsed"]
        ledger.tx_count += 1
        return ledger

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def contract_address(self) -> Address:
        return str(self.contract.address)

    def forget_session_state(self) -> None:
        """Drop cached nonces and funded accounts (after the node lost blocks or restarted).

        Nonces are counted up in memory between transactions; a node restarted from an
        older state would otherwise receive a nonce it cannot mine yet, and queue it forever.
        """
        with self._nonce_lock:
            self._nonces.clear()
        self._funded.clear()

    # ------------------------------------------------------------------ registry

    def register_hospital(self, institution_id: str, account: Address) -> TxReceipt:
        fn = self.contract.functions.registerHospital(id_to_bytes32(institution_id), to_checksum_address(account))
        return self._transact(self.relayer, fn, "registerHospital")

    def register_payer(self, payer_id: str, account: Address) -> TxReceipt:
        fn = self.contract.functions.registerPayer(id_to_bytes32(payer_id), to_checksum_address(account))
        return self._transact(self.relayer, fn, "registerPayer")

    def register_hospitals(self, members: Sequence[tuple[str, Address]]) -> list[TxReceipt]:
        """Bind each ``(institution id, account)``, all transactions sent before any is awaited.

        An id not yet on chain is registered; an id already registered with another
        account (a re-created store, a new key) gets this account added. A dry run of
        ``registerHospital`` tells which, so no pipelined transaction reverts.
        """
        functions = self.contract.functions
        calls = []
        for member_id, account in members:
            member, checksummed = id_to_bytes32(member_id), to_checksum_address(account)
            fn = functions.registerHospital(member, checksummed)
            try:
                fn.call({"from": self.relayer})
            except Exception:
                fn = functions.addKey(member, checksummed)
            calls.append((self.relayer, fn, 300_000))
        return self.send_pipelined(calls, in_flight=256)

    def add_key(self, member_id: str, account: Address) -> TxReceipt:
        """Bind another account to an existing member (governance only)."""
        fn = self.contract.functions.addKey(id_to_bytes32(member_id), to_checksum_address(account))
        return self._transact(self.relayer, fn, "addKey")

    def revoke_key(self, account: Address) -> TxReceipt:
        fn = self.contract.functions.revokeKey(to_checksum_address(account))
        return self._transact(self.relayer, fn, "revokeKey")

    def account_info(self, account: Address) -> AccountInfo:
        member, kind, added, revoked = self._call(self.contract.functions.accountInfo(to_checksum_address(account)))
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
        signed = self.keyring[signer].sign_message(encode_typed_data(full_message=typed))
        return BatchAuthorisation(root, leaf_count, bytes(signed.signature))

    def anchor_batch(self, *, hospital: Address, root: MerkleRoot, leaf_count: int) -> TxReceipt:
        return self._transact(hospital, self.contract.functions.anchorBatch(bytes(root), leaf_count), "anchorBatch")

    def anchor_authorised(self, groups: Sequence[Sequence[BatchAuthorisation]]) -> list[TxReceipt]:
        """One relayer transaction per group, all sent before any is awaited (pipelined)."""
        hashes = []
        for group in groups:
            signed = [(bytes(b.root), b.leaf_count, b.signature) for b in group]
            fn = self.contract.functions.anchorSignedBatches(signed)
            hashes.append(self._send(self.relayer, fn, "anchorSignedBatches", gas=None))
        return [self._wait(h, "anchorSignedBatches") for h in hashes]

    def batches(self, roots: Sequence[MerkleRoot]) -> list[AnchoredBatch | None]:
        """The chain's record of many roots in one call (None where not anchored)."""
        found: list[AnchoredBatch | None] = []
        for start in range(0, len(roots), 512):  # keep each eth_call's return data modest
            chunk = roots[start : start + 512]
            records, issuers = self._call(self.contract.functions.batchesOf([bytes(r) for r in chunk]))
            for root, (hospital, leaf_count, at, block), issuer in zip(chunk, records, issuers, strict=True):
                found.append(AnchoredBatch(root, bytes32_to_id(issuer), leaf_count, at, block) if hospital else None)
        return found

    def batch(self, root: MerkleRoot) -> AnchoredBatch | None:
        hospital, leaf_count, anchored_at, block = self._call(self.contract.functions.batchOf(bytes(root)))
        if hospital == 0:
            return None
        issuer = self._call(self.contract.functions.batchIssuer(bytes(root)))
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
        return self._transact(hospital, fn, "voidInvoice")

    def reserve(
        self, *, payer: Address, claim_id: bytes, issuer: str, fingerprint: Fingerprint, total_fen: int,
        amount_fen: int, batch_root: MerkleRoot, proof: Sequence[Hash32],
    ) -> TxReceipt:
        """Reserve ``amount_fen`` of ``issuer``'s anchored invoice for the payer's claim ``claim_id``."""
        item = (bytes(claim_id), id_to_bytes32(issuer), bytes(fingerprint), total_fen, amount_fen,
                bytes(batch_root), [bytes(p) for p in proof])
        return self._transact(payer, self.contract.functions.reserve(item), "reserve")

    def finalize(self, *, payer: Address, claim_id: bytes) -> TxReceipt:
        return self._transact(payer, self.contract.functions.finalize(bytes(claim_id)), "finalize")

    def release(self, *, payer: Address, claim_id: bytes) -> TxReceipt:
        return self._transact(payer, self.contract.functions.release(bytes(claim_id)), "release")

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
            if op == "reserve":
                args = [r.as_tuple() for r in chunk]  # type: ignore[union-attr]
                ids = [bytes(r.claim_id) for r in chunk]  # type: ignore[union-attr]
            else:
                args = [bytes(c) for c in chunk]  # type: ignore[arg-type]
                ids = list(args)
            fn = getattr(self.contract.functions, fn_name)(args)
            sent.append((self._send(payer, fn, fn_name, gas=60_000 + per_item_gas * len(chunk)), ids))
        outcomes: list[StampOutcome] = []
        for tx_hash, ids in sent:
            raw = self._wait_raw(tx_hash, fn_name)
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
                    seen[bytes(topics[2])] = self._selector_names.get(selector, "0x" + selector.hex())
            for claim_id in ids:
                if claim_id not in seen:
                    raise ChainError(f"{fn_name} {tx} has no event for claim 0x{claim_id.hex()}")
                outcomes.append(StampOutcome(claim_id, seen[claim_id], tx, block))
        return outcomes

    def claim_of(self, payer_id: str, claim_id: bytes) -> tuple[str, int, bytes]:
        """(status, amount fen, fingerprint) of a payer's claim on chain; status ``none`` if unknown."""
        fp, amount, _payer, _hospital, status, _at = self._call(
            self.contract.functions.claimOf(id_to_bytes32(payer_id), bytes(claim_id)))
        return _CLAIM_STATUS[int(status)], int(amount), bytes(fp)

    def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState:
        """Reserved / paid / voided state of ``issuer``'s invoice ``fingerprint``.

        The hot read of every online verification. Over HTTP it is one raw ``eth_call`` with
        hand-built calldata and a fixed-layout result (four words, see
        :func:`decode_invoice_record`): web3's contract-call machinery costs ≈ 4.8 ms per call
        here, the raw request ≈ 1.0 ms (measured on anvil).
        """
        if getattr(self.w3.provider, "endpoint_uri", None) is None:  # in-process EVM: the plain path
            fn = self.contract.functions.invoiceRecord(id_to_bytes32(issuer), bytes(fingerprint))
            reserved, paid, total, voided = self._call(fn)
            return InvoiceChainState(reserved, paid, voided, total)
        data = _INVOICE_RECORD + id_to_bytes32(issuer) + bytes(fingerprint)
        try:
            resp = self._raw_rpc("eth_call", [{"to": self.contract.address, "data": "0x" + data.hex()}, "latest"])
        except (OSError, ConnectionError, ValueError, Web3Exception) as exc:
            raise ChainUnavailable(f"chain node unreachable during invoiceRecord: {exc}") from exc
        if "error" in resp:
            err = resp["error"]
            raw = err.get("data") if isinstance(err, dict) else None
            if isinstance(raw, str) and raw.startswith("0x") and len(raw) >= 10:
                name, args = self._errors(bytes.fromhex(raw[2:]))
                raise ContractReverted(name, args, function="invoiceRecord")
            raise ChainError(f"invoiceRecord call failed: {err}")
        return decode_invoice_record(bytes.fromhex(str(resp["result"])[2:]))

    def _raw_rpc(self, method: str, params: list[Any]) -> dict[str, Any]:
        """One JSON-RPC request on this thread's kept-alive ``http.client`` connection.

        The hot reads of the claims and verification paths: through web3's provider (the
        ``requests`` library) an ``eth_call`` costs ≈ 1.3 ms of CPU, here ≈ 0.15 ms. Other
        endpoints (https with custom sessions, IPC) go through the provider.
        """
        endpoint = str(getattr(self.w3.provider, "endpoint_uri", ""))
        if not endpoint.startswith("http://"):
            return self.w3.provider.make_request(method, params)  # type: ignore[arg-type,return-value]
        conn = getattr(self._http, "conn", None)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        for attempt in (1, 2):   # a kept-alive connection the node closed meanwhile: reconnect once
            if conn is None:
                url = urllib.parse.urlsplit(endpoint)
                conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=30)
                self._http.conn, self._http.path = conn, url.path or "/"
            try:
                conn.request("POST", self._http.path, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                payload = resp.read()
                if resp.status != 200:
                    raise ChainError(f"{method}: the node answered HTTP {resp.status}")
                return json.loads(payload)  # type: ignore[no-any-return]
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = self._http.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def is_anchored(
        self, *, fingerprint: Fingerprint, total_fen: int, root: MerkleRoot, proof: Sequence[Hash32]
    ) -> bool:
        fn = self.contract.functions.isAnchored(bytes(fingerprint), total_fen, bytes(root), [bytes(p) for p in proof])
        return bool(self._call(fn))

    def events(self, name: str, receipt_or_hash: TxReceipt | str) -> list[dict[str, Any]]:
        """Decoded events ``name`` emitted by one transaction."""
        tx_hash = receipt_or_hash.tx_hash if isinstance(receipt_or_hash, TxReceipt) else receipt_or_hash
        receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        from web3.logs import DISCARD

        return [dict(e["args"]) for e in getattr(self.contract.events, name)().process_receipt(receipt, errors=DISCARD)]

    # ------------------------------------------------------------------ transactions

    def _call(self, fn: Any) -> Any:
        try:
            return fn.call()
        except _REVERTS as exc:
            raise self._reverted(exc, fn.fn_name) from exc
        except Web3Exception as exc:
            raise ChainError(f"{fn.fn_name} call failed: {exc}") from exc
        except (OSError, ConnectionError) as exc:
            raise ChainUnavailable(f"chain node unreachable during {fn.fn_name}: {exc}") from exc

    def _transact(self, sender: Address, fn: Any, label: str, *, gas: int | None = None) -> TxReceipt:
        tx_hash = self._send(sender, fn, label, gas=gas)
        return self._wait(tx_hash, label)

    def send_pipelined(self, calls: Sequence[tuple[Address, Any, int]], *, in_flight: int = 256) -> list[TxReceipt]:
        """Send many transactions without waiting for each, at most ``in_flight`` unmined.

        Each call is ``(sender, contract function call, gas limit)``; gas is given rather
        than estimated because estimates against not-yet-mined state would be wrong.
        """
        receipts: list[TxReceipt] = []
        pending: list[tuple[bytes, str]] = []
        for sender, fn, gas in calls:
            pending.append((self._send(sender, fn, fn.fn_name, gas=gas), fn.fn_name))
            if len(pending) >= in_flight:
                receipts += [self._wait(h, lbl) for h, lbl in pending]
                pending.clear()
        receipts += [self._wait(h, lbl) for h, lbl in pending]
        return receipts

    def _send(self, sender: Address, fn: Any, label: str, *, gas: int | None) -> bytes:
        sender = to_checksum_address(sender)
        account = self.keyring[sender]
        try:
            self._ensure_funded(sender)
            if gas is None:
                gas = int(fn.estimate_gas({"from": sender}) * 1.2) + 10_000
            tx = fn.build_transaction({
                "from": sender, "gas": gas, "gasPrice": self._gas_price(),
                "chainId": self.chain_id, "nonce": 0,
            })
            with self._nonce_lock:
                if sender not in self._nonces:
                    self._nonces[sender] = self.w3.eth.get_transaction_count(sender, "pending")
                tx["nonce"] = self._nonces[sender]
                signed = account.sign_transaction(tx)
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
                self._nonces[sender] += 1
        except _REVERTS as exc:
            raise self._reverted(exc, label) from exc
        except (Web3Exception, EthValidationError) as exc:
            self._nonces.pop(sender, None)  # resync the nonce from the node next time
            raise ChainError(f"{label} could not be sent: {exc}") from exc
        except (OSError, ConnectionError) as exc:
            self._nonces.pop(sender, None)
            raise ChainUnavailable(f"chain node unreachable while sending {label}: {exc}") from exc
        return bytes(tx_hash)

    def _wait(self, tx_hash: bytes, label: str) -> TxReceipt:
        receipt = self._wait_raw(tx_hash, label)
        return TxReceipt(to_hex(bytes(receipt["transactionHash"])), receipt["blockNumber"], receipt["gasUsed"])

    def _wait_raw(self, tx_hash: bytes, label: str) -> Any:
        """The mined receipt (with logs); raises if the transaction reverted as a whole."""
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self._receipt_timeout,
                                                               poll_latency=self.poll_latency)
        except TimeExhausted as exc:
            raise ChainUnavailable(f"{label} {to_hex(tx_hash)} not mined within {self._receipt_timeout} s") from exc
        except (OSError, ConnectionError) as exc:
            raise ChainUnavailable(f"chain node unreachable while waiting for {label}: {exc}") from exc
        self.tx_count += 1
        self.gas_used_total += receipt["gasUsed"]
        if receipt["status"] != 1:
            raise ContractReverted("reverted on chain after a successful estimate", function=label)
        return receipt

    _gas_price_cache: tuple[float, int] = (0.0, 0)

    def _gas_price(self) -> int:
        # one eth_gasPrice a second is plenty; permissioned chains (Besu) run at price 0
        at, price = self._gas_price_cache
        if time.monotonic() - at > 1.0:
            price = int(self.w3.eth.gas_price)
            self._gas_price_cache = (time.monotonic(), price)
        return price

    def _ensure_funded(self, sender: Address) -> None:
        """On dev chains, give an account gas money before its first transaction."""
        if self._funder is None or sender in self._funded:
            return
        if self.w3.eth.get_balance(sender) < _TOP_UP_WEI // 100:  # type: ignore[arg-type]
            self._funder(sender, _TOP_UP_WEI)
        self._funded.add(sender)

    def _reverted(self, exc: Exception, label: str) -> ContractReverted:
        data = _revert_data(exc)
        if data is not None and len(data) >= 4:
            name, args = self._errors(data)
            return ContractReverted(name, args, function=label)
        return ContractReverted(str(exc) or type(exc).__name__, function=label)


def _revert_data(exc: BaseException) -> bytes | None:
    """Raw revert data: web3's ``.data`` (JSON-RPC nodes) or, for eth-tester, the raw
    bytes its provider wrapper leaves in the original exception (``__context__``)."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    ctx: BaseException | None = exc
    while ctx is not None:
        first = ctx.args[0] if ctx.args else None
        if isinstance(first, Exception) and first.args:
            first = first.args[0]
        if isinstance(first, bytes | bytearray):
            return bytes(first)
        ctx = ctx.__context__
    return None


def _error_decoder(abi: list[dict[str, Any]]) -> Callable[[bytes], tuple[str, tuple[Any, ...]]]:
    """Map revert data to (custom error name, decoded args) using the contract ABI."""
    table: dict[bytes, tuple[str, list[str]]] = {}
    for entry in abi:
        if entry.get("type") == "error":
            types = [i["type"] for i in entry["inputs"]]
            table[function_abi_to_4byte_selector(entry)] = (entry["name"], types)

    def decode(data: bytes) -> tuple[str, tuple[Any, ...]]:
        selector, body = data[:4], data[4:]
        if selector == _ERROR_STRING:
            return "Error", tuple(abi_decode(["string"], body))
        if selector == _PANIC:
            return "Panic", tuple(abi_decode(["uint256"], body))
        if selector in table:
            name, types = table[selector]
            return name, tuple(abi_decode(types, body))
        return f"unknown error 0x{data[:4].hex()}", (to_hex(data),)

    return decode


def decode_selector(abi: list[dict[str, Any]], selector: bytes) -> str:
    """Name of the custom error with this 4-byte selector (for StampRefused events)."""
    for entry in abi:
        if entry.get("type") == "error" and function_abi_to_4byte_selector(entry) == selector:
            return str(entry["name"])
    return "0x" + selector.hex()
