"""The one composition root: which adapters the services run on.

``ebill serve``, the API workers, the other CLI commands and the tests build their
services here, and only here, from the settings: the services (``ledger/app``) depend on
ports (``ledger/ports.py``) and never construct an adapter themselves.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # (imported where used: the settings of a light CLI command should not load the chain)
    from ledger.adapters.sql.store import SqlStore
    from ledger.app.calendar_office import CalendarOffice
    from ledger.app.claim_worker import ClaimStamper
    from ledger.app.claims import ClaimsService
    from ledger.app.live_calendar import LiveCalendar
    from ledger.app.mirror import InvoiceMirror
    from ledger.app.notifier import NotificationDispatcher
    from ledger.app.peppers import PepperOffice
    from ledger.app.readiness import Readiness
    from ledger.app.rule_office import RuleOffice
    from ledger.app.service import LedgerService, PersonRelations
    from ledger.composition.settings import Settings
    from ledger.ports import NotificationDelivery, Telemetry
    from verifier.service import VerificationService


def ledger_service(store: SqlStore, *, pepper: bytes, passphrase: str,
                   relations: PersonRelations | None = None, signer: str | None = None,
                   metrics: bool = False) -> LedgerService:
    """The ledger's use cases over ``store``, with members' keys sealed under ``passphrase`` — or,
    when ``signer`` (``EBILL_SIGNER``) names a PKCS#11 token, new keys made on that token; with
    ``metrics``, reporting to the Prometheus families (:mod:`ledger.adapters.metrics`)."""
    from ledger.adapters.clock import SystemClock
    from ledger.adapters.custody import open_custody
    from ledger.adapters.keystore import StoreKeyVault
    from ledger.app.peppers import LivePeppers
    from ledger.app.service import LedgerService
    from ledger.app.telemetry import NO_TELEMETRY

    vault = StoreKeyVault(store, passphrase)
    # ``pepper`` (EBILL_PEPPER) is version 1; later versions are sealed in the store (ebill pepper rotate)
    return LedgerService(store, pepper=LivePeppers(store, vault, first=pepper), keys=open_custody(signer, vault),
                         clock=SystemClock(), relations=relations,
                         telemetry=prometheus_telemetry() if metrics else NO_TELEMETRY)


def pepper_office(service: LedgerService, settings: Settings) -> PepperOffice:
    """Rotating the pseudonym pepper of ``service``'s store (versions sealed under the keystore passphrase)."""
    from ledger.adapters.keystore import StoreKeyVault
    from ledger.app.peppers import LivePeppers, PepperOffice

    if not isinstance(service.peppers, LivePeppers):
        raise TypeError("the pepper is rotated in a service built by the composition root (ledger_service)")
    return PepperOffice(service.store, StoreKeyVault(service.store, settings.passphrase()), service.peppers)


def prometheus_telemetry() -> Telemetry:
    """The telemetry port on the Prometheus families (``ebill serve``'s processes)."""
    from ledger.adapters.metrics import PrometheusTelemetry

    return PrometheusTelemetry()


def open_service(settings: Settings, *, migrate: bool = True, metrics: bool = False) -> LedgerService:
    """The ledger's use cases over the settings' database (migrated to the newest schema first);
    ``metrics``: see :func:`ledger_service`."""
    from ledger.adapters.sql.engine import upgrade
    from ledger.adapters.sql.store import SqlStore

    if migrate:
        upgrade(settings.db_url)
    return ledger_service(SqlStore.open(settings.db_url), pepper=settings.pepper_bytes(),
                          passphrase=settings.passphrase(), signer=settings.signer, metrics=metrics)


def open_readiness(service: LedgerService) -> Readiness:
    """The readiness checks and health figures (``/readyz``, ``/v1/health``) of the service's store,
    against the newest migration this code ships."""
    from ledger.adapters.sql.engine import head_revision
    from ledger.adapters.sql.store import SqlStore
    from ledger.app.readiness import Readiness

    if not isinstance(service.store, SqlStore):
        raise TypeError(f"readiness reads a SQL store, not {type(service.store).__name__}")
    return Readiness(service.store, schema=head_revision(), clock=service.clock)


