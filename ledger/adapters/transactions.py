"""Calls and transactions through web3.py, with web3's errors translated at the boundary.

Transactions are signed client-side (built by eth-account, signed by the sender's key in memory
or on a PKCS#11 token, see :mod:`~ledger.adapters.signers`) with nonces counted
per sender in memory, so the same code runs against eth-tester, anvil and Hyperledger
Besu. Reverts become :class:`~ledger.errors.ContractReverted` carrying the contract's
custom error name and arguments; connection failures become
:class:`~ledger.errors.ChainUnavailable`; anything else web3 refuses, :class:`~ledger.errors.ChainError`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError as EthValidationError
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, Web3Exception

from ledger.adapters import metrics
from ledger.adapters.contract_codec import ContractErrors
from ledger.adapters.keyring import Keyring
from ledger.adapters.recursion_limit import hold_recursion_limit
from ledger.errors import ChainError, ChainUnavailable, ContractReverted
from ledger.hashing import to_hex
from ledger.onchain import Address, TxReceipt

try:  # the embedded EVM raises its own exception type for reverts
    from eth_tester.exceptions import TransactionFailed as _TesterReverted
except ImportError:  # pragma: no cover - eth-tester is only needed for the embedded chain
    class _TesterReverted(Exception):  # type: ignore[no-redef]
        pass

hold_recursion_limit()  # eth-account (through py_ecc) and eth-tester (py-evm) have just raised it

REVERTS = (ContractCustomError, ContractLogicError, _TesterReverted)
#: ETH given to an account the first time it must pay gas itself (dev chains only)
TOP_UP_WEI = 10**20

Funder = Callable[[Address, int], None]


def deploy_artifact(w3: Web3, *, keyring: Keyring, sender: Address, artifact: Any, args: Sequence[Any],
                    funder: Funder | None = None) -> Any:
    """Deploy the compiled contract ``artifact`` (a :class:`contracts.Artifact`) with constructor
    ``args``, signed by ``sender``; its mined receipt. Raises :class:`ChainError` if it reverted."""
    owner = to_checksum_address(sender)
    if funder is not None and w3.eth.get_balance(owner) == 0:
        funder(sender, TOP_UP_WEI)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    try:
        tx = factory.constructor(*args).build_transaction({
            "from": owner, "nonce": w3.eth.get_transaction_count(owner, "pending"),
            "chainId": int(w3.eth.chain_id), "gasPrice": w3.eth.gas_price,
        })
        raw = keyring.sign_transaction(sender, dict(tx))   # wherever the key is held (memory or a token)
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))
    except REVERTS as exc:
        raise ChainError(f"deploying {artifact.name} reverted in its gas estimate: {exc}") from exc
    except (OSError, ConnectionError) as exc:
        raise ChainUnavailable(f"chain node unreachable while deploying {artifact.name}: {exc}") from exc
    except Web3Exception as exc:
        raise ChainError(f"deploying {artifact.name} failed: {exc}") from exc
    if receipt["status"] != 1 or receipt["contractAddress"] is None:
        raise ChainError(f"deploying {artifact.name} reverted (tx {to_hex(bytes(receipt['transactionHash']))})")
    return receipt


class Transactor:
    """Sends the transactions of the accounts in ``keyring`` on ``w3``, and makes its calls.

    ``funder`` (dev chains) gives an account gas money before its first transaction.
    Counts the transactions mined and the gas they used.
    """

    def __init__(self, w3: Web3, *, keyring: Keyring, chain_id: int, errors: ContractErrors,
                 funder: Funder | None = None, receipt_timeout: float = 60.0) -> None:
        self.w3 = w3
        self.keyring = keyring
        self.chain_id = chain_id
        self.errors = errors
        self._funder = funder
        self._receipt_timeout = receipt_timeout
        self._nonces: dict[str, int] = {}
        self._nonce_lock = threading.Lock()
        self._funded: set[str] = set()
        self._gas_price_at: tuple[float, int] = (0.0, 0)
        self.gas_used_total = 0
        self.tx_count = 0
        #: seconds between receipt polls: a stamped claim's latency includes up to one of them
        self.poll_latency = 0.01

    def forget_session_state(self) -> None:
        """Drop cached nonces and funded accounts (after the node lost blocks or restarted).

        Nonces are counted up in memory between transactions; a node restarted from an
        older state would otherwise receive a nonce it cannot mine yet, and queue it forever.
        """
        with self._nonce_lock:
            self._nonces.clear()
        self._funded.clear()

    # ------------------------------------------------------------------ calls

    def call(self, fn: Any) -> Any:
        """The result of the contract function call ``fn`` (a read: nothing is sent)."""
        try:
            return fn.call()
        except REVERTS as exc:
            raise self.errors.reverted(exc, fn.fn_name) from exc
        except Web3Exception as exc:
            raise ChainError(f"{fn.fn_name} call failed: {exc}") from exc
        except (OSError, ConnectionError) as exc:
            raise ChainUnavailable(f"chain node unreachable during {fn.fn_name}: {exc}") from exc

    def dry_run(self, sender: Address, fn: Any) -> None:
        """Run ``fn`` as ``sender`` would send it, without sending: the contract's refusal as
        :class:`~ledger.errors.ContractReverted` (its error's name), as a real transaction would revert."""
        try:
            fn.call({"from": to_checksum_address(sender)})
        except REVERTS as exc:
            raise self.errors.reverted(exc, fn.fn_name) from exc
        except Web3Exception as exc:
            raise ChainError(f"{fn.fn_name} dry run failed: {exc}") from exc
        except (OSError, ConnectionError) as exc:
            raise ChainUnavailable(f"chain node unreachable during {fn.fn_name}: {exc}") from exc

    def call_raw(self, to: Address, data: bytes, label: str) -> bytes:
        """The raw result of an ``eth_call`` of ``data`` to ``to`` (for results decoded by hand)."""
        try:
            return bytes(self.w3.eth.call({"to": to_checksum_address(to), "data": HexBytes(data)}))
        except REVERTS as exc:
            raise self.errors.reverted(exc, label) from exc
        except Web3Exception as exc:
            raise ChainError(f"{label} call failed: {exc}") from exc
        except (OSError, ConnectionError) as exc:
            raise ChainUnavailable(f"chain node unreachable during {label}: {exc}") from exc

    # ------------------------------------------------------------------ transactions

    def transact(self, sender: Address, fn: Any, label: str, *, gas: int | None = None) -> TxReceipt:
        """Send ``fn`` from ``sender`` and wait until it is mined."""
        return self.wait(self.send(sender, fn, label, gas=gas), label)

    def send_pipelined(self, calls: Sequence[tuple[Address, Any, int]], *, in_flight: int = 256) -> list[TxReceipt]:
        """Send many transactions without waiting for each, at most ``in_flight`` unmined.

        Each call is ``(sender, contract function call, gas limit)``; gas is given rather
        than estimated because estimates against not-yet-mined state would be wrong.
        """
        receipts: list[TxReceipt] = []
        pending: list[tuple[bytes, str]] = []
        for sender, fn, gas in calls:
            pending.append((self.send(sender, fn, fn.fn_name, gas=gas), fn.fn_name))
            if len(pending) >= in_flight:
                receipts += [self.wait(h, lbl) for h, lbl in pending]
                pending.clear()
        receipts += [self.wait(h, lbl) for h, lbl in pending]
        return receipts

    def send(self, sender: Address, fn: Any, label: str, *, gas: int | None) -> bytes:
        """Sign and send ``fn`` from ``sender`` (gas estimated when None); its hash."""
        sender = to_checksum_address(sender)
        self.keyring.signer(sender)  # NotFound before anything is sent
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
                raw = self.keyring.sign_transaction(sender, dict(tx))
                tx_hash = self.w3.eth.send_raw_transaction(raw)
                self._nonces[sender] += 1
        except REVERTS as exc:
            raise self.errors.reverted(exc, label) from exc
        except (Web3Exception, EthValidationError) as exc:
            self._nonces.pop(sender, None)  # resync the nonce from the node next time
            raise ChainError(f"{label} could not be sent: {exc}") from exc
        except (OSError, ConnectionError) as exc:
            self._nonces.pop(sender, None)
            raise ChainUnavailable(f"chain node unreachable while sending {label}: {exc}") from exc
        return bytes(tx_hash)

    def wait(self, tx_hash: bytes, label: str) -> TxReceipt:
        """The mined transaction; raises if it reverted as a whole."""
        receipt = self.wait_raw(tx_hash, label)
        return TxReceipt(to_hex(bytes(receipt["transactionHash"])), receipt["blockNumber"], receipt["gasUsed"])

    def wait_raw(self, tx_hash: bytes, label: str) -> Any:
        """The mined receipt (with logs); raises if the transaction reverted as a whole."""
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=self._receipt_timeout,
                                                               poll_latency=self.poll_latency)
        except TimeExhausted as exc:
            raise ChainUnavailable(f"{label} {to_hex(tx_hash)} not mined within {self._receipt_timeout} s") from exc
        except (OSError, ConnectionError) as exc:
            raise ChainUnavailable(f"chain node unreachable while waiting for {label}: {exc}") from exc
        self.count(receipt, label)
        if receipt["status"] != 1:
            raise ContractReverted("reverted on chain after a successful estimate", function=label)
        return receipt

    def count(self, receipt: Any, label: str = "other") -> None:
        """Add a mined transaction of contract function ``label`` to the totals (and the metrics)."""
        self.tx_count += 1
        self.gas_used_total += int(receipt["gasUsed"])
        metrics.chain_transaction(label, int(receipt["gasUsed"]))

    def _gas_price(self) -> int:
        # one eth_gasPrice a second is plenty; permissioned chains (Besu) run at price 0
        at, price = self._gas_price_at
        if time.monotonic() - at > 1.0:
            price = int(self.w3.eth.gas_price)
            self._gas_price_at = (time.monotonic(), price)
        return price

    def _ensure_funded(self, sender: Address) -> None:
        """On dev chains, give an account gas money before its first transaction."""
        if self._funder is None or sender in self._funded:
            return
        if self.w3.eth.get_balance(to_checksum_address(sender)) < TOP_UP_WEI // 100:
            self._funder(sender, TOP_UP_WEI)
        self._funded.add(sender)
