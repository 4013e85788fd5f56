"""Checking a Besu QBFT kit without running Besu (``ebill chain besu-check``).

Every fact is read back from the files themselves and cross-checked against the keys,
never taken from the manifest alone:

- genesis: the items Besu needs, QBFT and no other consensus, Shanghai and Cancun at
  time 0, a zero base fee, the BFT mix hash, and an ``extraData`` that decodes (Besu's
  QBFT layout) to exactly the first validators, in order, the addresses of their key files
  (a validator added later is voted in, not named there);
- keys: each node's ``key`` is a secp256k1 key, mode 0600, and its enode URL (public key,
  address, port) is the one the static nodes and allow-lists name;
- allow-lists: every node's ``permissions_config.toml`` parses and allows every static
  node (Besu refuses to start otherwise) and the relayer's and members' accounts;
- node configurations: free gas (``min-gas-price`` and ``tx-pool-min-gas-price`` 0), RPC
  with JWT authentication and TLS, local permissioning on, and every file they name is
  mounted by the compose file from a file that exists in the kit;
- compose: parses, runs every node and only them at the addresses their enodes name,
  publishes no port twice;
- TLS and tokens: each keystore opens with its password, holds a certificate signed by
  the kit's CA, unexpired, for the names of the node's host allow-list; the services'
  and operator's tokens verify with the public key the nodes use, and allow what they must.

:func:`verify_kit` returns what it checked and raises :class:`~ledger.errors.InvalidInput`
naming every problem found (file and rule) otherwise.
"""

from __future__ import annotations

import contextlib
import json
import stat
import time
import tomllib
from pathlib import Path
from typing import Any

import jwt
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from eth_utils.address import is_address

from ledger.adapters.besu import extradata, kit, pki, render
from ledger.adapters.besu.keys import NodeKey, parse_enode
from ledger.adapters.besu.spec import CONTAINER, NODE_DIRS
from ledger.errors import FieldProblem, InvalidInput

REQUIRED_GENESIS = ("config", "nonce", "timestamp", "gasLimit", "difficulty", "mixHash", "coinbase", "extraData",
                    "alloc")
OTHER_CONSENSUS = ("ethash", "clique", "ibft2", "ibft")
#: config options that name a file inside the container
FILE_OPTIONS = ("genesis-file", "node-private-key-file", "static-nodes-file", "permissions-nodes-config-file",
                "permissions-accounts-config-file", "rpc-http-authentication-jwt-public-key-file",
                "rpc-http-tls-keystore-file", "rpc-http-tls-keystore-password-file")
REQUIRED_OPTIONS: dict[str, object] = {
    "min-gas-price": 0, "tx-pool-min-gas-price": 0, "rpc-http-enabled": True,
    "rpc-http-authentication-enabled": True, "rpc-http-authentication-jwt-algorithm": "ES256",
    "rpc-http-tls-enabled": True, "permissions-nodes-config-file-enabled": True,
    "permissions-accounts-config-file-enabled": True, "discovery-enabled": False,
}


class _Check:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[FieldProblem] = []
        self.checked: list[str] = []

    def fail(self, where: str, rule: str, message: str) -> None:
        self.problems.append(FieldProblem(where, rule, message))

    def expect(self, ok: bool, where: str, rule: str, message: str) -> bool:
        if not ok:
            self.fail(where, rule, message)
        return ok

    def json(self, rel: str) -> Any:
        try:
            return json.loads((self.root / rel).read_text())
        except (OSError, ValueError) as exc:
            self.fail(rel, "json", f"not readable JSON: {exc}")
            return None

    def private(self, rel: str) -> None:
        """A secret file: mode 0600 (a directory 0700) and no wider."""
        path = self.root / rel
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            self.fail(rel, "exists", "missing")
            return
        allowed = 0o700 if path.is_dir() else 0o600
        self.expect(mode & ~allowed == 0, rel, "mode", f"mode {mode:o}: a secret must be {allowed:o} or narrower")


