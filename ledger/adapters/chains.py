"""Opening the ledger on a chain backend: ``embedded``, ``anvil`` or ``rpc``.

- ``embedded``: web3's in-process EVM (eth-tester / py-evm); nothing persists.
- ``anvil``: the project's managed anvil node (``ebill node start``), state persisted
  under the data directory; the contract deployment and the development keys are
  recorded next to it so later commands find them.
- ``rpc``: any JSON-RPC node (Hyperledger Besu/QBFT in production, ``deploy/besu``), reached
  with the credentials of :class:`~ledger.adapters.rpc_access.RpcAccess`. The ledger is
  deployed there by an explicit step, ``ebill chain deploy`` (its admin behind the
  consortium's timelock, :mod:`~ledger.adapters.governance`), never on first use.

Gas money: an account about to send its first transaction is given some only where gas
costs something. The chain's gas price decides, not the kind of node: on a free-gas chain
(Besu with a zero base fee and ``min-gas-price=0``; anvil's besu profile) nothing is funded,
so nothing anvil-only (``anvil_setBalance``) is ever called; anvil with priced gas funds by
setting balances; any other node's accounts are funded by its operator.

The deployment record (``$EBILL_HOME/chains/<name>/deployment.json``, mode 0600) holds
the contract address and the accounts this data directory signs with. Their private keys
are sealed there as the service seals hospital keys (:class:`~ledger.adapters.keystore.KeyVault`:
AES-256-GCM under a key derived from the keystore passphrase with scrypt; the record
carries its own KDF salt, so it opens with the passphrase alone). This holds for every
backend: anvil's development keys are sealed with the same passphrase as an RPC node's
governance key, so no ``deployment.json`` ever holds a raw private key. A record written
before keys were sealed is read, and sealed in place the first time it is opened with the
passphrase. A session opened without the passphrase reads the chain and signs nothing.

With a PKCS#11 token configured (``EBILL_SIGNER=pkcs11:…``, :mod:`~ledger.adapters.custody`),
the accounts a session creates (a new deployment's governance/relayer, development hospitals
and payers) are made on the token, and the record keeps a reference to each (``tokenKey``)
instead of a sealed key; the token's keys never leave it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from web3 import Web3
from web3.types import RPCEndpoint, Wei

from ledger.adapters.archive import BatchArchive
from ledger.adapters.custody import signer_config, token_for
from ledger.adapters.events import EventReader
from ledger.adapters.keyring import Keyring
from ledger.adapters.keystore import KdfParams, KeyVault
from ledger.adapters.pkcs11_token import Pkcs11Custody, Pkcs11Signer
from ledger.adapters.rpc_access import RpcAccess
from ledger.adapters.transactions import Funder
from ledger.adapters.web3_chain import Web3Ledger
from ledger.errors import (
    ChainStateMismatch,
    ChainUnavailable,
    InvalidInput,
    KeysUnavailable,
    NotFound,
    SignerUnavailable,
    WrongPassphrase,
)
from ledger.ports import Address
from ledger.proofdoc import ChainRef

ChainKind = Literal["embedded", "anvil", "rpc"]
CHAIN_KINDS: tuple[str, ...] = ("embedded", "anvil", "rpc")
DEFAULT_ANVIL_PORT = 8545
#: the deployment record with sealed keys (the first records had no format and raw keys)
RECORD_FORMAT = "ebill-deployment/v2"

log = logging.getLogger("ebill.chains")


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
    #: seals the record's keys (None: opened without the passphrase, a read-only session)
    vault: KeyVault | None = None
    #: things the operator should know about how the record was opened (shown by the CLI)
    notes: list[str] = field(default_factory=list)
    #: who holds the contract's admin role (``ebill chain deploy``: the timelock, its proposers,
    #: executors and delay), kept in the record as written; None: the governance account itself
    admin: dict[str, Any] | None = None
    _events: EventReader | None = field(default=None, init=False, repr=False)

    @property
    def events(self) -> EventReader:
        """The contract's events, decoded (one reader per session: it caches block times)."""
        if self._events is None:
            self._events = EventReader(self.ledger)
        return self._events

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
        self._require_keys()
        wanted = list(dict.fromkeys(institution_ids))
        accounts = {i: self.hospitals.get(i) or self.keyring.new(f"hospital:{i}") for i in wanted}
        missing = {i: a for i, a in accounts.items()
                   if i not in self.hospitals or self.ledger.account_info(a).member_id != i}
        if not missing:
            return
        self.ledger.register_hospitals(list(missing.items()))
        self.hospitals.update(missing)
        self.save()

    def ensure_payer(self, payer_id: str) -> Address:
        if payer_id not in self.payers:
            self._require_keys()
            account = self.keyring.new(f"payer:{payer_id}")
            self.ledger.register_payer(payer_id, account)
            self.payers[payer_id] = account
            self.save()
        return self.payers[payer_id]

    def open_archive(self) -> BatchArchive:
        if self.archive_path is None:
            raise NotFound("the embedded chain keeps no archive between runs; use --chain anvil")
        return BatchArchive(self.archive_path)

    def save(self) -> None:
        """Persist the deployment record: the contract address and the accounts, keys sealed."""
        if self.record_path is None:
            return
        vault = self.vault
        if vault is None:
            raise self._read_only()
        keys = self.keyring.export()

        def sealed(owner: str, address: Address) -> dict[str, Any]:
            signer = self.keyring.signer(address)
            if isinstance(signer, Pkcs11Signer):   # on a token: where it is, never the key
                return {"address": address, "tokenKey": json.loads(signer.reference)}
            key = bytes.fromhex(keys[address].removeprefix("0x"))
            return {"address": address, "sealedKey": vault.seal(key, owner=owner, address=address)}

        doc = {
            "format": RECORD_FORMAT,
            "name": self.name, "chainId": self.ledger.chain_id,
            "contract": self.ledger.contract_address,
            "keystore": json.loads(vault.params.to_json()),
            "governance": sealed("governance", self.governance),
            "hospitals": {i: sealed(f"hospital:{i}", a) for i, a in sorted(self.hospitals.items())},
            "payers": {i: sealed(f"payer:{i}", a) for i, a in sorted(self.payers.items())},
        }
        if self.admin is not None:
            doc["admin"] = self.admin
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.record_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.chmod(0o600)
        tmp.replace(self.record_path)  # atomic: a crash leaves the old record or the new

    def _require_keys(self) -> None:
        """Refuse to create accounts in a session that could not record their keys."""
        if self.vault is None and self.record_path is not None:
            raise self._read_only()

    def _read_only(self) -> KeysUnavailable:
        return KeysUnavailable(f"the {self.name} deployment was opened without the keystore passphrase: it can "
                               "read the chain but not sign or record keys")


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
    passphrase: str | None = None, access: RpcAccess | None = None, signer: str | None = None,
) -> ChainSession:
    """The ledger on an anvil or JSON-RPC node; on anvil, deployed there on first use.

    ``passphrase`` (the keystore passphrase) opens the keys sealed in the deployment
    record; without it the session reads the chain and signs nothing, and cannot deploy.
    ``access`` carries the node's credentials (default: ``url`` as it is). On an ``rpc``
    node the deployment must have been recorded by ``ebill chain deploy``: ``key`` is
    refused there, with that hint (it used to deploy on first use).
    Raises :class:`~ledger.errors.WrongPassphrase` if it does not open them. ``signer``
    (``EBILL_SIGNER``) names the PKCS#11 token new accounts are made on, and that holds the
    record's ``tokenKey`` accounts (None: the file keystore).
    """
    access = access or RpcAccess(url)
    w3 = Web3(access.provider(timeout=30))
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:  # connection refused, DNS, timeout, TLS, 401: all mean "no node we can use"
        hint = " — start one with `ebill node start`" if kind == "anvil" else ""
        raise ChainUnavailable(f"no chain node answers at {url}{hint} ({exc.__class__.__name__}: {exc})") from exc
    name = "anvil" if kind == "anvil" else f"rpc-{chain_id}"
    directory = home / "chains" / name
    funder = funder_for(w3, kind)
    config = signer_config(signer)
    tokens = Pkcs11Custody(token_for(config)) if config is not None else None
    keyring = Keyring(new_signer=_token_signer(tokens) if tokens is not None else None)
    notes = access.notes()
    # two first starts on one home at once (``ebill serve`` twice, or an API and a worker instance) would
    # each deploy a contract of its own on the managed node: the first deploys, the other waits and opens it
    with _deploy_lock(directory) if kind == "anvil" and deploy else contextlib.nullcontext():
        return _open_or_deploy(kind, w3=w3, url=url, chain_id=chain_id, name=name, directory=directory, key=key,
                               deploy=deploy, passphrase=passphrase, access=access, funder=funder, tokens=tokens,
                               keyring=keyring, notes=notes)


