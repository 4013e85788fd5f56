"""A snapshot of the hospitals registry: what an offline verifier trusts instead of the chain.

The snapshot names the deployment (chain id and ledger contract: together the EIP-712
domain a QR seal is signed under), the block it was taken at, and for every hospital
each key the contract ever bound to it, with the contract's ``addedAt`` and
``revokedAt`` (unix seconds; ``revokedAt`` 0 = active). Its JSON form::

    {"format": "ebill-registry-snapshot/v1", "chainId": 1337, "contract": "0x…",
     "blockNumber": 42, "blockHash": "0x…",
     "hospitals": [{"institutionId": "H33010200001",
                    "keys": [{"account": "0x…", "addedAt": 1700000000, "revokedAt": 0}]}]}

Reading is strict: an unknown or missing field, a wrong type, a bad address or hash, a
duplicate hospital or account raises :class:`~ledger.errors.InvalidInput` naming the
field (e.g. ``hospitals[3].keys[0].account``). Building one from a node is the adapter
``ledger.adapters.registry_export.export_snapshot``; this module needs no chain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import FieldProblem, InvalidInput
from ledger.qr import QrDomain
from ledger.signature import checksum_address

SNAPSHOT_FORMAT = "ebill-registry-snapshot/v1"

_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}\Z")
_HASH_RE = re.compile(r"0x[0-9a-f]{64}\Z")
#: a registry member id: 1-32 printable ASCII characters (the contract keys members by bytes32)
_MEMBER_ID_RE = re.compile(r"[\x21-\x7e]{1,32}\Z")
_UINT64 = 2**64 - 1


@dataclass(frozen=True)
class RegistryKey:
    """One account bound to a hospital, and when (unix seconds, from the contract)."""

    account: str  # EIP-55
    added_at: int
    revoked_at: int  # 0 = still active

    @property
    def active(self) -> bool:
        return self.revoked_at == 0


@dataclass(frozen=True)
class HospitalKeys:
    """A hospital's institution id and every key the registry ever bound to it."""

    institution_id: str
    keys: tuple[RegistryKey, ...]


@dataclass(frozen=True)
class RegistrySnapshot:
    """The hospitals registry of one deployment as of one block.

    Build it with keyword arguments (all values checked, :class:`InvalidInput` otherwise)
    or with :meth:`from_json`.
    """

    chain_id: int
    contract: str
    block_number: int
    block_hash: str
    hospitals: tuple[HospitalKeys, ...]
    _index: dict[str, dict[bytes, RegistryKey]] = field(init=False, repr=False, compare=False)
    _domain: QrDomain = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[FieldProblem] = []
        _check_uint("chainId", self.chain_id, problems, low=1, high=2**256 - 1)
        contract = _check_address("contract", self.contract, problems)
        _check_uint("blockNumber", self.block_number, problems)
        if not isinstance(self.block_hash, str) or not _HASH_RE.match(self.block_hash):
            problems.append(FieldProblem("blockHash", "hash", f"must be 0x and 64 lower-case hex digits, "
                                                              f"got {self.block_hash!r}"))
        index: dict[str, dict[bytes, RegistryKey]] = {}
        owner: dict[bytes, str] = {}
        if not isinstance(self.hospitals, tuple):
            problems.append(FieldProblem("hospitals", "type", f"must be a tuple, got {type(self.hospitals).__name__}"))
        else:
            for i, hospital in enumerate(self.hospitals):
                _index_hospital(f"hospitals[{i}]", hospital, index, owner, problems)
        if problems or contract is None:
            raise InvalidInput(problems)
        object.__setattr__(self, "contract", contract)
        # accounts in their EIP-55 spelling, whatever case they were given in
        normalised = tuple(HospitalKeys(h.institution_id, tuple(index[h.institution_id].values()))
                           for h in self.hospitals)
        object.__setattr__(self, "hospitals", normalised)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_domain", QrDomain(chain_id=self.chain_id, verifying_contract=contract))

    @property
    def domain(self) -> QrDomain:
        """The EIP-712 domain QR seals of this deployment are signed under."""
        return self._domain

    def keys_of(self, institution_id: str) -> Mapping[bytes, RegistryKey] | None:
        """The hospital's keys by 20-byte account, or ``None`` when the snapshot has no such hospital."""
        return self._index.get(institution_id)

    def hospital_of(self, account: bytes) -> str | None:
        """The institution id a 20-byte account is bound to, if any."""
        for institution_id, keys in self._index.items():
            if account in keys:
                return institution_id
        return None

    def to_json(self) -> dict[str, Any]:
        """The JSON form (see the module docstring); :meth:`from_json` reads it back unchanged."""
        return {
            "format": SNAPSHOT_FORMAT, "chainId": self.chain_id, "contract": self.contract,
            "blockNumber": self.block_number, "blockHash": self.block_hash,
            "hospitals": [
                {"institutionId": h.institution_id,
                 "keys": [{"account": k.account, "addedAt": k.added_at, "revokedAt": k.revoked_at} for k in h.keys]}
                for h in self.hospitals
            ],
        }

    @classmethod
    def from_json(cls, doc: object) -> RegistrySnapshot:
        """Read the JSON form (a parsed document).

        Raises :class:`InvalidInput` naming every unknown, missing or ill-typed field.
        """
        problems: list[FieldProblem] = []
        top = _object("", doc, ("format", "chainId", "contract", "blockNumber", "blockHash", "hospitals"), problems)
        if top is None:
            raise InvalidInput(problems)
        if top.get("format", SNAPSHOT_FORMAT) != SNAPSHOT_FORMAT:
            problems.append(FieldProblem("format", "format-id",
                                         f"must be {SNAPSHOT_FORMAT!r}, got {top['format']!r}"))
        hospitals: list[HospitalKeys] = []
        raw_hospitals = top.get("hospitals", [])
        if not isinstance(raw_hospitals, list):
            problems.append(FieldProblem("hospitals", "type", f"must be an array, got {_kind(raw_hospitals)}"))
            raw_hospitals = []
        for i, raw in enumerate(raw_hospitals):
            h = _object(f"hospitals[{i}]", raw, ("institutionId", "keys"), problems)
            if h is None:
                continue
            raw_keys = h.get("keys", [])
            if not isinstance(raw_keys, list):
                problems.append(FieldProblem(f"hospitals[{i}].keys", "type",
                                             f"must be an array, got {_kind(raw_keys)}"))
                raw_keys = []
            keys = []
            for j, raw_key in enumerate(raw_keys):
                k = _object(f"hospitals[{i}].keys[{j}]", raw_key, ("account", "addedAt", "revokedAt"), problems)
                if k is not None:
                    keys.append(RegistryKey(k.get("account"), k.get("addedAt"), k.get("revokedAt")))  # type: ignore[arg-type]
            hospitals.append(HospitalKeys(h.get("institutionId"), tuple(keys)))  # type: ignore[arg-type]
        if problems:
            raise InvalidInput(problems)
        return cls(chain_id=top.get("chainId"), contract=top.get("contract"),  # type: ignore[arg-type]
                   block_number=top.get("blockNumber"), block_hash=top.get("blockHash"),  # type: ignore[arg-type]
                   hospitals=tuple(hospitals))


