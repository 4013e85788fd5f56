"""What the browser tests stand on (the fixtures are in conftest.py):

- Debian's chromium driven by Playwright, never a downloaded browser (``EBILL_CHROMIUM``
  overrides the binary, default ``/usr/bin/chromium``); without it the browser tests skip,
  unless ``EBILL_REQUIRE_CHROMIUM=1`` (``./dev test`` sets it in CI once it has installed
  chromium), which makes them fail;
- a deployment: ``ebill node start`` and ``ebill serve`` as subprocesses in a throw-away
  home, seeded as an operator would (CLI for the first hospital and the admin, then HTTP:
  staff credentials, insured persons, a delegation, invoices, a void);
- screenshots into ``test-artifacts/screenshots/`` and a photographed QR code.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ledger.adapters import anvil
from ledger.devtools import synth
from ledger.errors import ToolchainError

CHROMIUM_ENV = "EBILL_CHROMIUM"
REQUIRE_ENV = "EBILL_REQUIRE_CHROMIUM"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EBILL = Path(sys.executable).with_name("ebill")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
PAYER = "330600-ybj"
PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1366, "height": 900}
PEPPER = b"browser-tests-pepper-0123456789abcdef"


# ------------------------------------------------------------------------------ chromium


def chromium_binary() -> Path:
    return Path(os.environ.get(CHROMIUM_ENV) or "/usr/bin/chromium")


def chromium_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") == "1"


def unavailable() -> str | None:
    """Why the browser tests cannot run here (no chromium, Playwright, anvil or ebill), or None."""
    path = chromium_binary()
    if not os.access(path, os.X_OK):
        return (f"no chromium at {path} ({CHROMIUM_ENV} overrides it); `./dev test` installs Debian's chromium "
                "when run as root")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the playwright package is not installed: {exc}"
    try:
        anvil.anvil_binary()
    except ToolchainError as exc:
        return f"no anvil binary for `ebill serve`: {exc}"
    if not EBILL.exists():
        return f"no ebill entry point next to {sys.executable}"
    return None


def launch(playwright: Any, *extra_args: str) -> Any:
    """A headless chromium from ``playwright`` (a ``sync_playwright()`` instance)."""
    return playwright.chromium.launch(executable_path=str(chromium_binary()), args=[*CHROMIUM_ARGS, *extra_args])


# ------------------------------------------------------------------------------ the service


@dataclass
class Citizen:
    national_id: str
    name: str
    token: str
    fingerprints: list[str] = field(default_factory=list)   # their invoices, newest last


@dataclass
class Deployment:
    """``ebill serve`` on a free port in ``home``, with a hospital, staff and citizens."""

    home: Path
    url: str
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)       # role name -> staff token
    citizens: dict[str, Citizen] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)  # fingerprint -> upload answer item

    def http(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kw)

    def log(self) -> str:
        path = self.home / "serve.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""


def _ebill(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(EBILL), *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"ebill {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            found = check()
            if found:
                return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _documents() -> tuple[tuple[str, str], list[dict[str, Any]], list[synth.Patient]]:
    """One hospital's synthetic invoices (line counts drawn freely: ¥40 to ¥12,000)."""
    ds = synth.generate(seed=606, hospitals=1, invoices=60, fee_lines=None, pepper=PEPPER)
    hospital = (ds.hospitals[0].code, ds.hospitals[0].name)
    docs = sorted(synth.iter_documents(ds), key=lambda d: d["totalFen"])
    return hospital, docs, synth.make_patients(6, seed=606)


def _kind(visit: str | None, low: int, high: int) -> Any:
    return lambda d: (visit is None or d["visitType"] == visit) and low <= d["totalFen"] < high


SMALL = _kind(None, 0, 50_000)
# whose invoices (by size): the rules pay nothing under the ¥600 deductible, at once up to ¥500,
# after a review above that, and after two reviewers from ¥5,000
CITIZENS: dict[str, tuple[str, list[Any]]] = {
    "li": ("李娜", [_kind("outpatient", 85_000, 100_000), _kind("outpatient", 70_000, 85_000), SMALL, SMALL]),
    "wang": ("王伟", [_kind("outpatient", 70_000, 100_000), SMALL]),
    "zhang": ("张敏", [_kind("inpatient", 150_000, 300_000), _kind("inpatient", 150_000, 300_000),
                      _kind("inpatient", 150_000, 300_000), _kind("inpatient", 500_000, 600_000), SMALL]),
    "chen": ("陈静", [_kind("inpatient", 1_000_000, 2_000_000), SMALL, SMALL]),   # the last one voided
    "parent": ("李建国", [_kind("inpatient", 250_000, 300_000), SMALL]),
}