@contextlib.contextmanager
def _deploy_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory``'s deployment (``flock``: released when its holder exits, even killed)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".deploy.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _open_or_deploy(kind: ChainKind, *, w3: Web3, url: str, chain_id: int, name: str, directory: Path,
                    key: str | None, deploy: bool, passphrase: str | None, access: RpcAccess, funder: Any,
                    tokens: Any, keyring: Keyring, notes: list[str]) -> ChainSession:
    record_path = directory / "deployment.json"
    if record_path.exists():
        doc = _read_record(record_path)
        if doc["chainId"] == chain_id and w3.eth.get_code(Web3.to_checksum_address(doc["contract"])):
            unsealed = "keystore" not in doc
            vault = _open_keys(doc, record_path, passphrase, keyring, tokens) if passphrase is not None else None
            ledger = Web3Ledger(w3, address=doc["contract"], keyring=keyring,
                                relayer=doc["governance"]["address"], funder=funder, access=access)
            session = ChainSession(
                name, ledger, keyring, doc["governance"]["address"],
                {i: e["address"] for i, e in doc["hospitals"].items()},
                {i: e["address"] for i, e in doc["payers"].items()},
                record_path, directory / "archive.sqlite", vault=vault, notes=notes, admin=doc.get("admin"),
            )
            if unsealed and vault is not None:
                session.save()
                session.notes.append(f"sealed the private keys in {record_path} with the keystore passphrase "
                                     "(the record held them unencrypted)")
            elif unsealed:
                session.notes.append(f"{record_path} holds unencrypted private keys: they are sealed the next time "
                                     "a command that has the keystore passphrase opens it (ebill serve, demo, reindex)")
            for note in session.notes:
                log.warning(note)
            return session
        if kind == "rpc":
            raise ChainStateMismatch(
                f"the contract recorded in {record_path} ({doc['contract']}) is not on the node at {url}"
            )
        # anvil lost its state (no --state file, or a reset): the old deployment is gone
        for stale in (record_path, directory / "archive.sqlite"):
            stale.unlink(missing_ok=True)
    if kind == "rpc":
        used = " (--key / EBILL_CHAIN_KEY no longer deploys on first use)" if key else ""
        raise NotFound(f"no ledger deployment recorded for {name} in {directory}{used}: deploy it once with "
                       f"`ebill chain deploy --rpc-url {url} …` (its admin behind the consortium's timelock), "
                       "or copy the consortium's deployment.json there")
    if not deploy:
        raise NotFound(f"no ledger deployment recorded for {name} in {directory}")
    if passphrase is None:
        raise KeysUnavailable(f"deploying the ledger on {name} needs the keystore passphrase, to seal its keys in "
                              f"{record_path}")
    vault = KeyVault(passphrase)
    governance = keyring.new("governance")
    ledger = Web3Ledger.deploy(w3, keyring=keyring, governance=governance, funder=funder, access=access)
    session = ChainSession(name, ledger, keyring, governance, record_path=record_path,
                           archive_path=directory / "archive.sqlite", vault=vault, notes=notes)
    session.save()
    return session


