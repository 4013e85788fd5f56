"""``ebill serve``, ``hospital``, ``credential``, ``upload``, ``void``, ``reindex``, ``db``: the upload service's
commands."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli import support as _cli
from ledger.errors import ChainUnavailable, InvalidInput

hospital_app = typer.Typer(help="Hospitals: register (signing key + API token), list.", no_args_is_help=True)
credential_app = typer.Typer(help="API credentials for hospitals, payers, auditors, admins.", no_args_is_help=True)
db_app = typer.Typer(help="The service database (Alembic migrations).", no_args_is_help=True)

DbOpt = Annotated[str | None, typer.Option("--db", envvar="EBILL_DB",
                                           help="database URL (default: SQLite in the data directory; "
                                                "postgresql://user@host/db for PostgreSQL)")]
HomeOpt = Annotated[Path | None, typer.Option("--home", envvar="EBILL_HOME", help="data directory (default ~/.ebill)")]


def register(app: typer.Typer) -> None:
    """Add the service commands to the ``ebill`` app."""
    app.add_typer(hospital_app, name="hospital")
    app.add_typer(credential_app, name="credential")
    app.add_typer(db_app, name="db")
    app.command()(serve)
    app.command()(upload)
    app.command("void")(void)
    app.command()(reindex)


def _settings(home: Path | None, db: str | None, **extra: Any) -> Any:
    from ledger.app.settings import Settings

    values: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if home is not None:
        values["home"] = home.expanduser()
    if db is not None:
        values["db"] = db
    return Settings(**values)


def _service(settings: Any, *, migrate: bool = True) -> Any:
    from ledger.adapters.sql.engine import upgrade
    from ledger.adapters.sql.store import SqlStore
    from ledger.app.service import LedgerService

    if migrate:
        upgrade(settings.db_url)
    return LedgerService(SqlStore.open(settings.db_url), pepper=settings.pepper_bytes(),
                         passphrase=settings.passphrase())


# ------------------------------------------------------------------ db


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None, home: HomeOpt = None) -> None:
    """Create or migrate the database schema to the newest revision."""
    from ledger.adapters.sql.engine import upgrade

    with _cli.errors():
        settings = _settings(home, db)
        upgrade(settings.db_url)
    _cli.out.print(f"database at {_redact(settings.db_url)} is up to date")


# ------------------------------------------------------------------ hospitals and credentials


@hospital_app.command("register")
def hospital_register(
    institution_id: Annotated[str, typer.Option("--id", help="institution code, H + 11 digits")],
    name: Annotated[str, typer.Option(help="hospital name")],
    region: Annotated[str, typer.Option(help="region code, e.g. 330100")],
    db: DbOpt = None, home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a hospital: its signing account (key sealed at rest) and an API token (shown once).

    The running service registers the account on chain within a tick.
    """
    with _cli.errors():
        service = _service(_settings(home, db))
        record, token = service.register_hospital(institution_id=institution_id, name=name, region=region)
    doc = {"institutionId": record.institution_id, "name": record.name, "region": record.region,
           "account": record.account, "apiToken": token}
    if as_json:
        _cli.out.print_json(json.dumps(doc))
        return
    _cli.out.print(f"hospital {record.institution_id} ({record.name}) registered; signing account {record.account}")
    _cli.out.print(f"API token (shown once, keep it secret): [bold]{token}[/]")


@hospital_app.command("list")
def hospital_list(db: DbOpt = None, home: HomeOpt = None) -> None:
    """Hospitals known to this service and whether the chain knows their key."""
    with _cli.errors():
        service = _service(_settings(home, db))
        rows = service.store.hospitals()
    for h in rows:
        chain = f"registered in block {h.registered_block}" if h.registered_block is not None else "not yet on chain"
        _cli.out.print(f"{h.institution_id}  {h.name}  ({h.region})  {h.account}  {chain}")