def start(home: Path) -> Deployment:
    """Register a hospital and an admin (CLI), start ``ebill serve``, then seed it over HTTP."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EBILL_") or k == anvil.BINARY_ENV}
    env.update(EBILL_HOME=str(home), NO_COLOR="1", TERM="dumb", COLUMNS="200", PYTHONUNBUFFERED="1",
               EBILL_PUBLIC_RATE_LIMIT="1000000/minute",  # the harness polls /v1/health from one address
               EBILL_PAYER_ID=PAYER,
               EBILL_POST_AUDIT_SHARE_BP="10000")   # every claim paid at once is drawn for a post-payment audit
    (code, name), docs, patients = _documents()
    def store() -> tuple[dict[str, Any], str]:    # one after the other: the first migrates the new database
        hospital = json.loads(_ebill(env, "hospital", "register", "--home", str(home), "--id", code, "--name", name,
                                     "--region", code[1:7], "--json"))
        admin = _ebill(env, "credential", "create", "--home", str(home), "--role", "admin", "--subject", "bureau")
        return hospital, admin.strip().splitlines()[-1]

    with ThreadPoolExecutor(2) as pool:                # the node starts meanwhile
        node = pool.submit(_ebill, env, "node", "start", "--home", str(home), "--port", str(anvil.free_port()))
        hospital, admin = pool.submit(store).result()
        node.result()
    port = anvil.free_port()
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen([str(EBILL), "serve", "--home", str(home), "--port", str(port), "--workers", "1",
                             "--batch-max-age", "0.2"], env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    d = Deployment(home=home, url=f"http://127.0.0.1:{port}", proc=proc, env=env,
                   tokens={"hospital": hospital["apiToken"], "admin": admin})
    try:
        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"ebill serve exited with {proc.returncode}:\n{d.log()}")
            return d.http("GET", "/v1/health").status_code == 200

        _wait(healthy, 90, "ebill serve to answer /v1/health")
        _seed(d, docs, patients)
    except BaseException:
        stop(d)
        raise
    return d


def stop(d: Deployment) -> None:
    """SIGTERM to serve's process group (SIGKILL if it lingers), then ``ebill node stop``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(d.proc.pid, signal.SIGTERM)
    try:
        d.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(d.proc.pid, signal.SIGKILL)
        d.proc.wait(timeout=10)
    subprocess.run([str(EBILL), "node", "stop", "--home", str(d.home)], env=d.env, capture_output=True, timeout=60,
                   check=False)


def _seed(d: Deployment, docs: list[dict[str, Any]], patients: list[synth.Patient]) -> None:
    from ledger.devtools.vouchers import dev_issuer

    admin = d.tokens["admin"]
    for role, subject, label in [("payer", PAYER, "reviewer one"), ("payer2", PAYER, "reviewer two"),
                                 ("auditor", "audit-office", "auditor")]:
        r = d.http("POST", "/v1/credentials", admin, json={"role": role.rstrip("2"), "subject": subject,
                                                           "label": label})
        assert r.status_code == 201, r.text
        d.tokens[role] = r.json()["apiToken"]
    people = dict(zip(CITIZENS, patients, strict=False))
    r = d.http("POST", "/v1/persons", admin, json=[
        {"nationalId": people[k].national_id, "name": CITIZENS[k][0], "category": "employee"} for k in CITIZENS])
    assert r.status_code == 201, r.text
    r = d.http("POST", "/v1/delegations", admin, json={"holderNationalId": people["li"].national_id,
                                                       "personNationalId": people["parent"].national_id,
                                                       "relation": "parent"})
    assert r.status_code == 201, r.text
    issuer = dev_issuer(d.home)
    upload: list[dict[str, Any]] = []
    owners: list[str] = []
    pool = list(docs)
    for key, (name, wanted) in CITIZENS.items():
        for match in wanted:
            doc = dict(next(x for x in pool if match(x)))
            pool.remove(next(x for x in pool if x["invoiceNumber"] == doc["invoiceNumber"]))
            doc["patientId"] = people[key].national_id
            upload.append(doc)
            owners.append(key)
        d.citizens[key] = Citizen(people[key].national_id, name, issuer.mint(people[key].national_id, name=name))
    r = d.http("POST", "/v1/invoices", d.tokens["hospital"], json=upload)
    assert r.status_code in (200, 201, 207), r.text
    for owner, item in zip(owners, r.json()["items"], strict=True):
        fp = item["invoice"]["fingerprint"]
        d.invoices[fp] = item["invoice"]
        d.citizens[owner].fingerprints.append(fp)
    _wait(lambda: all(d.http("GET", f"/v1/invoices/{fp}", d.tokens["auditor"]).json()["state"] == "anchored"
                      for fp in d.invoices), 60, "every invoice to be anchored")
    voided = d.citizens["chen"].fingerprints[-1]                       # a red-letter reversal by the hospital
    r = d.http("POST", f"/v1/invoices/{voided}/void", d.tokens["hospital"],
               json={"reasonCode": "refund", "reason": "refunded at the counter"})
    assert r.status_code == 202, r.text


# ------------------------------------------------------------------------------ pages



# ------------------------------------------------------------------------------ pages


def shoot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """Save what the screen shows (the viewport, 360x780 or 1366x900) as test-artifacts/screenshots/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def shoot_both(page: Any, name: str) -> None:
    """The screen at phone size (360x780) and desktop size (1366x900): <name>-phone.png, <name>-desktop.png."""
    before = page.viewport_size
    for size, suffix in ((PHONE, "phone"), (DESKTOP, "desktop")):
        page.set_viewport_size(size)
        page.wait_for_timeout(50)   # one layout pass
        shoot(page, f"{name}-{suffix}")
    page.set_viewport_size(before)


def sign_in(page: Any, path: str, token: str) -> None:
    page.goto(path)
    page.locator("#token").fill(token)
    page.locator("form button[type=submit]").click()


def photo_of(png: bytes) -> bytes:
    """A JPEG 'photo' of a printed QR code: on paper, slightly turned, softened, with noise."""
    from PIL import Image, ImageDraw, ImageFilter

    qr = Image.open(io.BytesIO(png)).convert("RGB")
    side = max(qr.size)
    paper = Image.new("RGB", (side * 2 + 160, side + 420), (243, 240, 232))
    draw = ImageDraw.Draw(paper)
    for y in range(40, 320, 36):
        draw.rectangle((60, y, paper.width - 60, y + 12), fill=(170, 170, 176))
    paper.paste(qr, (paper.width - side - 60, 360))
    shot = paper.rotate(4, expand=True, fillcolor=(90, 84, 80), resample=Image.Resampling.BICUBIC)
    shot = shot.filter(ImageFilter.GaussianBlur(0.8))
    out = io.BytesIO()
    shot.save(out, format="JPEG", quality=80)
    return out.getvalue()