def verify_kit(root: Path, *, now: float | None = None) -> list[str]:
    """Check the kit in ``root`` (see the module); the checks made, or :class:`InvalidInput` listing the problems."""
    check = _Check(Path(root))
    manifest = kit.read_manifest(check.root)
    clock = time.time() if now is None else now
    nodes = manifest["nodes"]
    keys = _node_keys(check, nodes, int(manifest["options"]["p2p_port"]))
    enodes = {n["name"]: n["enode"] for n in nodes}
    # the genesis names the first validators; later ones are voted in (besu-add-node), removed ones stay named
    validators = list(manifest["validators"])
    for node in nodes:
        if node.get("genesis") and node["name"] in keys:
            check.expect(keys[node["name"]].address in validators, f"{NODE_DIRS}/{node['name']}/node/key", "genesis",
                         "a genesis validator's key is not among the validators the genesis names")
    _genesis(check, manifest, validators)
    _static_nodes(check, set(enodes.values()))
    compose = _compose(check, nodes, manifest)
    accounts = {a.lower() for a in manifest["accounts"]}
    for node in nodes:
        _permissions(check, node["name"], set(enodes.values()), accounts)
        mounts = _mounts(compose, node["name"])
        _node_config(check, node, mounts, manifest["relayer"])
    _tls(check, nodes, clock)
    _tokens(check, clock)
    for rel in ("secrets", kit.CA_KEY, kit.SIGNING_KEY, kit.SERVICE_TOKEN, kit.OPERATOR_TOKEN):
        check.private(rel)
    if manifest["files"].get("relayerKey"):
        check.private(manifest["files"]["relayerKey"])
        try:
            relayer = NodeKey.read(check.root / manifest["files"]["relayerKey"]).address
            check.expect(relayer == manifest["relayer"], manifest["files"]["relayerKey"], "relayer",
                         f"holds the key of {relayer}, not of the relayer {manifest['relayer']}")
        except (OSError, ValueError) as exc:
            check.fail(manifest["files"]["relayerKey"], "key", str(exc))
    if check.problems:
        raise InvalidInput(check.problems)
    return check.checked


def _node_keys(check: _Check, nodes: list[dict[str, Any]], p2p_port: int) -> dict[str, NodeKey]:
    keys: dict[str, NodeKey] = {}
    for node in nodes:
        rel = f"{NODE_DIRS}/{node['name']}/node/key"
        try:
            key = NodeKey.read(check.root / rel)
        except (OSError, ValueError) as exc:
            check.fail(rel, "key", f"no node key: {exc}")
            continue
        check.private(rel)
        keys[node["name"]] = key
        check.expect(key.address == node["address"], rel, "address",
                     f"the key's address is {key.address}, the manifest says {node['address']}")
        try:
            public, host, port = parse_enode(node["enode"])
            check.expect(public == key.public_key and host == node["ip"] and port == p2p_port, rel, "enode",
                         f"the enode {node['enode'][:40]}… does not name this key at {node['ip']}:{p2p_port}")
        except ValueError as exc:
            check.fail(kit.MANIFEST, "enode", str(exc))
    check.checked.append(f"{len(keys)} node keys, their addresses and enode URLs")
    return keys


