"""API v3 end to end over real HTTP: prepay, pay, the sealed notification acknowledged by
status, the order paid, half refunded with the v3 refund notification recorded."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Iterator

import pytest
import requests

from wxpay_mw import WxPayConfig
from wxpay_mw._status import status_token
from wxpay_mw.bills import yuan_to_fen
from wxpay_mw.simulator import Simulator

from .conftest import Hosted, hosted, store_for, v3_config

STYLES = ["asgi-middleware", "asgi-middleware+async", "flask-extension", "wsgi-middleware"]


def _paid(host: Hosted, sim: Simulator) -> dict[str, object]:
    data = host.prepay(sim, sku="pear")
    params = {k: v for k, v in data.items() if k not in ("out_trade_no", "status_token")}
    assert params["signType"] == "RSA"
    assert params["package"].startswith("prepay_id=")
    sim.pay(params)  # the simulator checks the RSA paySign with the merchant's key
    sim.wait_for_notifications(1)
    return data


@pytest.mark.parametrize("style", STYLES)
def test_a_v3_payment_is_acknowledged_by_status_and_recorded(sim: Simulator, style: str) -> None:
    store = store_for(style)
    with hosted(sim, style, (store,)) as host:
        data = _paid(host, sim)
        no = str(data["out_trade_no"])
        entry = sim.notifications()[0]
        assert (entry["api"], entry["kind"], entry["out_trade_no"]) == ("v3", "payment", no)
        assert [a["status"] for a in entry["attempts"]] == [204]
        order = store.get(no)
        assert order is not None and order.status == "paid"
        assert order.total_fee == 250 and order.transaction_id
        (paid,) = [c["payment"] for c in store.called("wxpay_order_paid")]
        assert (paid.total_fee, paid.cash_fee, paid.source) == (250, 250, "notify")
        assert len(paid.time_end) == 14 and paid.fields["trade_state"] == "SUCCESS"
        status = requests.get(
            host.url(f"/orders/{no}"),
            headers={"x-wxpay-token": str(data["status_token"])},
            timeout=10,
        )
        assert status.status_code == 200
        assert status.json()["status"] == "paid"
        assert status.json()["transaction_id"] == order.transaction_id
        assert store.rejections == []


@pytest.mark.parametrize("style", ["asgi-middleware", "flask-extension"])
def test_half_refunded_through_wxpay_refund_with_the_v3_refund_notification(
    sim: Simulator, style: str
) -> None:
    store = store_for(style)
    with hosted(sim, style, (store,)) as host:
        no = str(_paid(host, sim)["out_trade_no"])
        made = host.wxpay.refund(no, 125, reason="half")
        assert (made.refund_fee, made.total_fee, made.refund_status) == (125, 250, "PROCESSING")
        sim.wait_for_notifications(
            lambda log: any(n["kind"] == "refund" and n["acknowledged"] for n in log)
        )
        refund_entry = next(n for n in sim.notifications() if n["kind"] == "refund")
        assert [a["status"] for a in refund_entry["attempts"]] == [204]
        (recorded,) = store.refunds
        assert (recorded.out_trade_no, recorded.out_refund_no) == (no, made.out_refund_no)
        assert (recorded.refund_fee, recorded.total_fee) == (125, 250)
        assert recorded.refund_status == "SUCCESS" and recorded.success_time
        queried = host.wxpay.refund_query(out_refund_no=made.out_refund_no)
        assert [(r.out_refund_no, r.refund_fee, r.refund_status) for r in queried] == [
            (made.out_refund_no, 125, "SUCCESS")
        ]


def test_the_status_token_comes_from_the_apiv3_key_not_the_v2_key(sim: Simulator) -> None:
    store = store_for("wsgi-middleware")
    with hosted(sim, "wsgi-middleware", (store,)) as host:
        no = str(host.prepay(sim, sku="apple")["out_trade_no"])
        v2_token = status_token(sim.merchant.api_key, no)
        refused = requests.get(
            host.url(f"/orders/{no}"), headers={"x-wxpay-token": v2_token}, timeout=10
        )
        assert refused.status_code == 404
        assert host.wxpay.config.api_key == ""


@pytest.fixture(params=["certificate", "both"])
def migrating_sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    with Simulator(api="v3", v3_mode=request.param, time_factor=0.001) as simulator:
        yield simulator


def test_certificate_and_migration_modes_pay_end_to_end(migrating_sim: Simulator) -> None:
    sim = migrating_sim
    store = store_for("asgi-middleware")
    with hosted(sim, "asgi-middleware", (store,)) as host:
        first = str(_paid(host, sim)["out_trade_no"])
        second = str(host.prepay(sim, sku="apple")["out_trade_no"])
        params = host.prepay(sim, order_no=second)
        sim.pay({k: v for k, v in params.items() if k not in ("out_trade_no", "status_token")})
        sim.wait_for_notifications(2)
        serials = {n["out_trade_no"]: n["attempts"][0]["status"] for n in sim.notifications()}
        assert serials == {first: 204, second: 204}
        assert [store.get(n).status for n in (first, second)] == ["paid", "paid"]  # type: ignore[union-attr]


def test_reconcile_and_money_operations_speak_v3(sim: Simulator) -> None:
    store = store_for("wsgi-middleware")

    def unreachable(base: str) -> WxPayConfig:
        # Notifications go to a closed port: only a query can find the payment.
        return v3_config(sim, base, WXPAY_NOTIFY_URL="http://127.0.0.1:9/wxpay/notify")

    with hosted(sim, "wsgi-middleware", (store,), unreachable) as host:
        wxpay = host.wxpay
        unpaid = str(host.prepay(sim, sku="apple")["out_trade_no"])
        assert wxpay.query(unpaid)["trade_state"] == "NOTPAY"
        assert wxpay.close_order(unpaid) == "closed"
        assert store.get(unpaid).status == "closed"  # type: ignore[union-attr]
        data = host.prepay(sim, sku="melon")
        sim.pay({k: v for k, v in data.items() if k not in ("out_trade_no", "status_token")})
        summary = wxpay.reconcile(older_than=time.time() + 60)
        assert (summary.checked, summary.paid) == (1, 1)
        order = store.get(str(data["out_trade_no"]))
        assert order is not None and (order.status, order.total_fee) == ("paid", 1999)
        (paid,) = [c["payment"] for c in store.called("wxpay_order_paid")]
        assert (paid.source, paid.total_fee) == ("query", 1999)
        today = _dt.datetime.now(_dt.timezone(_dt.timedelta(hours=8))).date()
        sim.advance_clock(36 * 3600)  # the bill of a day exists from 10:00 the next day
        bill = wxpay.download_bill(today.strftime("%Y%m%d"))
        (sale,) = [row for row in bill.rows if row["商户订单号"] == order.out_trade_no]
        assert (sale["交易状态"], yuan_to_fen(sale["应结订单金额"])) == ("SUCCESS", 1999)
        assert sale["微信订单号"] == order.transaction_id
        assert wxpay.download_bill("20200101").rows == []  # no bill that day


def test_v3_config_from_env_needs_no_v2_key(sim: Simulator) -> None:
    config = v3_config(sim, "http://127.0.0.1:9")
    assert (config.api_version, config.api_key) == ("v3", "")
    assert config.v3 is not None and config.v3.uses_public_key
    shown = repr(config)
    assert sim.v3_keys.apiv3_key not in shown and "api_version='v3'" in shown
    assert isinstance(config, WxPayConfig)


def test_a_notification_under_a_new_platform_certificate_is_verified_after_one_download() -> None:
    with Simulator(api="v3", v3_mode="certificate", time_factor=0.001) as sim:
        store = store_for("flask-extension")
        with hosted(sim, "flask-extension", (store,)) as host:
            first = str(_paid(host, sim)["out_trade_no"])  # certificates downloaded
            data = host.prepay(sim, sku="apple")
            # Rotated after the last answer: the notification is the first message
            # under the new certificate, so verifying it is what downloads it.
            rotated = sim.switch_v3(new_certificate=True)
            assert rotated["signing_serial"] not in host.wxpay.client.v3.keys.serials  # type: ignore[attr-defined]
            sim.pay({k: v for k, v in data.items() if k not in ("out_trade_no", "status_token")})
            sim.wait_for_notifications(2)
            second = str(data["out_trade_no"])
            entry = next(n for n in sim.notifications() if n["out_trade_no"] == second)
            assert [a["status"] for a in entry["attempts"]] == [204]
            held = host.wxpay.client.v3.keys.serials  # type: ignore[attr-defined]
            assert rotated["signing_serial"] in held
            assert [store.get(n).status for n in (first, second)] == ["paid", "paid"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("code", "action"), [("NOTENOUGH", "top_up"), ("SYSTEMERROR", "retry")])
def test_v3_refund_refusals_say_what_to_do(sim: Simulator, code: str, action: str) -> None:
    from wxpay_mw.errors import RefundFailedError

    store = store_for("wsgi-middleware")
    with hosted(sim, "wsgi-middleware", (store,)) as host:
        no = str(_paid(host, sim)["out_trade_no"])
        sim.add_fault("/v3/refund/domestic/refunds", "wechat_error", code=code, count=1)
        with pytest.raises(RefundFailedError) as raised:
            host.wxpay.refund(no, 100, out_refund_no="R" + no)
        assert raised.value.action == action
        assert host.wxpay.refund_query(out_refund_no="RNOSUCHREFUND01") == []
