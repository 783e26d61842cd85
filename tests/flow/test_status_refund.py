"""GET /orders/{no} (reconciling through orderquery), reconcile(), and refund notifications."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.flow.conftest import answer, call, paid_order, pay_params, post_json, status
from tests.support import MemoryStore, refund_notification
from wxpay_mw import Order, WxPay, WxPayConfig, hookimpl, xmlmsg
from wxpay_mw.client import WeChatClient
from wxpay_mw.simulator import Simulator


def status_of(wxpay: WxPay, out_trade_no: str) -> dict[str, object]:
    response = status(wxpay, out_trade_no)
    assert response.status == 200, response.body
    return answer(response)


@pytest.mark.parametrize("no", ["NOPE", "bad%20no", "x" * 40], ids=["unknown", "odd", "long"])
def test_an_unknown_order_is_404(wxpay: WxPay, no: str) -> None:
    response = status(wxpay, no)
    assert response.status == 404
    assert answer(response)["error"] == "unknown_order"


def test_an_order_never_placed_is_pending_without_asking_wechat(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    store.put(Order(out_trade_no="N1", total_fee=100, body="test-n1"))
    wxpay_simulator.add_fault("*", "http_500")  # asking WeChat would show as a log line
    assert status_of(wxpay, "N1") == {"out_trade_no": "N1", "status": "pending", "total_fee": 100}
    # The status comes from the host's store, through wxpay_load_order.
    assert store.called("wxpay_load_order") == [{"out_trade_no": "N1"}]


def test_a_paid_order_shows_its_transaction(wxpay: WxPay, wxpay_simulator: Simulator) -> None:
    out_trade_no, body = paid_order(wxpay, wxpay_simulator)
    wxpay.notify(body)
    status = status_of(wxpay, out_trade_no)
    assert status["status"] == "paid"
    assert status["transaction_id"] == xmlmsg.from_xml(body)["transaction_id"]


def test_a_missed_notification_is_caught_by_orderquery(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    out_trade_no, body = paid_order(wxpay, wxpay_simulator)  # never acknowledged
    status = status_of(wxpay, out_trade_no)
    assert status["status"] == "paid" and status["transaction_id"]
    (paid,) = store.called("wxpay_order_paid")
    assert paid["payment"].source == "query" and paid["payment"].total_fee == 100
    # The late notification is then acknowledged without a second reaction.
    assert xmlmsg.from_xml(wxpay.notify(body))["return_code"] == "SUCCESS"
    assert store.paid_reactions == [out_trade_no]


def test_an_order_refunded_at_wechat_before_we_heard_of_it_counts_as_paid(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    # Paid, the notification lost, then refunded by hand in the merchant platform:
    # orderquery says REFUND. The money was taken, so the order is paid (the refund
    # itself arrives through the refund notification).
    out_trade_no, _ = paid_order(wxpay, wxpay_simulator)
    wxpay_simulator.platform_refund(out_trade_no)
    assert wxpay_simulator.order(out_trade_no)["trade_state"] == "REFUND"  # type: ignore[index]
    assert status_of(wxpay, out_trade_no)["status"] == "paid"
    (paid,) = store.called("wxpay_order_paid")
    assert paid["payment"].source == "query"


def test_an_unpaid_order_stays_pending(wxpay: WxPay, wxpay_simulator: Simulator) -> None:
    data = answer(post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple"}))
    assert status_of(wxpay, data["out_trade_no"])["status"] == "pending"


def test_an_order_closed_at_wechat_is_closed(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator, wxpay_config: WxPayConfig
) -> None:
    data = answer(post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple"}))
    with WeChatClient(wxpay_config) as client:
        client.close_order(data["out_trade_no"])
    assert status_of(wxpay, data["out_trade_no"])["status"] == "closed"
    (closed,) = store.called("wxpay_order_closed")
    assert closed["fields"]["trade_state"] == "CLOSED"


@pytest.mark.parametrize("kind", ["http_500", "reset", "bad_sign"])
def test_wechat_trouble_answers_the_stored_status(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator, kind: str
) -> None:
    data = answer(post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple"}))
    wxpay_simulator.pay(pay_params(data))
    wxpay_simulator.add_fault("/pay/orderquery", kind)
    assert status_of(wxpay, data["out_trade_no"])["status"] == "pending"
    assert store.called("wxpay_order_paid") == []


def test_a_query_with_another_amount_is_not_paid(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    out_trade_no, _ = paid_order(wxpay, wxpay_simulator)
    order = store.get(out_trade_no)
    assert order is not None
    store.put(replace(order, total_fee=99))
    assert status_of(wxpay, out_trade_no)["status"] == "pending"
    assert store.called("wxpay_order_paid") == []


def test_reconcile_settles_every_pending_order(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    paid_a, _ = paid_order(wxpay, wxpay_simulator)
    paid_b, _ = paid_order(wxpay, wxpay_simulator)
    unpaid = answer(post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "pear"}))
    summary = wxpay.reconcile(older_than=2e9, limit=10)
    assert summary.as_dict() == {
        "checked": 3,
        "paid": 2,
        "closed": 0,
        "pending": 1,
        "unavailable": 0,
        "failed": 0,
    }
    assert sorted(store.paid_reactions) == sorted([paid_a, paid_b])
    assert store.called("wxpay_pending_orders") == [{"older_than": 2e9, "limit": 10}]
    order = store.get(unpaid["out_trade_no"])
    assert order is not None and order.status == "pending"


def test_reconcile_counts_wechat_outages(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    paid_order(wxpay, wxpay_simulator)
    wxpay_simulator.add_fault("/pay/orderquery", "http_500")
    summary = wxpay.reconcile()
    assert (summary.checked, summary.unavailable, summary.paid) == (1, 1, 0)


# -- refund notifications ---------------------------------------------------------------


def test_a_refund_notification_from_wechat_reaches_the_hook(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator, wxpay_config: WxPayConfig
) -> None:
    out_trade_no, body = paid_order(wxpay, wxpay_simulator)
    wxpay.notify(body)
    with WeChatClient(wxpay_config) as client:
        client.refund(
            out_trade_no=out_trade_no,
            out_refund_no="RF1",
            total_fee=100,
            refund_fee=40,
            notify_url="http://127.0.0.1:9/wxpay/refund-notify",
        )
    log = wxpay_simulator.wait_for_notifications(
        lambda log: any(n["kind"] == "refund" for n in log)
    )
    refund_body = next(n["body"] for n in log if n["kind"] == "refund").encode()
    response = call(wxpay, "POST", "/refund-notify", refund_body)
    assert xmlmsg.from_xml(response.body) == {"return_code": "SUCCESS", "return_msg": "OK"}
    (notified,) = store.called("wxpay_refund_notified")
    refund = notified["refund"]
    assert (refund.out_trade_no, refund.out_refund_no, refund.refund_fee) == (
        out_trade_no,
        "RF1",
        40,
    )
    assert refund.refund_status == "SUCCESS" and refund.total_fee == 100
    assert status_of(wxpay, out_trade_no)["status"] == "refunded"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"key": "f" * 32}, "bad_sign"),
        ({"mch_id": "1000000001"}, "wrong_mch_id"),
        ({"appid": "wx0000000000000bad"}, "wrong_appid"),
        ({"refund_fee": 0}, "bad_fields"),
        ({"refund_fee": 101}, "bad_fields"),
    ],
    ids=["other-key", "wrong-mch-id", "wrong-appid", "zero-fee", "over-total"],
)
def test_bad_refund_notifications_are_rejected(
    wxpay: WxPay,
    store: MemoryStore,
    wxpay_config: WxPayConfig,
    kwargs: dict[str, object],
    reason: str,
) -> None:
    params: dict[str, object] = {
        "appid": wxpay_config.appid,
        "mch_id": wxpay_config.mch_id,
        "key": wxpay_config.api_key,
        "out_trade_no": "T1",
        "refund_fee": 10,
        "total_fee": 100,
        **kwargs,
    }
    body = refund_notification(**params)  # type: ignore[arg-type]
    assert xmlmsg.from_xml(wxpay.refund_notify(body)) == {
        "return_code": "FAIL",
        "return_msg": reason,
    }
    assert [r for r, _ in store.rejections] == [reason]
    assert store.refunds == []


def test_a_failing_refund_hook_answers_fail(
    wxpay: WxPay, store: MemoryStore, wxpay_config: WxPayConfig
) -> None:
    body = refund_notification(
        appid=wxpay_config.appid,
        mch_id=wxpay_config.mch_id,
        key=wxpay_config.api_key,
        out_trade_no="T1",
        refund_fee=10,
        total_fee=100,
    )

    class Broken:
        @hookimpl
        def wxpay_refund_notified(self, refund: object) -> None:
            """A store that is down."""
            raise RuntimeError("down")

    wxpay.register(Broken())
    assert xmlmsg.from_xml(wxpay.refund_notify(body))["return_code"] == "FAIL"