def _index_hospital(path: str, hospital: object, index: dict[str, dict[bytes, RegistryKey]], owner: dict[bytes, str],
                    problems: list[FieldProblem]) -> None:
    if not isinstance(hospital, HospitalKeys):
        problems.append(FieldProblem(path, "type", f"must be a HospitalKeys, got {type(hospital).__name__}"))
        return
    iid = hospital.institution_id
    if not isinstance(iid, str) or not _MEMBER_ID_RE.match(iid):
        problems.append(FieldProblem(f"{path}.institutionId", "member-id",
                                     f"must be 1-32 printable ASCII characters, got {iid!r}"))
        return
    if iid in index:
        problems.append(FieldProblem(f"{path}.institutionId", "duplicate", f"{iid} is listed twice"))
        return
    keys: dict[bytes, RegistryKey] = {}
    index[iid] = keys
    if not hospital.keys:
        problems.append(FieldProblem(f"{path}.keys", "required", "a registered hospital has at least one key"))
    for j, key in enumerate(hospital.keys):
        where = f"{path}.keys[{j}]"
        if not isinstance(key, RegistryKey):
            problems.append(FieldProblem(where, "type", f"must be a RegistryKey, got {type(key).__name__}"))
            continue
        account = _check_address(f"{where}.account", key.account, problems)
        added = _check_uint(f"{where}.addedAt", key.added_at, problems, low=1, high=_UINT64)
        revoked = _check_uint(f"{where}.revokedAt", key.revoked_at, problems, high=_UINT64)
        if added and revoked and key.revoked_at and key.revoked_at < key.added_at:
            problems.append(FieldProblem(f"{where}.revokedAt", "range",
                                         f"revoked at {key.revoked_at}, before it was added at {key.added_at}"))
        if account is None:
            continue
        raw = bytes.fromhex(account[2:])
        if raw in owner:
            problems.append(FieldProblem(f"{where}.account", "duplicate",
                                         f"{account} is already bound to {owner[raw]}; the contract binds an "
                                         "account to one member, once"))
            continue
        owner[raw] = iid
        keys[raw] = key if account == key.account else RegistryKey(account, key.added_at, key.revoked_at)


def _check_uint(name: str, value: object, problems: list[FieldProblem], *, low: int = 0,
                high: int = 2**256 - 1) -> bool:
    if type(value) is not int or not low <= value <= high:
        problems.append(FieldProblem(name, "range", f"must be an integer in {low} .. {high}, got {value!r}"))
        return False
    return True


def _check_address(name: str, value: object, problems: list[FieldProblem]) -> str | None:
    """The EIP-55 spelling of a 0x address; mixed case must already be a valid checksum."""
    if not isinstance(value, str) or not _ADDRESS_RE.match(value):
        problems.append(FieldProblem(name, "address", f"must be 0x followed by 40 hex digits, got {value!r}"))
        return None
    canonical = checksum_address(bytes.fromhex(value[2:]))
    body = value[2:]
    if body != body.lower() and body != body.upper() and canonical != value:
        problems.append(FieldProblem(name, "address-checksum", f"{value} fails its EIP-55 checksum"))
        return None
    return canonical


def _object(path: str, value: object, fields: tuple[str, ...], problems: list[FieldProblem]) -> dict[str, Any] | None:
    """``value`` as a dict with exactly ``fields`` (each missing or unknown one reported)."""
    where = path or "(document)"
    if not isinstance(value, dict):
        problems.append(FieldProblem(where, "type", f"must be an object, got {_kind(value)}"))
        return None
    prefix = f"{path}." if path else ""
    for name in value:
        if name not in fields:
            problems.append(FieldProblem(f"{prefix}{name}", "unknown-field",
                                         f"is not a field of the snapshot (expected {', '.join(fields)})"))
    for name in fields:
        if name not in value:
            problems.append(FieldProblem(f"{prefix}{name}", "required", "is missing"))
    return value


def _kind(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__)
