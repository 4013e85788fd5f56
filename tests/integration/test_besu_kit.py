"""The Besu QBFT kit, checked statically (Besu does not run here).

A kit is generated once; each test reads it back with libraries no one here wrote
(eth-account and coincurve for keys and addresses, PyYAML for compose, tomllib for TOML,
PyJWT and cryptography for tokens and certificates), or breaks one thing in a copy and
expects :func:`verify_kit` to name it.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import coincurve
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.serialization import Encoding
from eth_account import Account
from eth_utils import to_checksum_address
from typer.testing import CliRunner

from ledger.adapters.besu import extradata, kit, pki
from ledger.adapters.besu.check import verify_kit
from ledger.adapters.besu.spec import KitSpec
from ledger.cli import app
from ledger.errors import InvalidInput

MEMBER = "0x" + "ab" * 20


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kit") / "kit"
    kit.generate(KitSpec(accounts=(MEMBER,), rpc_hostnames=("chain.bureau.example",)), out)
    return out


@pytest.fixture
def copy(made: Path, tmp_path: Path) -> Path:
    target = tmp_path / "kit"
    shutil.copytree(made, target)   # copy2: modes kept
    return target


def _manifest(root: Path) -> dict[str, object]:
    return json.loads((root / "kit.json").read_text())


def test_a_generated_kit_passes_its_check(made: Path) -> None:
    checked = verify_kit(made)
    assert len(checked) == 4 + 2 * 5 + 2 and "5 node keys" in checked[0]


def test_validators_in_extra_data_are_the_addresses_of_their_key_files(made: Path) -> None:
    genesis = json.loads((made / "genesis.json").read_text())
    keys = {n: (made / "nodes" / n / "node" / "key").read_text().strip() for n in
            ("validator-1", "validator-2", "validator-3", "validator-4", "rpc-node")}
    addresses = [Account.from_key(keys[f"validator-{i}"]).address for i in range(1, 5)]
    assert list(extradata.decode(genesis["extraData"]).validators) == addresses
    assert Account.from_key(keys["rpc-node"]).address not in addresses        # the RPC node does not validate
    config = genesis["config"]
    milestones = (config["shanghaiTime"], config["cancunTime"], config["londonBlock"], config["zeroBaseFee"])
    assert milestones == (0, 0, 0, True)
    assert config["qbft"] == {"blockperiodseconds": 2, "epochlength": 30000, "requesttimeoutseconds": 6}
    assert genesis["baseFeePerGas"] == "0x0" and int(genesis["gasLimit"], 16) == 100_000_000 and genesis["alloc"] == {}


def test_enodes_static_nodes_and_allow_lists_agree_with_the_keys(made: Path) -> None:
    manifest = _manifest(made)
    static = json.loads((made / "static-nodes.json").read_text())
    for node in manifest["nodes"]:  # type: ignore[attr-defined]
        secret = bytes.fromhex((made / "nodes" / node["name"] / "node" / "key").read_text().strip()[2:])
        public = coincurve.PrivateKey(secret).public_key.format(compressed=False)[1:]
        assert node["enode"] == f"enode://{public.hex()}@{node['ip']}:30303" and node["enode"] in static
        assert (made / "nodes" / node["name"] / "node" / "key.pub").read_text() == "0x" + public.hex()
        perm = tomllib.loads((made / "nodes" / node["name"] / "perm" / "permissions_config.toml").read_text())
        assert sorted(perm["nodes-allowlist"]) == sorted(static)
        assert perm["accounts-allowlist"] == [manifest["relayer"], to_checksum_address(MEMBER)]
    relayer_key = (made / "secrets" / "relayer.key").read_text()
    assert Account.from_key(relayer_key).address == manifest["relayer"]


def test_every_secret_is_0600_in_a_0700_directory(made: Path) -> None:
    secrets = [made / "secrets" / n for n in ("ca-key.pem", "jwt-signing-key.pem", "relayer.key", "ebill-rpc.jwt",
                                              "operator.jwt")]
    secrets += [p for p in (made / "nodes").rglob("*") if p.name in ("key", "keystore.p12", "keystore.password")]
    assert len(secrets) == 5 + 3 * 5
    assert {stat.S_IMODE(p.stat().st_mode) for p in secrets} == {0o600}
    assert stat.S_IMODE((made / "secrets").stat().st_mode) == 0o700
    # what the nodes mount holds no secret of the operator's
    compose = yaml.safe_load((made / "compose.yaml").read_text())
    mounted = [v.split(":")[0] for s in compose["services"].values() for v in s["volumes"]]
    assert not [m for m in mounted if "secrets" in m]


def test_compose_runs_each_node_with_its_files(made: Path) -> None:
    compose = yaml.safe_load((made / "compose.yaml").read_text())
    services = compose["services"]
    assert list(services) == ["validator-1", "validator-2", "validator-3", "validator-4", "rpc-node"]
    assert services["rpc-node"]["depends_on"] == ["validator-1", "validator-2", "validator-3", "validator-4"]
    assert services["rpc-node"]["ports"][0] == "0.0.0.0:8545:8545"
    assert all(p.startswith("127.0.0.1:") for s in list(services.values())[:4] for p in s["ports"])
    assert compose["networks"]["besu"]["ipam"]["config"] == [{"subnet": "172.16.239.0/24"}]
    for name, service in services.items():
        assert service["image"] == "hyperledger/besu:26.2.0" and service["command"] == [
            "--config-file=/config/node/config.toml"]
        for volume in service["volumes"]:
            assert (made / volume.split(":")[0]).exists(), (name, volume)
        config = tomllib.loads((made / "nodes" / name / "node" / "config.toml").read_text())
        assert (config["min-gas-price"], config["tx-pool-min-gas-price"]) == (0, 0)
        assert config["rpc-http-authentication-enabled"] and config["rpc-http-tls-enabled"]
        assert config["tx-pool-priority-senders"] == [_manifest(made)["relayer"]]


def test_tls_and_tokens_verify_with_the_kits_keys(made: Path) -> None:
    ca = (made / "tls" / "ca.pem").read_bytes()
    tls = made / "nodes" / "rpc-node" / "node" / "tls"
    cert, chain = pki.open_keystore((tls / "keystore.p12").read_bytes(), (tls / "keystore.password").read_text())
    assert pki.certificate_names(cert) == {"rpc-node", "172.16.239.10", "localhost", "127.0.0.1",
                                           "chain.bureau.example"}
    assert [c.public_bytes(Encoding.PEM) for c in chain] == [ca]
    public = (made / "rpc" / "jwt-public.pem").read_bytes()
    service = jwt.decode((made / "secrets" / "ebill-rpc.jwt").read_text().strip(), public, algorithms=["ES256"])
    assert service["permissions"] == ["eth:*", "net:version", "web3:clientVersion"]
    assert 89 * 86400 < service["exp"] - service["iat"] <= 90 * 86400
    assert not pki.permits(service["permissions"], "qbft_proposeValidatorVote")
    assert not pki.permits(service["permissions"], "perm_addAccountsToAllowlist")
    operator = jwt.decode((made / "secrets" / "operator.jwt").read_text().strip(), public, algorithms=["ES256"])
    assert pki.permits(operator["permissions"], "qbft_proposeValidatorVote")
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]{86}", (made / "secrets" / "ebill-rpc.jwt").read_text().strip())


def _edit_json(rel: str, change: Callable[[dict[str, object]], None]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        doc = json.loads((root / rel).read_text())
        change(doc)
        (root / rel).write_text(json.dumps(doc))
    return edit


def _sub(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        text = (root / rel).read_text()
        assert old in text, (rel, old)
        (root / rel).write_text(text.replace(old, new, 1))
    return edit


def _swap_validators(doc: dict[str, object]) -> None:
    extra = extradata.decode(str(doc["extraData"]))
    doc["extraData"] = extradata.genesis_extra_data([extra.validators[1], extra.validators[0], *extra.validators[2:]])


def _foreign_token(root: Path) -> None:
    signing, _ = pki.new_signing_key()
    (root / "secrets" / "ebill-rpc.jwt").write_text(pki.issue_token(signing, permissions=["eth:*"], days=9,
                                                                    subject="x"))


V1 = "nodes/validator-1"
BROKEN = [
    ("validators-swapped", _edit_json("genesis.json", _swap_validators), "genesis.json", "extraData"),
    ("cancun-later", _edit_json("genesis.json", lambda d: d["config"].update(cancunTime=1)),  # type: ignore[attr-defined]
     "genesis.json", "milestone"),
    ("priced-gas", _edit_json("genesis.json", lambda d: d["config"].pop("zeroBaseFee")),  # type: ignore[attr-defined]
     "genesis.json", "free-gas"),
    ("clique-too", _edit_json("genesis.json", lambda d: d["config"].update(clique={})),  # type: ignore[attr-defined]
     "genesis.json", "consensus"),
    ("timeout-short", _edit_json("genesis.json", lambda d: d["config"]["qbft"].update(  # type: ignore[index]
        requesttimeoutseconds=2)), "genesis.json", "qbft"),
    ("garbled-extra", _edit_json("genesis.json", lambda d: d.update(extraData="0x1234")), "genesis.json", "extraData"),
    ("static-node-missing", _edit_json("static-nodes.json", lambda d: d.pop()), "static-nodes.json", "enodes"),  # type: ignore[attr-defined]
    ("peer-not-allowed", lambda r: _sub(f"{V1}/perm/permissions_config.toml", "enode://", "enode://00")(r),
     f"{V1}/perm/permissions_config.toml", "nodes-allowlist"),
    ("relayer-not-allowed", lambda r: _sub(f"{V1}/perm/permissions_config.toml", _manifest(r)["relayer"],  # type: ignore[arg-type]
                                           "0x" + "cd" * 20)(r), f"{V1}/perm/permissions_config.toml",
     "accounts-allowlist"),
    ("bad-toml", _sub(f"{V1}/perm/permissions_config.toml", "accounts-allowlist=[", "accounts-allowlist=(["),
     f"{V1}/perm/permissions_config.toml", "toml"),
    ("pool-floor", _sub(f"{V1}/node/config.toml", "tx-pool-min-gas-price=0", "tx-pool-min-gas-price=1000"),
     f"{V1}/node/config.toml", "tx-pool-min-gas-price"),
    ("no-auth", _sub(f"{V1}/node/config.toml", "rpc-http-authentication-enabled=true",
                     "rpc-http-authentication-enabled=false"),
     f"{V1}/node/config.toml", "rpc-http-authentication-enabled"),
    ("unmounted-key", _sub("compose.yaml", "- ./rpc/jwt-public.pem:/config/rpc/jwt-public.pem:ro\n", ""),
     f"{V1}/node/config.toml", "rpc-http-authentication-jwt-public-key-file"),
    ("moved-node", _sub("compose.yaml", "ipv4_address: 172.16.239.11", "ipv4_address: 172.16.239.99"),
     "compose.yaml", "validator-1"),
    ("missing-file", lambda r: (r / "static-nodes.json").unlink(), "static-nodes.json", "json"),
    ("readable-key", lambda r: (r / V1 / "node" / "key").chmod(0o644), f"{V1}/node/key", "mode"),
    ("wrong-password", lambda r: (r / V1 / "node" / "tls" / "keystore.password").write_text("guess"),
     f"{V1}/node/tls/keystore.p12", "keystore"),
    ("foreign-token", _foreign_token, kit.SERVICE_TOKEN, "jwt"),
]


@pytest.mark.parametrize(("name", "breaks", "where", "rule"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_kit_is_refused_naming_the_file_and_rule(copy: Path, name: str, breaks: Callable[[Path], None],
                                                          where: str, rule: str) -> None:
    breaks(copy)
    with pytest.raises(InvalidInput) as refused:
        verify_kit(copy)
    found = [(p.field, p.rule) for p in refused.value.problems]
    assert (where, rule) in found, found


def test_expired_certificates_and_tokens_are_refused_and_renewed(copy: Path) -> None:
    later = time.time() + 400 * 86400
    with pytest.raises(InvalidInput) as refused:
        verify_kit(copy, now=later)
    rules = {p.rule for p in refused.value.problems}
    assert {"expiry"} == rules and len(refused.value.problems) == 5 + 2   # five certificates, two tokens
    old_token = (copy / kit.SERVICE_TOKEN).read_text()
    kit.issue_tokens(copy, 500)
    kit.renew_certificates(copy, 800)
    assert verify_kit(copy, now=later)
    assert (copy / kit.SERVICE_TOKEN).read_text() != old_token
    aside = [p.name for p in (copy / "secrets").iterdir() if ".old-" in p.name]
    assert len(aside) == 2 and all(stat.S_IMODE((copy / "secrets" / a).stat().st_mode) == 0o600 for a in aside)


@pytest.mark.parametrize(("options", "field"), [
    ({"validators": 0}, "validators"), ({"chain_id": 1}, "chain-id"), ({"block_period": 0}, "block-period"),
    ({"request_timeout": 2}, "request-timeout"), ({"gas_limit": 15_000_000}, "gas-limit"),
    ({"subnet": "10.0.0.0/29"}, "subnet"), ({"subnet": "fd00::/64"}, "subnet"), ({"subnet": "nope"}, "subnet"),
    ({"rpc_hostnames": ("bad_name!",)}, "rpc-hostname"), ({"accounts": ("0x12",)}, "account"),
    ({"token_days": 0}, "token-days"), ({"rpc_bind": "everywhere"}, "rpc-bind"),
])
def test_bad_options_are_refused(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        KitSpec(**options)  # type: ignore[arg-type]
    assert field in [p.field for p in refused.value.problems]


def test_the_command_line_never_overwrites_a_kit_and_reports_a_broken_one(copy: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["chain", "besu-kit", "--out", str(copy)])
    assert r.exit_code == 2 and "not empty" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["chain", "besu-kit", "--out", str(tmp_path / "tiny"), "--validators", "1",
                                 "--gas-limit", "1000"])
    assert r.exit_code == 2 and "gas-limit" in r.output and not (tmp_path / "tiny").exists()
    (copy / "nodes" / "rpc-node" / "node" / "key").chmod(0o640)
    r = CliRunner().invoke(app, ["chain", "besu-check", str(copy)], env={"COLUMNS": "300"})
    assert r.exit_code == 2 and "nodes/rpc-node/node/key" in r.output and "mode" in r.output
    r = CliRunner().invoke(app, ["chain", "besu-token", str(copy), "--days", "30"], env={"COLUMNS": "300"})
    assert r.exit_code == 0 and "ebill-rpc.jwt" in r.output


def test_a_leaked_token_is_revoked_by_rotating_the_signing_key(copy: Path) -> None:
    leaked = (copy / kit.SERVICE_TOKEN).read_text().strip()
    r = CliRunner().invoke(app, ["chain", "besu-token", str(copy), "--rotate-key"], env={"COLUMNS": "300"})
    assert r.exit_code == 0 and "restart them one at a time" in r.output, r.output
    public = (copy / kit.JWT_PUBLIC).read_bytes()
    with pytest.raises(jwt.InvalidSignatureError):
        pki.verify_token(leaked, public)
    assert pki.verify_token((copy / kit.OPERATOR_TOKEN).read_text().strip(), public)["permissions"]
    assert verify_kit(copy)


def test_a_validator_is_added_and_another_removed_without_touching_the_genesis(copy: Path) -> None:
    genesis = (copy / "genesis.json").read_text()
    r = CliRunner().invoke(app, ["chain", "besu-add-node", str(copy), "validator-5"], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    manifest = _manifest(copy)
    added = manifest["nodes"][-1]  # type: ignore[index]
    assert (added["name"], added["role"], added["genesis"], added["ip"]) == ("validator-5", "validator", False,
                                                                             "172.16.239.15")
    assert "qbft_proposeValidatorVote" in r.output and added["address"] in r.output
    assert (copy / "genesis.json").read_text() == genesis               # voted in, not written into history
    secret = (copy / "nodes" / "validator-5" / "node" / "key").read_text().strip()
    assert Account.from_key(secret).address == added["address"]
    static = json.loads((copy / "static-nodes.json").read_text())
    assert added["enode"] in static and len(static) == 6
    for name in ("validator-1", "rpc-node", "validator-5"):
        perm = tomllib.loads((copy / "nodes" / name / "perm" / "permissions_config.toml").read_text())
        assert sorted(perm["nodes-allowlist"]) == sorted(static)
    compose = yaml.safe_load((copy / "compose.yaml").read_text())
    assert compose["services"]["validator-5"]["ports"] == ["127.0.0.1:8550:8545", "127.0.0.1:9550:9545"]
    assert compose["services"]["rpc-node"]["depends_on"][-1] == "validator-5"
    assert verify_kit(copy)

    r = CliRunner().invoke(app, ["chain", "besu-remove-node", str(copy), "validator-2"], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert "perm_removeNodesFromAllowlist" in r.output
    assert not (copy / "nodes" / "validator-2").exists()
    assert [p for p in (copy / "nodes").iterdir() if p.name.startswith("validator-2.removed-")]
    assert "validator-2" not in yaml.safe_load((copy / "compose.yaml").read_text())["services"]
    assert len(json.loads((copy / "static-nodes.json").read_text())) == 5
    assert verify_kit(copy)      # the genesis still names validator-2: it was one of the first validators

    for args, message in ((["besu-add-node", str(copy), "validator-1"], "taken"),
                          (["besu-add-node", str(copy), "bad name"], "plain name"),
                          (["besu-remove-node", str(copy), "rpc-node"], "add another"),
                          (["besu-remove-node", str(copy), "nobody"], "no node")):
        r = CliRunner().invoke(app, ["chain", *args], env={"COLUMNS": "300"})
        assert r.exit_code in (1, 2) and message in r.output and "Traceback" not in r.output, (args, r.output)
