"""``ebill serve``: the upload service in one command: the HTTP API (in this process or in API worker
processes), the chain worker, and for a payer the claims stamper, the citizens' messages' dispatcher and
the invoice mirror, each in a thread.

``--role`` splits it for several hosts on one PostgreSQL database: ``api`` serves HTTP only
(uploads, claims and voids go to the store's outboxes; verification reads the chain), ``worker``
runs the chain worker, the stamper, the dispatcher and the mirror without a listener, and ``all``
(the default) both. Any number of ``worker`` processes may run: each singleton worker acts only
while it leads its lease (:mod:`ledger.app.leader`), so one of them anchors, one stamps for each
payer and one dispatches; the others take over when it dies.

Every process logs JSON lines on stderr (:mod:`ledger.adapters.logs`; ``--log-format console``
for a person) and writes its metrics to ``$EBILL_HOME/metrics`` (emptied at start), which any
API worker adds up for ``GET /metrics`` (:mod:`ledger.adapters.metrics`)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Annotated, Any

import typer

from ledger.cli import compose
from ledger.cli import support as _cli
from ledger.cli.support import DbOpt, HomeOpt

log = logging.getLogger("ebill.serve")

ROLES = ("all", "api", "worker")


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command()(serve)


def serve(
    db: DbOpt = None, home: HomeOpt = None,
    chain: Annotated[str, typer.Option("--chain", help="anvil (managed local node) | rpc | embedded")] = "anvil",
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="JSON-RPC URL for --chain rpc")] = None,
    key: Annotated[str | None, typer.Option("--key", envvar="EBILL_CHAIN_KEY",
                                            help="unused: an RPC deployment is made by `ebill chain deploy`")] = None,
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="EBILL_PORT", help="listen port")] = 8000,
    workers: Annotated[int, typer.Option(min=0, max=32, help="API worker processes (0: one per CPU, at most 4)")] = 0,
    batch_max_leaves: Annotated[int, typer.Option(min=1, max=65536, help="close a batch at this many invoices")] = 1024,
    batch_max_age: Annotated[float, typer.Option(
        min=0.01, help="close a batch when its oldest invoice is this old (s)")] = 2.0,
    payer: Annotated[str | None, typer.Option(
        "--payer", envvar="EBILL_PAYER_ID", help="the payer this instance acts for (claims); 'none' for no claims "
                                                 "API (default 330600-ybj, the shipped rule sets' payer)")] = None,
    mirror_from: Annotated[str | None, typer.Option(
        "--mirror-from", envvar="EBILL_MIRROR_FROM",
        help="pull the hospitals' anchored invoices from this service (a payer's own instance)")] = None,
    mirror_token: Annotated[str | None, typer.Option(
        "--mirror-token", envvar="EBILL_MIRROR_TOKEN", help="payer credential at the --mirror-from service")] = None,
    log_format: Annotated[str | None, typer.Option(
        "--log-format", help="json (one object a line: the default, for a log pipeline) | console (for a person); "
                             "EBILL_LOG_FORMAT")] = None,
    role: Annotated[str, typer.Option(
        "--role", envvar="EBILL_ROLE",
        help="all: the API and the workers (default) | api: the HTTP API only | worker: the chain worker, "
             "stamper, notifier and mirror only, no listener (several on one PostgreSQL elect a leader each)")] = "all",
    ops_port: Annotated[int | None, typer.Option(
        "--ops-port", envvar="EBILL_OPS_PORT", min=1, max=65535,
        help="--role worker: serve /livez, /readyz and /metrics on this port (on --host), for probes and "
             "Prometheus")] = None,
) -> None:
    """Run the upload service: the HTTP API (OpenAPI at /docs) and the chain worker.

    Defaults need no set-up: SQLite in the data directory and a managed anvil node with
    persisted state (started here, stopped on exit if started here).
    """
    import faulthandler

    import uvicorn

    from ledger.app.chain_worker import ChainWorker
    from ledger.devtools.failpoints import arm_from_environment

    faulthandler.enable()  # a native crash in this process (chain worker, stamper, one API worker) shows its stack
    _stop_cleanly_on_sigterm()
    arm_from_environment()  # crash-safety tests (EBILL_FAILPOINTS) kill this process at named points
    started_node = False
    if log_format is not None and log_format not in ("json", "console"):
        _cli.fail("--log-format must be json or console", 2)
    if role not in ROLES:
        _cli.fail(f"--role must be one of {', '.join(ROLES)}, not {role!r}", 2)
    if chain == "embedded" and role != "all":
        _cli.fail("--chain embedded lives in this process: it serves with --role all only", 2)
    if ops_port is not None and role != "worker":
        _cli.fail("--ops-port is for --role worker: the API serves /livez, /readyz and /metrics on --port", 2)
    if mirror_from and not mirror_token:
        _cli.fail("--mirror-from needs --mirror-token (a payer credential at that service)", 2)
    api, workers_here = role in ("all", "api"), role in ("all", "worker")
    with _cli.errors():
        settings = compose.settings(home, db, chain=chain, rpc_url=rpc_url, chain_key=key,
                             batch_max_leaves=batch_max_leaves, batch_max_age=batch_max_age, log_format=log_format)
        if payer is not None:
            settings.payer_id = None if payer.lower() == "none" else payer
        # before anything imports prometheus_client: every process of this service writes its metrics there
        from ledger.adapters import metrics_dir
        from ledger.adapters.logs import configure as configure_logging

        metrics_dir.prepare(settings.home, role=role)
        configure_logging(fmt=settings.log_format, level=settings.log_level)
        service = compose.service(settings, metrics=True)
        if chain == "anvil" and not rpc_url:
            from ledger.adapters import anvil

            started_node = anvil.status(settings.home / "node") is None
        session = _cli.open_session(chain, rpc_url, key, settings.home, autostart=True,
                                    passphrase=settings.passphrase)
        if service.bind_chain(session.ledger.chain_id, session.ledger.contract_address):
            log.warning("the chain or contract changed since this store last ran: the chain worker rebuilds the "
                        "chain index and re-anchors")
    n = workers or (1 if chain == "embedded" else min(os.cpu_count() or 1, 4))
    if chain == "embedded" and n > 1:
        _cli.fail("--chain embedded lives in this process: it serves with one worker only", 2)
    worker = thread = stamper = notifier = mirror = None
    if workers_here:
        worker = ChainWorker(service, session, max_leaves=batch_max_leaves, max_age=_seconds(batch_max_age))
        thread = threading.Thread(target=worker.run_forever, kwargs={"interval": 0.25}, name="chain-worker",
                                  daemon=True)
        thread.start()
        stamper = _start_stamper(settings, service, session)
        notifier = _start_notifier(settings, stamper[0].claims) if stamper is not None else None
        if mirror_from:
            mirror = compose.invoice_mirror(service, session.ledger, source=mirror_from, token=mirror_token or "")
            threading.Thread(target=mirror.run_forever, name="invoice-mirror", daemon=True).start()
    where = (f"http://{host}:{port}/docs" if api else f"probes and metrics on http://{host}:{ops_port}"
             if ops_port is not None else "no listener")
    log.info(f"ebill serve --role {role}: {where}", extra={
        "role": role, "db": _cli.redacted(settings.db_url), "chain": session.name,
        "chain_id": session.ledger.chain_id, "contract": session.ledger.contract_address,
        "api_workers": n if api else 0, "metrics_dir": os.environ[metrics_dir.ENV]})
    try:
        if not api and ops_port is not None:
            uvicorn.run(compose.ops_app(settings, service=service), host=host, port=ops_port, log_level="warning",
                        log_config=None, access_log=False)
        elif not api:
            _wait_for_signal()
        elif n == 1:
            # (logging is configured above: uvicorn's own text handlers and access lines stay off)
            uvicorn.run(compose.api_app(settings, service=service, chain=session.ledger), host=host, port=port,
                        log_level="warning", log_config=None, access_log=False)
        else:
            from ledger.adapters.api_workers import run_api_workers

            _export_env(settings, rpc_url=_rpc_url_of(session))
            run_api_workers(compose.API_WORKER_APP, host=host, port=port, workers=n, report=_report_worker)
    finally:
        if mirror is not None:
            mirror.stop()
        if notifier is not None:
            notifier[0].stop()
            notifier[1].join(timeout=10)
        if stamper is not None:
            stamper[0].stop()
            stamper[1].join(timeout=30)
        if worker is not None and thread is not None:
            worker.stop()
            thread.join(timeout=30)
            worker.release()
        if started_node:
            from ledger.adapters import anvil

            anvil.stop_detached(settings.home / "node")


def _stop_cleanly_on_sigterm() -> None:
    """Make SIGTERM stop ``serve`` as Ctrl-C does, through its ``finally``, and exit 0.

    With one API worker, uvicorn's server catches SIGTERM, shuts down, puts back the handler
    it found and raises the signal again. Under the default handler that re-raise killed the
    process on the spot: the anvil node it had started kept running and the chain worker's
    lease stayed taken for its 60 s. With this handler the re-raise (or a SIGTERM during the
    set-up, before uvicorn runs) unwinds instead, as :class:`SystemExit`. With several workers
    uvicorn's supervisor handles the signal itself and returns.
    """
    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second SIGTERM does not cut the clean-up short
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


def _wait_for_signal() -> None:
    """``--role worker``: the threads work; the main thread sleeps until SIGTERM (:class:`SystemExit`,
    see :func:`_stop_cleanly_on_sigterm`) or Ctrl-C (:class:`KeyboardInterrupt`) unwinds it."""
    forever = threading.Event()
    try:
        while not forever.wait(3600):
            pass
    except KeyboardInterrupt:
        log.info("ebill serve: interrupted, stopping")


def _report_worker(message: str) -> None:
    """An API worker died: say so in the service's log (see ledger.adapters.api_workers)."""
    log.error(message)