@credential_app.command("create")
def credential_create(
    role: Annotated[str, typer.Option(help="hospital | payer | auditor | admin")],
    subject: Annotated[str, typer.Option(help="institution id, payer id, or a name")],
    label: Annotated[str, typer.Option(help="what the token is for")] = "",
    db: DbOpt = None, home: HomeOpt = None,
) -> None:
    """Create an API token (shown once; only its hash is stored)."""
    from ledger.records import Role

    if role not in {r.value for r in Role}:
        _cli.fail(f"--role must be one of {', '.join(r.value for r in Role)}", 2)
    with _cli.errors():
        token = _service(_settings(home, db)).create_credential(role=Role(role), subject=subject, label=label)
    _cli.out.print(token)


@credential_app.command("revoke")
def credential_revoke(
    key_id: Annotated[str, typer.Argument(help="the key id: the part after `ebill_` in the token")],
    db: DbOpt = None, home: HomeOpt = None,
) -> None:
    """Revoke an API token at once (e.g. a leaked hospital token; create a new one first)."""
    with _cli.errors():
        _service(_settings(home, db)).store.revoke_credential(key_id, actor="cli")
    _cli.out.print(f"credential {key_id} revoked")


# ------------------------------------------------------------------ serve


def serve(
    db: DbOpt = None, home: HomeOpt = None,
    chain: Annotated[str, typer.Option("--chain", help="anvil (managed local node) | rpc | embedded")] = "anvil",
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="JSON-RPC URL for --chain rpc")] = None,
    key: Annotated[str | None, typer.Option("--key", envvar="EBILL_CHAIN_KEY",
                                            help="governance/relayer key for --chain rpc")] = None,
    host: Annotated[str, typer.Option(help="listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="listen port")] = 8000,
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
) -> None:
    """Run the upload service: the HTTP API (OpenAPI at /docs) and the chain worker.

    Defaults need no set-up: SQLite in the data directory and a managed anvil node with
    persisted state (started here, stopped on exit if started here).
    """
    import faulthandler

    import uvicorn

    from ledger.app.chain_worker import ChainWorker

    faulthandler.enable()  # a native crash in this process (chain worker, stamper, one API worker) shows its stack
    started_node = False
    with _cli.errors():
        settings = _settings(home, db, chain=chain, rpc_url=rpc_url, chain_key=key,
                             batch_max_leaves=batch_max_leaves, batch_max_age=batch_max_age)
        if payer is not None:
            settings.payer_id = None if payer.lower() == "none" else payer
        service = _service(settings)
        if chain == "anvil" and not rpc_url:
            from ledger.adapters import anvil

            started_node = anvil.status(settings.home / "node") is None
        session = _cli.open_session(chain, rpc_url, key, settings.home, autostart=True,
                                    passphrase=settings.passphrase)
        changed = service.bind_chain(session.ledger.chain_id, session.ledger.contract_address)
        worker = ChainWorker(service, session, max_leaves=batch_max_leaves,
                             max_age=_seconds(batch_max_age))
        if changed:
            _cli.err.print("[yellow]the chain or contract changed since this store last ran: rebuilding the chain "
                           "index and re-anchoring[/]")
            worker.reindex(reason="the store now serves another chain/contract")
    n = workers or (1 if chain == "embedded" else min(os.cpu_count() or 1, 4))
    if chain == "embedded" and n > 1:
        _cli.fail("--chain embedded lives in this process: it serves with one worker only", 2)
    thread = threading.Thread(target=worker.run_forever, kwargs={"interval": 0.25}, name="chain-worker", daemon=True)
    thread.start()
    stamper = _start_stamper(settings, service, session)
    mirror = None
    if mirror_from:
        from ledger.app.mirror import InvoiceMirror

        if not mirror_token:
            _cli.fail("--mirror-from needs --mirror-token (a payer credential at that service)", 2)
        mirror = InvoiceMirror(service.store, session.ledger, source=mirror_from, token=mirror_token)
        threading.Thread(target=mirror.run_forever, name="invoice-mirror", daemon=True).start()
    _cli.err.print(f"[bold]ebill serve[/]: http://{host}:{port}/docs · db {_redact(settings.db_url)} · chain "
                   f"{session.name} {session.ledger.chain_id} contract {session.ledger.contract_address} · "
                   f"{n} API worker(s)")
    try:
        if n == 1:
            from api.app import create_app

            uvicorn.run(create_app(settings, service=service, chain=session.ledger), host=host, port=port,
                        log_level="warning")
        else:
            from ledger.adapters.api_workers import run_api_workers

            _export_env(settings, rpc_url=_rpc_url_of(session))
            run_api_workers("api.app:app_from_env", host=host, port=port, workers=n, report=_report_worker)
    finally:
        if mirror is not None:
            mirror.stop()
        if stamper is not None:
            stamper[0].stop()
            stamper[1].join(timeout=30)
        worker.stop()
        thread.join(timeout=30)
        worker.release()
        if started_node:
            from ledger.adapters import anvil

            anvil.stop_detached(settings.home / "node")


def _report_worker(message: str) -> None:
    """An API worker died: say so on the service's stderr, with the time (see ledger.adapters.api_workers)."""
    _cli.err.print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} ebill serve: {message}", style="bold red", markup=False,
                   highlight=False, soft_wrap=True)


