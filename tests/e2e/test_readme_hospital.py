"""The README's hospital commands, run as written against a real anvil node and ``ebill serve``.

The commands are read from the README's fenced block (the one that registers
``H33010200001``), so the test breaks when the README changes and its commands stop
working together. Each line runs as a user types it, in a fresh directory, with only what a
user adds themselves: the data directory (``EBILL_HOME``), free ports (``EBILL_PORT``,
``EBILL_ANVIL_PORT``, ``EBILL_URL``: other tests run beside this one), ``ebill serve`` in a
second terminal (here: in the background until it is healthy), and the API token that
``ebill hospital register`` printed in place of ``ebill_…``. Then every generated invoice
must have been accepted and anchored.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from serve_support import EBILL, until

from ledger.adapters import anvil
from ledger.errors import ToolchainError

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

try:
    anvil.anvil_binary()
except ToolchainError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"no anvil binary: {exc}", allow_module_level=True)

README = Path(__file__).resolve().parents[2] / "README.md"
TOKEN_PLACEHOLDER = "ebill_…"


def hospital_commands(text: str) -> list[list[str]]:
    """The commands of the README's fenced shell block that registers a hospital, each as argv."""
    blocks = re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)
    [block] = [b for b in blocks if "ebill hospital register --id" in b]
    commands = [shlex.split(line, comments=True) for line in block.splitlines()]
    return [argv for argv in commands if argv]


def test_the_block_is_what_this_test_runs() -> None:
    """The block holds the four steps this test knows how to run, in this order."""
    steps = [argv[:2] for argv in hospital_commands(README.read_text(encoding="utf-8"))]
    assert steps == [["ebill", "hospital"], ["ebill", "serve"], ["ebill", "gen"], ["ebill", "upload"]], steps


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_readme_hospital_commands_work_as_written(tmp_path: Path) -> None:
    commands = hospital_commands(README.read_text(encoding="utf-8"))
    port, anvil_port = anvil.free_port(), anvil.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EBILL_") or k == anvil.BINARY_ENV}
    env.update(EBILL_HOME=str(tmp_path / "home"), EBILL_PORT=str(port), EBILL_ANVIL_PORT=str(anvil_port),
               EBILL_URL=f"http://127.0.0.1:{port}", EBILL_PUBLIC_RATE_LIMIT="1000000/minute",
               NO_COLOR="1", COLUMNS="200", TERM="dumb")
    work = tmp_path / "work"
    work.mkdir()
    token = hospital = None
    serve: subprocess.Popen[bytes] | None = None
    outputs: dict[str, str] = {}
    try:
        for argv in commands:
            args = [str(EBILL), *argv[1:]]
            if argv[1] == "serve":
                log = (tmp_path / "serve.log").open("wb")
                serve = subprocess.Popen(args, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
                log.close()

                def healthy(proc: subprocess.Popen[bytes] = serve) -> bool:
                    assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                    with contextlib.suppress(httpx.HTTPError):
                        return httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200
                    return False

                until(healthy, 90, "ebill serve to answer /v1/health")
                continue
            if TOKEN_PLACEHOLDER in args:
                assert token, "the README uses a token before `ebill hospital register` printed one"
                args[args.index(TOKEN_PLACEHOLDER)] = token
            done = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=600, check=False)
            said = done.stdout + done.stderr
            outputs[argv[1]] = said
            assert done.returncode == 0, f"`{shlex.join(argv)}` exited {done.returncode}:\n{said}"
            assert "Traceback" not in said
            if argv[1] == "hospital":
                hospital = _option(argv, "--id")
                found = re.search(r"API token \(shown once, keep it secret\): (ebill_\S+)", done.stdout)
                assert found, done.stdout
                token = found[1]

        # every invoice `gen` wrote was accepted, and is anchored (`upload --wait` waited for it)
        gen = next(argv for argv in commands if argv[1] == "gen")
        written = (work / _option(gen, "--out") / "invoices.ndjson").read_text().splitlines()
        assert len(written) == int(_option(gen, "--invoices"))
        assert {json.loads(line)["issuer"] for line in written} == {hospital}
        assert f"uploaded: created {len(written):,}, duplicate 0, conflict 0, rejected 0" in outputs["upload"]
        assert f"anchored: all {len(written):,} uploaded invoices" in outputs["upload"]
        fingerprints: set[str] = set()
        after = None
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                          timeout=60) as client:
            while True:
                page = client.get("/v1/invoices", params={"limit": 1000, **({"after": after} if after else {})})
                assert page.status_code == 200, page.text
                body = page.json()
                assert {i["state"] for i in body["items"]} <= {"anchored"}, body["items"][:3]
                fingerprints |= {i["fingerprint"] for i in body["items"]}
                after = body["next"]
                if not after:
                    break
            assert len(fingerprints) == len(written)
            sample = sorted(fingerprints)[0]
            detail = client.get(f"/v1/invoices/{sample}").json()
            assert detail["issuer"] == hospital and detail["inclusionProof"]["batchRoot"] == detail["batchRoot"]
    finally:
        if serve is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(serve.pid, signal.SIGTERM)
            try:
                serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
                serve.wait(timeout=10)
        # `serve` stops the node it started; this makes sure, whatever happened above
        subprocess.run([str(EBILL), "node", "stop"], env=env, capture_output=True, timeout=60, check=False)
