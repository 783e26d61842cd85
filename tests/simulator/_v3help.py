"""Helpers of the v3 simulator tests: a notify endpoint that keeps headers, a client, an order.

The simulator's signatures are checked with the ``cryptography`` package directly or with
``wxpay_mw.v3`` (the client side, not the simulator's code).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from wxpay_mw.config import WxPayConfig
from wxpay_mw.simulator import Simulator, stable_openid
from wxpay_mw.v3.calls import V3Request
from wxpay_mw.v3.client import WeChatPayV3Client
from wxpay_mw.v3.keys import VerifierKeys, load_certificate


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class V3Receiver:
    """A real HTTP server standing in for the host's v3 notify endpoint; ``answer`` gets
    each request and returns (status, body)."""

    answer: Callable[[Hit], tuple[int, bytes]] = lambda hit: (204, b"")
    hits: list[Hit] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/wxpay/v3/notify"

    def start(self) -> V3Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hit = Hit(self.path, dict(self.headers.items()), body)
                receiver.hits.append(hit)
                status, answer = receiver.answer(hit)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@contextmanager
def receiving(answer: Callable[[Hit], tuple[int, bytes]] | None = None) -> Iterator[V3Receiver]:
    receiver = V3Receiver() if answer is None else V3Receiver(answer=answer)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def client(
    sim: Simulator, notify_url: str = "http://127.0.0.1:9/n", **kw: Any
) -> WeChatPayV3Client:
    """The v3 client configured from the simulator's settings."""
    config: WxPayConfig = sim.config(notify_url=notify_url)
    return WeChatPayV3Client(config, sim.v3_settings(), **kw)


def openid(sim: Simulator) -> str:
    sim.login()  # makes the default test user known, as a real login would
    return stable_openid(sim.merchant.appid, "default")


def number(prefix: str = "T") -> str:
    return f"{prefix}{time.time_ns()}"


def place_and_pay(
    sim: Simulator, c: WeChatPayV3Client, *, total: int = 101, **pay: Any
) -> tuple[str, dict[str, str]]:
    """Place a v3 order and pay it; (out_trade_no, the pay result)."""
    no = number()
    prepay_id = c.jsapi_order(
        out_trade_no=no, total=total, description="测试商品", openid=openid(sim)
    )
    return no, sim.pay(c.request_payment(prepay_id), **pay)


def wechat_public_keys(sim: Simulator) -> dict[str, rsa.RSAPublicKey]:
    """WeChat's verification keys by serial, read from the files and certificates the
    simulator hands out (not from its signing code)."""
    keys = sim.v3_keys
    pub = serialization.load_pem_public_key(Path(keys.files.public_key).read_bytes())
    assert isinstance(pub, rsa.RSAPublicKey)
    out: dict[str, rsa.RSAPublicKey] = {keys.public_key_id: pub}
    for item in keys.platform:
        cert = load_certificate(item.pem)
        out[cert.serial_no] = cert.public_key
    return out


def all_keys(sim: Simulator) -> VerifierKeys:
    """VerifierKeys holding the public key and every platform certificate."""
    keys = sim.v3_keys
    pub = wechat_public_keys(sim)[keys.public_key_id]
    certs = [load_certificate(item.pem) for item in keys.platform]
    return VerifierKeys(public_key=pub, public_key_id=keys.public_key_id, certificates=certs)


def signature_verifies(key: rsa.RSAPublicKey, headers: dict[str, str], body: bytes) -> bool:
    """WeChat's answer signature, checked with ``cryptography`` alone."""
    lower = {k.lower(): v for k, v in headers.items()}
    message = (
        f"{lower['wechatpay-timestamp']}\n{lower['wechatpay-nonce']}\n".encode() + body + b"\n"
    )
    try:
        key.verify(
            base64.b64decode(lower["wechatpay-signature"]),
            message,
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def send(
    sim: Simulator, method: str, path: str, data: object | bytes | None = None
) -> requests.Response:
    """A correctly signed request of any body (to see what the simulator refuses after the
    signature); ``data`` is JSON-encoded unless it is bytes."""
    body = data if isinstance(data, bytes) else b"" if data is None else json.dumps(data).encode()
    settings = sim.v3_settings()
    req = V3Request(method, path, body, path)
    headers = req.headers(
        settings.private_key, mchid=sim.merchant.mch_id, serial_no=settings.cert_serial
    )
    return requests.request(method, sim.base_url + path, data=body, headers=headers, timeout=10)
