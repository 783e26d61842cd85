"""The /simulator/* control endpoints over HTTP: pay, notifications, reset, clock."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from wxpay_mw import signing
from wxpay_mw.simulator import PaymentRefused, Simulator
from wxpay_mw.xmlmsg import from_xml

from .conftest import Receiver, call, pay_params, place


def _pay(sim: Simulator, params: dict[str, Any]) -> requests.Response:
    return requests.post(sim.base_url + "/simulator/pay", json=params, timeout=10)


def test_pay_over_http_marks_paid_and_notifies(sim: Simulator, receiver: Receiver) -> None:
    params, answer = place(sim, receiver.url)
    response = _pay(sim, pay_params(sim, answer["prepay_id"]))
    assert response.status_code == 200
    data = response.json()
    assert data["errMsg"] == "requestPayment:ok"
    assert data["out_trade_no"] == params["out_trade_no"]
    assert len(data["transaction_id"]) == 28
    sim.wait_for_notifications(1)
    log = requests.get(sim.base_url + "/simulator/notifications", timeout=10).json()
    (note,) = log["notifications"]
    assert note["kind"] == "payment"
    assert note["out_trade_no"] == params["out_trade_no"]
    assert note["url"] == receiver.url
    assert from_xml(note["body"].encode())["transaction_id"] == data["transaction_id"]
    (attempt,) = note["attempts"]
    assert attempt["status"] == 200
    assert attempt["acknowledged"] is True
    assert "SUCCESS" in attempt["answer"]
    assert isinstance(attempt["time"], float)


def _tamper(params: dict[str, str], **changes: str) -> dict[str, str]:
    return {**params, **changes}


@pytest.mark.parametrize(
    ("change", "status", "err_msg"),
    [
        (lambda p: _tamper(p, paySign="0" * 32), 400, "requestPayment:fail 支付验证签名失败"),
        (lambda p: _tamper(p, timeStamp="1"), 400, "requestPayment:fail 支付验证签名失败"),
        (
            lambda p: _tamper(p, package="prepay_id=wx0"),
            400,
            "requestPayment:fail prepay_id is unknown",
        ),
        (lambda p: _tamper(p, package="wx0"), 400, "requestPayment:fail parameter error"),
        (lambda p: {k: v for k, v in p.items() if k != "nonceStr"}, 400, "parameter.nonceStr"),
        (lambda p: _tamper(p, signType="SHA1"), 400, "signType should be"),
    ],
    ids=["paySign", "tampered", "unknown-prepay", "package", "missing", "signType"],
)
def test_pay_refusals(sim: Simulator, change: Any, status: int, err_msg: str) -> None:
    _, answer = place(sim)
    response = _pay(sim, change(pay_params(sim, answer["prepay_id"])))
    assert response.status_code == status
    assert err_msg in response.json()["errMsg"]
    assert sim.notifications() == []


def test_paysign_must_use_the_orders_sign_type(sim: Simulator) -> None:
    _, answer = place(sim)  # MD5 order
    response = _pay(sim, pay_params(sim, answer["prepay_id"], "HMAC-SHA256"))
    assert response.status_code == 400


def test_paid_twice_closed_and_expired(sim: Simulator) -> None:
    _, answer = place(sim)
    params = pay_params(sim, answer["prepay_id"])
    assert _pay(sim, params).status_code == 200
    again = _pay(sim, params)
    assert (again.status_code, again.json()["errMsg"]) == (409, "requestPayment:fail 该订单已支付")
    order, closing = place(sim)
    call(sim, "/pay/closeorder", {"out_trade_no": order["out_trade_no"]})
    assert _pay(sim, pay_params(sim, closing["prepay_id"])).status_code == 409
    _, late = place(sim)
    sim.advance_clock(2 * 3600 + 1)
    expired = _pay(sim, pay_params(sim, late["prepay_id"]))
    assert (expired.status_code, expired.json()["errMsg"]) == (
        409,
        "requestPayment:fail prepay_id已过期",
    )


def test_cancel_leaves_order_unpaid(sim: Simulator) -> None:
    params, answer = place(sim)
    with pytest.raises(PaymentRefused, match="requestPayment:fail cancel"):
        sim.pay(pay_params(sim, answer["prepay_id"]), outcome="cancel")
    assert (
        call(sim, "/pay/orderquery", {"out_trade_no": params["out_trade_no"]})["trade_state"]
        == "NOTPAY"
    )
    assert sim.notifications() == []


def test_failed_payment_fails_in_the_client_and_sends_no_notification(
    sim: Simulator, receiver: Receiver
) -> None:
    # WeChat notifies successful mini-program payments only; a failing payment is handled
    # in the payment sheet and reaches the mini program as requestPayment:fail
    # (wechatpay-v2.md section 9 and [RP-off]; issue 13, fidelity item 1).
    params, answer = place(sim, receiver.url)
    with pytest.raises(PaymentRefused, match=r"^requestPayment:fail "):
        sim.pay(pay_params(sim, answer["prepay_id"]), outcome="fail")
    assert (
        call(sim, "/pay/orderquery", {"out_trade_no": params["out_trade_no"]})["trade_state"]
        == "NOTPAY"
    )
    # The order can still be paid afterwards, and only that payment is notified.
    sim.pay(pay_params(sim, answer["prepay_id"]))
    (note,) = sim.wait_for_notifications(1)
    assert from_xml(note["body"].encode())["result_code"] == "SUCCESS"
    assert len(receiver.received) == 1


def test_fail_notice_outcome_sends_a_signed_fail_notification(
    sim: Simulator, receiver: Receiver
) -> None:
    params, answer = place(sim, receiver.url)
    result = sim.pay(pay_params(sim, answer["prepay_id"]), outcome="fail_notice", check=False)
    assert result["errMsg"].startswith("requestPayment:fail")
    sim.wait_for_notifications(1)
    fields = from_xml(receiver.received[0].body)
    assert fields["result_code"] == "FAIL"
    assert fields["err_code"] == "NOTENOUGH"
    assert signing.verify(fields, sim.merchant.api_key)
    assert (
        call(sim, "/pay/orderquery", {"out_trade_no": params["out_trade_no"]})["trade_state"]
        == "NOTPAY"
    )


def test_unknown_outcome_is_refused(sim: Simulator) -> None:
    _, answer = place(sim)
    with pytest.raises(PaymentRefused, match="outcome should be one of ok, coupon"):
        sim.pay(pay_params(sim, answer["prepay_id"]), outcome="declined")


def test_reset_forgets_orders_and_notifications(sim: Simulator) -> None:
    params, answer = place(sim)
    sim.pay(pay_params(sim, answer["prepay_id"]))
    assert requests.post(sim.base_url + "/simulator/reset", timeout=10).json() == {"reset": True}
    assert sim.notifications() == []
    assert (
        call(sim, "/pay/orderquery", {"out_trade_no": params["out_trade_no"]})["err_code"]
        == "ORDERNOTEXIST"
    )


def test_clock_endpoint_expires_codes(sim: Simulator) -> None:
    code = sim.login()
    response = requests.post(sim.base_url + "/simulator/clock", json={"advance": 301}, timeout=10)
    assert response.json() == {"offset": 301}
    query = {
        "appid": sim.merchant.appid,
        "secret": sim.merchant.app_secret,
        "js_code": code,
        "grant_type": "authorization_code",
    }
    assert (
        requests.get(sim.base_url + "/sns/jscode2session", params=query, timeout=10).json()[
            "errcode"
        ]
        == 40029
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/simulator/pay", b"[1, 2]"),
        ("POST", "/simulator/pay", b"{not json"),
        ("GET", "/simulator/nothing", b""),
        ("POST", "/simulator/clock", b'{"advance": -1}'),
    ],
    ids=["array", "not-json", "unknown", "clock-backwards"],
)
def test_control_errors_are_json(sim: Simulator, method: str, path: str, body: bytes) -> None:
    response = requests.request(method, sim.base_url + path, data=body, timeout=10)
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_secrets_never_in_logs(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="wxpay_mw")
    _, answer = place(sim)
    sim.pay(pay_params(sim, answer["prepay_id"]))
    sim.wait_for_notifications(lambda log: bool(log and log[0]["attempts"]))
    text = caplog.text + repr(sim.merchant) + str(sim.notifications())
    for secret in (sim.merchant.api_key, sim.merchant.app_secret, sim.merchant.sandbox_key):
        assert secret not in text
