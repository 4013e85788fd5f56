"""Behaviour of the EbillLedger contract on the in-process EVM (eth-tester + py-evm).

Every external function's NatSpec Requirements are checked the way OpenZeppelin's own
tests check them: a refusal names the exact custom error with its arguments and emits
nothing; a success emits exactly the listed events with their arguments.

The chain is deployed once per module with a base state (two hospitals, two payers, one
anchored batch per hospital); each test runs from an eth-tester snapshot of that state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from web3 import EthereumTesterProvider, Web3

from contracts import load_artifact
from ledger.hashing import keccak256
from ledger.merkle import StandardMerkleTree

# tests/integration has no __init__.py, so pytest puts it on sys.path; rewrite the
# helpers' asserts so a wrong revert shows what was found
pytest.register_assert_rewrite("contract_helpers")
from contract_helpers import (  # noqa: E402
    DEFAULT_ADMIN_ROLE,
    HOSPITAL_ROLE,
    PAYER_ROLE,
    REGISTRAR_ROLE,
    REGISTRY_ONLY,
    ZERO32,
    ZERO_ADDRESS,
    Event,
    Ledger,
    anchor_batch_digest,
    decode_revert,
    member_id,
    sign_anchor_batch,
)

HOSPITAL_A = member_id("H33010200001")
HOSPITAL_B = member_id("H33010200002")
PAYER_A = member_id("P330100-MEDINS")  # basic medical insurance fund
PAYER_B = member_id("P330100-PICC")  # commercial insurer
UNKNOWN = member_id("H99999999999")

# MemberKind and ClaimStatus, as declared in IEbillLedger
NONE, HOSPITAL, PAYER = 0, 1, 2
RESERVED, RELEASED, FINALIZED = 1, 2, 3
UINT80_MAX = 2**80 - 1  # the fen counters' bound


# --- batches of invoices -----------------------------------------------------------------


@dataclass(frozen=True)
class Invoice:
    """An invoice leaf with its inclusion proof in the batch it was built into.

    ``issuer`` is the institution id of the invoice header, which the payer verified:
    the hospital expected to anchor the batch (``None`` when no test reserves it).
    """

    fingerprint: bytes
    total: int
    root: bytes
    proof: tuple[bytes, ...]
    issuer: bytes | None = None


@dataclass(frozen=True)
class BatchTree:
    root: bytes
    invoices: tuple[Invoice, ...]

    @property
    def leaf_count(self) -> int:
        return len(self.invoices)


def fingerprint(label: str) -> bytes:
    return keccak256(f"invoice header {label}".encode())


def batch_of(leaves: Sequence[tuple[bytes, int]], *, issuer: bytes | None = None) -> BatchTree:
    """A StandardMerkleTree over ``(fingerprint, totalFen)`` leaves, built by the core."""
    tree = StandardMerkleTree.of(leaves, ["bytes32", "uint256"])
    invoices = tuple(
        Invoice(fp, total, bytes(tree.root), tuple(bytes(p) for p in tree.proof(i).proof), issuer)
        for i, (fp, total) in enumerate(leaves)
    )
    return BatchTree(bytes(tree.root), invoices)


def make_batch(label: str, totals: Sequence[int], *, issuer: bytes | None = None) -> BatchTree:
    return batch_of([(fingerprint(f"{label}/{i}"), t) for i, t in enumerate(totals)], issuer=issuer)


def claim_id(text: str) -> bytes:
    return member_id(text)


def reservation(
    inv: Invoice,
    claim: bytes,
    amount: int,
    *,
    issuer: bytes | None = None,
    total: int | None = None,
    root: bytes | None = None,
    proof: Sequence[bytes] | None = None,
) -> tuple[Any, ...]:
    """An ``IEbillLedger.Reservation`` tuple; keyword overrides forge a field."""
    issuer = inv.issuer if issuer is None else issuer
    assert issuer is not None, "say which hospital issued the invoice"
    return (
        claim,
        issuer,
        inv.fingerprint,
        inv.total if total is None else total,
        amount,
        inv.root if root is None else root,
        list(inv.proof if proof is None else proof),
    )


# --- the chain ---------------------------------------------------------------------------


@dataclass
class World:
    """The deployed ledger and the accounts playing each part."""

    ledger: Ledger
    governance: str
    hospital_a: str
    hospital_a2: str  # unbound at first: a spare key for hospital A's key rotation
    hospital_b: str
    payer_a: str
    payer_a2: str  # unbound at first
    payer_b: str
    outsider: str
    relayer: str
    spare: str
    batch_a: BatchTree  # anchored by hospital A in the base state
    batch_b: BatchTree  # anchored by hospital B in the base state
    keys: dict[str, Any] = field(repr=False)

    @property
    def w3(self) -> Web3:
        return self.ledger.w3

    @property
    def fn(self) -> Any:
        return self.ledger.fn

    @property
    def chain_id(self) -> int:
        return self.w3.eth.chain_id

    @property
    def address(self) -> str:
        return self.ledger.contract.address

    def timestamp(self, receipt: Any) -> int:
        return self.w3.eth.get_block(receipt.blockNumber).timestamp

    def sign(self, signer: str, root: bytes, leaf_count: int, **domain: Any) -> bytes:
        return sign_anchor_batch(
            self.keys[signer],
            chain_id=domain.get("chain_id", self.chain_id),
            verifying_contract=domain.get("verifying_contract", self.address),
            root=root,
            leaf_count=leaf_count,
        )

    def signed(self, signer: str, batch: BatchTree) -> tuple[bytes, int, bytes]:
        """An ``IEbillLedger.SignedBatch`` of ``batch`` signed by ``signer``."""
        return (batch.root, batch.leaf_count, self.sign(signer, batch.root, batch.leaf_count))

    def reserve(self, payer: str, r: tuple[Any, ...]) -> list[Event]:
        return self.ledger.transact_events(self.fn.reserve(r), payer)

    def record(self, inv: Invoice, issuer: bytes | None = None) -> tuple[int, int, int, bool]:
        """``invoiceRecord`` of ``inv``'s fingerprint, kept for ``issuer`` (default: its own):
        ``(reservedFen, paidFen, pinned totalFen, voided)``."""
        issuer = inv.issuer if issuer is None else issuer
        assert issuer is not None, "say whose record of the fingerprint to read"
        return tuple(self.fn.invoiceRecord(issuer, inv.fingerprint).call())

    def claim(self, payer_id: bytes, claim: bytes) -> tuple[Any, ...]:
        return tuple(self.fn.claimOf(payer_id, claim).call())


@pytest.fixture(scope="module")
def base() -> World:
    w3 = Web3(EthereumTesterProvider())
    accounts = w3.eth.accounts
    keys = {
        Account.from_key(k).address: k for k in w3.provider.ethereum_tester.backend.account_keys
    }
    artifact = load_artifact()
    governance = accounts[0]
    tx = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor(governance, governance)
    receipt = w3.eth.wait_for_transaction_receipt(tx.transact({"from": governance}))
    ledger = Ledger(w3, w3.eth.contract(address=receipt.contractAddress, abi=artifact.abi))
    world = World(
        ledger=ledger,
        governance=governance,
        hospital_a=accounts[1],
        hospital_a2=accounts[2],
        hospital_b=accounts[3],
        payer_a=accounts[4],
        payer_a2=accounts[5],
        payer_b=accounts[6],
        outsider=accounts[7],
        relayer=accounts[8],
        spare=accounts[9],
        batch_a=make_batch("A", [10_000, 25_050, 300, 99_999, 1], issuer=HOSPITAL_A),
        batch_b=make_batch("B", [4_200, 7_700, 12_345], issuer=HOSPITAL_B),
        keys=keys,
    )
    fn = ledger.fn
    ledger.send(fn.registerHospital(HOSPITAL_A, world.hospital_a), governance)  # index 1
    ledger.send(fn.registerHospital(HOSPITAL_B, world.hospital_b), governance)  # index 2
    ledger.send(fn.registerPayer(PAYER_A, world.payer_a), governance)  # index 3
    ledger.send(fn.registerPayer(PAYER_B, world.payer_b), governance)  # index 4
    ledger.send(fn.anchorBatch(world.batch_a.root, world.batch_a.leaf_count), world.hospital_a)
    ledger.send(fn.anchorBatch(world.batch_b.root, world.batch_b.leaf_count), world.hospital_b)
    return world


@pytest.fixture
def world(base: World) -> Iterator[World]:
    tester = base.w3.provider.ethereum_tester
    snapshot = tester.take_snapshot()
    yield base
    tester.revert_to_snapshot(snapshot)


# =========================================================================== deployment


@pytest.mark.parametrize("zero", ["admin", "registrar"])
def test_constructor_refuses_a_zero_admin_or_registrar(base: World, zero: str) -> None:
    artifact = load_artifact()
    factory = base.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    args = (ZERO_ADDRESS, base.governance) if zero == "admin" else (base.governance, ZERO_ADDRESS)
    with pytest.raises(Exception) as info:
        factory.constructor(*args).transact({"from": base.governance})
    assert decode_revert(info.value, artifact.abi) == ("InvalidMember", ())


def test_the_admin_grants_the_registrar_and_only_the_registrar_registers(base: World) -> None:
    """Admin (the consortium's timelock in production) and registrar (the relayer) apart:
    the admin cannot register a member itself, and names who can (OpenZeppelin
    AccessControl: a role's admin role grants and revokes it)."""
    artifact = load_artifact()
    w3, admin, registrar, newcomer = base.w3, base.spare, base.relayer, base.outsider
    tx = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor(admin, registrar)
    receipt = w3.eth.wait_for_transaction_receipt(tx.transact({"from": base.governance}))
    ledger = Ledger(w3, w3.eth.contract(address=receipt.contractAddress, abi=artifact.abi))
    fn = ledger.fn
    assert fn.REGISTRAR_ROLE().call() == REGISTRAR_ROLE
    assert fn.getRoleAdmin(REGISTRAR_ROLE).call() == DEFAULT_ADMIN_ROLE
    assert fn.hasRole(DEFAULT_ADMIN_ROLE, admin).call() and not fn.hasRole(DEFAULT_ADMIN_ROLE, registrar).call()
    assert fn.hasRole(REGISTRAR_ROLE, registrar).call() and not fn.hasRole(REGISTRAR_ROLE, admin).call()
    assert not fn.hasRole(DEFAULT_ADMIN_ROLE, base.governance).call()   # the deployer keeps nothing
    ledger.assert_reverts(fn.registerHospital(HOSPITAL_A, base.hospital_a), admin,
                          "AccessControlUnauthorizedAccount", admin, REGISTRAR_ROLE)
    ledger.assert_reverts(fn.grantRole(REGISTRAR_ROLE, newcomer), registrar,
                          "AccessControlUnauthorizedAccount", registrar, DEFAULT_ADMIN_ROLE)
    # rotating the relayer: the admin grants the new one and revokes the old
    ledger.send(fn.grantRole(REGISTRAR_ROLE, newcomer), admin)
    ledger.send(fn.revokeRole(REGISTRAR_ROLE, registrar), admin)
    ledger.send(fn.registerHospital(HOSPITAL_A, base.hospital_a), newcomer)
    ledger.assert_reverts(fn.registerPayer(PAYER_A, base.payer_a), registrar,
                          "AccessControlUnauthorizedAccount", registrar, REGISTRAR_ROLE)


def test_roles_are_wired_so_only_the_registry_grants_member_roles(world: World) -> None:
    fn = world.fn
    assert fn.hasRole(DEFAULT_ADMIN_ROLE, world.governance).call()
    assert fn.hasRole(REGISTRAR_ROLE, world.governance).call()
    assert fn.HOSPITAL_ROLE().call() == HOSPITAL_ROLE
    assert fn.PAYER_ROLE().call() == PAYER_ROLE
    assert fn.ANCHOR_BATCH_TYPEHASH().call() == keccak256(
        b"AnchorBatch(bytes32 root,uint32 leafCount)"
    )
    assert fn.getRoleAdmin(HOSPITAL_ROLE).call() == REGISTRY_ONLY
    assert fn.getRoleAdmin(PAYER_ROLE).call() == REGISTRY_ONLY
    assert fn.getRoleAdmin(REGISTRY_ONLY).call() == REGISTRY_ONLY
    assert not fn.hasRole(REGISTRY_ONLY, world.governance).call()
    assert fn.memberCount().call() == 4


# =========================================================================== registry


@pytest.mark.parametrize(
    ("register", "kind", "member_role"),
    [("registerHospital", HOSPITAL, HOSPITAL_ROLE), ("registerPayer", PAYER, PAYER_ROLE)],
)
def test_register_binds_the_first_key(
    world: World, register: str, kind: int, member_role: bytes
) -> None:
    new_id = member_id("NEW-MEMBER-1")
    receipt = world.ledger.send(getattr(world.fn, register)(new_id, world.spare), world.governance)

    assert world.ledger.events(receipt) == [
        Event("MemberRegistered", {"memberId": new_id, "kind": kind, "index": 5}),
        Event(
            "RoleGranted", {"role": member_role, "account": world.spare, "sender": world.governance}
        ),
        Event("KeyAdded", {"memberId": new_id, "account": world.spare}),
    ]
    assert world.fn.hasRole(member_role, world.spare).call()
    assert world.fn.accountInfo(world.spare).call() == [new_id, kind, world.timestamp(receipt), 0]
    assert world.fn.memberCount().call() == 5


def test_account_info_of_base_members_and_of_a_stranger(world: World) -> None:
    info = world.fn.accountInfo
    assert info(world.hospital_a).call()[:2] == [HOSPITAL_A, HOSPITAL]
    assert info(world.payer_b).call()[:2] == [PAYER_B, PAYER]
    assert info(world.outsider).call() == [ZERO32, NONE, 0, 0]
    assert info(world.governance).call() == [ZERO32, NONE, 0, 0]  # governance is no member


@pytest.mark.parametrize("register", ["registerHospital", "registerPayer"])
@pytest.mark.parametrize("caller", ["outsider", "hospital_a", "payer_a"])
def test_only_the_admin_registers_members(world: World, register: str, caller: str) -> None:
    sender = getattr(world, caller)
    world.ledger.assert_reverts(
        getattr(world.fn, register)(member_id("NEW"), world.spare),
        sender,
        "AccessControlUnauthorizedAccount",
        sender,
        REGISTRAR_ROLE,
    )
    assert world.fn.accountInfo(world.spare).call()[1] == NONE


@pytest.mark.parametrize("register", ["registerHospital", "registerPayer"])
@pytest.mark.parametrize("taken", [HOSPITAL_A, PAYER_B], ids=["hospital-id", "payer-id"])
def test_a_member_id_is_registered_once_across_kinds(
    world: World, register: str, taken: bytes
) -> None:
    world.ledger.assert_reverts(
        getattr(world.fn, register)(taken, world.spare),
        world.governance,
        "MemberAlreadyRegistered",
        taken,
    )
    assert world.fn.memberCount().call() == 4


@pytest.mark.parametrize("register", ["registerHospital", "registerPayer"])
@pytest.mark.parametrize("bound", ["hospital_a", "payer_b"])
def test_an_account_cannot_be_bound_to_a_second_member(
    world: World, register: str, bound: str
) -> None:
    account = getattr(world, bound)
    world.ledger.assert_reverts(
        getattr(world.fn, register)(member_id("NEW"), account),
        world.governance,
        "AccountAlreadyBound",
        account,
    )
    assert world.fn.memberCount().call() == 4


@pytest.mark.parametrize("register", ["registerHospital", "registerPayer"])
def test_register_refuses_zero_id_and_zero_address(world: World, register: str) -> None:
    call = getattr(world.fn, register)
    world.ledger.assert_reverts(call(ZERO32, world.spare), world.governance, "InvalidMember")
    world.ledger.assert_reverts(
        call(member_id("NEW"), ZERO_ADDRESS), world.governance, "InvalidMember"
    )


def test_add_key_rotates_a_hospital_key(world: World) -> None:
    receipt = world.ledger.send(world.fn.addKey(HOSPITAL_A, world.hospital_a2), world.governance)
    assert world.ledger.events(receipt) == [
        Event(
            "RoleGranted",
            {"role": HOSPITAL_ROLE, "account": world.hospital_a2, "sender": world.governance},
        ),
        Event("KeyAdded", {"memberId": HOSPITAL_A, "account": world.hospital_a2}),
    ]
    assert world.fn.accountInfo(world.hospital_a2).call() == [
        HOSPITAL_A,
        HOSPITAL,
        world.timestamp(receipt),
        0,
    ]
    assert world.fn.memberCount().call() == 4

    # the new key acts for the same hospital: its batch is hospital A's
    batch = make_batch("A-rotated", [500])
    events = world.ledger.transact_events(world.fn.anchorBatch(batch.root, 1), world.hospital_a2)
    assert events == [
        Event("BatchAnchored", {"root": batch.root, "institutionId": HOSPITAL_A, "leafCount": 1})
    ]
    assert world.fn.batchIssuer(batch.root).call() == HOSPITAL_A
    # ... and it may void invoices the other key anchored
    inv = world.batch_a.invoices[0]
    events = world.ledger.transact_events(
        world.fn.voidInvoice(inv.fingerprint, inv.total, inv.root, list(inv.proof), ZERO32),
        world.hospital_a2,
    )
    assert [e.name for e in events] == ["InvoiceVoided"]


def test_add_key_to_a_payer_shares_its_claims(world: World) -> None:
    events = world.ledger.transact_events(
        world.fn.addKey(PAYER_A, world.payer_a2), world.governance
    )
    assert events == [
        Event(
            "RoleGranted",
            {"role": PAYER_ROLE, "account": world.payer_a2, "sender": world.governance},
        ),
        Event("KeyAdded", {"memberId": PAYER_A, "account": world.payer_a2}),
    ]
    inv = world.batch_a.invoices[0]
    world.reserve(world.payer_a, reservation(inv, claim_id("C1"), 100))
    # claims belong to the payer, not to the key that made them
    events = world.ledger.transact_events(world.fn.finalize(claim_id("C1")), world.payer_a2)
    assert [e.name for e in events] == ["ReimbursementFinalized"]


def test_add_key_requirements(world: World) -> None:
    ledger, fn = world.ledger, world.fn
    ledger.assert_reverts(
        fn.addKey(HOSPITAL_A, world.spare),
        world.hospital_a,
        "AccessControlUnauthorizedAccount",
        world.hospital_a,
        REGISTRAR_ROLE,
    )
    ledger.assert_reverts(
        fn.addKey(UNKNOWN, world.spare), world.governance, "UnknownMember", UNKNOWN
    )
    ledger.assert_reverts(fn.addKey(ZERO32, world.spare), world.governance, "UnknownMember", ZERO32)
    ledger.assert_reverts(fn.addKey(HOSPITAL_A, ZERO_ADDRESS), world.governance, "InvalidMember")
    for bound in (world.hospital_a, world.hospital_b, world.payer_a):
        ledger.assert_reverts(
            fn.addKey(HOSPITAL_A, bound), world.governance, "AccountAlreadyBound", bound
        )
    assert fn.accountInfo(world.hospital_b).call()[0] == HOSPITAL_B


def test_revoke_key_takes_the_role_away_for_good(world: World) -> None:
    ledger, fn = world.ledger, world.fn
    receipt = ledger.send(fn.revokeKey(world.hospital_a), world.governance)
    revoked_at = world.timestamp(receipt)
    assert ledger.events(receipt) == [
        Event(
            "RoleRevoked",
            {"role": HOSPITAL_ROLE, "account": world.hospital_a, "sender": world.governance},
        ),
        Event(
            "KeyRevoked",
            {"memberId": HOSPITAL_A, "account": world.hospital_a, "revokedAt": revoked_at},
        ),
    ]
    info = fn.accountInfo(world.hospital_a).call()
    assert (
        info[:2] == [HOSPITAL_A, HOSPITAL] and info[3] == revoked_at and 0 < info[2] <= revoked_at
    )
    assert not fn.hasRole(HOSPITAL_ROLE, world.hospital_a).call()

    # it can no longer anchor or void ...
    batch = make_batch("after-revocation", [1])
    ledger.assert_reverts(
        fn.anchorBatch(batch.root, 1),
        world.hospital_a,
        "AccessControlUnauthorizedAccount",
        world.hospital_a,
        HOSPITAL_ROLE,
    )
    inv = world.batch_a.invoices[0]
    ledger.assert_reverts(
        fn.voidInvoice(inv.fingerprint, inv.total, inv.root, list(inv.proof), ZERO32),
        world.hospital_a,
        "AccessControlUnauthorizedAccount",
        world.hospital_a,
        HOSPITAL_ROLE,
    )
    # ... nor be revoked twice, nor be bound again to anything
    ledger.assert_reverts(
        fn.revokeKey(world.hospital_a), world.governance, "KeyAlreadyRevoked", world.hospital_a
    )
    ledger.assert_reverts(
        fn.addKey(HOSPITAL_A, world.hospital_a),
        world.governance,
        "AccountAlreadyBound",
        world.hospital_a,
    )
    ledger.assert_reverts(
        fn.registerPayer(member_id("NEW"), world.hospital_a),
        world.governance,
        "AccountAlreadyBound",
        world.hospital_a,
    )
    # what it anchored before stays anchored and usable
    assert fn.batchOf(world.batch_a.root).call()[0] == 1
    events = world.reserve(world.payer_a, reservation(inv, claim_id("C1"), 10))
    assert [e.name for e in events] == ["ReimbursementReserved"]


def test_a_revoked_payer_key_cannot_stamp(world: World) -> None:
    events = world.ledger.transact_events(world.fn.revokeKey(world.payer_b), world.governance)
    assert [e.name for e in events] == ["RoleRevoked", "KeyRevoked"]
    assert events[0].args["role"] == PAYER_ROLE
    inv = world.batch_a.invoices[0]
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(inv, claim_id("C1"), 10)),
        world.payer_b,
        "AccessControlUnauthorizedAccount",
        world.payer_b,
        PAYER_ROLE,
    )


