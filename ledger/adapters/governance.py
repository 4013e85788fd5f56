"""The consortium's governance of the ledger: OpenZeppelin's ``TimelockController`` holds its admin role.

``ebill chain deploy`` (:func:`deploy_governed`) deploys, in this order and each once:

1. a ``TimelockController`` (OpenZeppelin 5, compiled unchanged: ``contracts/build``) with
   the consortium's ``proposers`` (who also get ``CANCELLER_ROLE``), ``executors`` and
   ``min_delay``, and no admin: it is self-administered, so changing its own roles or its
   delay is itself a timelocked operation (OpenZeppelin's constructor, ``admin = 0``);
2. the ``EbillLedger`` with ``DEFAULT_ADMIN_ROLE`` held by that timelock and
   ``REGISTRAR_ROLE`` by the relayer, which registers hospitals and payers day to day.

then reads both back: a deployment whose roles are not exactly these raises
:class:`~ledger.errors.ChainStateMismatch`. The deploying account (the relayer) keeps no
admin role anywhere.

An admin action (granting the registrar role to a new relayer, revoking the old one,
changing the delay) is then an :class:`Operation`: a call the timelock makes, identified
by ``hashOperation(target, value, data, predecessor, salt)``; a proposer schedules it with
a delay of at least ``getMinDelay()``, anyone may watch it (``CallScheduled``), a
canceller can cancel it while it waits, and an executor executes it once ready, exactly
once. :class:`Timelock` does these steps; :func:`admin_action` names the usual calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception

from contracts import load_artifact
from ledger.adapters.contract_codec import ContractErrors
from ledger.adapters.keyring import Keyring
from ledger.adapters.rpc_access import RpcAccess
from ledger.adapters.transactions import Funder, Transactor, deploy_artifact
from ledger.adapters.web3_chain import Web3Ledger
from ledger.errors import ChainStateMismatch, ChainUnavailable, InvalidInput
from ledger.hashing import keccak256, to_hex
from ledger.onchain import Address, TxReceipt

ZERO = "0x" + "00" * 20
ZERO32 = b"\0" * 32
DEFAULT_ADMIN_ROLE = ZERO32
REGISTRAR_ROLE = keccak256(b"REGISTRAR_ROLE")
PROPOSER_ROLE = keccak256(b"PROPOSER_ROLE")
EXECUTOR_ROLE = keccak256(b"EXECUTOR_ROLE")
CANCELLER_ROLE = keccak256(b"CANCELLER_ROLE")
#: TimelockController.OperationState, in its order
STATES = ("unset", "waiting", "ready", "done")
#: the admin record's kind in deployment.json
TIMELOCK_KIND = "openzeppelin-timelock"


@dataclass(frozen=True)
class Consortium:
    """Who governs: the accounts that propose (and may cancel) and execute admin actions, and the delay."""

    proposers: tuple[Address, ...]
    executors: tuple[Address, ...]
    min_delay: int

    def __post_init__(self) -> None:
        for field, accounts in (("proposer", self.proposers), ("executor", self.executors)):
            if not accounts:
                raise InvalidInput.single(field, "required", f"the consortium needs at least one {field} account")
            for account in accounts:
                if not is_address(account) or int(account, 16) == 0:
                    raise InvalidInput.single(field, "address", f"not a non-zero account address: {account!r}")
            if len({a.lower() for a in accounts}) != len(accounts):
                raise InvalidInput.single(field, "unique", f"a {field} account is listed twice")
        if not isinstance(self.min_delay, int) or self.min_delay < 0:
            raise InvalidInput.single("min-delay", "range", f"must be a whole number of seconds >= 0, "
                                      f"got {self.min_delay!r}")
        object.__setattr__(self, "proposers", tuple(to_checksum_address(a) for a in self.proposers))
        object.__setattr__(self, "executors", tuple(to_checksum_address(a) for a in self.executors))


@dataclass(frozen=True)
class GovernedDeployment:
    """A ledger whose admin is a timelock, as :func:`deploy_governed` left it."""

    ledger: Web3Ledger
    timelock: Address
    consortium: Consortium

    def record(self) -> dict[str, Any]:
        """The ``admin`` entry of the deployment record."""
        doc = load_artifact("TimelockController")
        return {"kind": TIMELOCK_KIND, "timelock": self.timelock, "minDelay": self.consortium.min_delay,
                "proposers": list(self.consortium.proposers), "executors": list(self.consortium.executors),
                "contract": f"TimelockController (solc {doc.compiler_version})"}


def deploy_governed(w3: Web3, *, keyring: Keyring, relayer: Address, consortium: Consortium,
                    funder: Funder | None = None, access: RpcAccess | None = None) -> GovernedDeployment:
    """Deploy the consortium's timelock, then the ledger with its admin role held by it (see the module)."""
    artifact = load_artifact("TimelockController")
    receipt = deploy_artifact(w3, keyring=keyring, sender=relayer, artifact=artifact, funder=funder,
                              args=(consortium.min_delay, list(consortium.proposers), list(consortium.executors), ZERO))
    timelock = to_checksum_address(receipt["contractAddress"])
    ledger = Web3Ledger.deploy(w3, keyring=keyring, governance=relayer, admin=timelock, funder=funder, access=access)
    deployment = GovernedDeployment(ledger, timelock, consortium)
    check_governed(w3, deployment, relayer=relayer)
    return deployment


