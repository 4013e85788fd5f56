"""``ebill void FINGERPRINT --reason CODE`` against the store the service writes: the same use case and
reason codes as ``POST /v1/invoices/{fp}/void``, and one clear line (never a traceback) for an unknown
fingerprint, a void already recorded, another hospital's invoice, a credential that is not a
hospital's, and a bad code. (``tests/integration/test_void_cli.py`` follows the void onto anvil.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api_stack import Stack
from typer.testing import CliRunner

from ledger.voids import VoidReason

runner = CliRunner()


def _upload(stack: Stack, who: str, n: int = 2) -> list[str]:
    r = stack.client.post("/v1/invoices", json=stack.docs[who][:n], headers=stack.auth(who))
    assert r.status_code == 200, r.text
    return [i["invoice"]["fingerprint"] for i in r.json()["items"]]


def _cli(stack: Stack, tmp_path: Path) -> Any:
    from ledger.cli import app

    env = {"EBILL_HOME": str(tmp_path / "cli-home"), "EBILL_DB": f"sqlite:///{tmp_path}/ebill.sqlite",
           "COLUMNS": "250"}

    def ebill(*args: str, token: str | None = None, extra_env: dict[str, str] | None = None) -> tuple[int, str, str]:
        extra = ["--token", stack.tokens[token]] if token else []
        r = runner.invoke(app, ["void", *args, *extra], env={**env, **(extra_env or {})})
        assert "Traceback" not in r.output, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
        return r.exit_code, r.stdout, " ".join(r.stderr.split())

    return ebill


def _void_of(stack: Stack, fp: str, who: str) -> Any:
    return stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth(who)).json()["void"]


def test_a_hospital_voids_its_own_invoice_and_nobody_else_s(stack: Stack, tmp_path: Path) -> None:
    a_fp, a_other = _upload(stack, "a")
    [b_fp] = _upload(stack, "b", 1)
    stack.worker.drain()
    ebill = _cli(stack, tmp_path)

    # another hospital's invoice: "not found" for this hospital, as the API answers, and nothing recorded
    code, _, err = ebill(b_fp, "--reason", "refund", token="a")
    assert code == 1 and f"{stack.docs['a'][0]['issuer']} has no invoice {b_fp}" in err, err
    assert "a hospital voids only the invoices it issued" in err
    assert _void_of(stack, b_fp, "b") is None
    # only a hospital voids: a payer's, an auditor's credential are refused by name
    for role in ("payer", "auditor", "admin"):
        code, _, err = ebill(a_fp, "--reason", "refund", token=role)
        assert code == 1 and f"--token is a {role} credential" in err, err
    code, _, err = ebill(a_fp, "--reason", "refund", "--token", "ebill_000000000000_nope")
    assert code == 1 and "unknown or revoked credential" in err
    code, _, err = ebill(a_fp, "--reason", "refund", "--token", "not-a-token")
    assert code == 1 and "malformed credential" in err
    assert _void_of(stack, a_fp, "a") is None

    # the hospital's own invoice: recorded, with its credential in the audit trail
    code, out, _ = ebill(a_fp, "--reason", "issued-in-error", "--note", "测试开票", token="a")
    assert code == 0 and "recorded with reason issued-in-error" in out, out
    void = _void_of(stack, a_fp, "a")
    assert (void["reasonCode"], void["reason"], void["state"]) == ("issued-in-error", "测试开票", "pending")
    [entry] = [e for e in stack.service.store.audit_trail(subject=a_fp, limit=10) if e["action"] == "invoice.void"]
    key_id = stack.tokens["a"].split("_")[1]
    assert entry["actor"] == f"hospital:{stack.docs['a'][0]['issuer']}:{key_id}"

    # already voided: the same void again is shown (exit 0, stamped once the worker ran), another code refused
    stack.worker.drain()
    code, out, _ = ebill(a_fp, "--reason", "issued-in-error", token="a")
    assert code == 0 and "was recorded before with reason issued-in-error: voided in block" in out, out
    code, _, err = ebill(a_fp, "--reason", "refund", token="a")
    assert code == 1 and "'issued-in-error'" in err and "a void cannot be changed" in err, err
    # EBILL_TOKEN stands for --token, as for `ebill upload`
    code, _, err = ebill(b_fp, "--reason", "refund", extra_env={"EBILL_TOKEN": stack.tokens["a"]})
    assert code == 1 and "has no invoice" in err
    code, out, _ = ebill(a_other, "--reason", "duplicate", "--json", extra_env={"EBILL_TOKEN": stack.tokens["a"]})
    assert code == 0 and '"created": true' in out


def test_bad_input_is_named_by_its_option(stack: Stack, tmp_path: Path) -> None:
    [fp] = _upload(stack, "a", 1)
    ebill = _cli(stack, tmp_path)
    code, _, err = ebill(fp, "--reason", "refunded")
    assert code == 2 and "--reason" in err and all(c.value in err for c in VoidReason), err
    code, _, err = ebill(fp, "--reason", "refund", "--note", "x" * 501)
    assert code == 2 and "--note" in err
    code, _, err = ebill("0x1234", "--reason", "refund")
    assert code == 2 and "FINGERPRINT" in err, err
    code, _, err = ebill("0x" + "ab" * 32, "--reason", "refund")
    assert code == 1 and "no invoice" in err and "0x" + "ab" * 32 in err
    code, _, err = ebill("0x" + "ab" * 32, "--reason", "refund", token="a")
    assert code == 1 and "has no invoice" in err
    assert _void_of(stack, fp, "a") is None
    # an upper-case fingerprint is the same invoice
    code, out, _ = ebill(fp.upper().replace("0X", "0x"), "--reason", "refund")
    assert code == 0 and fp in out