def _start_stamper(settings: Any, service: Any, session: Any) -> tuple[Any, threading.Thread] | None:
    """The payer's claims stamper and payouts, in a thread (None when no payer is configured).

    The configured payer is registered in the store on first start (a new chain
    account, sealed like hospitals' keys); the stamper registers it on chain.
    """
    if not settings.payer_id:
        return None
    from api.app import open_claims
    from ledger.adapters.bank import SimulatedBank
    from ledger.app.access import SYSTEM
    from ledger.app.claim_worker import ClaimStamper
    from ledger.errors import NotFound

    claims = open_claims(settings, service, session.ledger)
    try:
        claims.store.payer(settings.payer_id)
    except NotFound:
        claims.register_payer(payer_id=settings.payer_id, name=settings.payer_name, by=SYSTEM)
    bank = SimulatedBank(settings.bank_path or settings.home / "bank.sqlite")
    stamper = ClaimStamper(claims, session, bank)
    thread = threading.Thread(target=stamper.run_forever, name="claims-stamper", daemon=True)
    thread.start()
    return stamper, thread


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
    os.environ.setdefault("EBILL_API_NICE", "5")  # see api.app.app_from_env


def _seconds(value: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=value)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# ------------------------------------------------------------------ void


def void(
    fingerprint: Annotated[str, typer.Argument(help="0x-hex fingerprint of the invoice")],
    reason: Annotated[str, typer.Option("--reason", help="reason code stamped on chain: refund | resettled | "
                                                          "issued-in-error | duplicate | amount-error | "
                                                          "patient-details-error | other")],
    note: Annotated[str | None, typer.Option("--note", help="the hospital's own words (up to 500 characters); "
                                                            "kept in the database, never on chain")] = None,
    db: DbOpt = None, home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the void as JSON")] = False,
) -> None:
    """Void an invoice (red-letter reversal) on behalf of its issuing hospital.

    The void is recorded in the service's database, as `POST /v1/invoices/{fp}/void` records
    it; the running service's chain worker stamps its reason code on chain within a tick.
    Repeating a recorded void shows it; another reason for a voided invoice is refused.
    """
    from ledger.app.access import Principal
    from ledger.app.service import parse_hash_arg
    from ledger.errors import FieldProblem
    from ledger.records import Role
    from ledger.voids import VoidRequest

    with _cli.errors():
        try:
            request = VoidRequest.parse(code=reason, note=note)
        except InvalidInput as exc:  # name the options, not the API's fields
            flags = {"reasonCode": "--reason", "reason": "--note"}
            raise InvalidInput([FieldProblem(flags.get(p.field, p.field), p.rule, p.message)
                                for p in exc.problems]) from None
        service = _service(_settings(home, db))
        # the issuing hospital voids; NotFound names an unknown fingerprint
        issuer = service.store.invoice(parse_hash_arg(fingerprint)).invoice.issuer
        record, created = service.request_void(Principal(Role.HOSPITAL, issuer, "cli"), fingerprint,
                                               request=request)
    doc = {"fingerprint": fingerprint.lower(), "issuer": record.issuer, "reasonCode": record.reason_code.value,
           "reason": record.note or None, "state": record.state, "transaction": record.voided_tx,
           "block": record.voided_block, "created": created}
    if as_json:
        _cli.out.print_json(json.dumps(doc, ensure_ascii=False))
        return
    if created:
        _cli.out.print(f"void of {doc['fingerprint']} ({issuer}) recorded with reason {record.reason_code.value}; "
                       "the running service stamps it on chain (`ebill serve`)", highlight=False)
        return
    where = f" in block {record.voided_block}" if record.voided_block is not None else ""
    _cli.out.print(f"void of {doc['fingerprint']} ({issuer}) was recorded before with reason "
                   f"{record.reason_code.value}: {record.state}{where}", highlight=False)


