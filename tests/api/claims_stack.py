"""A payer's claims service over HTTP for API tests: the upload stack plus claims.

Store (SQLite or PostgreSQL), embedded EVM, chain worker (ticked by the test), the
claims stamper running in a thread (as in ``ebill serve``), a simulated bank, an
e-voucher issuer, and every patient of the test data set enrolled with the payer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from api_stack import PEPPER, Stack, dataset, register_hospitals
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.adapters.bank import SimulatedBank
from ledger.adapters.chains import open_embedded
from ledger.adapters.sql.claims import ClaimStore
from ledger.adapters.sql.engine import upgrade
from ledger.adapters.sql.store import SqlStore
from ledger.app.access import SYSTEM
from ledger.app.chain_worker import ChainWorker
from ledger.app.claim_worker import ClaimStamper
from ledger.app.claims import ClaimsPolicy, ClaimsService
from ledger.app.live_calendar import LiveCalendar
from ledger.composition import ledger_service
from ledger.composition.settings import Settings
from ledger.evoucher import VoucherIssuer, VoucherVerifier
from ledger.records import Role
from ledger.rules import RuleBook

PAYER = "330600-ybj"
_ISSUER: list[VoucherIssuer] = []


def voucher_issuer() -> VoucherIssuer:
    if not _ISSUER:
        _ISSUER.append(VoucherIssuer.generate("test-evoucher"))
    return _ISSUER[0]


def category_of(national_id: str) -> str:
    """A stable, varied category per person (retired from 60, else employee or resident)."""
    born = int(national_id[6:10])
    if born <= 1964:
        return "retired"
    return "employee" if int(national_id[14:17]) % 3 else "resident"


@dataclass
class ClaimsStack(Stack):
    claims: ClaimsService = None  # type: ignore[assignment]
    stamper: ClaimStamper = None  # type: ignore[assignment]
    bank: SimulatedBank = None  # type: ignore[assignment]
    patients: dict[str, str] = field(default_factory=dict)   # fingerprint hex -> national id
    _thread: threading.Thread | None = None

    def citizen(self, national_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {voucher_issuer().mint(national_id)}"}

    def upload_all(self, who: str = "a") -> list[dict[str, Any]]:
        r = self.client.post("/v1/invoices", json=self.docs[who], headers=self.auth(who))
        assert r.status_code in (200, 201, 207), r.text
        self.worker.drain()
        items = r.json()["items"]
        for doc, item in zip(self.docs[who], items, strict=True):
            self.patients[item["invoice"]["fingerprint"]] = doc["patientId"]
        return items

    def claim(self, national_id: str, fingerprints: list[str], key: str, **body: Any) -> Any:
        return self.client.post("/v1/claims", json={"fingerprints": fingerprints, **body},
                                headers={**self.citizen(national_id), "Idempotency-Key": key})

    def stop(self) -> None:
        self.stamper.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.service.store.close()


def claims_fixture(*, every_database: bool = False, **options: Any) -> Any:
    """A pytest fixture yielding a :class:`ClaimsStack` made with ``options`` (see :func:`make_claims_stack`),
    on SQLite, or with ``every_database`` on each database the suite runs (``database_url``); a module
    names it, e.g. ``cs = claims_fixture(run_stamper=False)``. tests/api/conftest.py gives the plain ones."""
    if every_database:
        def on_each(database_url: str, tmp_path: Path) -> Iterator[ClaimsStack]:
            s = make_claims_stack(database_url, tmp_path, **options)
            yield s
            s.stop()
        return pytest.fixture(on_each)

    def on_sqlite(tmp_path: Path) -> Iterator[ClaimsStack]:
        s = make_claims_stack(f"sqlite:///{tmp_path}/ebill.sqlite", tmp_path, **options)
        yield s
        s.stop()
    return pytest.fixture(on_sqlite)


def make_claims_stack(url: str, tmp_path: Path, *, instant_max_fen: int = 50_000,
                      final_review_from_fen: int = 500_000, payer: str = PAYER, session: Any = None,
                      run_stamper: bool = True, rulebook: RuleBook | None = None, live_rules: bool = False,
                      signer: str | None = None, **settings_: Any) -> ClaimsStack:
    upgrade(url)
    store = SqlStore.open(url)
    service = ledger_service(store, pepper=PEPPER, passphrase="api test passphrase", signer=signer)
    session = session or open_embedded()
    service.bind_chain(session.ledger.chain_id, session.ledger.contract_address)
    worker = ChainWorker(service, session, max_age=timedelta(0))
    if live_rules:   # the rule office's active versions, as a deployment judges (seeded like a first start)
        from ledger.app.rule_office import LiveRuleBook
        from ledger.composition import open_rule_office

        open_rule_office(service, payer)
        rules: Any = LiveRuleBook(store, ttl=0.0)
    else:
        rules = rulebook or RuleBook.shipped()
    policy = ClaimsPolicy(payer_id=payer, rules=rules, instant_max_fen=instant_max_fen,
                          final_review_from_fen=final_review_from_fen)
    issuer = voucher_issuer()
    claims = ClaimsService(service, policy, store=ClaimStore(store), pepper=service.peppers,
                           chain_state=session.ledger.invoice_state,
                           voucher=VoucherVerifier(issuer.public_pem(), issuer="test-evoucher"),
                           # the loaded years, as deployed (seeded by create_app); ttl 0: a load counts at once
                           calendar=LiveCalendar(store, clock=service.clock, ttl=0.0))
    claims.register_payer(payer_id=payer, name=f"payer {payer}", by=SYSTEM)
    bank = SimulatedBank(tmp_path / f"bank-{payer}.sqlite")
    stamper = ClaimStamper(claims, session, bank)
    settings = Settings(home=tmp_path, db=url, chain="embedded", claim_wait=10.0, payer_id=payer, **settings_)
    client = TestClient(create_app(settings, service=service, chain=session.ledger, claims_service=claims),
                        raise_server_exceptions=False)
    ds = dataset()
    tokens, docs = register_hospitals(service)
    tokens["payer"] = service.create_credential(role=Role.PAYER, subject=payer, label="reviewer one")
    tokens["payer2"] = service.create_credential(role=Role.PAYER, subject=payer, label="reviewer two")
    tokens["payer3"] = service.create_credential(role=Role.PAYER, subject=payer, label="reviewer three")
    tokens["other-payer"] = service.create_credential(role=Role.PAYER, subject="P999999", label="another payer")
    tokens["auditor"] = service.create_credential(role=Role.AUDITOR, subject="audit-office")
    tokens["admin"] = service.create_credential(role=Role.ADMIN, subject="bureau")
    tokens["clerk"] = service.create_credential(role=Role.CLERK, subject=ds.hospitals[0].code, label="window 1")
    nids = sorted({d["patientId"] for ds_docs in docs.values() for d in ds_docs})
    claims.enrol([(n, f"person {n[-4:]}", category_of(n)) for n in nids], by=SYSTEM)
    s = ClaimsStack(service, session, worker, client, tokens, docs, claims=claims, stamper=stamper, bank=bank)
    if run_stamper:
        s._thread = threading.Thread(target=stamper.run_forever, name="stamper", daemon=True)
        s._thread.start()
    return s
