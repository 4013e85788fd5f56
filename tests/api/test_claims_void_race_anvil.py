"""A void and a claim in the same second, on anvil with 1 s blocks: the void that came first wins.

The payer's service runs as in ``ebill serve``: the chain worker and the claims stamper in
their own threads, the API answering a claim once the chain confirmed its reservation, a
claim up to any amount paid at once. The hospital voids the invoice through the same API.
Three orders, each on an invoice of its own:

- the void, then at once the claim: refused, nothing stored, nothing reserved;
- the claim, then the void while the reservation is being mined: the claim is refused and
  released before any payout;
- the claim answered (reserved, approved), then at once the void: the finalisation may be
  on its way; whichever of it and the void the chain took first, nothing is paid.

Afterwards the bank holds no payment for any of them, nothing stays reserved, and the
chain's paid figure for each invoice equals the database's (the claims' finalised stamps).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from claims_stack import ClaimsStack, make_claims_stack

from ledger.adapters import anvil
from ledger.adapters.anvil import AnvilConfig, AnvilNode, free_port
from ledger.adapters.chains import open_node
from ledger.errors import ToolchainError

pytestmark = pytest.mark.anvil

try:
    anvil.anvil_binary()
except ToolchainError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"no anvil binary: {exc}", allow_module_level=True)


class Race:
    """One payer's service on anvil (1 s blocks), its invoices, and the claimable ones not used yet."""

    def __init__(self, cs: ClaimsStack) -> None:
        self.cs = cs
        self.pool: list[tuple[str, str]] = []    # (fingerprint, national id): one per person
        self.hospital: dict[str, str] = {}        # fingerprint -> "a" or "b", its hospital's credential
        self._lock = threading.Lock()

    def take(self) -> tuple[str, str]:
        with self._lock:
            return self.pool.pop(0)

    def void(self, fp: str) -> float:
        r = self.cs.client.post(f"/v1/invoices/{fp}/void", json={"reason": "refund"},
                                headers=self.cs.auth(self.hospital[fp]))
        assert r.status_code in (200, 201, 202), r.text
        return time.monotonic()

    def claims_of(self, fp: str) -> list[Any]:
        return [c for c in self.cs.claims.store.claims(limit=1000) if c.fingerprint == bytes.fromhex(fp[2:])]

    def settled(self, fp: str, timeout: float = 20) -> list[Any]:
        """The invoice's claims once the void is on chain and no claim has chain work pending."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            detail = self.cs.client.get(f"/v1/invoices/{fp}", headers=self.cs.auth("payer")).json()
            claims = self.claims_of(fp)
            if detail["state"] == "voided" and all(c.chain_todo is None and c.state not in (
                    "submitted", "approved") for c in claims):
                return claims
            time.sleep(0.1)
        raise AssertionError(f"not settled within {timeout} s: {detail.get('state')}, {self.claims_of(fp)}")

    def assert_nothing_paid(self, fp: str, claims: list[Any]) -> None:
        """No bank payment, nothing reserved, and the chain's paid = the claims' finalised stamps."""
        payments = {p.request_id for p in self.cs.bank.payments()}
        assert not payments & {c.id for c in claims}, "paid a claim whose invoice's void came first"
        issuer = self.cs.service.store.sealed_invoice(bytes.fromhex(fp[2:])).invoice.issuer  # type: ignore[attr-defined]
        st = self.cs.session.ledger.invoice_state(issuer, bytes.fromhex(fp[2:]))
        assert st.voided and st.reserved_fen == 0, st
        assert st.paid_fen == sum(c.amount_fen for c in claims if c.stamp == "finalized"), (st, claims)


@pytest.fixture(scope="module")
def race(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Race]:
    home = tmp_path_factory.mktemp("race")
    with AnvilNode(AnvilConfig(data_dir=home / "node", port=free_port(), block_time=1)) as node:
        session = open_node("anvil", url=node.url, home=home, passphrase="anvil race test passphrase")
        cs = make_claims_stack(f"sqlite:///{home}/ebill.sqlite", home, session=session, instant_max_fen=10**9)
        worker = None
        try:
            r = Race(cs)
            for who in ("a", "b"):
                r.hospital.update({item["invoice"]["fingerprint"]: who for item in cs.upload_all(who)})
            worker = threading.Thread(target=cs.worker.run_forever, kwargs={"interval": 0.25}, daemon=True)
            worker.start()
            for fp, nid in cs.patients.items():
                if any(nid == n for _, n in r.pool):
                    continue
                listing = cs.client.get("/v1/me/invoices", headers=cs.citizen(nid)).json()["invoices"]
                if any(i["fingerprint"] == fp and i["claimable"] and i["estimateFen"] for i in listing):
                    r.pool.append((fp, nid))
            yield r
        finally:
            cs.worker.stop()
            if worker is not None:
                worker.join(timeout=10)
            cs.stop()


def test_void_then_claim_in_the_same_second(race: Race) -> None:
    fp, nid = race.take()
    t_void = race.void(fp)
    r = race.cs.claim(nid, [fp], "race-void-first")
    assert time.monotonic() - t_void < 1.0, "the claim did not follow the void within the second"
    assert r.status_code == 409 and "voided" in r.json()["detail"], r.text
    claims = race.settled(fp)
    assert claims == []
    race.assert_nothing_paid(fp, claims)


def test_claim_then_void_while_the_reservation_is_mined(race: Race) -> None:
    fp, nid = race.take()
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(race.cs.claim, nid, [fp], "race-claim-first")
        deadline = time.monotonic() + 5
        while not race.claims_of(fp) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert race.claims_of(fp), "the claim was not stored"
        race.void(fp)                                      # within milliseconds: the reservation is not mined
        r = answer.result(timeout=30)
    assert r.status_code in (201, 202), r.text
    claims = race.settled(fp)
    assert [(c.state, c.stamp) for c in claims] in ([("refused", "released")], [("refused", None)]), claims
    assert claims[0].refusal == "the hospital voided the invoice"
    race.assert_nothing_paid(fp, claims)


def test_void_right_after_the_claim_was_answered(race: Race) -> None:
    """The finalisation may already be on its way when the void arrives: the chain decides which
    came first, and either way the bank is not asked (a finalisation that won is kept on chain,
    and the claim is refused with nothing paid)."""
    fp, nid = race.take()
    r = race.cs.claim(nid, [fp], "race-answered-first")
    race.void(fp)
    assert r.status_code == 201, r.text
    assert r.json()["claims"][0]["state"] == "approved", r.json()
    claims = race.settled(fp)
    assert [c.state for c in claims] == ["refused"], claims
    print(f"void after the answer: the chain took the {'finalisation' if claims[0].stamp == 'finalized' else 'void'}"
          f" first; {claims[0].refusal}")
    race.assert_nothing_paid(fp, claims)