def record_deployment(*, name: str, ledger: Web3Ledger, keyring: Keyring, governance: Address, home: Path,
                      passphrase: str, admin: dict[str, Any]) -> ChainSession:
    """Write the deployment record of a ledger deployed by ``ebill chain deploy`` (refusing to
    replace one): ``governance`` (the relayer) sealed with ``passphrase``, ``admin`` as given."""
    directory = home / "chains" / name
    record_path = directory / "deployment.json"
    if record_path.exists():
        raise ChainStateMismatch(f"{record_path} already records a deployment on {name}: move it away first "
                                 "(a second contract would split the consortium's ledger)")
    session = ChainSession(name, ledger, keyring, governance, record_path=record_path,
                           archive_path=directory / "archive.sqlite", vault=KeyVault(passphrase), admin=admin)
    session.save()
    return session


def funder_for(w3: Web3, kind: str) -> Funder | None:
    """Who gives an account gas money before its first transaction, decided by the gas price:
    nobody on a free-gas chain, ``anvil_setBalance`` on anvil with priced gas, and on any
    other node the operator (None)."""
    if int(w3.eth.gas_price) == 0:
        return None
    return _anvil_funder(w3) if kind == "anvil" else None


def _read_record(path: Path) -> dict[str, Any]:
    """The deployment record at ``path`` (either format); :class:`InvalidInput` if it is not one."""
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict) or not isinstance(doc["chainId"], int) or not isinstance(doc["contract"], str):
            raise ValueError("expected an object with chainId, contract and the accounts")
        held = "sealedKey" if "keystore" in doc else "key"   # the first format held raw keys
        for entry in [doc["governance"], *doc["hospitals"].values(), *doc["payers"].values()]:
            if not isinstance(entry["address"], str) or not (
                    isinstance(entry.get(held), str) or isinstance(entry.get("tokenKey"), dict)):
                raise ValueError(f"the account {entry.get('address')!r} has no {held} (nor tokenKey)")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput.single(str(path), "deployment-record",
                                  f"not a readable deployment record: {type(exc).__name__}: {exc}") from None
    return doc


