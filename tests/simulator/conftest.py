"""Helpers for the simulator tests: a running simulator, signed calls, a notify receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from wxpay_mw import signing
from wxpay_mw.simulator import Simulator
from wxpay_mw.xmlmsg import from_xml, to_xml

SUCCESS_XML = to_xml({"return_code": "SUCCESS", "return_msg": "OK"})
FAIL_XML = to_xml({"return_code": "FAIL", "return_msg": "busy"})


@dataclass
class Received:
    at: float
    path: str
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server standing in for the merchant's notify endpoint."""

    answer: Callable[[int], tuple[int, bytes]] = lambda n: (200, SUCCESS_XML)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/wxpay/notify"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    n = len(receiver.received)
                    receiver.received.append(Received(time.time(), self.path, body))
                status, answer = receiver.answer(n)
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
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


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(time_factor=0.001) as simulator:
        yield simulator


def signed(
    sim: Simulator, params: dict[str, str], *, key: str | None = None, sign_type: str = "MD5"
) -> bytes:
    """``params`` plus appid, mch_id, nonce_str and a sign, as XML."""
    message = {
        "appid": sim.merchant.appid,
        "mch_id": sim.merchant.mch_id,
        "nonce_str": signing.make_nonce(),
        **params,
    }
    if sign_type != "MD5":
        message["sign_type"] = sign_type
    message = {k: v for k, v in message.items() if v is not None}
    message["sign"] = signing.sign(message, key or sim.merchant.api_key, sign_type)  # type: ignore[arg-type]
    return to_xml(message)


def post(sim: Simulator, path: str, body: bytes, **kwargs: Any) -> requests.Response:
    return requests.post(
        sim.base_url + path, data=body, timeout=kwargs.pop("timeout", 10), **kwargs
    )


def call(
    sim: Simulator,
    path: str,
    params: dict[str, str],
    *,
    key: str | None = None,
    sign_type: str = "MD5",
    verify: bool = True,
) -> dict[str, str]:
    """POST a signed request; parse the answer and check its sign when it has one."""
    response = post(sim, path, signed(sim, params, key=key, sign_type=sign_type))
    assert response.status_code == 200, response.text
    answer = from_xml(response.content)
    if verify and answer["return_code"] == "SUCCESS" and "sign" in answer:
        assert signing.verify(answer, key or sim.merchant.api_key, sign_type)  # type: ignore[arg-type]
    return answer


def order_params(sim: Simulator, notify_url: str, /, **changes: str) -> dict[str, str]:
    openid = changes.pop("openid", None)
    if openid is None:
        sim.login()  # makes the default test user known, as a real login would
        from wxpay_mw.simulator import stable_openid

        openid = stable_openid(sim.merchant.appid, "default")
    params = {
        "body": "测试商店-商品",
        "out_trade_no": "T" + signing.make_nonce()[:20],
        "total_fee": "101",
        "spbill_create_ip": "127.0.0.1",
        "notify_url": notify_url,
        "trade_type": "JSAPI",
        "openid": openid,
    }
    params.update(changes)
    return params


def place(
    sim: Simulator,
    notify_url: str = "http://127.0.0.1:9/n",
    /,
    *,
    sign_type: str = "MD5",
    **changes: str,
) -> tuple[dict[str, str], dict[str, str]]:
    """Place an order; (request params, answer)."""
    params = order_params(sim, notify_url, **changes)
    answer = call(sim, "/pay/unifiedorder", params, sign_type=sign_type)
    assert answer["result_code"] == "SUCCESS", answer
    return params, answer


def pay_params(sim: Simulator, prepay_id: str, sign_type: str = "MD5") -> dict[str, str]:
    return signing.request_payment_params(
        appid=sim.merchant.appid,
        key=sim.merchant.api_key,
        prepay_id=prepay_id,
        sign_type=sign_type,  # type: ignore[arg-type]
    )


def place_and_pay(
    sim: Simulator, notify_url: str, /, *, sign_type: str = "MD5", **changes: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Place and pay an order; (request params, pay result)."""
    params, answer = place(sim, notify_url, sign_type=sign_type, **changes)
    result = sim.pay(pay_params(sim, answer["prepay_id"], sign_type))
    return params, result