def test_revoke_key_requirements(world: World) -> None:
    ledger, fn = world.ledger, world.fn
    ledger.assert_reverts(
        fn.revokeKey(world.outsider), world.governance, "AccountNotBound", world.outsider
    )
    for caller in (world.outsider, world.hospital_a, world.payer_a):
        ledger.assert_reverts(
            fn.revokeKey(world.hospital_b),
            caller,
            "AccessControlUnauthorizedAccount",
            caller,
            REGISTRAR_ROLE,
        )
    assert fn.hasRole(HOSPITAL_ROLE, world.hospital_b).call()


@pytest.mark.parametrize(
    "member_role", [HOSPITAL_ROLE, PAYER_ROLE, REGISTRY_ONLY], ids=["hospital", "payer", "registry"]
)
@pytest.mark.parametrize("caller", ["governance", "hospital_a", "payer_a"])
def test_nobody_grants_or_revokes_member_roles_directly(
    world: World, member_role: bytes, caller: str
) -> None:
    sender = getattr(world, caller)
    ledger, fn = world.ledger, world.fn
    ledger.assert_reverts(
        fn.grantRole(member_role, world.outsider),
        sender,
        "AccessControlUnauthorizedAccount",
        sender,
        REGISTRY_ONLY,
    )
    # revoking behind the registry's back would leave the key without a revocation time
    ledger.assert_reverts(
        fn.revokeRole(member_role, world.hospital_b),
        sender,
        "AccessControlUnauthorizedAccount",
        sender,
        REGISTRY_ONLY,
    )
    assert not fn.hasRole(member_role, world.outsider).call()


