"""The recursion limit stays at CPython's default in every kind of process the service runs.

py_ecc (through eth-account) raises it to 100,000 on import, and with it the stdlib JSON
decoder overflows the C stack on a deeply nested document (SIGSEGV) instead of raising.
Each check runs in a fresh interpreter: in this one py_ecc has long been imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# a 100,000-deep array: the document that crashed a process holding the raised limit
_DEEP = "json.loads('[' * 100_000 + ']' * 100_000)"


def _run(code: str, tmp_path: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EBILL_HOME": str(tmp_path), "EBILL_CHAIN": "embedded",
           "EBILL_DB": f"sqlite:///{tmp_path}/ebill.sqlite"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stderr[-3000:]}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


_PROLOGUE = """
import json, sys
import eth_account  # raises the limit to 100,000 (py_ecc)
raised = sys.getrecursionlimit()
"""
_EPILOGUE = f"""
try:
    {_DEEP}
    outcome = "parsed"
except RecursionError:
    outcome = "RecursionError"
print(json.dumps({{"raised": raised, "limit": sys.getrecursionlimit(), "deep": outcome}}))
"""


@pytest.mark.parametrize("process", ["chain adapter", "embedded chain", "app factory", "api worker", "cli"])
def test_limit_is_restored_and_deep_json_raises(process: str, tmp_path: Path) -> None:
    body = {
        # ebill serve's main process and the CLI: the chain session imports the adapter
        "chain adapter": "import ledger.adapters.web3_chain",
        "embedded chain": "from ledger.adapters.chains import open_embedded\nopen_embedded()",
        "app factory": ("from ledger.adapters.sql.engine import upgrade\n"
                        "from ledger.composition.settings import Settings\n"
                        "from api.app import create_app\ns = Settings()\nupgrade(s.db_url)\ncreate_app(s)"),
        # uvicorn's worker processes build the app with api.app:app_from_env
        "api worker": ("from ledger.adapters.sql.engine import upgrade\n"
                       "from ledger.composition.settings import Settings\n"
                       "upgrade(Settings().db_url)\nfrom api.app import app_from_env\napp_from_env()"),
        # `ebill hospital register` exports nothing, but key export imports eth-account on its own
        "cli": "from ledger.adapters.keystore import export_keystore\nexport_keystore(b'\\x01' * 32, 'pw')",
    }[process]
    found = _run(_PROLOGUE + body + _EPILOGUE, tmp_path)
    assert found["raised"] == 100_000  # the library still does what it did
    assert found == {"raised": 100_000, "limit": 1000, "deep": "RecursionError"}


def test_this_test_process_holds_the_limit_too() -> None:
    import ledger.adapters.web3_chain  # noqa: F401  (the adapter restores it when imported)

    assert sys.getrecursionlimit() == 1000