def _genesis(check: _Check, manifest: dict[str, Any], validators: list[str]) -> None:
    doc = check.json("genesis.json")
    if not isinstance(doc, dict):
        return
    rel = "genesis.json"
    missing = [k for k in REQUIRED_GENESIS if k not in doc]
    check.expect(not missing, rel, "required", f"missing {', '.join(missing)}")
    config = {k.lower(): v for k, v in (doc.get("config") or {}).items()}   # Besu reads items case-insensitively
    check.expect(config.get("chainid") == manifest["chainId"], rel, "chainId",
                 f"chainId {config.get('chainid')!r}, expected {manifest['chainId']}")
    for name, at in render.MILESTONES.items():
        check.expect(config.get(name.lower()) == at, rel, "milestone", f"{name} must be {at} (the contract targets "
                     f"Cancun), got {config.get(name.lower())!r}")
    check.expect(config.get("zerobasefee") is True, rel, "free-gas", "zeroBaseFee must be true (free gas)")
    check.expect(doc.get("baseFeePerGas", "0x0") in ("0x0", "0x00", 0), rel, "free-gas", "baseFeePerGas must be 0")
    others = [k for k in OTHER_CONSENSUS if k in config]
    check.expect(not others, rel, "consensus", f"QBFT only, but {', '.join(others)} is configured too")
    qbft = {k.lower(): v for k, v in (config.get("qbft") or {}).items()}
    period, timeout = qbft.get("blockperiodseconds"), qbft.get("requesttimeoutseconds")
    if check.expect(isinstance(period, int) and period >= 1, rel, "qbft", "qbft.blockperiodseconds must be >= 1"):
        check.expect(isinstance(timeout, int) and timeout > period, rel, "qbft",   # type: ignore[operator]
                     f"qbft.requesttimeoutseconds ({timeout!r}) must exceed the block period ({period})")
    check.expect(isinstance(qbft.get("epochlength"), int) and qbft["epochlength"] > 0, rel, "qbft",
                 "qbft.epochlength must be > 0")
    check.expect(doc.get("mixHash") == render.BFT_MIX_HASH, rel, "mixHash", "a BFT genesis carries the BFT mix hash")
    check.expect(doc.get("difficulty") == "0x1", rel, "difficulty", "a BFT genesis has difficulty 0x1")
    for key in ("nonce", "timestamp", "gasLimit", "difficulty", "gasUsed", "number"):
        value = doc.get(key, "0x0")
        check.expect(isinstance(value, str) and value.startswith("0x") and _is_hex(value[2:]), rel, "hex",
                     f"{key} must be a 0x-hex quantity, got {value!r}")
    with contextlib.suppress(TypeError, ValueError):   # (a malformed gasLimit is reported just above)
        check.expect(int(doc.get("gasLimit", "0x0"), 16) >= 16_000_000, rel, "gasLimit",
                     "gasLimit must hold a 12 M-gas reserveMany batch and more: >= 16,000,000")
    try:
        extra = extradata.decode(str(doc.get("extraData", "")))
    except ValueError as exc:
        check.fail(rel, "extraData", str(exc))
        return
    check.expect(list(extra.validators) == validators, rel, "extraData",
                 f"extraData names {list(extra.validators)}, the genesis validators are {validators}")
    check.expect(extra.vanity == bytes(32) and extra.vote is None and extra.round == 0 and not extra.seals, rel,
                 "extraData", "a genesis extraData has zero vanity, no vote, round 0 and no seals")
    check.checked.append(f"genesis: QBFT, free gas, Cancun at 0, extraData = the {len(validators)} validators' keys")


def _static_nodes(check: _Check, enodes: set[str]) -> None:
    doc = check.json("static-nodes.json")
    if doc is None:
        return
    if check.expect(isinstance(doc, list) and all(isinstance(e, str) for e in doc), "static-nodes.json", "list",
                    "must be a list of enode URLs"):
        check.expect(set(doc) == enodes, "static-nodes.json", "enodes",
                     "must list exactly the enode URLs of the kit's node keys")
        check.checked.append("static nodes = every node's enode URL")