# =========================================================================== anchoring


def test_anchor_batch_records_one_slot(world: World) -> None:
    batch = make_batch("fresh", [1_000, 2_000, 3_000, 4_000])
    receipt = world.ledger.send(world.fn.anchorBatch(batch.root, 4), world.hospital_b)
    print(f"\nanchorBatch gas: {receipt.gasUsed}")
    assert 45_000 <= receipt.gasUsed <= 80_000

    assert world.ledger.events(receipt) == [
        Event("BatchAnchored", {"root": batch.root, "institutionId": HOSPITAL_B, "leafCount": 4})
    ]
    # Batch(hospital index, leafCount, anchoredAt, blockNumber)
    assert world.fn.batchOf(batch.root).call() == (
        2,
        4,
        world.timestamp(receipt),
        receipt.blockNumber,
    )
    assert world.fn.batchIssuer(batch.root).call() == HOSPITAL_B
    for inv in batch.invoices:
        assert world.fn.isAnchored(inv.fingerprint, inv.total, batch.root, list(inv.proof)).call()


def test_an_unknown_root_has_no_batch(world: World) -> None:
    batch = make_batch("never", [1, 2])
    inv = batch.invoices[0]
    assert world.fn.batchOf(batch.root).call() == (0, 0, 0, 0)
    assert world.fn.batchIssuer(batch.root).call() == ZERO32
    assert not world.fn.isAnchored(inv.fingerprint, inv.total, batch.root, list(inv.proof)).call()


def test_batches_of_reads_many_batches_and_their_issuers(world: World) -> None:
    fresh = make_batch("fresh", [1, 2, 3])
    receipt = world.ledger.send(world.fn.anchorBatch(fresh.root, 3), world.hospital_b)
    unknown = make_batch("never", [1]).root
    roots = [world.batch_a.root, unknown, fresh.root, world.batch_b.root, world.batch_a.root]
    batches, issuers = world.fn.batchesOf(roots).call()
    assert batches[2] == (2, 3, world.timestamp(receipt), receipt.blockNumber)
    assert batches[1] == (0, 0, 0, 0)
    assert [b[:2] for b in batches] == [(1, 5), (0, 0), (2, 3), (2, 3), (1, 5)]
    assert list(batches) == [world.fn.batchOf(r).call() for r in roots]
    assert list(issuers) == [HOSPITAL_A, ZERO32, HOSPITAL_B, HOSPITAL_B, HOSPITAL_A]
    assert list(issuers) == [world.fn.batchIssuer(r).call() for r in roots]
    assert world.fn.batchesOf([]).call() == [[], []]


def test_is_anchored_needs_the_exact_leaf_and_proof(world: World) -> None:
    inv, other = world.batch_a.invoices[0], world.batch_a.invoices[1]
    is_anchored = world.fn.isAnchored
    assert is_anchored(inv.fingerprint, inv.total, inv.root, list(inv.proof)).call()
    assert not is_anchored(inv.fingerprint, inv.total + 1, inv.root, list(inv.proof)).call()
    assert not is_anchored(inv.fingerprint, inv.total, inv.root, list(other.proof)).call()
    assert not is_anchored(inv.fingerprint, inv.total, inv.root, list(inv.proof[:-1])).call()
    assert not is_anchored(inv.fingerprint, inv.total, world.batch_b.root, list(inv.proof)).call()


@pytest.mark.parametrize("caller", ["outsider", "payer_a", "governance"])
def test_only_a_hospital_key_anchors(world: World, caller: str) -> None:
    sender = getattr(world, caller)
    batch = make_batch("intruder", [1])
    world.ledger.assert_reverts(
        world.fn.anchorBatch(batch.root, 1),
        sender,
        "AccessControlUnauthorizedAccount",
        sender,
        HOSPITAL_ROLE,
    )
    assert world.fn.batchOf(batch.root).call() == (0, 0, 0, 0)


def test_anchor_batch_refuses_zero_root_and_empty_batch(world: World) -> None:
    root = make_batch("x", [1]).root
    world.ledger.assert_reverts(
        world.fn.anchorBatch(ZERO32, 3), world.hospital_a, "InvalidBatch", ZERO32, 3
    )
    world.ledger.assert_reverts(
        world.fn.anchorBatch(root, 0), world.hospital_a, "InvalidBatch", root, 0
    )


@pytest.mark.parametrize("again_by", ["hospital_a", "hospital_b"])
def test_a_root_is_anchored_once(world: World, again_by: str) -> None:
    before = world.fn.batchOf(world.batch_a.root).call()
    world.ledger.assert_reverts(
        world.fn.anchorBatch(world.batch_a.root, world.batch_a.leaf_count),
        getattr(world, again_by),
        "BatchAlreadyAnchored",
        world.batch_a.root,
    )
    assert world.fn.batchOf(world.batch_a.root).call() == before


# =========================================================================== relayed anchoring


def test_python_eip712_digest_equals_the_contracts(world: World) -> None:
    for root, count in [
        (make_batch("d", [1, 2]).root, 2),
        (b"\xff" * 32, 2**32 - 1),
        (b"\x01" * 32, 1),
    ]:
        ours = anchor_batch_digest(
            chain_id=world.chain_id, verifying_contract=world.address, root=root, leaf_count=count
        )
        assert world.fn.anchorBatchDigest(root, count).call() == ours


def test_a_relayer_anchors_several_hospitals_in_one_transaction(world: World) -> None:
    batches = [
        make_batch("relay-A1", [1, 2, 3]),
        make_batch("relay-B1", [4]),
        make_batch("relay-A2", [5, 6]),
    ]
    items = [
        world.signed(world.hospital_a, batches[0]),
        world.signed(world.hospital_b, batches[1]),
        world.signed(world.hospital_a, batches[2]),
    ]
    call = world.fn.anchorSignedBatches(items)
    assert call.call({"from": world.relayer}) == 3
    receipt = world.ledger.send(call, world.relayer)  # the relayer holds no role at all
    print(f"\nanchorSignedBatches(3) gas: {receipt.gasUsed}")

    assert world.ledger.events(receipt) == [
        Event(
            "BatchAnchored", {"root": batches[0].root, "institutionId": HOSPITAL_A, "leafCount": 3}
        ),
        Event(
            "BatchAnchored", {"root": batches[1].root, "institutionId": HOSPITAL_B, "leafCount": 1}
        ),
        Event(
            "BatchAnchored", {"root": batches[2].root, "institutionId": HOSPITAL_A, "leafCount": 2}
        ),
    ]
    stamp = (world.timestamp(receipt), receipt.blockNumber)
    assert world.fn.batchOf(batches[0].root).call() == (1, 3, *stamp)
    assert world.fn.batchOf(batches[1].root).call() == (2, 1, *stamp)
    assert world.fn.batchOf(batches[2].root).call() == (1, 2, *stamp)


def test_re_sending_signed_batches_is_idempotent(world: World) -> None:
    first, second = make_batch("idem-1", [10, 20]), make_batch("idem-2", [30])
    items = [world.signed(world.hospital_a, first)]
    receipt = world.ledger.send(world.fn.anchorSignedBatches(items), world.relayer)
    anchored = world.fn.batchOf(first.root).call()
    assert anchored[3] == receipt.blockNumber

    # a crash-and-retry re-sends the same item: nothing anchors again, nothing is emitted
    call = world.fn.anchorSignedBatches(items)
    assert call.call({"from": world.relayer}) == 0
    assert world.ledger.transact_events(call, world.relayer) == []
    assert world.fn.batchOf(first.root).call() == anchored

    # with one new item among old ones, only the new one is anchored
    call = world.fn.anchorSignedBatches([*items, world.signed(world.hospital_a, second)])
    assert call.call({"from": world.outsider}) == 1
    assert world.ledger.transact_events(call, world.outsider) == [
        Event("BatchAnchored", {"root": second.root, "institutionId": HOSPITAL_A, "leafCount": 1})
    ]
    # a root the hospital anchored directly is skipped too, and so is one signed by its other key
    world.ledger.send(world.fn.addKey(HOSPITAL_A, world.hospital_a2), world.governance)
    call = world.fn.anchorSignedBatches(
        [world.signed(world.hospital_a, world.batch_a), world.signed(world.hospital_a2, first)]
    )
    assert call.call({"from": world.relayer}) == 0
    assert world.ledger.transact_events(call, world.relayer) == []


def test_an_empty_relay_anchors_nothing(world: World) -> None:
    call = world.fn.anchorSignedBatches([])
    assert call.call({"from": world.relayer}) == 0
    assert world.ledger.transact_events(call, world.relayer) == []


@pytest.mark.parametrize("signer", ["outsider", "payer_a", "governance"])
def test_a_batch_signed_by_no_hospital_is_refused(world: World, signer: str) -> None:
    address = getattr(world, signer)
    batch = make_batch("unauthorised", [1, 2])
    ok = world.signed(world.hospital_b, make_batch("innocent", [3]))
    world.ledger.assert_reverts(
        world.fn.anchorSignedBatches([ok, world.signed(address, batch)]),
        world.relayer,
        "UnauthorizedBatchSigner",
        batch.root,
        address,
    )
    assert world.fn.batchOf(ok[0]).call() == (0, 0, 0, 0)  # all or nothing


def test_a_batch_signed_by_a_revoked_key_is_refused(world: World) -> None:
    batch = make_batch("late", [1])
    item = world.signed(world.hospital_b, batch)  # signed while the key was active
    world.ledger.send(world.fn.revokeKey(world.hospital_b), world.governance)
    world.ledger.assert_reverts(
        world.fn.anchorSignedBatches([item]),
        world.relayer,
        "UnauthorizedBatchSigner",
        batch.root,
        world.hospital_b,
    )