def open_claims(settings: Settings, service: LedgerService, chain: Any) -> ClaimsService | None:
    """The claims service of the payer this instance acts for (None without ``payer_id``), over
    the claims tables of the service's SQL store; ``chain`` (None: no chain reads) tells what an
    invoice has left on chain."""
    if not settings.payer_id:
        return None
    from ledger.adapters.sql.claims import ClaimStore
    from ledger.adapters.sql.store import SqlStore
    from ledger.app.claims import ClaimsPolicy, ClaimsService
    from ledger.app.rule_office import LiveRuleBook
    from ledger.claims.sampling import sample_key
    from ledger.evoucher import VoucherVerifier

    if not isinstance(service.store, SqlStore):
        raise TypeError(f"the claims tables live in a SQL store, not in {type(service.store).__name__}")
    pem = settings.voucher_public_pem()
    for gone in ("EBILL_SCHEMES", "EBILL_RULES_DIR"):
        if os.environ.get(gone):
            logging.getLogger("ledger").warning(
                "%s is set but no longer read: rule sets live in the payer's database (ebill rules) and each "
                "says what it applies to (appliesTo)", gone)
    open_rule_office(service, settings.payer_id)   # (seeds the shipped rule sets at a first start)
    open_calendar_office(service)                  # (seeds the shipped calendar years it lacks)
    pepper = settings.pepper_bytes()
    policy = ClaimsPolicy(payer_id=settings.payer_id, rules=LiveRuleBook(service.store),
                          instant_max_fen=settings.instant_max_fen,
                          final_review_from_fen=settings.final_review_from_fen,
                          post_audit_share_bp=settings.post_audit_share_bp, sample_key=sample_key(pepper))
    return ClaimsService(service, policy, store=ClaimStore(service.store), pepper=service.peppers,
                         chain_state=chain.invoice_state if chain is not None else None,
                         voucher=VoucherVerifier(pem, issuer=settings.voucher_issuer) if pem else None,
                         calendar=open_live_calendar(service))


def open_rule_office(service: LedgerService, payer_id: str | None) -> RuleOffice:
    """The rule office of the payer ``payer_id`` (this instance acts for), over the service's SQL store.

    The shipped rule sets are the seed data of a first start (the payer's own, active at once,
    audited as seed data); from then on the office (``ebill rules``, ``/v1/rules``) is the
    only way rules change.
    """
    from ledger.adapters.clock import SystemClock
    from ledger.adapters.sql.store import SqlStore
    from ledger.app.rule_office import RuleOffice
    from ledger.rules.book import shipped_documents

    if not isinstance(service.store, SqlStore):
        raise TypeError(f"the rule sets live in a SQL store, not in {type(service.store).__name__}")
    office = RuleOffice(service.store, clock=SystemClock(), payer_id=payer_id)
    if payer_id:
        office.seed(shipped_documents())
    return office


def open_calendar_office(service: LedgerService) -> CalendarOffice:
    """The working-day calendar's office over the service's SQL store.

    The shipped years (``ledger/calendar/data``) are seed data: at every start, those the
    database does not hold yet are loaded (all of them at a first start, a newer release's new
    years later); a year an operator loaded (``ebill calendar load``) is never overwritten.
    """
    from ledger.adapters.clock import SystemClock
    from ledger.adapters.sql.store import SqlStore
    from ledger.app.calendar_office import CalendarOffice
    from ledger.calendar import shipped_documents

    if not isinstance(service.store, SqlStore):
        raise TypeError(f"the calendar lives in a SQL store, not in {type(service.store).__name__}")
    office = CalendarOffice(service.store, clock=SystemClock())
    office.seed(shipped_documents())
    return office


def open_live_calendar(service: LedgerService, *, ttl: float = 1.0) -> LiveCalendar:
    """The working-day calendar of the loaded years, as every API worker and the claims service
    count with it: a year loaded anywhere is used within ``ttl`` seconds, without a restart."""
    from ledger.adapters.sql.store import SqlStore
    from ledger.app.live_calendar import LiveCalendar

    if not isinstance(service.store, SqlStore):
        raise TypeError(f"the calendar lives in a SQL store, not in {type(service.store).__name__}")
    return LiveCalendar(service.store, clock=service.clock, ttl=ttl)


