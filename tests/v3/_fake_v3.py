"""A scripted WeChat Pay v3 server over real HTTP, for the client tests.

It records each request with the merchant's Authorization checked against the
merchant's public key, and answers what the test scripted: signed with WeChat's key (the
Go test key, as ``PUB_KEY_ID_...`` or as certificate ``F5765756002FDD77``), badly signed,
unsigned, late or an error.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from ._vectors import private_key

PUB_ID = "PUB_KEY_ID_0000000000000024101100397200000006"
CERT_SERIAL = "F5765756002FDD77"
MERCHANT_SERIAL = "5F1C72E2A8931B72A2E13AF8DEE92471EB397115"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    auth: dict[str, str]
    auth_ok: bool


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    serial: str | None = PUB_ID  # None: unsigned
    timestamp: int | None = None
    bad_signature: bool = False
    hold: bool = False
    content_type: str = "application/json"


Script = Reply | Callable[[Received], Reply]


def sign_answer(body: bytes, ts: str, nonce: str) -> str:
    raw = private_key("go_test_key").sign(
        f"{ts}\n{nonce}\n".encode() + body + b"\n", padding.PKCS1v15(), hashes.SHA256()
    )
    return base64.b64encode(raw).decode()


@dataclass
class FakeV3:
    base_url: str = ""
    replies: dict[str, Script] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def on(self, method_path: str, reply: Script) -> None:
        """Script the answer to ``"GET /v3/..."`` (path without the query)."""
        self.replies[method_path] = reply

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        headers = {k: v for k, v in handler.headers.items()}
        auth = dict(re.findall(r'(\w+)="([^"]*)"', headers.get("Authorization", "")))
        message = (
            f"{handler.command}\n{handler.path}\n{auth.get('timestamp')}\n"
            f"{auth.get('nonce_str')}\n".encode()
            + body
            + b"\n"
        )
        try:
            private_key("java_merchant_key").public_key().verify(
                base64.b64decode(auth.get("signature", "")),
                message,
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
            ok = auth.get("serial_no") == MERCHANT_SERIAL
        except (InvalidSignature, ValueError):
            ok = False
        got = Received(handler.command, handler.path, headers, body, auth, ok)
        self.received.append(got)
        script = self.replies.get(f"{handler.command} {handler.path.split('?')[0]}")
        reply = (script(got) if callable(script) else script) or Reply(404, b"no script")
        if reply.hold:
            self.release.wait(30)
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.send_header("Request-ID", "RID-42")
        if reply.serial is not None:
            ts = str(reply.timestamp if reply.timestamp is not None else int(time.time()))
            signature = sign_answer(reply.body, ts, "n0nce")
            if reply.bad_signature:
                signature = sign_answer(reply.body + b" ", ts, "n0nce")
            handler.send_header("Wechatpay-Timestamp", ts)
            handler.send_header("Wechatpay-Nonce", "n0nce")
            handler.send_header("Wechatpay-Signature", signature)
            handler.send_header("Wechatpay-Serial", reply.serial)
        handler.end_headers()
        handler.wfile.write(reply.body)


@contextmanager
def serve() -> Iterator[FakeV3]:
    fake = FakeV3()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.answer(self)

        def do_POST(self) -> None:
            fake.answer(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