def test_a_signature_for_other_values_or_another_domain_is_refused(world: World) -> None:
    batch = make_batch("tampered", [1, 2, 3])
    signature = world.sign(world.hospital_a, batch.root, 3)
    # the relayer changes the leaf count: the signature recovers to some unrelated address
    digest = world.fn.anchorBatchDigest(batch.root, 4).call()
    stranger = Account._recover_hash(digest, signature=signature)
    assert stranger != world.hospital_a
    world.ledger.assert_reverts(
        world.fn.anchorSignedBatches([(batch.root, 4, signature)]),
        world.relayer,
        "UnauthorizedBatchSigner",
        batch.root,
        stranger,
    )
    # signed for another chain or another deployment
    for domain in ({"chain_id": world.chain_id + 1}, {"verifying_contract": world.relayer}):
        foreign = world.sign(world.hospital_a, batch.root, 3, **domain)
        name, (root, signer) = world.ledger.revert_of(
            world.fn.anchorSignedBatches([(batch.root, 3, foreign)]), world.relayer
        )
        assert (name, root) == ("UnauthorizedBatchSigner", batch.root)
        assert signer != world.hospital_a


def test_malformed_signatures_recover_to_the_zero_address(world: World) -> None:
    batch = make_batch("malformed", [1])
    good = world.sign(world.hospital_a, batch.root, 1)
    r, s, v = good[:32], int.from_bytes(good[32:64], "big"), good[64]
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    high_s = r + (n - s).to_bytes(32, "big") + bytes([55 - v])  # the malleable twin
    for signature in (b"", good[:64], good + b"\0", high_s, r + good[32:64] + b"\x1d"):
        world.ledger.assert_reverts(
            world.fn.anchorSignedBatches([(batch.root, 1, signature)]),
            world.relayer,
            "UnauthorizedBatchSigner",
            batch.root,
            ZERO_ADDRESS,
        )


def test_a_root_anchored_by_another_hospital_is_refused(world: World) -> None:
    fresh = make_batch("fresh", [7])
    world.ledger.assert_reverts(
        world.fn.anchorSignedBatches(
            [world.signed(world.hospital_b, fresh), world.signed(world.hospital_b, world.batch_a)]
        ),
        world.relayer,
        "BatchAlreadyAnchored",
        world.batch_a.root,
    )
    assert world.fn.batchOf(fresh.root).call() == (0, 0, 0, 0)
    assert world.fn.batchIssuer(world.batch_a.root).call() == HOSPITAL_A


def test_signed_batches_must_be_valid(world: World) -> None:
    root = make_batch("empty", [1]).root
    for bad_root, count in ((ZERO32, 2), (root, 0)):
        item = (bad_root, count, world.sign(world.hospital_a, bad_root, count))
        world.ledger.assert_reverts(
            world.fn.anchorSignedBatches([item]), world.relayer, "InvalidBatch", bad_root, count
        )


# =========================================================================== void


def void_call(
    world: World, inv: Invoice, reason: bytes = member_id("duplicate issue"), **forged: Any
) -> Any:
    return world.fn.voidInvoice(
        inv.fingerprint,
        forged.get("total", inv.total),
        forged.get("root", inv.root),
        list(forged.get("proof", inv.proof)),
        reason,
    )


def test_the_issuing_hospital_voids_an_invoice(world: World) -> None:
    inv = world.batch_a.invoices[2]
    reason = member_id("red-letter: wrong payer")
    receipt = world.ledger.send(void_call(world, inv, reason), world.hospital_a)
    print(f"\nvoidInvoice gas: {receipt.gasUsed}")
    assert world.ledger.events(receipt) == [
        Event(
            "InvoiceVoided",
            {
                "fingerprint": inv.fingerprint,
                "institutionId": HOSPITAL_A,
                "batchRoot": inv.root,
                "reason": reason,
            },
        )
    ]
    assert world.record(inv) == (0, 0, 0, True)
    assert world.record(world.batch_a.invoices[1]) == (0, 0, 0, False)  # only that one


def test_another_hospital_cannot_void(world: World) -> None:
    inv = world.batch_a.invoices[0]
    world.ledger.assert_reverts(
        void_call(world, inv),
        world.hospital_b,
        "NotIssuingHospital",
        inv.fingerprint,
        HOSPITAL_A,
        HOSPITAL_B,
    )
    assert world.record(inv) == (0, 0, 0, False)


@pytest.mark.parametrize("caller", ["payer_a", "outsider", "governance"])
def test_only_hospital_keys_void(world: World, caller: str) -> None:
    sender = getattr(world, caller)
    world.ledger.assert_reverts(
        void_call(world, world.batch_a.invoices[0]),
        sender,
        "AccessControlUnauthorizedAccount",
        sender,
        HOSPITAL_ROLE,
    )


def test_void_needs_an_anchored_batch_and_a_valid_proof(world: World) -> None:
    ledger, inv = world.ledger, world.batch_a.invoices[0]
    unanchored = make_batch("never anchored", [inv.total, 1])
    ledger.assert_reverts(
        void_call(world, unanchored.invoices[0]),
        world.hospital_a,
        "BatchNotAnchored",
        unanchored.root,
    )
    for forged in (
        {"total": inv.total - 1},
        {"proof": world.batch_a.invoices[1].proof},
        {"proof": ()},
    ):
        ledger.assert_reverts(
            void_call(world, inv, **forged),
            world.hospital_a,
            "InvalidInclusionProof",
            inv.root,
            inv.fingerprint,
        )
    # the leaf is proven before the issuer is compared: a forged leaf is reported as such
    ledger.assert_reverts(
        void_call(world, inv, total=1),
        world.hospital_b,
        "InvalidInclusionProof",
        inv.root,
        inv.fingerprint,
    )
    assert world.record(inv) == (0, 0, 0, False)


def test_an_invoice_is_voided_once(world: World) -> None:
    inv = world.batch_b.invoices[1]
    world.ledger.send(void_call(world, inv), world.hospital_b)
    world.ledger.assert_reverts(
        void_call(world, inv), world.hospital_b, "InvoiceAlreadyVoided", inv.fingerprint
    )


def test_voiding_a_reimbursed_invoice_requires_a_clawback(world: World) -> None:
    inv = world.batch_a.invoices[1]  # 25_050 fen
    world.reserve(world.payer_a, reservation(inv, claim_id("A-1"), 10_000))
    world.ledger.send(world.fn.finalize(claim_id("A-1")), world.payer_a)
    world.reserve(world.payer_b, reservation(inv, claim_id("B-1"), 5_000))
    world.reserve(world.payer_a, reservation(inv, claim_id("A-2"), 50))

    reason = member_id("refund")
    events = world.ledger.transact_events(void_call(world, inv, reason), world.hospital_a)
    assert events == [
        Event(
            "InvoiceVoided",
            {
                "fingerprint": inv.fingerprint,
                "institutionId": HOSPITAL_A,
                "batchRoot": inv.root,
                "reason": reason,
            },
        ),
        Event(
            "ClawbackRequired",
            {
                "fingerprint": inv.fingerprint,
                "institutionId": HOSPITAL_A,
                "paidFen": 10_000,
                "reservedFen": 5_050,
            },
        ),
    ]
    assert world.record(inv) == (5_050, 10_000, 25_050, True)


def test_voiding_with_only_a_reservation_requires_a_clawback(world: World) -> None:
    inv = world.batch_b.invoices[0]
    world.reserve(world.payer_b, reservation(inv, claim_id("B-1"), 4_200))
    events = world.ledger.transact_events(void_call(world, inv, ZERO32), world.hospital_b)
    assert [e.name for e in events] == ["InvoiceVoided", "ClawbackRequired"]
    assert events[1].args == {
        "fingerprint": inv.fingerprint,
        "institutionId": HOSPITAL_B,
        "paidFen": 0,
        "reservedFen": 4_200,
    }


def test_voiding_after_everything_was_released_requires_no_clawback(world: World) -> None:
    inv = world.batch_b.invoices[0]
    world.reserve(world.payer_b, reservation(inv, claim_id("B-1"), 4_200))
    world.ledger.send(world.fn.release(claim_id("B-1")), world.payer_b)
    events = world.ledger.transact_events(void_call(world, inv, ZERO32), world.hospital_b)
    assert [e.name for e in events] == ["InvoiceVoided"]


# Fingerprints are public (printed in the QR code), so any hospital M can anchor a leaf
# carrying hospital V's fingerprint, with any total. The ledger therefore keeps an
# invoice's state per (issuing hospital, fingerprint), and a payer names the issuer of the
# invoice header it verified: the batch must have been anchored by that hospital. M's copy
# of the fingerprint is M's own record; it can neither void V's invoice nor lift its cap.


def test_a_hospital_voiding_a_copy_of_anothers_fingerprint_voids_only_its_own_record(
    world: World,
) -> None:
    victim = world.batch_a.invoices[0]  # hospital A's, 10_000 fen
    world.reserve(world.payer_a, reservation(victim, claim_id("A-1"), 4_000))
    rogue = batch_of([(victim.fingerprint, 1_000_000)], issuer=HOSPITAL_B).invoices[0]
    world.ledger.send(world.fn.anchorBatch(rogue.root, 1), world.hospital_b)
    # voiding A's leaf in A's batch is refused, as ever
    world.ledger.assert_reverts(
        void_call(world, victim),
        world.hospital_b,
        "NotIssuingHospital",
        victim.fingerprint,
        HOSPITAL_A,
        HOSPITAL_B,
    )
    # voiding its own leaf goes through, but voids hospital B's record only: nothing was
    # reserved against that one, so there is nothing to claw back
    reason = member_id("rogue")
    events = world.ledger.transact_events(void_call(world, rogue, reason), world.hospital_b)
    assert events == [
        Event(
            "InvoiceVoided",
            {
                "fingerprint": victim.fingerprint,
                "institutionId": HOSPITAL_B,
                "batchRoot": rogue.root,
                "reason": reason,
            },
        )
    ]
    assert world.record(rogue) == (0, 0, 0, True)
    assert world.record(victim) == (4_000, 0, 10_000, False)

    # A's invoice is still reimbursed: new reservations and the earlier one's payment
    world.reserve(world.payer_b, reservation(victim, claim_id("B-1"), 6_000))
    events = world.ledger.transact_events(world.fn.finalize(claim_id("A-1")), world.payer_a)
    assert events == [stamp("ReimbursementFinalized", victim, PAYER_A, claim_id("A-1"), 4_000)]
    assert world.record(victim) == (6_000, 4_000, 10_000, False)
    # B's voided copy is refused to a payer naming B, and cannot pass for A's invoice
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(rogue, claim_id("B-2"), 1)),
        world.payer_b,
        "InvoiceIsVoided",
        victim.fingerprint,
    )
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(rogue, claim_id("B-2"), 1, issuer=HOSPITAL_A)),
        world.payer_b,
        "IssuerMismatch",
        rogue.root,
        HOSPITAL_A,
        HOSPITAL_B,
    )
    # and A itself can still void its invoice, with the clawback of A's record
    events = world.ledger.transact_events(void_call(world, victim, reason), world.hospital_a)
    assert events == [
        Event(
            "InvoiceVoided",
            {
                "fingerprint": victim.fingerprint,
                "institutionId": HOSPITAL_A,
                "batchRoot": victim.root,
                "reason": reason,
            },
        ),
        Event(
            "ClawbackRequired",
            {
                "fingerprint": victim.fingerprint,
                "institutionId": HOSPITAL_A,
                "paidFen": 4_000,
                "reservedFen": 6_000,
            },
        ),
    ]
    assert world.record(victim) == (6_000, 4_000, 10_000, True)
    assert world.record(rogue) == (0, 0, 0, True)