def check_governed(w3: Web3, deployment: GovernedDeployment, *, relayer: Address) -> None:
    """Raise :class:`ChainStateMismatch` unless the roles on chain are exactly those of the module's docstring."""
    ledger = deployment.ledger.contract.functions
    lock = Timelock(w3, deployment.timelock).contract.functions
    relayer = to_checksum_address(relayer)

    def holds(contract: Any, role: bytes, account: Address) -> bool:
        try:
            return bool(contract.hasRole(role, account).call())
        except (OSError, Web3Exception) as exc:
            raise ChainUnavailable(f"could not read the deployment's roles back: {exc}") from exc

    facts = [
        ("the timelock holds the ledger's admin role", holds(ledger, DEFAULT_ADMIN_ROLE, deployment.timelock)),
        ("the relayer holds the ledger's registrar role", holds(ledger, REGISTRAR_ROLE, relayer)),
        ("the relayer does not hold the ledger's admin role", not holds(ledger, DEFAULT_ADMIN_ROLE, relayer)),
        ("the timelock administers itself", holds(lock, DEFAULT_ADMIN_ROLE, deployment.timelock)),
        ("the relayer does not administer the timelock", not holds(lock, DEFAULT_ADMIN_ROLE, relayer)),
    ]
    facts += [(f"{p} proposes and cancels", holds(lock, PROPOSER_ROLE, p) and holds(lock, CANCELLER_ROLE, p))
              for p in deployment.consortium.proposers]
    facts += [(f"{e} executes", holds(lock, EXECUTOR_ROLE, e)) for e in deployment.consortium.executors]
    wrong = [what for what, ok in facts if not ok]
    delay = Timelock(w3, deployment.timelock).min_delay
    if delay != deployment.consortium.min_delay:
        wrong.append(f"the timelock's delay is {delay} s, expected {deployment.consortium.min_delay} s")
    if wrong:
        raise ChainStateMismatch("the governed deployment is not as deployed: " + "; ".join(wrong))


@dataclass(frozen=True)
class Operation:
    """One call the timelock is to make (OpenZeppelin's single-transaction operation, value 0)."""

    target: Address
    data: bytes
    predecessor: bytes = ZERO32
    salt: bytes = ZERO32
    label: str = ""

    @property
    def id(self) -> bytes:
        """``hashOperation(target, 0, data, predecessor, salt)``, computed here as the timelock does."""
        from eth_abi.abi import encode

        return keccak256(encode(["address", "uint256", "bytes", "bytes32", "bytes32"],
                                [self.target, 0, self.data, self.predecessor, self.salt]))


