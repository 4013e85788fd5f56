"""Opening the ledger on a chain backend: ``embedded``, ``anvil`` or ``rpc``.

- ``embedded``: web3's in-process EVM (eth-tester / py-evm); nothing persists.
- ``anvil``: the project's managed anvil node (``ebill node start``), state persisted
  under the data directory; the contract deployment and the development keys are
  recorded next to it so later commands find them.
- ``rpc``: any JSON-RPC node (Hyperledger Besu/QBFT in production) with a funded
  governance/relayer key given by the operator (``--key`` or ``EBILL_CHAIN_KEY``).

Development keys are kept unencrypted in ``deployment.json`` (mode 0600) on the dev
chains only; the upload service keeps hospital keys in encrypted keystores.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from web3 import Web3

from ledger.adapters.archive import BatchArchive
from ledger.adapters.web3_chain import Keyring, Web3Ledger
from ledger.errors import ChainStateMismatch, ChainUnavailable, InvalidInput, NotFound
from ledger.ports import Address
from ledger.proofdoc import ChainRef

ChainKind = Literal["embedded", "anvil", "rpc"]
CHAIN_KINDS: tuple[str, ...] = ("embedded", "anvil", "rpc")
DEFAULT_ANVIL_PORT = 8545


@dataclass
class ChainSession:
    """An open ledger deployment with the keys this process may sign with."""

    name: str
    ledger: Web3Ledger
    keyring: Keyring
    governance: Address
    hospitals: dict[str, Address] = field(default_factory=dict)
    payers: dict[str, Address] = field(default_factory=dict)
    record_path: Path | None = None
    archive_path: Path | None = None

    @property
    def chain_ref(self) -> ChainRef:
        return ChainRef(self.ledger.chain_id, self.ledger.contract_address)

    def signer_of(self, institution_id: str) -> Address:
        """The key this process holds for a hospital (raises ``KeyError`` if none)."""
        return self.hospitals[institution_id]

    def ensure_hospital(self, institution_id: str) -> Address:
        """The hospital's signing account, creating and registering one on first use."""
        self.ensure_hospitals([institution_id])
        return self.hospitals[institution_id]

    def ensure_hospitals(self, institution_ids: list[str]) -> None:
        """Make every hospital registered on chain, registrations pipelined.

        A hospital recorded here but unknown to the chain (a dev node that lost blocks
        to a crash) is registered again with its recorded key.
        """
        wanted = list(dict.fromkeys(institution_ids))
        accounts = {i: self.hospitals.get(i) or self.keyring.new() for i in wanted}
        missing = {i: a for i, a in accounts.items()
                   if i not in self.hospitals or self.ledger.account_info(a).member_id != i}
        if not missing:
            return
        self.ledger.register_hospitals(list(missing.items()))
        self.hospitals.update(missing)
        self.save()

    def ensure_payer(self, payer_id: str) -> Address:
        if payer_id not in self.payers:
            account = self.keyring.new()
            self.ledger.register_payer(payer_id, account)
            self.payers[payer_id] = account
            self.save()
        return self.payers[payer_id]

    def open_archive(self) -> BatchArchive:
        if self.archive_path is None:
            raise NotFound("the embedded chain keeps no archive between runs; use --chain anvil")
        return BatchArchive(self.archive_path)

    def save(self) -> None:
        """Persist the deployment record (contract address and development keys)."""
        if self.record_path is None:
            return
        keys = self.keyring.export()
        doc = {
            "_warning": "development keys, unencrypted: never use this file for a production chain",
            "name": self.name, "chainId": self.ledger.chain_id,
            "contract": self.ledger.contract_address,
            "governance": {"address": self.governance, "key": keys[self.governance]},
            "hospitals": {i: {"address": a, "key": keys[a]} for i, a in sorted(self.hospitals.items())},
            "payers": {i: {"address": a, "key": keys[a]} for i, a in sorted(self.payers.items())},
        }
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.record_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.chmod(0o600)
        tmp.replace(self.record_path)  # atomic: a crash leaves the old record or the new


