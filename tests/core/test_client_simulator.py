"""Both WeChat clients end to end against the offline WeChat simulator.

Every test runs against WeChatClient (requests) and AsyncWeChatClient (aiohttp, through
``AsyncFacade``): the ``kind`` fixture of tests/core/conftest.py.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from wxpay_mw import signing
from wxpay_mw.errors import (
    LoginError,
    OrderClosedError,
    OrderPaidError,
    ResponseSignatureError,
    WeChatError,
    WeChatUnavailableError,
)
from wxpay_mw.simulator import Merchant, Simulator, run_simulator
from wxpay_mw.xmlmsg import to_xml

from ._client_fake_wechat import FakeWeChat, Reply, run_fake_wechat
from ._clients import Client, Kind, open_client

Make = Callable[..., Client]
ACK = Reply(to_xml({"return_code": "SUCCESS", "return_msg": "OK"}))


@pytest.fixture
def shop() -> Iterator[FakeWeChat]:
    """The shop's notify endpoint: acknowledges and records what WeChat delivers."""
    with run_fake_wechat() as receiver:
        receiver.on("/wxpay/notify", ACK)
        receiver.on("/wxpay/refund-notify", ACK)
        yield receiver


@pytest.fixture
def sim(shop: FakeWeChat) -> Iterator[Simulator]:
    merchant = Merchant(refund_notify_url=shop.base_url + "/wxpay/refund-notify")
    with run_simulator(merchant=merchant, time_factor=0.001) as simulator:
        yield simulator


@pytest.fixture
def make(sim: Simulator, shop: FakeWeChat, kind: Kind) -> Make:
    """A client of ``kind`` on the simulator, with notifications going to ``shop``."""

    def client(**overrides: Any) -> Client:
        settings: dict[str, Any] = {"connect_timeout": 1.0, "read_timeout": 1.0, **overrides}
        config = sim.config(notify_url=shop.base_url + "/wxpay/notify", **settings)
        return open_client(kind, config)

    return client


def _order(openid: str, out_trade_no: str = "E2E0001", total_fee: int = 101) -> dict[str, Any]:
    return {
        "out_trade_no": out_trade_no,
        "total_fee": total_fee,
        "body": "测试商店-测试商品",
        "openid": openid,
        "spbill_create_ip": "127.0.0.1",
    }


def _pay(sim: Simulator, client: Client, prepay_id: str) -> dict[str, str]:
    params = signing.request_payment_params(
        appid=client.config.appid,
        key=client.signing_key(),
        prepay_id=prepay_id,
        sign_type=client.config.sign_type,
    )
    return sim.pay(params)


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_login_order_pay_query(
    sim: Simulator, shop: FakeWeChat, make: Make, sign_type: str
) -> None:
    with make(sign_type=sign_type) as client:
        session = client.code2session(sim.login())
        answer = client.unified_order(**_order(session.openid))
        assert client.order_query(out_trade_no="E2E0001")["trade_state"] == "NOTPAY"

        paid = _pay(sim, client, answer["prepay_id"])
        sim.wait_for_notifications(1)

        state = client.order_query(out_trade_no="E2E0001")
        assert state["trade_state"] == "SUCCESS"
        assert state["transaction_id"] == paid["transaction_id"]
        assert state["total_fee"] == "101"
        notify = shop.last("/wxpay/notify").fields
        # The notification is signed with the key the client signs with.
        assert signing.verify(notify, client.signing_key(), client.config.sign_type)
        assert notify["out_trade_no"] == "E2E0001"
        with pytest.raises(OrderPaidError):
            client.unified_order(**_order(session.openid))


def test_a_login_code_is_single_use(sim: Simulator, shop: FakeWeChat, make: Make) -> None:
    code = sim.login()
    with make() as client:
        client.code2session(code)
        with pytest.raises(LoginError):
            client.code2session(code)


def test_close_order(sim: Simulator, shop: FakeWeChat, make: Make) -> None:
    with make() as client:
        openid = client.code2session(sim.login()).openid
        client.unified_order(**_order(openid, "E2ECLOSE"))
        client.close_order("E2ECLOSE")
        assert client.order_query(out_trade_no="E2ECLOSE")["trade_state"] == "CLOSED"
        with pytest.raises(OrderClosedError):
            client.close_order("E2ECLOSE")


