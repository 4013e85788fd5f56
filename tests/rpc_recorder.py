"""A JSON-RPC proxy in front of a node that records every method called through it, for end-to-end tests.

It stands where a Besu RPC node of the kit stands (``deploy/besu``): it serves TLS with the
kit's RPC-node certificate, admits only requests bearing a token that verifies with the
kit's public key (Besu: HTTP 401 otherwise) and whose permissions allow the method (Besu:
a JSON-RPC error), and forwards the rest, byte for byte, to the node behind it (anvil).
Whatever reaches it is recorded: the method of every call, batches included, and every
refusal, so a test can assert what the service asked of the chain.
"""

from __future__ import annotations

import collections
import http.client
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ledger.adapters.besu import pki


class RecordingProxy:
    """``https://127.0.0.1:<port>`` in front of ``upstream`` (an ``http://`` node)."""

    def __init__(self, upstream: str, *, kit: Path, node: str = "rpc-node") -> None:
        self.upstream = urlsplit(upstream)
        self.public_key = (kit / "rpc" / "jwt-public.pem").read_bytes()
        self.methods: collections.Counter[str] = collections.Counter()
        self.refused: list[str] = []
        self._lock = threading.Lock()
        tls = kit / "nodes" / node / "node" / "tls"
        key, cert, chain = pkcs12.load_key_and_certificates((tls / "keystore.p12").read_bytes(),
                                                            (tls / "keystore.password").read_text().encode())
        assert key is not None and cert is not None
        pem = tls.parent.parent.parent.parent / f".{node}-proxy.pem"   # the test's copy, beside the kit
        pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
                        + cert.public_bytes(serialization.Encoding.PEM)
                        + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
        pem.chmod(0o600)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pem)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://localhost:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="rpc-recorder", daemon=True)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def record(self, method: str) -> None:
        with self._lock:
            self.methods[method] += 1

    def refuse(self, why: str) -> None:
        with self._lock:
            self.refused.append(why)

    def forward(self, body: bytes) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            conn.request("POST", self.upstream.path or "/", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def _handler(proxy: RecordingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"   # kept-alive connections, as the service's clients keep them

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            auth = self.headers.get("Authorization", "")
            try:
                claims = pki.verify_token(auth.removeprefix("Bearer "), proxy.public_key)
            except jwt.PyJWTError as exc:
                proxy.refuse(f"no valid token ({auth[:16]!r}…): {exc}")
                return self._answer(401, b"Unauthorized")
            try:
                doc = json.loads(body)
            except ValueError:
                return self._answer(400, b"not JSON")
            calls = doc if isinstance(doc, list) else [doc]
            for call in calls:
                method = str(call.get("method"))
                proxy.record(method)
                if not pki.permits(claims.get("permissions") or [], method):
                    proxy.refuse(f"{method}: not in the token's permissions")
                    return self._answer(200, json.dumps({"jsonrpc": "2.0", "id": call.get("id"), "error": {
                        "code": -40100, "message": "Unauthorized"}}).encode())
            status, answer = proxy.forward(body)
            return self._answer(status, answer)

        def _answer(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