def open_embedded() -> ChainSession:
    """A fresh in-process EVM with the ledger deployed."""
    from web3 import EthereumTesterProvider

    provider = EthereumTesterProvider()
    # eth-tester is not thread-safe; the chain worker and the claims stamper are threads
    lock = threading.RLock()
    unlocked = provider.make_request

    def make_request(method: Any, params: Any) -> Any:
        with lock:
            return unlocked(method, params)

    provider.make_request = make_request  # type: ignore[method-assign]
    w3 = Web3(provider)
    keyring = Keyring()
    governance = keyring.new()
    ledger = Web3Ledger.deploy(w3, keyring=keyring, governance=governance, funder=_unlocked_funder(w3))
    return ChainSession("embedded", ledger, keyring, governance)


def open_node(
    kind: ChainKind, *, url: str, home: Path, key: str | None = None, deploy: bool = True,
) -> ChainSession:
    """The ledger on an anvil or JSON-RPC node, deploying it there on first use."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:  # connection refused, DNS, timeout: all mean "no node"
        hint = " — start one with `ebill node start`" if kind == "anvil" else ""
        raise ChainUnavailable(f"no chain node answers at {url}{hint} ({exc.__class__.__name__})") from exc
    name = "anvil" if kind == "anvil" else f"rpc-{chain_id}"
    directory = home / "chains" / name
    record_path = directory / "deployment.json"
    funder = _anvil_funder(w3) if kind == "anvil" else None
    keyring = Keyring()
    if record_path.exists():
        doc = json.loads(record_path.read_text())
        for entry in [doc["governance"], *doc["hospitals"].values(), *doc["payers"].values()]:
            keyring.add(entry["key"])
        if doc["chainId"] == chain_id and w3.eth.get_code(Web3.to_checksum_address(doc["contract"])):
            ledger = Web3Ledger(w3, address=doc["contract"], keyring=keyring,
                                relayer=doc["governance"]["address"], funder=funder)
            return ChainSession(
                name, ledger, keyring, doc["governance"]["address"],
                {i: e["address"] for i, e in doc["hospitals"].items()},
                {i: e["address"] for i, e in doc["payers"].items()},
                record_path, directory / "archive.sqlite",
            )
        if kind == "rpc":
            raise ChainStateMismatch(
                f"the contract recorded in {record_path} ({doc['contract']}) is not on the node at {url}"
            )
        # anvil lost its state (no --state file, or a reset): the old deployment is gone
        for stale in (record_path, directory / "archive.sqlite"):
            stale.unlink(missing_ok=True)
    if not deploy:
        raise NotFound(f"no ledger deployment recorded for {name} in {directory}")
    if kind == "rpc":
        key = key or os.environ.get("EBILL_CHAIN_KEY")
        if not key:
            raise InvalidInput.single("key", "required", "deploying on an RPC node needs --key or EBILL_CHAIN_KEY "
                                      "(a funded governance account's private key)")
        governance = keyring.add(key)
    else:
        governance = keyring.new()
    ledger = Web3Ledger.deploy(w3, keyring=keyring, governance=governance, funder=funder)
    session = ChainSession(name, ledger, keyring, governance, record_path=record_path,
                           archive_path=directory / "archive.sqlite")
    session.save()
    return session


def _anvil_funder(w3: Web3):  # type: ignore[no-untyped-def]
    """anvil sets balances directly: no transaction, so no wait for a block."""

    def fund(address: Address, wei: int) -> None:
        w3.provider.make_request("anvil_setBalance", [Web3.to_checksum_address(address), hex(wei)])  # type: ignore[arg-type]

    return fund


def _unlocked_funder(w3: Web3):  # type: ignore[no-untyped-def]
    """Dev chains (eth-tester, anvil) have unlocked rich accounts that can pay gas money."""
    rich = w3.eth.accounts[0]

    def fund(address: Address, wei: int) -> None:
        tx = w3.eth.send_transaction({"from": rich, "to": Web3.to_checksum_address(address), "value": wei})
        w3.eth.wait_for_transaction_receipt(tx)

    return fund