def test_a_second_leaf_with_a_larger_total_cannot_lift_the_cap(world: World) -> None:
    victim = world.batch_a.invoices[2]  # hospital A's, 300 fen, fully reserved below
    world.reserve(world.payer_a, reservation(victim, claim_id("A-1"), 300))
    inflated = batch_of([(victim.fingerprint, 30_000)], issuer=HOSPITAL_B).invoices[0]
    world.ledger.send(world.fn.anchorBatch(inflated.root, 1), world.hospital_b)

    # naming the real issuer A needs A's batch: B's leaf is refused, singly or batched ...
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(inflated, claim_id("B-1"), 29_700, issuer=HOSPITAL_A)),
        world.payer_b,
        "IssuerMismatch",
        inflated.root,
        HOSPITAL_A,
        HOSPITAL_B,
    )
    call = world.fn.reserveMany([reservation(inflated, claim_id("B-1"), 29_700, issuer=HOSPITAL_A)])
    assert call.call({"from": world.payer_b}) == 0
    assert world.ledger.transact_events(call, world.payer_b) == [
        refused(world, PAYER_B, claim_id("B-1"), "IssuerMismatch")
    ]
    # ... and A's batch holds no leaf with the inflated total
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(victim, claim_id("B-1"), 29_700, total=30_000)),
        world.payer_b,
        "InvalidInclusionProof",
        victim.root,
        victim.fingerprint,
    )
    # so A's invoice stays capped at its 300 fen
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(victim, claim_id("B-1"), 1)),
        world.payer_b,
        "ReimbursementExceedsTotal",
        victim.fingerprint,
        1,
        0,
    )
    assert world.record(victim) == (300, 0, 300, False)

    # a payer that names B (as B's invoice header would) reserves against B's own record,
    # which shares nothing with A's
    world.reserve(world.payer_b, reservation(inflated, claim_id("B-1"), 29_700))
    assert world.claim(PAYER_B, claim_id("B-1"))[:5] == (
        victim.fingerprint,
        29_700,
        4,
        2,  # hospital B's registry index
        RESERVED,
    )
    assert world.record(inflated) == (29_700, 0, 30_000, False)
    assert world.record(victim) == (300, 0, 300, False)
    world.ledger.send(world.fn.finalize(claim_id("A-1")), world.payer_a)
    world.ledger.send(world.fn.release(claim_id("B-1")), world.payer_b)
    assert world.record(victim) == (0, 300, 300, False)
    assert world.record(inflated) == (0, 0, 30_000, False)


# The issuer itself may anchor its own fingerprint again, in another batch, with another
# total. Payers check the header's total against the leaf's off chain, but the chain does
# not rely on that: the first reservation pins the total in the invoice record, and every
# later reservation must state the same total (TotalMismatch otherwise).


def reanchor(world: World, inv: Invoice, total: int, *, label: str = "again") -> Invoice:
    """``inv``'s fingerprint anchored again by its own issuer, in a new batch, with ``total``."""
    sender = {HOSPITAL_A: world.hospital_a, HOSPITAL_B: world.hospital_b}[inv.issuer]
    leaves = [(inv.fingerprint, total), (fingerprint(f"{label} filler {total}"), 1)]
    again = batch_of(leaves, issuer=inv.issuer).invoices[0]
    world.ledger.send(world.fn.anchorBatch(again.root, 2), sender)
    return again


def test_the_first_reservation_pins_the_total(world: World) -> None:
    inv = world.batch_a.invoices[1]  # 25_050 fen
    assert world.record(inv) == (0, 0, 0, False)
    world.reserve(world.payer_a, reservation(inv, claim_id("A-1"), 50))
    assert world.record(inv) == (50, 0, 25_050, False)
    # the same leaf in another batch of the issuer is the same invoice, for any payer
    same = reanchor(world, inv, inv.total)
    events = world.reserve(world.payer_b, reservation(same, claim_id("B-1"), 25_000))
    assert events == [stamp("ReimbursementReserved", same, PAYER_B, claim_id("B-1"), 25_000)]
    assert world.record(inv) == (25_050, 0, 25_050, False)
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(same, claim_id("B-2"), 1)),
        world.payer_b,
        "ReimbursementExceedsTotal",
        inv.fingerprint,
        1,
        0,
    )


@pytest.mark.parametrize("stated", [30_000, 299], ids=["larger", "smaller"])
def test_re_anchoring_with_another_total_cannot_move_the_issuers_own_cap(
    world: World, stated: int
) -> None:
    inv = world.batch_a.invoices[2]  # hospital A's, 300 fen, fully reserved below
    world.reserve(world.payer_a, reservation(inv, claim_id("A-1"), 300))
    other = reanchor(world, inv, stated)
    lift = max(stated - 300, 1)  # what the other total would leave to reserve
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(other, claim_id("B-1"), lift)),
        world.payer_b,
        "TotalMismatch",
        inv.fingerprint,
        300,
        stated,
    )
    # batched, the item is refused with the error's selector, and nothing else happens
    call = world.fn.reserveMany(
        [
            reservation(other, claim_id("B-1"), lift),
            reservation(inv, claim_id("B-2"), 1),
        ]
    )
    assert call.call({"from": world.payer_b}) == 0
    assert world.ledger.transact_events(call, world.payer_b) == [
        refused(world, PAYER_B, claim_id("B-1"), "TotalMismatch"),
        refused(world, PAYER_B, claim_id("B-2"), "ReimbursementExceedsTotal"),
    ]
    assert world.record(inv) == (300, 0, 300, False)
    for never in ("B-1", "B-2"):
        assert world.claim(PAYER_B, claim_id(never))[4] == 0

    # released claims keep the pin: with nothing reserved or paid, the total stays 300
    world.ledger.send(world.fn.release(claim_id("A-1")), world.payer_a)
    assert world.record(inv) == (0, 0, 300, False)
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(other, claim_id("B-1"), 1)),
        world.payer_b,
        "TotalMismatch",
        inv.fingerprint,
        300,
        stated,
    )
    call = world.fn.reserveMany([reservation(other, claim_id("B-1"), 1)])
    assert world.ledger.transact_events(call, world.payer_b) == [
        refused(world, PAYER_B, claim_id("B-1"), "TotalMismatch")
    ]
    # the pinned leaf still reserves, up to its total
    events = world.reserve(world.payer_b, reservation(inv, claim_id("B-3"), 300))
    assert events == [stamp("ReimbursementReserved", inv, PAYER_B, claim_id("B-3"), 300)]
    assert world.record(inv) == (300, 0, 300, False)


def test_whichever_leaf_is_reserved_first_pins_its_total(world: World) -> None:
    """The chain cannot tell which of the issuer's leaves is the true one; the first wins
    (the payer who reserved first checked it against the invoice header)."""
    inv = world.batch_b.invoices[0]  # 4_200 fen
    larger = reanchor(world, inv, 42_000)
    world.reserve(world.payer_b, reservation(larger, claim_id("B-1"), 5_000))
    assert world.record(inv) == (5_000, 0, 42_000, False)
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(inv, claim_id("A-1"), 1)),
        world.payer_a,
        "TotalMismatch",
        inv.fingerprint,
        42_000,
        4_200,
    )


def test_the_total_is_checked_after_the_void_and_before_the_amount(world: World) -> None:
    """..., proof, void, pinned total, amount, what is left."""
    inv, ledger = world.batch_a.invoices[0], world.ledger  # 10_000 fen
    world.reserve(world.payer_a, reservation(inv, claim_id("used"), 1))
    other = reanchor(world, inv, 20_000)

    def refusal(invoice: Invoice, amount: int, **forged: Any) -> Any:
        call = world.fn.reserve(reservation(invoice, claim_id("C1"), amount, **forged))
        return ledger.revert_of(call, world.payer_a)

    for amount in (0, 1, 10_000, 20_000, UINT80_MAX + 1):
        assert refusal(other, amount) == ("TotalMismatch", (inv.fingerprint, 10_000, 20_000))
    # a total no leaf states is a forged leaf, whatever was pinned
    assert refusal(inv, 1, total=20_000) == ("InvalidInclusionProof", (inv.root, inv.fingerprint))
    ledger.send(void_call(world, inv), world.hospital_a)
    assert refusal(other, 1) == ("InvoiceIsVoided", (inv.fingerprint,))


def test_a_void_neither_checks_nor_pins_the_total(world: World) -> None:
    """A void only takes money out of reach: the issuer may prove any of its leaves."""
    reason = member_id("red-letter")
    fresh = world.batch_a.invoices[3]  # 99_999 fen, never reserved
    other = reanchor(world, fresh, 5)
    events = world.ledger.transact_events(void_call(world, other, reason), world.hospital_a)
    assert events == [
        Event(
            "InvoiceVoided",
            {
                "fingerprint": fresh.fingerprint,
                "institutionId": HOSPITAL_A,
                "batchRoot": other.root,
                "reason": reason,
            },
        )
    ]
    assert world.record(fresh) == (0, 0, 0, True)

    stamped = world.batch_a.invoices[1]  # 25_050 fen
    world.reserve(world.payer_a, reservation(stamped, claim_id("A-1"), 1_000))
    world.ledger.send(world.fn.finalize(claim_id("A-1")), world.payer_a)
    world.reserve(world.payer_b, reservation(stamped, claim_id("B-1"), 50))
    other = reanchor(world, stamped, 99)
    events = world.ledger.transact_events(void_call(world, other, reason), world.hospital_a)
    assert events == [
        Event(
            "InvoiceVoided",
            {
                "fingerprint": stamped.fingerprint,
                "institutionId": HOSPITAL_A,
                "batchRoot": other.root,
                "reason": reason,
            },
        ),
        Event(
            "ClawbackRequired",
            {
                "fingerprint": stamped.fingerprint,
                "institutionId": HOSPITAL_A,
                "paidFen": 1_000,
                "reservedFen": 50,
            },
        ),
    ]
    assert world.record(stamped) == (50, 1_000, 25_050, True)


def test_the_invoice_record_is_one_storage_slot(world: World) -> None:
    """reservedFen | paidFen << 80 | totalFen << 160 | voided << 240, in a single word."""
    inv = world.batch_a.invoices[1]  # 25_050 fen
    world.reserve(world.payer_a, reservation(inv, claim_id("A-1"), 25_000))
    world.ledger.send(world.fn.finalize(claim_id("A-1")), world.payer_a)
    world.reserve(world.payer_b, reservation(inv, claim_id("B-1"), 50))
    world.ledger.send(void_call(world, inv), world.hospital_a)
    assert world.record(inv) == (50, 25_000, 25_050, True)

    invoice_key = keccak256(abi_encode(["uint32", "bytes32"], [1, inv.fingerprint]))

    def word(slot: int) -> int:
        return int.from_bytes(world.w3.eth.get_storage_at(world.address, slot), "big")

    # the mapping's own slot number is not part of the interface: find it
    slots = [
        int.from_bytes(keccak256(invoice_key + p.to_bytes(32, "big")), "big") for p in range(32)
    ]
    found = [slot for slot in slots if word(slot) != 0]
    assert len(found) == 1
    assert word(found[0]) == 50 | 25_000 << 80 | 25_050 << 160 | 1 << 240
    assert word(found[0] + 1) == 0