def _permissions(check: _Check, name: str, enodes: set[str], accounts: set[str]) -> None:
    rel = f"{NODE_DIRS}/{name}/perm/permissions_config.toml"
    try:
        doc = tomllib.loads((check.root / rel).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        check.fail(rel, "toml", f"not readable TOML: {exc}")
        return
    nodes, allowed = doc.get("nodes-allowlist"), doc.get("accounts-allowlist")
    if check.expect(isinstance(nodes, list), rel, "nodes-allowlist", "missing"):
        assert isinstance(nodes, list)
        check.expect(enodes <= set(nodes), rel, "nodes-allowlist",
                     f"does not allow {len(enodes - set(nodes))} static node(s): Besu would refuse to start")
        for url in nodes:
            try:
                parse_enode(str(url))
            except ValueError as exc:
                check.fail(rel, "nodes-allowlist", str(exc))
    if check.expect(isinstance(allowed, list), rel, "accounts-allowlist", "missing"):
        assert isinstance(allowed, list)
        bad = [a for a in allowed if not (isinstance(a, str) and is_address(a))]
        check.expect(not bad, rel, "accounts-allowlist", f"not account addresses: {bad}")
        found = {str(a).lower() for a in allowed}
        check.expect(accounts <= found, rel, "accounts-allowlist",
                     f"does not allow {sorted(accounts - found)} (the relayer and members send transactions)")
    check.checked.append(f"{name}: allow-lists parse, allow every static node and every member account")


def _compose(check: _Check, nodes: list[dict[str, Any]], manifest: dict[str, Any]) -> dict[str, Any]:
    rel = "compose.yaml"
    try:
        doc = yaml.safe_load((check.root / rel).read_text())
    except (OSError, yaml.YAMLError) as exc:
        check.fail(rel, "yaml", f"not readable YAML: {exc}")
        return {}
    services = doc.get("services") if isinstance(doc, dict) else None
    if not check.expect(isinstance(services, dict), rel, "services", "no services"):
        return {}
    assert isinstance(services, dict)
    check.expect(set(services) == {n["name"] for n in nodes}, rel, "services",
                 f"runs {sorted(services)}, the kit's nodes are {[n['name'] for n in nodes]}")
    published: list[str] = []
    for node in nodes:
        service = services.get(node["name"]) or {}
        ip = ((service.get("networks") or {}).get("besu") or {}).get("ipv4_address")
        check.expect(ip == node["ip"], rel, node["name"], f"runs at {ip!r}, its enode names {node['ip']}")
        command = service.get("command") or []
        check.expect(f"--config-file={CONTAINER['node']}/config.toml" in command, rel, node["name"],
                     "must start Besu with its config.toml")
        check.expect(bool(service.get("image")), rel, node["name"], "names no image")
        published += [":".join(str(p).split(":")[:-1]) for p in service.get("ports") or []]
        for volume in service.get("volumes") or []:
            host = str(volume).split(":")[0]
            check.expect((check.root / host).exists(), rel, node["name"], f"mounts {host}, which is not in the kit")
    check.expect(len(published) == len(set(published)), rel, "ports", "a host port is published twice")
    rpc = services.get("rpc-node") or {}
    validators = {n["name"] for n in nodes if n["role"] == "validator"}
    check.expect(set(rpc.get("depends_on") or []) == validators, rel, "rpc-node", "must start after the validators")
    check.checked.append(f"compose: {len(services)} services at their enodes' addresses, every mount in the kit")
    return services


def _mounts(services: dict[str, Any], name: str) -> dict[str, str]:
    """Container path -> kit-relative host path of a service's bind mounts."""
    mounts = {}
    for volume in (services.get(name) or {}).get("volumes") or []:
        parts = str(volume).split(":")
        if len(parts) >= 2:
            mounts[parts[1]] = parts[0]
    return mounts


def _host_path(mounts: dict[str, str], inside: str) -> str | None:
    for target, source in sorted(mounts.items(), key=lambda m: -len(m[0])):
        if inside == target or inside.startswith(target.rstrip("/") + "/"):
            return source + inside[len(target):]
    return None


def _node_config(check: _Check, node: dict[str, Any], mounts: dict[str, str], relayer: str) -> None:
    rel = f"{NODE_DIRS}/{node['name']}/node/config.toml"
    try:
        doc = tomllib.loads((check.root / rel).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        check.fail(rel, "toml", f"not readable TOML: {exc}")
        return
    for option, wanted in REQUIRED_OPTIONS.items():
        check.expect(doc.get(option) == wanted, rel, option, f"must be {wanted!r}, got {doc.get(option)!r}")
    check.expect(doc.get("p2p-host") == node["ip"], rel, "p2p-host", f"must be the node's address {node['ip']}")
    check.expect(set(node["tlsNames"]) <= set(doc.get("host-allowlist") or []), rel, "host-allowlist",
                 "must allow every name the node's certificate is for")
    senders = [str(a).lower() for a in doc.get("tx-pool-priority-senders") or []]
    check.expect(relayer.lower() in senders, rel, "tx-pool-priority-senders", "the relayer must be a priority sender")
    for option in FILE_OPTIONS:
        inside = doc.get(option)
        if not check.expect(isinstance(inside, str), rel, option, "missing"):
            continue
        host = _host_path(mounts, str(inside))
        if check.expect(host is not None, rel, option, f"{inside} is mounted by no volume of compose.yaml"):
            check.expect((check.root / str(host)).is_file(), rel, option, f"{inside} is {host}, not a file in the kit")
    check.checked.append(f"{node['name']}: free gas, RPC with JWT and TLS, every file it names mounted")


def _tls(check: _Check, nodes: list[dict[str, Any]], clock: float) -> None:
    try:
        ca = x509.load_pem_x509_certificate((check.root / kit.CA_CERT).read_bytes())
    except (OSError, ValueError) as exc:
        check.fail(kit.CA_CERT, "certificate", f"no CA certificate: {exc}")
        return
    for node in nodes:
        tls = f"{NODE_DIRS}/{node['name']}/node/tls"
        check.private(f"{tls}/keystore.p12")
        check.private(f"{tls}/keystore.password")
        try:
            cert, _ = pki.open_keystore((check.root / tls / "keystore.p12").read_bytes(),
                                        (check.root / tls / "keystore.password").read_text())
        except (OSError, ValueError) as exc:
            check.fail(f"{tls}/keystore.p12", "keystore", f"does not open with its password file: {exc}")
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            check.fail(f"{tls}/keystore.p12", "issuer", f"the certificate is not signed by {kit.CA_CERT}")
        check.expect(cert.not_valid_after_utc.timestamp() > clock, f"{tls}/keystore.p12", "expiry",
                     f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d} (ebill chain besu-tls)")
        missing = set(node["tlsNames"]) - pki.certificate_names(cert)
        check.expect(not missing, f"{tls}/keystore.p12", "names", f"the certificate is not for {sorted(missing)}")
    check.checked.append(f"TLS: {len(nodes)} keystores open, signed by the kit's CA, for their nodes' names")


def _tokens(check: _Check, clock: float) -> None:
    try:
        public = (check.root / kit.JWT_PUBLIC).read_bytes()
    except OSError as exc:
        check.fail(kit.JWT_PUBLIC, "exists", str(exc))
        return
    for rel, needed in ((kit.SERVICE_TOKEN, pki.SERVICE_PERMISSIONS), (kit.OPERATOR_TOKEN, ("qbft:*", "perm:*"))):
        try:
            claims = jwt.decode((check.root / rel).read_text().strip(), public, algorithms=[pki.JWT_ALGORITHM],
                                options={"require": ["exp"], "verify_exp": False})
        except (OSError, jwt.PyJWTError) as exc:
            check.fail(rel, "jwt", f"does not verify with {kit.JWT_PUBLIC}: {exc}")
            continue
        check.expect(claims["exp"] > clock, rel, "expiry", "the token has expired (ebill chain besu-token)")
        held = claims.get("permissions") or []
        check.expect(all(p in held for p in needed), rel, "permissions", f"must allow {list(needed)}")
    check.checked.append("RPC tokens verify with the nodes' public key, unexpired, with their permissions")


def _is_hex(text: str) -> bool:
    try:
        int(text or "0", 16)
    except ValueError:
        return False
    return True