# ------------------------------------------------------------------ reindex


def reindex(
    db: DbOpt = None, home: HomeOpt = None,
    chain: Annotated[str, typer.Option("--chain", help="anvil | rpc")] = "anvil",
    rpc_url: Annotated[str | None, typer.Option("--rpc-url")] = None,
) -> None:
    """Rebuild chain-derived state (anchors, voids, stamps, claw-backs) from the contract's events."""
    from ledger.app.chain_worker import ChainWorker

    with _cli.errors():
        settings = _settings(home, db)
        service = _service(settings)
        session = _cli.open_session(chain, rpc_url, None, settings.home, deploy=False,
                                    passphrase=settings.passphrase)
        service.bind_chain(session.ledger.chain_id, session.ledger.contract_address)
        count = ChainWorker(service, session).reindex(reason="ebill reindex")
        counts = service.store.counts()
    _cli.out.print(f"replayed {count} events; {counts['batchesAnchored']} batches anchored, "
                   f"{counts['batchesWaiting']} waiting to be (re-)anchored by the service")


# ------------------------------------------------------------------ upload


def upload(
    files: Annotated[list[Path], typer.Argument(help="invoices: .json, .ndjson, .csv (flat, or invoices.csv + "
                                                     "fee_lines.csv), or a FHIR bundle .json")],
    url: Annotated[str, typer.Option(envvar="EBILL_URL", help="service URL")] = "http://127.0.0.1:8000",
    token: Annotated[str | None, typer.Option(envvar="EBILL_TOKEN", help="the hospital's API token")] = None,
    chunk: Annotated[int, typer.Option(min=1, max=5000, help="invoices per request (NDJSON/JSON)")] = 500,
    report: Annotated[Path | None, typer.Option(help="write every item's result here (NDJSON)")] = None,
    wait: Annotated[bool, typer.Option(help="wait until the uploaded invoices are anchored")] = False,
) -> None:
    """Upload invoice files to the service with a progress bar; exit 1 if any item was refused."""
    import httpx
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    if not token:
        _cli.fail("no API token: pass --token or set EBILL_TOKEN", 2)
    for f in files:
        if not f.is_file():
            _cli.fail(f"no such file: {f}", 2)
    bad = [f for f in files if f.suffix.lower() not in (".json", ".ndjson", ".jsonl", ".csv")]
    if bad:
        _cli.fail(f"{bad[0]}: expected a .json, .ndjson, .jsonl or .csv file", 2)
    # lazily: NDJSON is read one chunk at a time, so a year of invoices never sits in memory
    requests = _requests(files, chunk)
    total_bytes = sum(f.stat().st_size for f in files)
    counts: dict[str, int] = {}
    # every invoice the service acknowledged (created, or a duplicate of an earlier upload: a
    # re-run after a lost answer or a crash) — what --wait waits for
    acknowledged: set[str] = set()
    sink = report.open("w") if report else None
    refused: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as client, Progress(
        TextColumn("[bold]upload[/]"), BarColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[summary]}"), console=_cli.err,
    ) as progress:
        task = progress.add_task("upload", total=total_bytes, summary="")
        for make, size, relabel in requests:
            kind, body = make()
            try:
                resp = client.post("/v1/invoices", **body)
            except httpx.HTTPError as exc:
                _cli.fail(f"cannot reach the service at {url}: {exc}")
            if resp.status_code >= 400 and not resp.headers.get("content-type", "").startswith("application/json"):
                problem = _problem(resp)
                if resp.status_code in (409, 422) and kind == "single":
                    status = "rejected" if resp.status_code == 422 else "conflict"
                    ref = relabel("upload.json")
                    refused.append(f"{ref}: {problem}")
                    if sink:  # one report line per item, this one too
                        sink.write(json.dumps({"index": 0, "ref": ref, "status": status, "invoice": None,
                                               "problems": _problem_list(resp)}, ensure_ascii=False) + "\n")
                    counts[status] = counts.get(status, 0) + 1
                    progress.advance(task, size)
                    continue
                _cli.fail(f"the service refused the upload ({resp.status_code}): {problem}")
            doc = resp.json()
            for k, v in doc["counts"].items():
                counts[k] = counts.get(k, 0) + v
            for item in doc["items"]:
                item["ref"] = relabel(item["ref"])
                for p in item["problems"]:
                    if "source" in p:
                        p["source"] = relabel(p["source"])
                if sink:
                    sink.write(json.dumps(item, ensure_ascii=False) + "\n")
                if item["status"] in ("rejected", "conflict"):
                    first = item["problems"][0] if item["problems"] else {"message": (
                        f"{item.get('problemCount', 'some')} problems, not listed: the service lists a limited "
                        "number per upload; fix the ones listed and upload again")}
                    # a problem's source already names the item ("x.ndjson line 16: totalFen")
                    where = first.get("source") or f"{item['ref']}: {first.get('field')}"
                    refused.append(f"{where}: {first['message']}")
                elif item["status"] in ("created", "duplicate"):
                    acknowledged.add(item["invoice"]["fingerprint"])
            progress.advance(task, size)
            progress.update(task, summary=" ".join(f"{k} {v:,}" for k, v in counts.items() if v))
        if wait and acknowledged:
            with _cli.errors():
                _wait_anchored(client, acknowledged)
    if sink:
        sink.close()
    _cli.out.print("uploaded: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    for line in refused[:20]:
        _cli.err.print(f"[red]refused[/] {line}", highlight=False)
    if len(refused) > 20:
        _cli.err.print(f"… and {len(refused) - 20} more (see --report)")
    if refused:
        raise typer.Exit(1)


def _problem(resp: Any) -> str:
    try:
        doc = resp.json()
    except ValueError:
        return str(resp.text[:300])
    errors = "; ".join(f"{e['field']}: {e['message']}" for e in doc.get("errors", [])[:5])
    return f"{doc.get('detail', '')} {errors}".strip()


def _problem_list(resp: Any) -> list[dict[str, Any]]:
    try:
        return list(resp.json().get("errors", []))
    except ValueError:
        return []


def _wait_anchored(client: Any, fingerprints: set[str], timeout: float = 300.0) -> None:
    """Wait until none of ``fingerprints`` is still waiting for its anchor.

    Every acknowledged invoice counts, duplicates too: after a lost answer or a crash the
    operator re-runs the upload, gets duplicates back, and they may not be anchored yet.
    The hospital's not-yet-anchored invoices are listed (``state=stored``, paged), so the
    wait costs a request per 1,000 waiting invoices, not one per uploaded invoice.
    """
    deadline = time.monotonic() + timeout
    while True:
        waiting: set[str] = set()
        after: str | None = None
        while True:
            params = {"state": "stored", "limit": 1000, **({"after": after} if after else {})}
            r = client.get("/v1/invoices", params=params)
            if r.status_code != 200:
                raise ChainUnavailable(f"cannot list the invoices waiting for their anchor: {r.status_code} "
                                       f"{_problem(r)}")
            page = r.json()
            waiting |= {i["fingerprint"] for i in page["items"]} & fingerprints
            after = page.get("next")
            if not after:
                break
        if not waiting:
            _cli.out.print(f"anchored: all {len(fingerprints):,} uploaded invoices")
            return
        if time.monotonic() > deadline:
            raise ChainUnavailable(f"{len(waiting):,} of {len(fingerprints):,} invoices not anchored within "
                                   f"{timeout:.0f} s")
        time.sleep(0.5)


def _relabel(name: str, line_offset: int | None = None) -> Callable[[str], str]:
    """Rewrites the service's item refs so they point into the user's file.

    The service sees one request body: it calls it ``upload.ndjson`` (``upload.json``, …)
    and counts lines from the start of the body, so without this a refusal in the second
    NDJSON chunk named line 6 of "upload.ndjson" instead of line 16 of the user's file.
    """
    if line_offset is None:
        generic = re.compile(r"^(?:upload\.json|upload\.ndjson|bundle\.json|invoices\.csv)\b")
        return lambda text: generic.sub(lambda _: name, text, count=1)
    numbered = re.compile(r"^\S+ line (\d+)")
    return lambda text: numbered.sub(lambda m: f"{name} line {int(m[1]) + line_offset}", text, count=1)


def _same(text: str) -> str:
    return text


def _requests(files: list[Path], chunk: int) -> Iterator[tuple[Any, int, Callable[[str], str]]]:
    """(make request kwargs, bytes covered, ref rewriter) for each HTTP request of the upload."""
    names = {f.name.lower(): f for f in files}
    if "invoices.csv" in names and "fee_lines.csv" in names:
        inv, lines = names["invoices.csv"], names["fee_lines.csv"]
        size = inv.stat().st_size + lines.stat().st_size

        def pair() -> tuple[str, dict[str, Any]]:
            return "bulk", {"files": {"invoices": ("invoices.csv", inv.read_bytes(), "text/csv"),
                                      "fee_lines": ("fee_lines.csv", lines.read_bytes(), "text/csv")}}
        yield pair, size, _same  # the parts carry their file names
        files = [f for f in files if f not in (inv, lines)]
    for f in files:
        suffix = f.suffix.lower()
        if suffix in (".ndjson", ".jsonl"):
            yield from _ndjson_chunks(f, chunk)
        elif suffix == ".csv":
            yield (lambda f=f: ("bulk", {"content": f.read_bytes(), "headers": {"Content-Type": "text/csv"}})), \
                f.stat().st_size, _relabel(f.name)
        elif suffix == ".json":
            head = f.open("rb").read(4096).lstrip()
            if b'"resourceType"' in head and b'"Bundle"' in head:
                yield (lambda f=f: ("bulk", {"content": f.read_bytes(),
                                             "headers": {"Content-Type": "application/fhir+json"}})), \
                    f.stat().st_size, _relabel(f.name)
            else:
                single = head[:1] == b"{"
                yield (lambda f=f, single=single: ("single" if single else "bulk", {
                    "content": f.read_bytes(), "headers": {"Content-Type": "application/json"}})), \
                    f.stat().st_size, _relabel(f.name)
        else:
            raise InvalidInput.single(str(f), "file-type", "expected .json, .ndjson, .jsonl or .csv")


def _ndjson_chunks(path: Path, chunk: int) -> Iterator[tuple[Any, int, Callable[[str], str]]]:
    """Chunks of ``chunk`` lines, read lazily so memory stays flat for a year of invoices."""
    lines_before = 0
    with path.open("rb") as f:
        while True:
            lines = []
            for _ in range(chunk):
                line = f.readline()
                if not line:
                    break
                lines.append(line)
            if not lines:
                return
            body = b"".join(lines)
            yield (lambda body=body: ("bulk", {"content": body,
                                               "headers": {"Content-Type": "application/x-ndjson"}})), len(body), \
                _relabel(path.name, lines_before)
            lines_before += len(lines)