@pytest.mark.parametrize(
    "named", [HOSPITAL_B, UNKNOWN, PAYER_A, ZERO32], ids=["other", "unknown", "payer", "zero"]
)
def test_reserve_needs_the_batch_of_the_named_issuer(world: World, named: bytes) -> None:
    inv = world.batch_a.invoices[1]
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(inv, claim_id("C1"), 1, issuer=named)),
        world.payer_a,
        "IssuerMismatch",
        inv.root,
        named,
        HOSPITAL_A,
    )
    assert world.claim(PAYER_A, claim_id("C1"))[4] == 0
    assert world.record(inv) == (0, 0, 0, False)


def test_reserve_checks_the_issuer_after_the_batch_and_before_the_leaf(world: World) -> None:
    """ClaimAlreadyExists, BatchNotAnchored, IssuerMismatch, then proof, void, amount."""
    inv, ledger = world.batch_a.invoices[0], world.ledger
    world.reserve(world.payer_a, reservation(inv, claim_id("used"), 1))

    def refusal(claim: str, invoice: Invoice = inv, amount: int = 1, **forged: Any) -> Any:
        call = world.fn.reserve(reservation(invoice, claim_id(claim), amount, **forged))
        return ledger.revert_of(call, world.payer_a)

    mismatch = ("IssuerMismatch", (inv.root, HOSPITAL_B, HOSPITAL_A))
    assert refusal("used", issuer=HOSPITAL_B) == ("ClaimAlreadyExists", (PAYER_A, claim_id("used")))
    unanchored = make_batch("never anchored", [inv.total], issuer=HOSPITAL_A).invoices[0]
    assert refusal("C1", unanchored, issuer=HOSPITAL_B) == ("BatchNotAnchored", (unanchored.root,))
    for forged in ({"total": inv.total + 1}, {"proof": ()}, {}):
        for amount in (0, 1, inv.total + 1):
            assert refusal("C1", amount=amount, issuer=HOSPITAL_B, **forged) == mismatch
    # B's own batch named as B's passes the issuer check, then fails on the leaf
    assert refusal("C1", issuer=HOSPITAL_B, root=world.batch_b.root) == (
        "InvalidInclusionProof",
        (world.batch_b.root, inv.fingerprint),
    )
    ledger.send(void_call(world, inv), world.hospital_a)
    assert refusal("C1", issuer=HOSPITAL_B) == mismatch
    assert refusal("C1", amount=0) == ("InvoiceIsVoided", (inv.fingerprint,))


def test_invoice_record_is_read_per_issuing_hospital(world: World) -> None:
    inv = world.batch_a.invoices[0]
    for not_a_hospital in (PAYER_A, UNKNOWN, ZERO32):
        assert world.ledger.revert_of(
            world.fn.invoiceRecord(not_a_hospital, inv.fingerprint), world.outsider
        ) == ("UnknownMember", (not_a_hospital,))
    world.reserve(world.payer_a, reservation(inv, claim_id("C1"), 100))
    assert world.record(inv) == (100, 0, 10_000, False)
    assert world.record(inv, HOSPITAL_B) == (0, 0, 0, False)  # B never issued it
    assert world.record(Invoice(fingerprint("never"), 1, ZERO32, ()), HOSPITAL_A) == (0, 0, 0, False)


# =========================================================================== reimbursement


def test_reserve_then_finalize(world: World) -> None:
    inv = world.batch_a.invoices[0]  # 10_000 fen
    claim = claim_id("2025-000001")
    receipt = world.ledger.send(world.fn.reserve(reservation(inv, claim, 6_000)), world.payer_a)
    print(f"\nreserve gas: {receipt.gasUsed}")
    assert world.ledger.events(receipt) == [
        Event(
            "ReimbursementReserved",
            {
                "fingerprint": inv.fingerprint,
                "payerId": PAYER_A,
                "claimId": claim,
                "institutionId": HOSPITAL_A,
                "amountFen": 6_000,
            },
        )
    ]
    assert world.record(inv) == (6_000, 0, 10_000, False)
    # Claim(fingerprint, amountFen, payer index, issuing hospital index, status, updatedAt)
    assert world.claim(PAYER_A, claim) == (
        inv.fingerprint,
        6_000,
        3,
        1,
        RESERVED,
        world.timestamp(receipt),
    )

    receipt = world.ledger.send(world.fn.finalize(claim), world.payer_a)
    print(f"finalize gas: {receipt.gasUsed}")
    assert world.ledger.events(receipt) == [
        Event(
            "ReimbursementFinalized",
            {
                "fingerprint": inv.fingerprint,
                "payerId": PAYER_A,
                "claimId": claim,
                "institutionId": HOSPITAL_A,
                "amountFen": 6_000,
            },
        )
    ]
    assert world.record(inv) == (0, 6_000, 10_000, False)
    assert world.claim(PAYER_A, claim) == (
        inv.fingerprint,
        6_000,
        3,
        1,
        FINALIZED,
        world.timestamp(receipt),
    )


def test_release_frees_the_reserved_amount(world: World) -> None:
    inv = world.batch_a.invoices[0]  # 10_000 fen
    world.reserve(world.payer_a, reservation(inv, claim_id("C1"), 10_000))
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(inv, claim_id("C2"), 1)),
        world.payer_b,
        "ReimbursementExceedsTotal",
        inv.fingerprint,
        1,
        0,
    )
    receipt = world.ledger.send(world.fn.release(claim_id("C1")), world.payer_a)
    assert world.ledger.events(receipt) == [
        Event(
            "ReimbursementReleased",
            {
                "fingerprint": inv.fingerprint,
                "payerId": PAYER_A,
                "claimId": claim_id("C1"),
                "institutionId": HOSPITAL_A,
                "amountFen": 10_000,
            },
        )
    ]
    assert world.record(inv) == (0, 0, 10_000, False)
    assert world.claim(PAYER_A, claim_id("C1"))[4:] == (RELEASED, world.timestamp(receipt))
    # the whole total is available again, to any payer
    world.reserve(world.payer_b, reservation(inv, claim_id("C2"), 10_000))


def test_the_total_is_shared_by_all_payers(world: World) -> None:
    inv = world.batch_a.invoices[1]  # 25_050 fen
    world.reserve(world.payer_a, reservation(inv, claim_id("A-1"), 20_000))
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(inv, claim_id("B-1"), 5_051)),
        world.payer_b,
        "ReimbursementExceedsTotal",
        inv.fingerprint,
        5_051,
        5_050,
    )
    world.reserve(world.payer_b, reservation(inv, claim_id("B-1"), 5_000))
    world.ledger.send(world.fn.finalize(claim_id("A-1")), world.payer_a)
    # paid and reserved both count
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(inv, claim_id("A-2"), 51)),
        world.payer_a,
        "ReimbursementExceedsTotal",
        inv.fingerprint,
        51,
        50,
    )
    world.reserve(world.payer_a, reservation(inv, claim_id("A-2"), 50))
    assert world.record(inv) == (5_050, 20_000, 25_050, False)
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(inv, claim_id("B-2"), 1)),
        world.payer_b,
        "ReimbursementExceedsTotal",
        inv.fingerprint,
        1,
        0,
    )
    # payer B's release frees exactly its part
    world.ledger.send(world.fn.release(claim_id("B-1")), world.payer_b)
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(inv, claim_id("B-2"), 5_001)),
        world.payer_b,
        "ReimbursementExceedsTotal",
        inv.fingerprint,
        5_001,
        5_000,
    )
    world.reserve(world.payer_b, reservation(inv, claim_id("B-2"), 5_000))
    assert world.record(inv) == (5_050, 20_000, 25_050, False)


def test_a_voided_invoice_is_never_reimbursed(world: World) -> None:
    inv = world.batch_a.invoices[0]
    world.reserve(world.payer_a, reservation(inv, claim_id("A-1"), 1_000))
    world.ledger.send(void_call(world, inv), world.hospital_a)

    world.ledger.assert_reverts(
        world.fn.reserve(reservation(inv, claim_id("B-1"), 1)),
        world.payer_b,
        "InvoiceIsVoided",
        inv.fingerprint,
    )
    # a reservation made before the void can no longer be paid, only released
    world.ledger.assert_reverts(
        world.fn.finalize(claim_id("A-1")), world.payer_a, "InvoiceIsVoided", inv.fingerprint
    )
    events = world.ledger.transact_events(world.fn.release(claim_id("A-1")), world.payer_a)
    assert [e.name for e in events] == ["ReimbursementReleased"]
    assert world.record(inv) == (0, 0, 10_000, True)


@pytest.mark.parametrize("amount", [0, UINT80_MAX + 1, 2**256 - 1])
def test_reserve_refuses_amounts_outside_the_counters(world: World, amount: int) -> None:
    inv = world.batch_a.invoices[0]
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(inv, claim_id("C1"), amount)),
        world.payer_a,
        "InvalidAmount",
        amount,
    )
    assert world.claim(PAYER_A, claim_id("C1"))[4] == 0


def test_reserve_needs_an_anchored_batch_and_a_valid_proof(world: World) -> None:
    inv, ledger = world.batch_a.invoices[3], world.ledger
    unanchored = make_batch("never anchored", [inv.total], issuer=HOSPITAL_A)
    ledger.assert_reverts(
        world.fn.reserve(reservation(unanchored.invoices[0], claim_id("C1"), 1)),
        world.payer_a,
        "BatchNotAnchored",
        unanchored.root,
    )
    # a payer cannot inflate the total, nor borrow another leaf's proof or another batch
    for forged in (
        {"total": inv.total + 1},
        {"proof": world.batch_a.invoices[0].proof},
        {"proof": ()},
        {"root": world.batch_b.root, "issuer": HOSPITAL_B},
    ):
        root = forged.get("root", inv.root)
        ledger.assert_reverts(
            world.fn.reserve(reservation(inv, claim_id("C1"), 1, **forged)),
            world.payer_a,
            "InvalidInclusionProof",
            root,
            inv.fingerprint,
        )
    # another hospital's batch, with the invoice's own issuer named, is refused before that
    ledger.assert_reverts(
        world.fn.reserve(reservation(inv, claim_id("C1"), 1, root=world.batch_b.root)),
        world.payer_a,
        "IssuerMismatch",
        world.batch_b.root,
        HOSPITAL_A,
        HOSPITAL_B,
    )
    assert world.record(inv) == (0, 0, 0, False)
    assert world.record(inv, HOSPITAL_B) == (0, 0, 0, False)