def _start_stamper(settings: Any, service: Any, session: Any) -> tuple[Any, threading.Thread] | None:
    """The payer's claims stamper and payouts, in a thread (None when no payer is configured)."""
    from ledger.composition import open_stamper

    stamper = open_stamper(settings, service, session)
    if stamper is None:
        return None
    thread = threading.Thread(target=stamper.run_forever, name="claims-stamper", daemon=True)
    thread.start()
    return stamper, thread


def _start_notifier(settings: Any, claims: Any) -> tuple[Any, threading.Thread]:
    """The dispatcher of the citizens' messages, in a thread."""
    from ledger.composition import open_notifier

    notifier = open_notifier(settings, claims)
    thread = threading.Thread(target=notifier.run_forever, name="notifications", daemon=True)
    thread.start()
    return notifier, thread


def _rpc_url_of(session: Any) -> str | None:
    endpoint = getattr(session.ledger.w3.provider, "endpoint_uri", None)
    return str(endpoint) if endpoint else None


def _export_env(settings: Any, *, rpc_url: str | None) -> None:
    """API worker processes read their settings from the environment."""
    if rpc_url:
        os.environ["EBILL_RPC_URL"] = rpc_url  # read-only: POST /v1/verify reads the chain
    os.environ["EBILL_HOME"] = str(settings.home)
    os.environ["EBILL_DB"] = settings.db_url
    os.environ["EBILL_ENVIRONMENT"] = settings.environment
    os.environ["EBILL_PEPPER"] = settings.pepper_bytes().hex()
    os.environ["EBILL_KEYSTORE_PASSPHRASE"] = settings.passphrase()
    os.environ["EBILL_PAYER_ID"] = settings.payer_id or ""
    os.environ["EBILL_LOG_FORMAT"] = settings.log_format
    os.environ["EBILL_LOG_LEVEL"] = settings.log_level
    os.environ.setdefault("EBILL_API_NICE", "5")  # see api.app.app_from_env


def _seconds(value: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=value)
