"""POST /notify: verification in WeChat's order, the answers, and the hooks it reaches."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.flow.conftest import answer, call, paid_order, pay_params, post_json, status
from tests.support import MemoryStore, payment_notification, resign, tamper
from wxpay_mw import WxPay, WxPayConfig, hookimpl, xmlmsg
from wxpay_mw.simulator import Simulator

SUCCESS = (
    b"<xml><return_code><![CDATA[SUCCESS]]></return_code>"
    b"<return_msg><![CDATA[OK]]></return_msg></xml>"
)


def notify(wxpay: WxPay, body: bytes) -> dict[str, str]:
    response = call(wxpay, "POST", "/notify", body, {"content-type": "text/xml"})
    assert response.status == 200
    assert response.headers[0] == ("content-type", "application/xml; charset=utf-8")
    return xmlmsg.from_xml(response.body)


def test_a_genuine_notification_marks_the_order_paid(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    out_trade_no, body = paid_order(wxpay, wxpay_simulator)
    assert wxpay.notify(body) == SUCCESS
    (paid,) = store.called("wxpay_order_paid")
    payment = paid["payment"]
    assert payment.out_trade_no == out_trade_no and payment.total_fee == 100
    assert payment.source == "notify" and payment.transaction_id.startswith("4200")
    assert payment.fields == xmlmsg.from_xml(body)
    assert store.paid_reactions == [out_trade_no]
    assert answer(status(wxpay, out_trade_no))["status"] == "paid"


def test_a_coupon_payment_is_paid_in_full_by_total_fee(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    # A coupon-discounted payment: cash_fee < total_fee; the amount check compares
    # total_fee with the order (wechatpay-v2.md section 9; issue 13, fidelity item 7).
    response = post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple"})
    data = answer(response)
    wxpay_simulator.pay(pay_params(data), outcome="coupon", coupon_fee=30)
    (note,) = wxpay_simulator.wait_for_notifications(lambda log: len(log) == 1)
    assert wxpay.notify(note["body"].encode()) == SUCCESS
    (paid,) = store.called("wxpay_order_paid")
    payment = paid["payment"]
    assert (payment.total_fee, payment.cash_fee, payment.coupon_fee) == (100, 70, 30)
    assert payment.settlement_total_fee == 70
    assert store.paid_reactions == [data["out_trade_no"]]


def test_repeated_notifications_are_acknowledged_and_react_once(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    out_trade_no, body = paid_order(wxpay, wxpay_simulator)
    answers = [notify(wxpay, body)["return_code"] for _ in range(5)]
    assert answers == ["SUCCESS"] * 5
    assert len(store.called("wxpay_order_paid")) == 5
    assert store.paid_reactions == [out_trade_no]


def test_hmac_notifications_without_sign_type_verify(
    store: MemoryStore, wxpay_simulator: Simulator, wxpay_config: WxPayConfig
) -> None:
    with WxPay(wxpay_config.with_changes(sign_type="HMAC-SHA256"), store) as app:
        out_trade_no, body = paid_order(app, wxpay_simulator)
        fields = xmlmsg.from_xml(body)
        assert "sign_type" not in fields and len(fields["sign"]) == 64
        assert notify(app, body)["return_code"] == "SUCCESS"
    assert store.paid_reactions == [out_trade_no]


def test_the_order_sign_type_wins_over_the_configured_one(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator, wxpay_config: WxPayConfig
) -> None:
    # Placed with HMAC (say, before the config changed to MD5): verified with HMAC.
    post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple", "order_no": "H1"})
    order = store.get("H1")
    assert order is not None
    store.put(replace(order, sign_type="HMAC-SHA256"))
    body = payment_notification(
        appid=wxpay_config.appid,
        mch_id=wxpay_config.mch_id,
        key=wxpay_config.api_key,
        out_trade_no="H1",
        total_fee=100,
        sign_type="HMAC-SHA256",
    )
    assert notify(wxpay, body)["return_code"] == "SUCCESS"
    assert store.paid_reactions == ["H1"]


def _rejected_with(store: MemoryStore, reason: str) -> None:
    assert [r for r, _ in store.rejections] == [reason]
    assert store.called("wxpay_order_paid") == []
    assert store.paid_reactions == []


def test_a_forged_sign_is_rejected(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    out_trade_no, body = paid_order(wxpay, wxpay_simulator)
    result = notify(wxpay, tamper(body, total_fee="1"))
    assert result == {"return_code": "FAIL", "return_msg": "bad_sign"}
    _rejected_with(store, "bad_sign")
    order = store.get(out_trade_no)
    assert order is not None and order.status == "pending"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"appid": "wx0000000000000bad"}, "wrong_appid"),
        ({"mch_id": "1000000001"}, "wrong_mch_id"),
        ({"total_fee": "1", "cash_fee": "1"}, "amount_mismatch"),
        ({"total_fee": "100.00"}, "bad_fields"),
        ({"total_fee": None}, "bad_fields"),
        ({"transaction_id": None}, "bad_fields"),
        ({"result_code": "MAYBE"}, "bad_fields"),
        ({"out_trade_no": "NOPE404"}, "unknown_order"),
        ({"sign_type": "SHA1"}, "bad_sign"),
    ],
    ids=[
        "wrong-appid",
        "wrong-mch-id",
        "amount-mismatch",
        "decimal-amount",
        "no-amount",
        "no-transaction-id",
        "odd-result-code",
        "unknown-order",
        "unknown-sign-type",
    ],
)
def test_signed_but_wrong_notifications_are_rejected(
    wxpay: WxPay,
    store: MemoryStore,
    wxpay_simulator: Simulator,
    wxpay_config: WxPayConfig,
    changes: dict[str, str | None],
    reason: str,
) -> None:
    out_trade_no, body = paid_order(wxpay, wxpay_simulator)
    result = notify(wxpay, resign(body, wxpay_config.api_key, **changes))
    assert result == {"return_code": "FAIL", "return_msg": reason}
    _rejected_with(store, reason)
    order = store.get(out_trade_no)
    assert order is not None and order.status == "pending"


def test_an_unknown_order_with_a_bad_sign_is_a_bad_sign(
    wxpay: WxPay, store: MemoryStore, wxpay_config: WxPayConfig
) -> None:
    # Whether an order exists is only told to a sender that signs with the merchant key.
    for key, reason in [("0" * 32, "bad_sign"), (wxpay_config.api_key, "unknown_order")]:
        store.rejections.clear()
        body = payment_notification(
            appid=wxpay_config.appid,
            mch_id=wxpay_config.mch_id,
            key=key,
            out_trade_no="GHOST1",
            total_fee=100,
            sign_type="HMAC-SHA256",  # no sign_type field: told by the sign's length
        )
        assert notify(wxpay, body) == {"return_code": "FAIL", "return_msg": reason}
        assert [r for r, _ in store.rejections] == [reason]


def test_a_failed_payment_is_acknowledged_not_paid(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator, wxpay_config: WxPayConfig
) -> None:
    post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple", "order_no": "F1"})
    body = payment_notification(
        appid=wxpay_config.appid,
        mch_id=wxpay_config.mch_id,
        key=wxpay_config.api_key,
        out_trade_no="F1",
        total_fee=100,
        result_code="FAIL",
    )
    assert wxpay.notify(body) == SUCCESS
    (failed,) = store.called("wxpay_payment_failed")
    assert failed["order"].out_trade_no == "F1" and failed["fields"]["err_code"] == "NOTENOUGH"
    assert store.called("wxpay_order_paid") == [] and store.rejections == []
    order = store.get("F1")
    assert order is not None and order.status == "pending"


def test_the_simulators_fail_notice_reaches_payment_failed_and_nothing_is_paid(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    # Mini-program payments that fail send no notification (outcome "fail"); the
    # explicitly named "fail_notice" sends a verified result_code=FAIL one, which the
    # flow must handle safely (issue 13, fidelity item 1).
    data = answer(post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple"}))
    result = wxpay_simulator.pay(pay_params(data), outcome="fail", check=False)
    assert result["errMsg"].startswith("requestPayment:fail")
    assert wxpay_simulator.notifications() == []
    wxpay_simulator.pay(pay_params(data), outcome="fail_notice", check=False)
    (note,) = wxpay_simulator.wait_for_notifications(lambda log: len(log) == 1)
    assert wxpay.notify(note["body"].encode()) == SUCCESS
    (failed,) = store.called("wxpay_payment_failed")
    assert failed["fields"]["err_code"] == "NOTENOUGH"
    assert store.called("wxpay_order_paid") == []
    order = store.get(data["out_trade_no"])
    assert order is not None and order.status == "pending"


def test_a_failing_paid_hook_answers_fail_so_wechat_retries(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    out_trade_no, body = paid_order(wxpay, wxpay_simulator)
    store.fail_paid = True
    assert notify(wxpay, body) == {"return_code": "FAIL", "return_msg": "internal error"}
    assert "the database is down" in caplog.text  # logged with its traceback
    assert store.rejections == []
    store.fail_paid = False
    assert wxpay.notify(body) == SUCCESS
    assert store.paid_reactions == [out_trade_no]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><xml><a>&e;</a></xml>',
        b"<xml><a><b>nested</b></a></xml>",
    ],
    ids=["empty", "not-xml", "entity", "nested"],
)
def test_unparsable_bodies_are_bad_xml(wxpay: WxPay, store: MemoryStore, body: bytes) -> None:
    assert notify(wxpay, body) == {"return_code": "FAIL", "return_msg": "bad_xml"}
    assert store.rejections == [("bad_xml", {})]


def test_return_code_fail_is_rejected(wxpay: WxPay, store: MemoryStore) -> None:
    body = xmlmsg.to_xml({"return_code": "FAIL", "return_msg": "签名失败"})
    assert notify(wxpay, body)["return_code"] == "FAIL"
    assert [r for r, _ in store.rejections] == ["return_fail"]


def test_a_failing_rejection_hook_still_answers_fail(
    wxpay: WxPay, store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenAlerts:
        @hookimpl
        def wxpay_notify_rejected(self, reason: str, fields: dict[str, str]) -> None:
            """Alerting that is down."""
            raise RuntimeError("pager offline")

    wxpay.register(BrokenAlerts())
    assert notify(wxpay, b"junk") == {"return_code": "FAIL", "return_msg": "bad_xml"}
    assert "pager offline" in caplog.text


def test_a_real_notification_reaches_the_endpoint_over_http(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    # The simulator's retries keep going until acknowledged: the answer must be SUCCESS.
    data = answer(post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple"}))
    wxpay_simulator.pay(pay_params(data))
    log = wxpay_simulator.wait_for_notifications(lambda log: bool(log))
    assert wxpay.notify(log[0]["body"].encode()) == SUCCESS
