"""Reading the ledger contract's events from a node, decoded into plain JSON-able dicts.

Each event becomes ``{"name", "block", "logIndex", "blockHash", "tx", "time",
"fingerprint" (bytes or None), "args"}``; member ids (bytes32 ASCII) become strings,
other bytes become 0x-hex, so events can be stored as JSON and replayed. A void's
``reason`` stays 0x-hex here (lossless: old voids hold free text cut at 32 bytes);
:func:`ledger.voids.reason_from_bytes32` reads it as a code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_typing import ABIEvent
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from web3.exceptions import BlockNotFound

from ledger.adapters.contract_codec import bytes32_to_id, id_to_bytes32
from ledger.adapters.web3_chain import Web3Ledger
from ledger.claims.stamps import STAMP_EVENTS
from ledger.errors import ChainUnavailable
from ledger.hashing import Fingerprint
from ledger.onchain import ChainVoid, Stamp
from ledger.voids import reason_from_bytes32

_ID_ARGS = {"memberId", "institutionId", "payerId"}
#: eth_getLogs block span per request (nodes cap it; Besu's default is 1000 blocks... per its config)
MAX_SPAN = 2000


class EventReader:
    """Decodes the ledger's logs over block ranges."""

    def __init__(self, ledger: Web3Ledger) -> None:
        self.ledger = ledger
        self.w3 = ledger.w3
        events: list[dict[str, Any]] = [dict(abi) for abi in ledger.contract.abi if abi.get("type") == "event"]
        self._abis = {"0x" + event_abi_to_log_topic(cast(ABIEvent, abi)).hex(): abi for abi in events}
        self._times: dict[int, datetime] = {}

    def head(self) -> int:
        try:
            return int(self.w3.eth.block_number)
        except Exception as exc:  # provider-specific connection errors
            raise ChainUnavailable(f"cannot read the chain head: {exc}") from exc

    def block_hash(self, number: int) -> str | None:
        """The hash of block ``number``; None only when the node answers that it has no such block.

        A node that does not answer raises :class:`ChainUnavailable`: the chain worker takes
        None for "the node lost the block" and rebuilds its whole index from the chain, which
        a lost connection (a reset, a partition) must not set off."""
        try:
            block = self.w3.eth.get_block(number)
        except BlockNotFound:  # the node lost that height (a dev node restarted from an older state)
            return None
        except Exception as exc:  # provider-specific connection errors, a reply cut short
            raise ChainUnavailable(f"cannot read block {number}: {exc}") from exc
        return "0x" + bytes(block["hash"]).hex()

    def read(self, from_block: int, to_block: int) -> list[dict[str, Any]]:
        """Decoded events in ``[from_block, to_block]``, in chain order."""
        events: list[dict[str, Any]] = []
        start = from_block
        while start <= to_block:
            end = min(to_block, start + MAX_SPAN - 1)
            try:
                logs = self.w3.eth.get_logs({"address": self.ledger.contract.address,
                                             "fromBlock": start, "toBlock": end})
            except Exception as exc:
                raise ChainUnavailable(f"cannot read events {start}-{end}: {exc}") from exc
            for log in logs:
                decoded = self._decode(log)
                if decoded is not None:
                    events.append(decoded)
            start = end + 1
        return events

    def stamps(self, fingerprint: bytes) -> list[Stamp]:
        """Every reimbursement stamp on ``fingerprint`` (the events index it: one filtered query)."""
        topics = [t for t, abi in self._abis.items() if abi.get("name") in STAMP_EVENTS]
        try:
            logs = self.w3.eth.get_logs({"address": self.ledger.contract.address, "fromBlock": 0,
                                         "toBlock": "latest", "topics": [topics, "0x" + bytes(fingerprint).hex()]})
        except Exception as exc:
            raise ChainUnavailable(f"cannot read the stamps of 0x{bytes(fingerprint).hex()}: {exc}") from exc
        found = []
        for log in logs:
            e = self._decode(log)
            if e is not None:
                a = e["args"]
                found.append(Stamp(a["payerId"], a["claimId"], int(a["amountFen"]), STAMP_EVENTS[e["name"]].value,
                                   e["block"], e["tx"]))
        return found

    def void_of(self, issuer: str, fingerprint: Fingerprint) -> ChainVoid | None:
        """``issuer``'s void of ``fingerprint`` as its ``InvoiceVoided`` event records it (None: not
        voided). Both are indexed topics: one filtered query; the contract allows one void."""
        topic = next(t for t, abi in self._abis.items() if abi.get("name") == "InvoiceVoided")
        try:
            logs = self.w3.eth.get_logs({"address": self.ledger.contract.address, "fromBlock": 0, "toBlock": "latest",
                                         "topics": [topic, "0x" + bytes(fingerprint).hex(),
                                                    "0x" + id_to_bytes32(issuer).hex()]})
        except Exception as exc:
            raise ChainUnavailable(f"cannot read the void of 0x{bytes(fingerprint).hex()}: {exc}") from exc
        for log in logs:
            e = self._decode(log)
            if e is not None:
                return ChainVoid(reason_from_bytes32(bytes.fromhex(e["args"]["reason"][2:])), e["block"], e["tx"])
        return None

    def _decode(self, log: Any) -> dict[str, Any] | None:
        topic0 = log["topics"][0]
        key = topic0 if isinstance(topic0, str) else "0x" + bytes(topic0).hex()
        abi = self._abis.get(key)
        if abi is None:
            return None
        decoded = _decode_args(abi, log)
        args: dict[str, Any] = {}
        fingerprint = None
        for name, value in decoded.items():
            if name in _ID_ARGS:
                args[name] = bytes32_to_id(value)
            elif isinstance(value, bytes | bytearray):
                args[name] = "0x" + bytes(value).hex()
                if name == "fingerprint":
                    fingerprint = bytes(value)
            else:
                args[name] = value
        block = int(log["blockNumber"])
        return {
            "name": abi["name"], "block": block, "logIndex": int(log["logIndex"]),
            "blockHash": "0x" + bytes(log["blockHash"]).hex(), "tx": "0x" + bytes(log["transactionHash"]).hex(),
            "time": self._time(block), "fingerprint": fingerprint, "args": args,
        }

    def _time(self, block: int) -> datetime:
        if block not in self._times:
            if len(self._times) > 10_000:
                self._times.clear()
            try:
                ts = int(self.w3.eth.get_block(block)["timestamp"])
            except Exception as exc:  # as in read(): the caller's loop retries a ChainUnavailable
                raise ChainUnavailable(f"cannot read the time of block {block}: {exc}") from exc
            self._times[block] = datetime.fromtimestamp(ts, UTC)
        return self._times[block]


def _decode_args(abi: dict[str, Any], log: Any) -> dict[str, Any]:
    """An event's arguments by name: indexed ones from the topics, the rest from the data.

    The ledger's events have only static types, so an indexed value *is* its topic. This
    is what web3's ``get_event_data`` does, for these events, at a fifth of its cost (it
    validates and reformats generically; the indexer decodes two events per claim).
    """
    inputs = abi["inputs"]
    topics = log["topics"][1:]
    data = log["data"]
    plain = [i for i in inputs if not i["indexed"]]
    values = iter(abi_decode([i["type"] for i in plain], bytes(data))) if plain else iter(())
    out: dict[str, Any] = {}
    t = 0
    for i in inputs:
        if i["indexed"]:
            value = abi_decode([i["type"]], bytes(topics[t]))[0]
            t += 1
        else:
            value = next(values)
        out[i["name"]] = to_checksum_address(value) if i["type"] == "address" else value
    return out