def open_stamper(settings: Settings, service: LedgerService, session: Any) -> ClaimStamper | None:
    """The payer's claims stamper and payouts (None when no payer is configured), on the chain
    ``session`` and the simulated bank of development (``EBILL_BANK_PATH``).

    The configured payer is registered in the store on first start (a new chain account,
    sealed like hospitals' keys); the stamper registers it on chain.
    """
    from ledger.adapters.bank import SimulatedBank
    from ledger.app.access import SYSTEM
    from ledger.app.claim_worker import ClaimStamper
    from ledger.errors import Conflict, NotFound

    claims = open_claims(settings, service, session.ledger)
    if claims is None:
        return None
    try:
        claims.store.payer(claims.payer_id)
    except NotFound:
        # (Conflict: another worker process of this payer registered it at the same moment: its key stands)
        with contextlib.suppress(Conflict):
            claims.register_payer(payer_id=claims.payer_id, name=settings.payer_name, by=SYSTEM)
    return ClaimStamper(claims, session, SimulatedBank(settings.bank_path or settings.home / "bank.sqlite"))


def open_delivery(settings: Settings) -> NotificationDelivery:
    """The delivery adapter of the citizens' messages that ``settings.notify_adapter`` names."""
    from ledger.adapters.notify import delivery_adapter

    return delivery_adapter(settings.notify_adapter)


def open_notifier(settings: Settings, claims: ClaimsService) -> NotificationDispatcher:
    """The dispatcher of the citizens' messages (``ledger.app.notifier``) over the claims' outbox, with the
    delivery adapter ``settings.notify_adapter`` names. The development adapter sends nothing: in production
    that is said loudly at start, since citizens then get no messages."""
    from ledger.app.notifier import NotificationDispatcher

    adapter = open_delivery(settings)
    if settings.environment == "production" and not adapter.sends:
        logging.getLogger("ebill.notifications").warning(
            "NOTIFICATIONS: the %s adapter sends no messages; citizens' messages stay in the outbox "
            "(GET /v1/notifications) until an SMS gateway adapter is configured", adapter.channel)
    return NotificationDispatcher(claims.store, adapter, leases=claims.service.store, clock=claims.clock)


def open_mirror(service: LedgerService, chain: Any, *, source: str, token: str) -> InvoiceMirror:
    """A payer's mirror of the hospitals' anchored invoices: it pulls the batches ``source`` (another
    ebill service) serves with the payer credential ``token``, checks each against ``chain``, and
    stores them in this service's store."""
    from ledger.adapters.clock import SystemClock
    from ledger.adapters.feed_client import HttpBatchFeed
    from ledger.app.mirror import InvoiceMirror

    return InvoiceMirror(service.store, chain, HttpBatchFeed(source, token=token), source=source,
                         clock=SystemClock())


def read_only_chain(settings: Settings, service: LedgerService) -> Any:
    """A key-less view of the ledger contract this store serves (None if there is none)."""
    contract = service.store.get_meta("chain.contract")
    if not settings.rpc_url or not contract:
        return None
    from web3 import Web3

    from ledger.adapters.keyring import Keyring
    from ledger.adapters.web3_chain import Web3Ledger
    from ledger.errors import ChainUnavailable

    access = settings.rpc_access(settings.rpc_url)
    try:
        w3 = Web3(access.provider(timeout=10))
        return Web3Ledger(w3, address=contract, keyring=Keyring(), relayer="0x" + "00" * 20, access=access)
    except ChainUnavailable:
        return None


def open_verification(chain: Any, service: LedgerService, *,
                      offload: Callable[..., Awaitable[Any]]) -> VerificationService | None:
    """The verification service over ``chain`` (a :class:`~ledger.adapters.web3_chain.Web3Ledger`)
    and this store's proofs, its blocking reads run by ``offload`` (the web framework's thread
    pool); None without a chain."""
    if chain is None:
        return None
    from ledger.adapters.verify_chain import Web3VerifyingChain
    from verifier.service import VerificationService

    return VerificationService(chain=Web3VerifyingChain(chain), records=service, offload=offload)


__all__ = ["ledger_service", "open_calendar_office", "open_claims", "open_delivery", "open_live_calendar",
           "open_mirror", "open_notifier", "open_readiness", "open_rule_office", "open_service", "open_stamper",
           "open_verification", "pepper_office", "prometheus_telemetry", "read_only_chain"]
