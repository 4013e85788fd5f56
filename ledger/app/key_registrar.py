"""Putting hospitals' key changes on chain: binding pending keys, revoking revoking ones.

The governance (the relayer account of the deployment) is the only one the contract lets
bind (``addKey``) and revoke (``revokeKey``) keys, so this runs where its key is: in the
running service's chain worker, every tick, and in ``ebill hospital rotate-key`` /
``revoke-key``, which settle their own change at once. Both may run at the same time: each
step reads the chain first and treats "already bound" / "already revoked" as done, so
whichever comes second only records what the first did.

A key becomes the hospital's current key in the store only once the chain says it is bound
to that hospital, with the contract's ``addedAt``; a key is recorded revoked with the
contract's ``revokedAt``. The store never runs ahead of the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ledger.errors import ChainStateMismatch, ContractReverted
from ledger.hospital_keys import HospitalKey, KeyState
from ledger.ports import InvoiceStore, LedgerChain


@dataclass
class SettleReport:
    """What one round did: keys bound (now current), keys revoked, and what could not be done."""

    bound: list[HospitalKey] = field(default_factory=list)
    revoked: list[HospitalKey] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)   # not done yet, for a reason that passes (said why)
    #: keys the chain refuses for a reason that will not pass by itself (said why): the others go on
    refused: list[str] = field(default_factory=list)


class KeyRegistrar:
    """Brings the chain's registry in line with the store's key changes (the governance's side)."""

    def __init__(self, store: InvoiceStore, chain: LedgerChain, *, actor: str = "chain-worker") -> None:
        self.store = store
        self.chain = chain
        self.actor = actor

    def settle(self, *, institution_id: str | None = None) -> SettleReport:
        """Bind every pending key and revoke every revoking one (of ``institution_id`` only, if given).

        A key the chain refuses for good (bound to another member, a revert) is reported in
        ``refused`` and the others go on: one hospital's key never holds up another's, nor the
        anchoring of the chain worker that runs this. Raises :class:`~ledger.errors.ChainUnavailable`
        when the chain cannot be reached.
        """
        report = SettleReport()
        for key in self._todo(institution_id):
            if key.state is KeyState.PENDING:
                self._guarded(self._bind, key, report)
            elif key.state is KeyState.CURRENT:
                self._note_added(key)
        # a binding may have asked for the key it replaced to be revoked: revoke it in the same round
        for key in self._todo(institution_id):
            if key.state is KeyState.REVOKING:
                self._guarded(self._revoke, key, report)
        return report

    def _guarded(self, step: Callable[[HospitalKey, SettleReport], None], key: HospitalKey,
                 report: SettleReport) -> None:
        try:
            step(key, report)
        except (ChainStateMismatch, ContractReverted) as exc:
            report.refused.append(f"{key.institution_id}'s key {key.account} ({key.state.value}): {exc}")

    def _todo(self, institution_id: str | None) -> list[HospitalKey]:
        return [k for k in self.store.keys_to_settle() if institution_id is None or k.institution_id == institution_id]

    def _bind(self, key: HospitalKey, report: SettleReport) -> None:
        info = self.chain.account_info(key.account)
        if info.kind == "none":
            try:
                self.chain.add_key(key.institution_id, key.account)
            except ContractReverted as exc:
                if exc.error == "UnknownMember":   # the hospital itself is not registered yet (a fresh chain)
                    report.waiting.append(f"{key.institution_id}'s new key {key.account} waits for the hospital's "
                                          "registration on chain")
                    return
                if exc.error != "AccountAlreadyBound":   # (bound meanwhile by another registrar: read below)
                    raise
            info = self.chain.account_info(key.account)
        if info.member_id != key.institution_id or info.kind != "hospital" or info.revoked_at:
            raise ChainStateMismatch(
                f"{key.institution_id}'s new key {key.account} is bound on chain to {info.kind} "
                f"{info.member_id or '(none)'}{', revoked' if info.revoked_at else ''}: it cannot become the "
                "hospital's key; rotate again")
        report.bound.append(self.store.bind_key(key.account, added_at=info.added_at, actor=self.actor))

    def _note_added(self, key: HospitalKey) -> None:
        info = self.chain.account_info(key.account)
        if info.member_id == key.institution_id and info.added_at:
            self.store.note_added_at(key.account, info.added_at)

    def _revoke(self, key: HospitalKey, report: SettleReport) -> None:
        info = self.chain.account_info(key.account)
        if info.member_id != key.institution_id:
            raise ChainStateMismatch(f"{key.institution_id}'s key {key.account} is not bound to it on chain "
                                     f"({info.kind} {info.member_id or '(none)'}): it cannot be revoked for it")
        block = None
        if not info.revoked_at:
            try:
                block = self.chain.revoke_key(key.account).block_number
            except ContractReverted as exc:
                if exc.error != "KeyAlreadyRevoked":
                    raise
            info = self.chain.account_info(key.account)
        report.revoked.append(self.store.mark_key_revoked(key.account, revoked_at=info.revoked_at, block=block,
                                                          actor=self.actor))
