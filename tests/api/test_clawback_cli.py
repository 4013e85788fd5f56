"""``ebill clawback`` against the store a payer's service wrote: list, show, recover, write-off by two
members of the office; bad input named by its option, refusals in one line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from claims_stack import PAYER, ClaimsStack, claims_fixture
from clawback_support import voided_after_payout
from typer.testing import CliRunner

from ledger.cli import app

runner = CliRunner()


cs = claims_fixture(run_stamper=False, instant_max_fen=10**9)


def test_the_office_settles_a_clawback_from_the_command_line(cs: ClaimsStack, tmp_path: Path) -> None:
    claim, _ = voided_after_payout(cs)
    env = {"EBILL_HOME": str(tmp_path / "home"), "EBILL_DB": f"sqlite:///{tmp_path}/ebill.sqlite",
           "EBILL_PAYER_ID": PAYER, "COLUMNS": "250"}

    def ebill(*args: str, token: str | None = None) -> tuple[int, str, str]:
        extra = ["--token", cs.tokens[token]] if token else []
        r = runner.invoke(app, ["clawback", *args, *extra], env=env)
        assert "Traceback" not in r.output, r.output
        return r.exit_code, r.stdout, r.stderr

    code, out, _ = ebill("list")
    assert code == 0 and out.count("cbk_") == 1, out
    cb_id = out.split()[0]
    assert "requested" in out and "¥140.00 of ¥140.00 owed by hospital" in out and claim["id"] in out
    # a hospital's token lists what it owes; another hospital's lists nothing
    assert cb_id in ebill("list", token="a")[1]
    code, _, err = ebill("list", token="b")
    assert code == 0 and "no claw-backs" in err
    code, out, _ = ebill("show", cb_id, "--json")
    assert code == 0 and json.loads(out)["outstandingFen"] == 14_000
    # changing needs a payer's credential; bad input is named by its option; refusals are one line
    code, _, err = ebill("recover", cb_id, "--amount-fen", "100", "--reference", "B-1")
    assert code == 2 and "--token" in err
    code, _, err = ebill("recover", cb_id, "--amount-fen", "100", "--reference", "B-1", token="a")
    assert code == 1 and "forbidden" in err
    code, _, err = ebill("recover", cb_id, "--amount-fen", "0", "--reference", "B-1", token="payer")
    assert code == 2 and "--amount-fen" in err
    code, _, err = ebill("recover", cb_id, "--amount-fen", "100", "--reference", " ", token="payer")
    assert code == 2 and "--reference" in err
    code, _, err = ebill("recover", cb_id, "--amount-fen", "14001", "--reference", "B-1", token="payer")
    assert code == 1 and "exceeds-outstanding" in err and "¥140.01 is more than" in err
    code, out, _ = ebill("recover", cb_id, "--amount-fen", "4000", "--reference", "B-1", token="payer")
    assert code == 0 and "¥100.00 of ¥140.00" in out and "recovered" in out
    code, _, err = ebill("recover", cb_id, "--amount-fen", "4000", "--reference", "B-1", token="payer2")
    assert code == 0 and "nothing changed" in err
    # a write-off: proposed by one member, refused to the same, approved by another
    code, _, err = ebill("write-off", cb_id, "--reason", "the hospital closed", token="payer")
    assert code == 0 and "--approve" in err
    code, _, err = ebill("write-off", cb_id, "--reason", "agreed", "--approve", token="payer")
    assert code == 1 and "separation-of-duties" in err
    code, out, _ = ebill("write-off", cb_id, "--reason", "agreed", "--approve", token="payer2")
    assert code == 0 and "written-off" in out and "¥0.00 of ¥140.00" in out
    code, out, _ = ebill("list", "--state", "written-off")
    assert cb_id in out
    assert ebill("list", "--state", "paid")[0] == 2
    code, _, err = ebill("show", "cbk_" + "0" * 20)
    assert code == 1 and "not-found" in err