def test_refund_and_refund_query(sim: Simulator, shop: FakeWeChat, make: Make) -> None:
    with make() as client:
        openid = client.code2session(sim.login()).openid
        prepay = client.unified_order(**_order(openid, "E2EREFUND", 500))["prepay_id"]
        _pay(sim, client, prepay)

        accepted = client.refund(
            out_refund_no="E2ER1", out_trade_no="E2EREFUND", total_fee=500, refund_fee=200
        )
        assert accepted["out_refund_no"] == "E2ER1"
        assert accepted["refund_fee"] == "200"
        query = client.refund_query(out_trade_no="E2EREFUND")
        assert query["out_refund_no_0"] == "E2ER1"
        assert query["refund_status_0"] in ("PROCESSING", "SUCCESS")


def test_unknown_order_is_a_wechat_error(sim: Simulator, shop: FakeWeChat, make: Make) -> None:
    with make() as client, pytest.raises(WeChatError) as info:
        client.order_query(out_trade_no="NEVERPLACED")
    assert info.value.code == "ORDERNOTEXIST"


def test_download_bill(sim: Simulator, shop: FakeWeChat, make: Make) -> None:
    with make() as client:
        openid = client.code2session(sim.login()).openid
        prepay = client.unified_order(**_order(openid, "E2EBILL"))["prepay_id"]
        _pay(sim, client, prepay)
        day = sim.order("E2EBILL")["time_end"][:8]  # type: ignore[index]
        sim.advance_clock(34 * 3600)  # bills are ready at 10:00 the next day
        bill = client.download_bill(day)
        assert "E2EBILL" in bill
        with pytest.raises(WeChatError) as info:
            client.download_bill(datetime.date(2001, 1, 1))
        assert info.value.code == "FAIL"


def test_sandbox_uses_the_sandbox_key(sim: Simulator, shop: FakeWeChat, make: Make) -> None:
    with make(sandbox=True) as client:
        assert client.signing_key() == sim.merchant.sandbox_key
        openid = client.code2session(sim.login()).openid
        prepay = client.unified_order(**_order(openid, "E2ESANDBOX"))["prepay_id"]
        _pay(sim, client, prepay)
        sim.wait_for_notifications(1)
        assert client.order_query(out_trade_no="E2ESANDBOX")["trade_state"] == "SUCCESS"
        assert sim.order("E2ESANDBOX", sandbox=True) is not None
        notify = shop.last("/wxpay/notify").fields
        assert signing.verify(notify, client.signing_key(), "MD5")
        assert not signing.verify(notify, client.config.api_key, "MD5")


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        pytest.param("bad_sign", ResponseSignatureError, id="bad-sign"),
        pytest.param("malformed_xml", WeChatUnavailableError, id="malformed-xml"),
        pytest.param("http_500", WeChatUnavailableError, id="http-500"),
        pytest.param("reset", WeChatUnavailableError, id="reset"),
    ],
)
def test_simulator_faults(
    sim: Simulator, shop: FakeWeChat, make: Make, fault: str, cls: type[WeChatUnavailableError]
) -> None:
    sim.add_fault("/pay/unifiedorder", fault, count=1)
    with make() as client:
        openid = client.code2session(sim.login()).openid
        with pytest.raises(cls) as info:
            client.unified_order(**_order(openid, "E2EFAULT"))
        # Whatever the simulator did, the client cannot know: the outcome is unknown.
        assert info.value.may_have_acted is True
        # The fault is spent; the same order again is answered normally.
        assert client.unified_order(**_order(openid, "E2EFAULT"))["prepay_id"]


def test_simulator_timeout_is_not_retried(sim: Simulator, shop: FakeWeChat, make: Make) -> None:
    sim.add_fault("/pay/orderquery", "timeout", seconds=0.5, count=1)
    with make(read_timeout=0.2) as client:
        openid = client.code2session(sim.login()).openid
        client.unified_order(**_order(openid, "E2ETIMEOUT"))
        with pytest.raises(WeChatUnavailableError) as info:
            client.order_query(out_trade_no="E2ETIMEOUT")
        assert info.value.may_have_acted is True
        # Had the client repeated the call, the second try would have succeeded quietly.
        assert client.order_query(out_trade_no="E2ETIMEOUT")["trade_state"] == "NOTPAY"
