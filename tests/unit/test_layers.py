"""The house's layers hold: the import contract in pyproject.toml, and the strict types of the core.

Layers, outermost first: the CLI; the HTTP API; the composition root; development tools;
adapters; the use cases and the verifier; the core (the domain: every module directly in
``ledger/`` and ``ledger/claims``, ``ledger/rules``, ``ledger/formats``). Nothing imports
outward, the core imports no framework, store, chain or HTTP library, and the use cases
reach the outside only through the ports of ``ledger/ports.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE_THE_CORE = {"app", "adapters", "cli", "composition", "devtools"}


def _contracts() -> list[dict[str, object]]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(doc["tool"]["importlinter"]["contracts"])


def test_the_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")   # import-linter's command, beside this Python
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout and "0 broken" in done.stdout, done.stdout[-4000:]


def test_every_core_module_is_under_the_core_contract() -> None:
    """A module added to the core folder is held to the core's contract at once."""
    core = next(c for c in _contracts() if str(c["name"]).startswith("The core is pure"))
    listed = set(core["source_modules"])  # type: ignore[arg-type]
    on_disk = {f"ledger.{p.stem}" for p in (ROOT / "ledger").glob("*.py") if p.stem != "__init__"}
    on_disk |= {f"ledger.{p.name}" for p in (ROOT / "ledger").iterdir()
                if p.is_dir() and (p / "__init__.py").exists() and p.name not in OUTSIDE_THE_CORE}
    assert on_disk == listed, f"core modules not in the contract: {sorted(on_disk - listed)}; " \
                              f"listed but not core: {sorted(listed - on_disk)}"


def test_the_core_and_the_claims_module_are_strictly_typed() -> None:
    core = next(c for c in _contracts() if str(c["name"]).startswith("The core is pure"))
    paths = []
    for module in core["source_modules"]:  # type: ignore[attr-defined]
        path = ROOT / Path(*str(module).split("."))
        paths.append(str(path) if path.is_dir() else str(path.with_suffix(".py")))
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *paths], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_the_whole_house_is_strictly_typed() -> None:
    """``mypy --strict`` (pyproject.toml) on every package: a regression fails here, not in a review."""
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "ledger", "verifier", "api",
                           "contracts"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