def test_claim_ids_are_unique_per_payer_and_namespaced_by_payer(world: World) -> None:
    inv = world.batch_a.invoices[1]
    claim = claim_id("2025-0042")
    world.reserve(world.payer_a, reservation(inv, claim, 100))
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(world.batch_b.invoices[0], claim, 1)),
        world.payer_a,
        "ClaimAlreadyExists",
        PAYER_A,
        claim,
    )
    # the same id is another claim for payer B
    events = world.reserve(world.payer_b, reservation(inv, claim, 200))
    assert events[0].args["payerId"] == PAYER_B
    assert world.claim(PAYER_A, claim)[:5] == (inv.fingerprint, 100, 3, 1, RESERVED)
    assert world.claim(PAYER_B, claim)[:5] == (inv.fingerprint, 200, 4, 1, RESERVED)
    assert world.record(inv) == (300, 0, 25_050, False)

    # a settled claim id stays used
    world.ledger.send(world.fn.release(claim), world.payer_a)
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(inv, claim, 100)),
        world.payer_a,
        "ClaimAlreadyExists",
        PAYER_A,
        claim,
    )
    # settling payer A's claim left payer B's alone
    assert world.claim(PAYER_B, claim)[4] == RESERVED


@pytest.mark.parametrize("settle", ["release", "finalize"])
def test_a_payer_cannot_settle_another_payers_claim(world: World, settle: str) -> None:
    inv = world.batch_a.invoices[0]
    claim = claim_id("A-only")
    world.reserve(world.payer_a, reservation(inv, claim, 500))
    world.ledger.assert_reverts(
        getattr(world.fn, settle)(claim), world.payer_b, "UnknownClaim", PAYER_B, claim
    )
    assert world.claim(PAYER_A, claim)[4] == RESERVED
    assert world.record(inv) == (500, 0, 10_000, False)


@pytest.mark.parametrize(
    ("first", "then", "status"),
    [
        ("release", "finalize", RELEASED),
        ("release", "release", RELEASED),
        ("finalize", "release", FINALIZED),
        ("finalize", "finalize", FINALIZED),
    ],
)
def test_only_a_reserved_claim_is_settled(world: World, first: str, then: str, status: int) -> None:
    inv = world.batch_a.invoices[0]
    claim = claim_id("C1")
    world.reserve(world.payer_a, reservation(inv, claim, 700))
    world.ledger.send(getattr(world.fn, first)(claim), world.payer_a)
    record = world.record(inv)
    world.ledger.assert_reverts(
        getattr(world.fn, then)(claim), world.payer_a, "ClaimNotReserved", PAYER_A, claim, status
    )
    assert world.record(inv) == record


@pytest.mark.parametrize("settle", ["release", "finalize"])
def test_settling_an_unknown_claim_is_refused(world: World, settle: str) -> None:
    world.ledger.assert_reverts(
        getattr(world.fn, settle)(claim_id("nope")),
        world.payer_a,
        "UnknownClaim",
        PAYER_A,
        claim_id("nope"),
    )


@pytest.mark.parametrize("caller", ["hospital_a", "outsider", "governance"])
def test_only_payer_keys_stamp(world: World, caller: str) -> None:
    sender = getattr(world, caller)
    r = reservation(world.batch_a.invoices[0], claim_id("C1"), 1)
    for call in (
        world.fn.reserve(r),
        world.fn.reserveMany([r]),
        world.fn.release(claim_id("C1")),
        world.fn.releaseMany([claim_id("C1")]),
        world.fn.finalize(claim_id("C1")),
        world.fn.finalizeMany([claim_id("C1")]),
    ):
        world.ledger.assert_reverts(
            call, sender, "AccessControlUnauthorizedAccount", sender, PAYER_ROLE
        )


def test_claim_of_needs_a_registered_payer(world: World) -> None:
    for not_a_payer in (HOSPITAL_A, UNKNOWN):
        assert world.ledger.revert_of(
            world.fn.claimOf(not_a_payer, claim_id("C1")), world.outsider
        ) == (
            "UnknownMember",
            (not_a_payer,),
        )
    assert world.claim(PAYER_A, claim_id("never")) == (ZERO32, 0, 0, 0, 0, 0)


def test_totals_beyond_the_counters_cannot_overflow_them(world: World) -> None:
    """A leaf may state any uint256 total; it counts as 2^80 - 1 fen, so reserved plus
    paid always fit the 80-bit counters, and that capped total is what gets pinned."""
    huge = make_batch("huge", [2**121], issuer=HOSPITAL_B)
    world.ledger.send(world.fn.anchorBatch(huge.root, 1), world.hospital_b)
    inv = huge.invoices[0]
    world.reserve(world.payer_a, reservation(inv, claim_id("C1"), UINT80_MAX))
    assert world.record(inv) == (UINT80_MAX, 0, UINT80_MAX, False)
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(inv, claim_id("C2"), 1)),
        world.payer_b,
        "ReimbursementExceedsTotal",
        inv.fingerprint,
        1,
        0,
    )
    call = world.fn.reserveMany([reservation(inv, claim_id("C2"), 1)])
    assert call.call({"from": world.payer_b}) == 0
    assert world.ledger.transact_events(call, world.payer_b) == [
        refused(world, PAYER_B, claim_id("C2"), "ReimbursementExceedsTotal")
    ]
    world.ledger.send(world.fn.finalize(claim_id("C1")), world.payer_a)
    assert world.record(inv) == (0, UINT80_MAX, UINT80_MAX, False)

    # B's other leaves of the fingerprint: any total beyond the counters is the same capped
    # total (and finds nothing left); a total within them is another one
    beyond, within = (
        batch_of([(inv.fingerprint, total), (fingerprint(f"filler {total}"), 1)], issuer=HOSPITAL_B)
        .invoices[0]
        for total in (2**256 - 1, UINT80_MAX - 1)
    )
    for other in (beyond, within):
        world.ledger.send(world.fn.anchorBatch(other.root, 2), world.hospital_b)
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(beyond, claim_id("C3"), 1)),
        world.payer_b,
        "ReimbursementExceedsTotal",
        inv.fingerprint,
        1,
        0,
    )
    world.ledger.assert_reverts(
        world.fn.reserve(reservation(within, claim_id("C3"), 1)),
        world.payer_b,
        "TotalMismatch",
        inv.fingerprint,
        UINT80_MAX,
        UINT80_MAX - 1,
    )
    assert world.record(inv) == (0, UINT80_MAX, UINT80_MAX, False)


# --------------------------------------------------------------------------- batched stamps


def refused(world: World, payer_id: bytes, claim: bytes, error: str) -> Event:
    return Event(
        "StampRefused",
        {"payerId": payer_id, "claimId": claim, "reason": world.ledger.selector(error)},
    )


def stamp(name: str, inv: Invoice, payer_id: bytes, claim: bytes, amount: int) -> Event:
    """A Reimbursement* event of ``inv``, whose record is its issuer's."""
    return Event(
        name,
        {
            "fingerprint": inv.fingerprint,
            "payerId": payer_id,
            "claimId": claim,
            "institutionId": inv.issuer,
            "amountFen": amount,
        },
    )


def test_reserve_many_skips_what_a_single_reserve_would_refuse(world: World) -> None:
    a0, a1, a2 = world.batch_a.invoices[:3]  # 10_000, 25_050, 300 fen
    b0 = world.batch_b.invoices[0]
    world.reserve(world.payer_a, reservation(a0, claim_id("old"), 1))
    world.ledger.send(void_call(world, b0), world.hospital_b)
    unanchored = make_batch("never anchored", [5], issuer=HOSPITAL_A)
    items = [
        reservation(a0, claim_id("ok-1"), 9_000),
        reservation(a1, claim_id("old"), 1),  # claim id used already
        reservation(unanchored.invoices[0], claim_id("no-batch"), 1),
        reservation(a1, claim_id("not-B"), 1, issuer=HOSPITAL_B),
        reservation(a1, claim_id("not-B-bad-proof"), 1, issuer=HOSPITAL_B, total=a1.total * 2),
        reservation(a1, claim_id("bad-proof"), 1, total=a1.total * 2),
        reservation(b0, claim_id("voided-not-A"), 1, issuer=HOSPITAL_A),
        reservation(b0, claim_id("voided"), 1),
        reservation(a2, claim_id("zero"), 0),
        reservation(a0, claim_id("too-much"), 1_000),  # 10_000 - 1 - 9_000 = 999 left
        reservation(a2, claim_id("ok-2"), 300),
        reservation(a2, claim_id("ok-2"), 1),  # duplicate within the batch
    ]
    call = world.fn.reserveMany(items)
    assert call.call({"from": world.payer_a}) == 2
    receipt = world.ledger.send(call, world.payer_a)
    assert world.ledger.events(receipt) == [
        stamp("ReimbursementReserved", a0, PAYER_A, claim_id("ok-1"), 9_000),
        refused(world, PAYER_A, claim_id("old"), "ClaimAlreadyExists"),
        refused(world, PAYER_A, claim_id("no-batch"), "BatchNotAnchored"),
        refused(world, PAYER_A, claim_id("not-B"), "IssuerMismatch"),
        refused(world, PAYER_A, claim_id("not-B-bad-proof"), "IssuerMismatch"),
        refused(world, PAYER_A, claim_id("bad-proof"), "InvalidInclusionProof"),
        refused(world, PAYER_A, claim_id("voided-not-A"), "IssuerMismatch"),
        refused(world, PAYER_A, claim_id("voided"), "InvoiceIsVoided"),
        refused(world, PAYER_A, claim_id("zero"), "InvalidAmount"),
        refused(world, PAYER_A, claim_id("too-much"), "ReimbursementExceedsTotal"),
        stamp("ReimbursementReserved", a2, PAYER_A, claim_id("ok-2"), 300),
        refused(world, PAYER_A, claim_id("ok-2"), "ClaimAlreadyExists"),
    ]
    assert world.record(a0) == (9_001, 0, 10_000, False)
    assert world.record(a1) == (0, 0, 0, False)
    assert world.record(a2) == (300, 0, 300, False)
    for never in ("too-much", "not-B", "not-B-bad-proof", "voided-not-A"):
        assert world.claim(PAYER_A, claim_id(never))[4] == 0
    assert world.claim(PAYER_A, claim_id("ok-2"))[1] == 300