def admin_action(ledger: Address, timelock: Address, action: str, argument: str, *, salt: str = "") -> Operation:
    """The operation for a named admin action: ``grant-registrar`` / ``revoke-registrar`` ACCOUNT
    (rotating the relayer) or ``update-delay`` SECONDS. ``salt`` tells apart two operations
    with the same call (granting the same account again after a revocation)."""
    salted = keccak256(salt.encode()) if salt else ZERO32
    contract = Web3().eth.contract(abi=load_artifact().abi)
    if action in ("grant-registrar", "revoke-registrar"):
        if not is_address(argument):
            raise InvalidInput.single("account", "address", f"not an account address: {argument!r}")
        fn = "grantRole" if action == "grant-registrar" else "revokeRole"
        data = contract.encode_abi(fn, [REGISTRAR_ROLE, to_checksum_address(argument)])
        return Operation(to_checksum_address(ledger), bytes.fromhex(data[2:]), salt=salted,
                         label=f"{fn}(REGISTRAR_ROLE, {to_checksum_address(argument)})")
    if action == "update-delay":
        if not argument.isdigit():
            raise InvalidInput.single("seconds", "integer", f"a whole number of seconds, got {argument!r}")
        lock = Web3().eth.contract(abi=load_artifact("TimelockController").abi)
        data = lock.encode_abi("updateDelay", [int(argument)])
        return Operation(to_checksum_address(timelock), bytes.fromhex(data[2:]), salt=salted,
                         label=f"updateDelay({int(argument)})")
    raise InvalidInput.single("action", "choice", f"unknown admin action {action!r}: grant-registrar, "
                              "revoke-registrar or update-delay")


class Timelock:
    """A deployed ``TimelockController``: its operations' states, and their steps signed by ``keyring``'s keys."""

    def __init__(self, w3: Web3, address: Address, *, keyring: Keyring | None = None) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        abi = load_artifact("TimelockController").abi
        self.contract = w3.eth.contract(address=self.address, abi=abi)
        # an executed call's revert is bubbled up by the timelock: name the ledger's errors too
        errors = ContractErrors([*abi, *load_artifact().abi])
        self._tx = Transactor(w3, keyring=keyring or Keyring(), chain_id=int(w3.eth.chain_id), errors=errors)

    @property
    def min_delay(self) -> int:
        return int(self._tx.call(self.contract.functions.getMinDelay()))

    def state(self, op: Operation | bytes) -> str:
        """``unset``, ``waiting``, ``ready`` or ``done``."""
        op_id = op.id if isinstance(op, Operation) else op
        return STATES[int(self._tx.call(self.contract.functions.getOperationState(op_id)))]

    def ready_at(self, op: Operation) -> int:
        """The block time from which ``op`` may be executed (0: not scheduled; 1: done)."""
        return int(self._tx.call(self.contract.functions.getTimestamp(op.id)))

    def schedule(self, op: Operation, *, proposer: Address, delay: int | None = None) -> TxReceipt:
        """Schedule ``op`` (``delay`` defaults to the minimum delay)."""
        fn = self.contract.functions.schedule(op.target, 0, op.data, op.predecessor, op.salt,
                                              self.min_delay if delay is None else delay)
        return self._tx.transact(proposer, fn, "schedule")

    def execute(self, op: Operation, *, executor: Address) -> TxReceipt:
        fn = self.contract.functions.execute(op.target, 0, op.data, op.predecessor, op.salt)
        return self._tx.transact(executor, fn, "execute")

    def cancel(self, op: Operation, *, canceller: Address) -> TxReceipt:
        return self._tx.transact(canceller, self.contract.functions.cancel(op.id), "cancel")

    def calldata(self, op: Operation, *, delay: int | None = None) -> dict[str, str]:
        """What a consortium account that is a multisig (or any wallet) sends to the timelock to
        schedule, execute or cancel ``op``: 0x-hex call data, to the timelock's address."""
        lock = self.contract
        schedule = lock.encode_abi("schedule", [op.target, 0, op.data, op.predecessor, op.salt,
                                                self.min_delay if delay is None else delay])
        execute = lock.encode_abi("execute", [op.target, 0, op.data, op.predecessor, op.salt])
        return {"to": self.address, "schedule": schedule, "execute": execute,
                "cancel": lock.encode_abi("cancel", [op.id])}


def describe(op: Operation) -> dict[str, str]:
    """What a consortium member needs to schedule or execute ``op`` from any wallet."""
    return {"operation": op.label, "id": to_hex(op.id), "target": op.target, "value": "0",
            "data": to_hex(op.data), "predecessor": to_hex(op.predecessor), "salt": to_hex(op.salt)}


__all__: Sequence[str] = ("Consortium", "GovernedDeployment", "Operation", "Timelock", "admin_action",
                          "check_governed", "deploy_governed", "describe")
