"""wechatpy 1.8.18, an independent WeChat Pay client, against the simulator.

wechatpy was written against the real WeChat, not against this simulator: every call it
makes that the simulator answers (login, unifiedorder, the JSAPI pay parameters, the
payment notification, orderquery, closeorder, refund over mutual TLS, refundquery, the
refund notification, downloadbill, and the sandbox) must succeed with it unchanged, and
its error path must see WeChat's error shapes (issue 13, "Done means").
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from wxpay_mw.simulator import Merchant, Simulator, stable_openid
from wxpay_mw.xmlmsg import from_xml

from .conftest import Receiver

wechatpy = pytest.importorskip("wechatpy", reason="wechatpy is in the dev extra")
pytest.importorskip("cryptography", reason="the refund notification needs the crypto extra")

from wechatpy import WeChatClient  # noqa: E402
from wechatpy.exceptions import WeChatPayException  # noqa: E402
from wechatpy.pay import WeChatPay  # noqa: E402


@pytest.fixture
def sim(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A TLS simulator (the refund needs the merchant certificate) trusted by requests."""
    merchant = Merchant(refund_notify_url=receiver.url)
    with Simulator(merchant, time_factor=0.001, tls=True) as simulator:
        assert simulator.tls_files is not None
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", simulator.tls_files.ca_cert)
        yield simulator


def _pay_client(sim: Simulator, *, sandbox: bool = False) -> WeChatPay:
    files = sim.tls_files
    assert files is not None
    pay = WeChatPay(
        appid=sim.merchant.appid,
        api_key=sim.merchant.api_key,
        mch_id=sim.merchant.mch_id,
        mch_cert=files.client_cert,
        mch_key=files.client_key,
        timeout=10,
        sandbox=sandbox,
    )
    pay.API_BASE_URL = sim.base_url + "/"  # wechatpy's own way to change the host
    return pay


def _wait(condition: object, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_login_with_wechatpy(sim: Simulator) -> None:
    # wechatpy adds an access_token to every mini-program call: give it one so it does
    # not fetch one (jscode2session itself needs none).
    client = WeChatClient(sim.merchant.appid, sim.merchant.app_secret, access_token="unused")
    client.wxa.API_BASE_URL = sim.base_url + "/"
    session = client.wxa.code_to_session(sim.login(user="wechatpy"))
    assert session["openid"] == stable_openid(sim.merchant.appid, "wechatpy")
    assert session["session_key"]
    with pytest.raises(wechatpy.exceptions.WeChatClientException) as caught:
        client.wxa.code_to_session("never-issued")
    assert caught.value.errcode == 40029


def test_the_whole_payment_with_wechatpy(sim: Simulator, receiver: Receiver) -> None:
    pay = _pay_client(sim)
    openid = stable_openid(sim.merchant.appid, "default")
    sim.login()
    ordered = pay.order.create(
        trade_type="JSAPI",
        body="测试商店-商品",
        total_fee=101,
        notify_url=receiver.url,
        client_ip="127.0.0.1",
        user_id=openid,
        out_trade_no="WP1",
    )
    assert ordered["result_code"] == "SUCCESS"
    params = pay.jsapi.get_jsapi_params(ordered["prepay_id"])
    paid = sim.pay(params)
    sim.wait_for_notifications(1)
    notified = pay.parse_payment_result(receiver.received[0].body)  # checks the sign
    assert notified["transaction_id"] == paid["transaction_id"] and notified["total_fee"] == 101

    queried = pay.order.query(out_trade_no="WP1")
    assert queried["trade_state"] == "SUCCESS"
    assert pay.check_signature({k: v for k, v in queried.items() if v is not None})

    refunded = pay.refund.apply(
        total_fee=101, refund_fee=101, out_refund_no="WPR1", out_trade_no="WP1"
    )
    assert refunded["result_code"] == "SUCCESS"
    _wait(lambda: len(receiver.received) == 2, "the refund notification")
    info = pay.parse_refund_notify_result(receiver.received[1].body)
    assert (info["out_refund_no"], info["refund_status"], info["refund_fee"]) == (
        "WPR1",
        "SUCCESS",
        101,
    )
    assert pay.refund.query(out_refund_no="WPR1")["refund_status_0"] == "SUCCESS"

    sim.advance_clock(34 * 3600)  # the bill is ready at 10:00 the next day
    bill = pay.tools.download_bill(notified["time_end"][:8])
    assert isinstance(bill, str) and "`WP1" in bill and "`WPR1" in bill


def test_close_and_errors_with_wechatpy(sim: Simulator) -> None:
    pay = _pay_client(sim)
    sim.login()
    pay.order.create(
        trade_type="JSAPI",
        body="测试商店-商品",
        total_fee=5,
        notify_url="http://127.0.0.1:9/n",
        client_ip="127.0.0.1",
        user_id=stable_openid(sim.merchant.appid, "default"),
        out_trade_no="WP2",
    )
    assert pay.order.close("WP2")["result_code"] == "SUCCESS"
    with pytest.raises(WeChatPayException) as caught:
        pay.order.close("WP2")
    assert caught.value.errcode == "ORDERCLOSED"
    with pytest.raises(WeChatPayException) as caught:
        pay.order.query(out_trade_no="nope")
    assert caught.value.errcode == "ORDERNOTEXIST"


def test_the_sandbox_with_wechatpy(sim: Simulator, receiver: Receiver) -> None:
    # wechatpy's sandbox: getsignkey, then every path under /sandboxnew/, its refund at
    # /sandboxnew/secapi/pay/refund (issue 13, item 3).
    pay = _pay_client(sim, sandbox=True)
    assert pay.sandbox_api_key == sim.merchant.sandbox_key
    sim.login()
    ordered = pay.order.create(
        trade_type="JSAPI",
        body="测试商店-商品",
        total_fee=101,
        notify_url=receiver.url,
        client_ip="127.0.0.1",
        user_id=stable_openid(sim.merchant.appid, "default"),
        out_trade_no="WPS1",
    )
    assert ordered["device_info"] == "sandbox"
    sim.pay(pay.jsapi.get_jsapi_params(ordered["prepay_id"]))
    sim.wait_for_notifications(1)
    assert pay.parse_payment_result(receiver.received[0].body)["out_trade_no"] == "WPS1"
    refunded = pay.refund.apply(
        total_fee=101, refund_fee=1, out_refund_no="WPSR1", out_trade_no="WPS1"
    )
    assert refunded["result_code"] == "SUCCESS" and refunded["device_info"] == "sandbox"
    assert sim.order("WPS1", sandbox=True)["refunded_fee"] == 1  # type: ignore[index]
    assert from_xml(receiver.received[0].body)["result_code"] == "SUCCESS"