def _token_signer(tokens: Pkcs11Custody) -> Any:
    def new(owner: str) -> Pkcs11Signer:
        held = tokens.create(owner=owner)
        return tokens.open(held.reference, owner=owner, address=held.address)
    return new


def _open_keys(doc: dict[str, Any], path: Path, passphrase: str, keyring: Keyring,
               tokens: Pkcs11Custody | None = None) -> KeyVault:
    """Put the record's keys into ``keyring`` (sealed ones opened with the passphrase, token ones
    found on ``tokens``); the vault that sealed them (a new one for a record written before keys
    were sealed, which the caller then re-saves sealed)."""
    owners = [("governance", doc["governance"]),
              *((f"hospital:{i}", e) for i, e in doc["hospitals"].items()),
              *((f"payer:{i}", e) for i, e in doc["payers"].items())]
    if "keystore" not in doc:  # the first format: raw keys
        for _, entry in owners:
            keyring.add(entry["key"])
        return KeyVault(passphrase)
    try:
        vault = KeyVault(passphrase, KdfParams.from_json(json.dumps(doc["keystore"])))
    except WrongPassphrase:
        raise WrongPassphrase(f"the keystore passphrase does not open the keys sealed in {path}: "
                              "EBILL_KEYSTORE_PASSPHRASE (or $EBILL_HOME/secrets/keystore-passphrase) differs from the "
                              "one they were sealed with") from None
    for owner, entry in owners:
        if "tokenKey" in entry:
            if tokens is None:
                raise SignerUnavailable(f"the {owner} account {entry['address']} of {path} is on PKCS#11 token "
                                        f"{entry['tokenKey'].get('token')!r}: set EBILL_SIGNER=pkcs11:module=…;token=…")
            keyring.hold(tokens.open(json.dumps(entry["tokenKey"]), owner=owner, address=entry["address"]))
            continue
        keyring.add("0x" + vault.open(entry["sealedKey"], owner=owner, address=entry["address"]).hex())
    return vault


def _anvil_funder(w3: Web3) -> Funder:
    """anvil sets balances directly: no transaction, so no wait for a block."""

    def fund(address: Address, wei: int) -> None:
        w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [Web3.to_checksum_address(address), hex(wei)])

    return fund


def _unlocked_funder(w3: Web3) -> Funder:
    """Dev chains (eth-tester, anvil) have unlocked rich accounts that can pay gas money."""
    rich = w3.eth.accounts[0]

    def fund(address: Address, wei: int) -> None:
        tx = w3.eth.send_transaction({"from": rich, "to": Web3.to_checksum_address(address), "value": Wei(wei)})
        w3.eth.wait_for_transaction_receipt(tx)

    return fund