def test_release_many_and_finalize_many_skip_unsettleable_claims(world: World) -> None:
    a0, a1 = world.batch_a.invoices[:2]
    b0 = world.batch_b.invoices[0]
    for claim, inv, amount in (
        ("r1", a0, 100),
        ("r2", a1, 200),
        ("f1", a0, 300),
        ("f2", b0, 400),
        ("f3", a1, 500),
    ):
        world.reserve(world.payer_a, reservation(inv, claim_id(claim), amount))
    world.reserve(world.payer_b, reservation(a0, claim_id("B-owned"), 50))
    world.ledger.send(world.fn.release(claim_id("r2")), world.payer_a)
    world.ledger.send(world.fn.finalize(claim_id("f3")), world.payer_a)
    world.ledger.send(void_call(world, b0), world.hospital_b)

    call = world.fn.releaseMany(
        [claim_id("r1"), claim_id("r2"), claim_id("f3"), claim_id("B-owned")]
    )
    assert call.call({"from": world.payer_a}) == 1
    assert world.ledger.transact_events(call, world.payer_a) == [
        stamp("ReimbursementReleased", a0, PAYER_A, claim_id("r1"), 100),
        refused(world, PAYER_A, claim_id("r2"), "ClaimNotReserved"),
        refused(world, PAYER_A, claim_id("f3"), "ClaimNotReserved"),
        refused(world, PAYER_A, claim_id("B-owned"), "UnknownClaim"),
    ]

    call = world.fn.finalizeMany(
        [claim_id("f1"), claim_id("f2"), claim_id("r1"), claim_id("nope"), claim_id("f1")]
    )
    assert call.call({"from": world.payer_a}) == 1
    receipt = world.ledger.send(call, world.payer_a)
    assert world.ledger.events(receipt) == [
        stamp("ReimbursementFinalized", a0, PAYER_A, claim_id("f1"), 300),
        refused(world, PAYER_A, claim_id("f2"), "InvoiceIsVoided"),
        refused(world, PAYER_A, claim_id("r1"), "ClaimNotReserved"),
        refused(world, PAYER_A, claim_id("nope"), "UnknownClaim"),
        refused(world, PAYER_A, claim_id("f1"), "ClaimNotReserved"),
    ]
    assert world.record(a0) == (50, 300, 10_000, False)
    assert world.record(a1) == (0, 500, 25_050, False)
    assert world.record(b0) == (400, 0, 4_200, True)
    assert world.claim(PAYER_B, claim_id("B-owned"))[4] == RESERVED


def test_empty_batched_stamps_do_nothing(world: World) -> None:
    for call in (world.fn.reserveMany([]), world.fn.releaseMany([]), world.fn.finalizeMany([])):
        assert call.call({"from": world.payer_a}) == 0
        assert world.ledger.transact_events(call, world.payer_a) == []


# =========================================================================== model check


@dataclass
class Model:
    """What the ledger should hold for one invoice, whichever payer stamps it."""

    #: the total the first reservation pinned (0: none yet)
    pinned: int = 0
    voided: bool = False
    #: whether hospital B voided its own copy of the fingerprint (its separate record)
    copy_voided: bool = False
    #: (payer, claim number) -> (amount, status)
    claims: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)

    def sum(self, status: int) -> int:
        return sum(a for a, s in self.claims.values() if s == status)


OPS = st.one_of(
    st.tuples(
        st.just("reserve"),
        st.integers(0, 1),
        st.integers(0, 5_000) | st.sampled_from([0, 10_000, 10_001]),
    ),
    st.tuples(st.sampled_from(["release", "finalize"]), st.integers(0, 1), st.integers(0, 3)),
    st.tuples(st.just("void"), st.just(0), st.just(0)),
    # hospital B's attack through its copy of the fingerprint: void it, or have a payer
    # reserve against it while naming hospital A
    st.tuples(st.just("copy-void"), st.just(0), st.just(0)),
    st.tuples(st.just("copy-reserve"), st.integers(0, 1), st.integers(1, 30_000)),
    # hospital A's own second leaf of the fingerprint, with a 20,000 fen total
    st.tuples(
        st.just("again-reserve"),
        st.integers(0, 1),
        st.integers(1, 10_000) | st.sampled_from([10_001, 20_000, 20_001]),
    ),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=1, max_size=8))
@example(
    ops=[
        ("reserve", 0, 6_000),
        ("reserve", 1, 4_001),
        ("reserve", 1, 4_000),
        ("finalize", 0, 0),
        ("release", 1, 0),
        ("reserve", 1, 4_000),
        ("void", 0, 0),
        ("finalize", 1, 1),
    ]
)
@example(
    ops=[
        ("reserve", 0, 9_000),
        ("copy-void", 0, 0),
        ("copy-reserve", 1, 21_000),
        ("reserve", 1, 1_000),
        ("finalize", 0, 0),
        ("copy-void", 0, 0),
        ("void", 0, 0),
        ("release", 1, 0),
    ]
)
@example(
    ops=[
        ("reserve", 0, 10_000),
        ("finalize", 0, 0),
        ("void", 0, 0),
        ("void", 0, 0),
        ("release", 0, 0),
    ]
)
# the attack: A's own second leaf cannot lift the cap that the first reservation pinned,
# even after every claim was released
@example(
    ops=[
        ("reserve", 0, 10_000),
        ("again-reserve", 1, 10_000),
        ("release", 0, 0),
        ("again-reserve", 1, 1),
        ("reserve", 1, 10_000),
        ("again-reserve", 0, 1),
    ]
)
# whichever leaf is reserved first pins its total
@example(
    ops=[
        ("again-reserve", 0, 20_001),
        ("again-reserve", 0, 15_000),
        ("reserve", 1, 1),
        ("again-reserve", 1, 5_000),
        ("again-reserve", 1, 1),
        ("finalize", 0, 0),
        ("void", 0, 0),
    ]
)
def test_reserved_plus_paid_never_exceeds_the_total(
    base: World, ops: list[tuple[str, int, int]]
) -> None:
    """Random reserve/release/finalize/void sequences by two payers agree with a model.

    Hospital B has anchored a copy of the invoice's fingerprint with a 30,000 fen total;
    whatever B does with it, hospital A's record follows the model of A's invoice alone.
    Hospital A has anchored the fingerprint a second time, with a 20,000 fen total: the
    total of whichever of A's leaves is reserved first is pinned, and the other is refused.
    """
    tester = base.w3.provider.ethereum_tester
    snapshot = tester.take_snapshot()
    try:
        _run_model(base, ops)
    finally:
        tester.revert_to_snapshot(snapshot)


def _run_model(world: World, ops: list[tuple[str, int, int]]) -> None:
    inv = world.batch_a.invoices[0]  # 10_000 fen
    copy = batch_of([(inv.fingerprint, 30_000)], issuer=HOSPITAL_B).invoices[0]
    world.ledger.send(world.fn.anchorBatch(copy.root, 1), world.hospital_b)
    again = reanchor(world, inv, 20_000)
    model = Model()
    payers = [(world.payer_a, PAYER_A), (world.payer_b, PAYER_B)]
    issued = [0, 0]  # claims issued per payer; claim k of payer p is C<p>-<k>
    for op, p, n in ops:
        account, payer_id = payers[p]
        expected: tuple[str, tuple[Any, ...]] | None
        if op == "void":
            call, sender = void_call(world, inv), world.hospital_a
            expected = ("InvoiceAlreadyVoided", (inv.fingerprint,)) if model.voided else None
        elif op == "copy-void":
            call, sender = void_call(world, copy), world.hospital_b
            expected = ("InvoiceAlreadyVoided", (inv.fingerprint,)) if model.copy_voided else None
        elif op == "copy-reserve":
            r = reservation(copy, claim_id(f"C{p}-{issued[p]}"), n, issuer=HOSPITAL_A)
            call, sender = world.fn.reserve(r), account
            expected = ("IssuerMismatch", (copy.root, HOSPITAL_A, HOSPITAL_B))
        elif op in ("reserve", "again-reserve"):
            leaf = inv if op == "reserve" else again
            claim = claim_id(f"C{p}-{issued[p]}")
            call, sender = world.fn.reserve(reservation(leaf, claim, n)), account
            available = max(0, leaf.total - model.sum(RESERVED) - model.sum(FINALIZED))
            if model.voided:
                expected = ("InvoiceIsVoided", (inv.fingerprint,))
            elif model.pinned not in (0, leaf.total):
                expected = ("TotalMismatch", (inv.fingerprint, model.pinned, leaf.total))
            elif n == 0:
                expected = ("InvalidAmount", (0,))
            elif n > available:
                expected = ("ReimbursementExceedsTotal", (inv.fingerprint, n, available))
            else:
                expected = None
                model.claims[p, issued[p]] = (n, RESERVED)
                model.pinned = leaf.total
                issued[p] += 1
        else:
            k = n % (issued[p] + 1)  # k == issued[p]: a claim id never used
            claim = claim_id(f"C{p}-{k}")
            call, sender = getattr(world.fn, op)(claim), account
            amount, status = model.claims.get((p, k), (0, 0))
            if status == 0:
                expected = ("UnknownClaim", (payer_id, claim))
            elif status != RESERVED:
                expected = ("ClaimNotReserved", (payer_id, claim, status))
            elif op == "finalize" and model.voided:
                expected = ("InvoiceIsVoided", (inv.fingerprint,))
            else:
                expected = None
                model.claims[p, k] = (amount, FINALIZED if op == "finalize" else RELEASED)
        if expected is None:
            world.ledger.send(call, sender)
            model.voided |= op == "void"
            model.copy_voided |= op == "copy-void"
        else:
            assert world.ledger.revert_of(call, sender) == expected
        reserved, paid, total, voided = world.record(inv)
        assert (reserved, paid, total, voided) == (
            model.sum(RESERVED),
            model.sum(FINALIZED),
            model.pinned,
            model.voided,
        )
        assert reserved + paid <= total
        assert world.record(copy) == (0, 0, 0, model.copy_voided)


# =========================================================================== gas


def test_gas_figures(world: World) -> None:
    """Print what the main operations cost; anchoring must stay one storage write per batch."""
    fn, ledger = world.fn, world.ledger
    figures: dict[str, int] = {}
    batches = [make_batch(f"gas-{i}", [i + 1] * 64, issuer=HOSPITAL_A) for i in range(12)]
    figures["anchorBatch (64 leaves)"] = ledger.send(
        fn.anchorBatch(batches[0].root, 64), world.hospital_a
    ).gasUsed
    one = ledger.send(
        fn.anchorSignedBatches([world.signed(world.hospital_a, batches[1])]), world.relayer
    ).gasUsed
    figures["anchorSignedBatches x1"] = one
    figures["anchorSignedBatches x10"] = ledger.send(
        fn.anchorSignedBatches([world.signed(world.hospital_b, b) for b in batches[2:]]),
        world.relayer,
    ).gasUsed
    inv = batches[0].invoices[5]
    r = reservation(inv, claim_id("G1"), 1)
    figures["reserve (6-step proof)"] = ledger.send(fn.reserve(r), world.payer_a).gasUsed
    figures["finalize"] = ledger.send(fn.finalize(claim_id("G1")), world.payer_a).gasUsed
    inv = batches[1].invoices[5]  # 2 fen: the first reservation pins the total
    ledger.send(fn.reserve(reservation(inv, claim_id("G2"), 1)), world.payer_a)
    r = reservation(inv, claim_id("G3"), 1)
    figures["reserve (6-step proof, pinned record)"] = ledger.send(fn.reserve(r), world.payer_a).gasUsed
    figures["release"] = ledger.send(fn.release(claim_id("G3")), world.payer_a).gasUsed
    many = [reservation(batches[0].invoices[i], claim_id(f"G-{i}"), 1) for i in range(10)]
    figures["reserveMany x10"] = ledger.send(fn.reserveMany(many), world.payer_b).gasUsed
    figures["finalizeMany x10"] = ledger.send(
        fn.finalizeMany([claim_id(f"G-{i}") for i in range(10)]), world.payer_b
    ).gasUsed
    print()
    for name, gas in figures.items():
        print(f"  {name:40s} {gas:>9,}")
    assert 45_000 <= figures["anchorBatch (64 leaves)"] <= 80_000
