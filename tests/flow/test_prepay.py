"""POST /prepay: login, the host's order, unifiedorder, and every client-facing error."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest

from tests.flow.conftest import PEER, answer, call, paid_order, pay_params, post_json, status
from tests.support import OPENID_HEADER, MemoryStore
from wxpay_mw import Order, OutTradeNoUsedError, WxPay, WxPayConfig, signing
from wxpay_mw.client import WeChatClient
from wxpay_mw.simulator import Simulator


def test_prepay_answers_the_request_payment_parameters(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator, wxpay_config: WxPayConfig
) -> None:
    openid = "oUserPrepay0001"
    response = post_json(wxpay, {"code": wxpay_simulator.login(openid), "sku": "pear"})
    assert response.status == 200
    data = answer(response)
    assert set(data) == {
        *("timeStamp", "nonceStr", "package", "signType", "paySign"),
        *("out_trade_no", "status_token"),
    }
    assert data["status_token"] == wxpay.status_token(data["out_trade_no"])
    assert data["signType"] == "MD5" and data["package"].startswith("prepay_id=")
    # paySign covers appId, which is not passed to wx.requestPayment.
    signed = {**pay_params(data), "appId": wxpay_config.appid, "sign": data["paySign"]}
    signed.pop("paySign")
    assert signing.verify(signed, wxpay_config.api_key, "MD5")
    stored = store.get(data["out_trade_no"])
    assert stored is not None
    assert stored.prepay_id == data["package"].removeprefix("prepay_id=")
    assert stored.openid == openid and stored.sign_type == "MD5"
    assert stored.prepay_expires_at is not None and stored.prepay_expires_at > time.time()
    (logged_in,) = store.called("wxpay_user_logged_in")
    assert logged_in["openid"] == openid and logged_in["session_key"]
    (create,) = store.called("wxpay_create_order")
    assert "code" not in create["payload"]
    assert wxpay_simulator.pay(pay_params(data))["errMsg"] == "requestPayment:ok"


def test_the_price_is_the_hosts_never_the_clients(wxpay: WxPay, wxpay_simulator: Simulator) -> None:
    payload = {"code": wxpay_simulator.login(), "sku": "melon", "total_fee": 1}
    data = answer(post_json(wxpay, payload))
    wxpay_simulator.pay(pay_params(data))
    at_wechat = wxpay_simulator.order(data["out_trade_no"])
    assert at_wechat is not None and at_wechat["total_fee"] == 1999


@pytest.mark.parametrize("peer", ["", "unix:/tmp/sock", "::1"], ids=["empty", "not-an-ip", "ipv6"])
def test_any_peer_address_gets_an_order_placed(
    wxpay: WxPay, wxpay_simulator: Simulator, peer: str
) -> None:
    response = post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple"}, client_ip=peer)
    assert response.status == 200


@pytest.mark.parametrize(
    "code",
    [None, "", 42, "x" * 300, "made-up-code"],
    ids=["missing", "empty", "int", "huge", "unknown"],
)
def test_a_bad_login_code_is_401_invalid_code(
    wxpay: WxPay, store: MemoryStore, code: object
) -> None:
    payload = {"sku": "apple"} if code is None else {"code": code, "sku": "apple"}
    response = post_json(wxpay, payload)
    assert response.status == 401
    assert answer(response)["error"] == "invalid_code"
    assert store.called("wxpay_create_order") == []


def test_a_used_login_code_is_401(wxpay: WxPay, wxpay_simulator: Simulator) -> None:
    code = wxpay_simulator.login()
    assert post_json(wxpay, {"code": code, "sku": "apple"}).status == 200
    again = post_json(wxpay, {"code": code, "sku": "apple"})
    assert again.status == 401 and answer(again)["error"] == "invalid_code"


def test_the_openid_hook_replaces_the_login_code(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    store.trust_openid_header = True
    wxpay_simulator.login("oKnownUser001")  # WeChat only knows openids it issued
    response = call(
        wxpay,
        "POST",
        "/prepay",
        b'{"sku": "apple"}',
        {"content-type": "application/json", OPENID_HEADER: "oKnownUser001"},
    )
    assert response.status == 200
    assert store.called("wxpay_user_logged_in") == []
    (request,) = store.called("wxpay_openid_from_request")
    assert request["request"].client_ip == PEER
    stored = store.get(answer(response)["out_trade_no"])
    assert stored is not None and stored.openid == "oKnownUser001"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"reject": True}, "sold out"),
        ({"none": True}, "the order was refused"),
        ({"sku": "durian"}, "unknown product 'durian'"),
    ],
    ids=["rejected", "none", "unknown-sku"],
)
def test_a_refused_order_is_400_order_rejected(
    wxpay: WxPay, wxpay_simulator: Simulator, payload: dict[str, object], message: str
) -> None:
    response = post_json(wxpay, {"code": wxpay_simulator.login(), **payload})
    assert response.status == 400
    assert answer(response) == {"error": "order_rejected", "message": message}


@pytest.mark.parametrize("status", ["paid", "refunded"])
def test_an_order_the_store_says_is_paid_is_409(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator, status: str
) -> None:
    post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple", "order_no": "P1"})
    order = store.get("P1")
    assert order is not None
    store.put(replace(order, status=status))  # type: ignore[arg-type]
    response = post_json(wxpay, {"code": wxpay_simulator.login(), "order_no": "P1"})
    assert response.status == 409 and answer(response)["error"] == "order_paid"


def test_wechat_orderpaid_is_409_order_paid(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    out_trade_no, _ = paid_order(wxpay, wxpay_simulator)
    order = store.get(out_trade_no)
    assert order is not None
    # The store missed the notification and lost the prepay_id: WeChat knows better.
    store.put(replace(order, prepay_id=None, prepay_expires_at=None))
    response = post_json(wxpay, {"code": wxpay_simulator.login(), "order_no": out_trade_no})
    assert response.status == 409
    assert answer(response) == {
        "error": "order_paid",
        "message": "this order is already paid",
        "out_trade_no": out_trade_no,
    }


def test_wechat_orderclosed_is_409_order_closed(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator, wxpay_config: WxPayConfig
) -> None:
    post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple", "order_no": "C1"})
    with WeChatClient(wxpay_config) as client:
        client.close_order("C1")
    order = store.get("C1")
    assert order is not None
    store.put(replace(order, prepay_id=None, prepay_expires_at=None))
    response = post_json(wxpay, {"code": wxpay_simulator.login(), "order_no": "C1"})
    assert response.status == 409 and answer(response)["error"] == "order_closed"


def test_a_closed_order_in_the_store_is_409(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple", "order_no": "C2"})
    order = store.get("C2")
    assert order is not None
    store.put(replace(order, status="closed"))
    response = post_json(wxpay, {"code": wxpay_simulator.login(), "order_no": "C2"})
    assert response.status == 409 and answer(response)["error"] == "order_closed"


def test_out_trade_no_used_is_409_order_conflict(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple", "order_no": "U1"})
    order = store.get("U1")
    assert order is not None
    # Same out_trade_no, another amount: WeChat refuses it.
    store.put(replace(order, total_fee=order.total_fee + 1, prepay_id=None))
    response = post_json(wxpay, {"code": wxpay_simulator.login(), "order_no": "U1"})
    assert response.status == 409 and answer(response)["error"] == "order_conflict"


@pytest.mark.parametrize(
    ("endpoint", "kind", "status"),
    [
        ("/pay/unifiedorder", "http_500", 503),
        ("/pay/unifiedorder", "reset", 503),
        ("/pay/unifiedorder", "malformed_xml", 503),
        ("/pay/unifiedorder", "bad_sign", 502),
        ("/sns/jscode2session", "http_500", 503),
    ],
    ids=["order-500", "order-reset", "order-garbled", "order-bad-sign", "login-500"],
)
def test_wechat_trouble_is_wechat_unavailable(
    wxpay: WxPay,
    store: MemoryStore,
    wxpay_simulator: Simulator,
    endpoint: str,
    kind: str,
    status: int,
) -> None:
    code = wxpay_simulator.login()
    wxpay_simulator.add_fault(endpoint, kind, count=5)
    response = post_json(wxpay, {"code": code, "sku": "apple", "order_no": "T1"})
    assert response.status == status
    expected = {
        "error": "wechat_unavailable",
        "message": "WeChat Pay is unavailable right now: please retry in a moment",
    }
    if endpoint == "/pay/unifiedorder":
        # The order exists by then: the client learns its number to pay it again.
        expected["out_trade_no"] = "T1"
    assert answer(response) == expected
    assert store.called("wxpay_order_prepaid") == []


def test_after_wechat_trouble_the_same_order_can_be_paid(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    openid = "oRetry0001"
    wxpay_simulator.add_fault("/pay/unifiedorder", "http_500", count=1)
    failed = post_json(wxpay, {"code": wxpay_simulator.login(openid), "sku": "apple"})
    no = answer(failed)["out_trade_no"]
    retried = post_json(wxpay, {"code": wxpay_simulator.login(openid), "order_no": no})
    assert retried.status == 200 and answer(retried)["out_trade_no"] == no
    assert [c["order"].out_trade_no for c in store.called("wxpay_order_prepaid")] == [no]


def test_a_still_valid_prepay_id_is_reused(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    openid = "oReuse0001"
    first = answer(post_json(wxpay, {"code": wxpay_simulator.login(openid), "sku": "apple"}))
    no = first["out_trade_no"]
    # WeChat down: a reused prepay_id needs no call to unifiedorder at all.
    wxpay_simulator.add_fault("/pay/unifiedorder", "http_500")
    second = answer(post_json(wxpay, {"code": wxpay_simulator.login(openid), "order_no": no}))
    assert second["package"] == first["package"] and second["out_trade_no"] == no
    assert second["nonceStr"] != first["nonceStr"]
    assert len(store.called("wxpay_order_prepaid")) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"prepay_expires_at": 1.0},
        {"sign_type": "HMAC-SHA256"},
    ],
    ids=["expired", "other-sign-type"],
)
def test_a_prepay_id_is_not_reused_when_it_cannot_serve(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator, change: dict[str, object]
) -> None:
    openid = "oReuse0002"
    first = answer(post_json(wxpay, {"code": wxpay_simulator.login(openid), "sku": "apple"}))
    order = store.get(first["out_trade_no"])
    assert order is not None
    store.put(replace(order, **change))  # type: ignore[arg-type]
    second = post_json(
        wxpay, {"code": wxpay_simulator.login(openid), "order_no": first["out_trade_no"]}
    )
    assert len(store.called("wxpay_order_prepaid")) == 2
    # The simulator answers the same order placed again (same parameters) with SUCCESS.
    assert second.status == 200


def test_hmac_orders_sign_the_parameters_with_hmac(
    store: MemoryStore, wxpay_simulator: Simulator, wxpay_config: WxPayConfig
) -> None:
    config = wxpay_config.with_changes(sign_type="HMAC-SHA256")
    with WxPay(config, store) as app:
        data = answer(post_json(app, {"code": wxpay_simulator.login(), "sku": "apple"}))
    assert data["signType"] == "HMAC-SHA256" and len(data["paySign"]) == 64
    stored = store.get(data["out_trade_no"])
    assert stored is not None and stored.sign_type == "HMAC-SHA256"
    assert wxpay_simulator.pay(pay_params(data))["errMsg"] == "requestPayment:ok"


def test_no_secret_reaches_a_log_or_an_answer(
    wxpay: WxPay,
    store: MemoryStore,
    wxpay_simulator: Simulator,
    wxpay_config: WxPayConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    out_trade_no, body = paid_order(wxpay, wxpay_simulator)
    wxpay.notify(body)
    wxpay_simulator.add_fault("/pay/unifiedorder", "bad_sign", count=1)
    failed = post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple"})
    shown = status(wxpay, out_trade_no)
    (login,) = store.called("wxpay_user_logged_in")[:1]
    secrets = [wxpay_config.api_key, wxpay_config.app_secret, login["session_key"]]
    # The simulator's own access log stands for WeChat's side, not this library's.
    ours = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("wxpay_mw.simulator")
    )
    for secret in secrets:
        assert secret and secret not in ours
        assert secret.encode() not in failed.body + shown.body


class KeepsOrders(MemoryStore):
    """Pricing that stores nothing itself; wxpay_order_created persists (a packaged store)."""

    def wxpay_create_order(self, openid: str, payload: dict[str, object]) -> Order | None:
        fee = 100 if payload.get("sku") == "apple" else 250
        return Order(out_trade_no=str(payload["order_no"]), total_fee=fee, body="测试商店-x")

    def wxpay_order_created(self, order: Order) -> Order | None:
        stored = self.get(order.out_trade_no)
        if stored is None:
            self.put(order)
            return None
        if stored.total_fee != order.total_fee:
            raise OutTradeNoUsedError("OUT_TRADE_NO_USED", "stored with another amount")
        return stored


def test_wxpay_order_created_stores_the_order_and_serves_pay_again(
    wxpay_config: WxPayConfig, wxpay_simulator: Simulator
) -> None:
    store = KeepsOrders()
    with WxPay(wxpay_config, store) as app:
        code = wxpay_simulator.login("oKeeper01")
        first = answer(post_json(app, {"code": code, "sku": "apple", "order_no": "K1"}))
        stored = store.get("K1")
        assert stored is not None and stored.prepay_id == first["package"].removeprefix(
            "prepay_id="
        )
        code = wxpay_simulator.login("oKeeper01")
        again = answer(post_json(app, {"code": code, "sku": "apple", "order_no": "K1"}))
        assert again["package"] == first["package"]  # the stored prepay_id, reused
        assert len(store.called("wxpay_order_prepaid")) == 1  # placed once, then reused
        code = wxpay_simulator.login("oKeeper01")
        other = post_json(app, {"code": code, "sku": "pear", "order_no": "K1"})
    assert other.status == 409 and answer(other)["error"] == "order_conflict"
