"""The same end-to-end payment scenarios through every adapter, over real HTTP.

Each test runs four times (see conftest.STYLES): pure ASGI middleware, a FastAPI app
with the Starlette Mount, a Flask app with the extension, and WSGI middleware. The
mini program's side is played with ``requests`` and the simulator's login and pay.
"""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.conformance.conftest import ASYNC_STYLES, PREFIX, Host
from tests.flow.conftest import pay_params
from tests.support import payment_notification
from wxpay_mw import xmlmsg

TIMEOUT = 10


def prepay(host: Host, **payload: Any) -> requests.Response:
    body = {"code": host.sim.login(), "sku": "apple", **payload}
    return requests.post(host.url("/prepay"), json=body, timeout=TIMEOUT)


def notification(host: Host, out_trade_no: str, **kwargs: Any) -> bytes:
    config = host.wxpay.config
    params: dict[str, Any] = {
        "appid": config.appid,
        "mch_id": config.mch_id,
        "key": config.api_key,
        "out_trade_no": out_trade_no,
        "total_fee": 100,
        **kwargs,
    }
    return payment_notification(**params)


def post_notify(host: Host, body: bytes) -> dict[str, str]:
    response = requests.post(
        host.url("/notify"), data=body, headers={"content-type": "text/xml"}, timeout=TIMEOUT
    )
    assert response.status_code == 200
    return xmlmsg.from_xml(response.content)


def test_a_payment_end_to_end(host: Host) -> None:
    response = prepay(host)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()
    assert data["package"].startswith("prepay_id=")
    host.sim.pay(pay_params(data))
    # The simulator delivers the notification to the host and retries until SUCCESS.
    log = host.sim.wait_for_notifications(1)
    assert log[0]["attempts"][0]["acknowledged"] is True
    status = requests.get(
        host.url(f"/orders/{data['out_trade_no']}"),
        headers={"X-WxPay-Token": data["status_token"]},
        timeout=TIMEOUT,
    )
    assert status.status_code == 200
    assert status.json()["status"] == "paid"
    assert status.json()["transaction_id"]
    assert host.store.paid_reactions == [data["out_trade_no"]]


def test_the_peer_address_reaches_the_flow(host: Host) -> None:
    assert prepay(host).status_code == 200
    (seen,) = host.store.called("wxpay_openid_from_request")
    assert seen["request"].client_ip == "127.0.0.1"
    assert seen["request"].path == "/prepay"
    assert seen["request"].native is not None


def test_repeated_and_concurrent_notifications_react_once(host: Host) -> None:
    out_trade_no = prepay(host).json()["out_trade_no"]
    body = notification(host, out_trade_no)
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: post_notify(host, body), range(20)))
    answers += [post_notify(host, body) for _ in range(3)]
    assert [a["return_code"] for a in answers] == ["SUCCESS"] * 23
    assert len(host.store.called("wxpay_order_paid")) == 23
    assert host.store.paid_reactions == [out_trade_no]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [({"key": "0" * 32}, "bad_sign"), ({"total_fee": 1}, "amount_mismatch")],
    ids=["forged", "amount-mismatch"],
)
def test_bad_notifications_are_rejected(host: Host, kwargs: dict[str, Any], reason: str) -> None:
    out_trade_no = prepay(host).json()["out_trade_no"]
    before = host.store.get(out_trade_no)
    answer = post_notify(host, notification(host, out_trade_no, **kwargs))
    assert answer == {"return_code": "FAIL", "return_msg": reason}
    assert [r for r, _ in host.store.rejections] == [reason]
    assert host.store.called("wxpay_order_paid") == []
    assert host.store.get(out_trade_no) == before


def test_wechat_errors_become_client_errors(host: Host) -> None:
    bad_code = requests.post(
        host.url("/prepay"), json={"code": "nope", "sku": "apple"}, timeout=TIMEOUT
    )
    assert (bad_code.status_code, bad_code.json()["error"]) == (401, "invalid_code")
    rejected = prepay(host, reject=True)
    assert rejected.status_code == 400
    assert rejected.json() == {"error": "order_rejected", "message": "sold out"}
    host.sim.add_fault("/pay/unifiedorder", "http_500", count=1)
    down = prepay(host)
    assert (down.status_code, down.json()["error"]) == (503, "wechat_unavailable")
    # Paid at WeChat, unknown to the store's status: prepay again is 409 order_paid.
    data = prepay(host, order_no="DUP1").json()
    host.sim.pay(pay_params(data))
    host.sim.wait_for_notifications(1)
    again = prepay(host, order_no="DUP1")
    assert (again.status_code, again.json()["error"]) == (409, "order_paid")


def test_the_hosts_own_routes_still_work(host: Host) -> None:
    hello = requests.get(f"{host.base}/hello", timeout=TIMEOUT)
    assert (hello.status_code, hello.text) == (200, "hello from the host")
    # Only the prefix itself is wxpay-mw's: /wxpayx is the host's (and a 404 there).
    other = requests.get(f"{host.base}/wxpayx/orders/1", timeout=TIMEOUT)
    assert other.status_code == 404
    assert "unknown_order" not in other.text and "not_found" not in other.text


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status", "error"),
    [
        ("GET", "/prepay", {}, b"", 405, "method_not_allowed"),
        ("POST", "/orders/T1", {}, b"", 405, "method_not_allowed"),
        ("GET", "/notify", {}, b"", 405, "method_not_allowed"),
        ("POST", "/prepay", {"content-type": "text/plain"}, b"{}", 415, "unsupported_media_type"),
        ("POST", "/prepay", {"content-type": "application/json"}, b"{", 400, "bad_request"),
        ("POST", "/notify", {}, b"x" * (64 * 1024 + 1), 413, "payload_too_large"),
        ("GET", "/orders/NOPE", {}, b"", 404, "unknown_order"),
        ("GET", "/elsewhere", {}, b"", 404, "not_found"),
    ],
    ids=[
        "get-prepay",
        "post-order",
        "get-notify",
        "text-prepay",
        "bad-json",
        "huge",
        "unknown-order",
        "unknown-path",
    ],
)
def test_wrong_requests_get_a_json_4xx(
    host: Host,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    error: str,
) -> None:
    response = requests.request(method, host.url(path), headers=headers, data=body, timeout=TIMEOUT)
    assert response.status_code == status
    assert response.json()["error"] == error
    if status == 405:
        assert response.headers["allow"] in ("GET", "POST")


def test_a_declared_huge_body_is_refused_without_reading_it(host: Host) -> None:
    # Only the headers are sent: an adapter that waited for the body would hang here.
    port = int(host.base.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.putrequest("POST", f"{PREFIX}/notify")
        conn.putheader("Content-Type", "text/xml")
        conn.putheader("Content-Length", str(50 * 1024 * 1024))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"] == "payload_too_large"
    finally:
        conn.close()


@pytest.mark.parametrize("host", ASYNC_STYLES, indirect=True)
def test_async_hooks_are_awaited_on_the_event_loop(host: Host) -> None:
    response = prepay(host)
    assert response.status_code == 200
    threads = host.store.__dict__["threads"]
    assert len(threads) >= 3  # logged in, created, prepaid
    assert not [name for name in threads if name.startswith("wxpay-mw")], threads
