"""Money operations on WxPay (refund, refund_query, close_order, query, download_bill) and
their CLI, against the simulator over real HTTP, recorded by the packaged store."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import payment_notification
from wxpay_mw import RateLimitedError, WeChatError, WeChatUnavailableError, WxPay, xmlmsg
from wxpay_mw._kit import PAY_KEYS
from wxpay_mw.bills import parse_bill, yuan_to_fen
from wxpay_mw.cli import main
from wxpay_mw.errors import RefundFailedError, RefundRefusedError
from wxpay_mw.operations import refund_action
from wxpay_mw.sansio import Request
from wxpay_mw.simulator import Simulator
from wxpay_mw.store import OrderStore

from . import _cli_app
from ._shop import Shop, host_for

TIMEOUT = 30.0


@pytest.fixture
def shop(store_url: str, wxpay_simulator: Simulator) -> Iterator[tuple[WxPay, OrderStore, Shop]]:
    host_for(store_url)
    store, shop = OrderStore(store_url), Shop()
    # A short read timeout, for the refund whose answer never comes.
    config = wxpay_simulator.config(notify_url="http://127.0.0.1:9/wxpay/notify", read_timeout=1.0)
    with WxPay(config, store, shop) as wxpay:
        yield wxpay, store, shop
    store.dispose()


def prepay(wxpay: WxPay, sim: Simulator, sku: str = "tea") -> dict[str, str]:
    body = json.dumps({"sku": sku, "code": sim.login()}).encode()
    response = wxpay.handle(
        Request("POST", "/prepay", {"content-type": "application/json"}, body, "127.0.0.1")
    )
    assert response.status == 200, response.body
    params: dict[str, str] = json.loads(response.body)
    return params


def pay(wxpay: WxPay, sim: Simulator, deliver: bool = True) -> tuple[str, str]:
    """A paid order: (out_trade_no, transaction_id); its notification handled if deliver."""
    params = prepay(wxpay, sim)
    no = params["out_trade_no"]
    transaction_id = sim.pay({key: params[key] for key in PAY_KEYS})["transaction_id"]
    if deliver:
        log = sim.wait_for_notifications(
            lambda log: any(n["out_trade_no"] == no for n in log), timeout=TIMEOUT
        )
        body = next(n["body"] for n in log if n["out_trade_no"] == no).encode()
        assert xmlmsg.from_xml(wxpay.notify(body))["return_code"] == "SUCCESS"
    return no, transaction_id


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def bill_day(sim: Simulator) -> datetime.date:
    """Today in Beijing; then two days pass on the simulator's clock, so that today's
    bill exists (WeChat makes it the next morning)."""
    day = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date()
    sim.advance_clock(2 * 24 * 3600)
    return day


def settled(wxpay: WxPay, no: str, count: int) -> list[Any]:
    """refund_query until WeChat reports ``count`` refunds, all SUCCESS."""

    def done() -> list[Any]:
        found = wxpay.refund_query(out_trade_no=no)
        ok = len(found) == count and all(r.refund_status == "SUCCESS" for r in found)
        return found if ok else []

    result: list[Any] = wait_for(done, f"{count} settled refunds of {no}")
    return result


def test_refund_half_then_the_rest(
    shop: tuple[WxPay, OrderStore, Shop], wxpay_simulator: Simulator
) -> None:
    wxpay, store, _ = shop
    no, _ = pay(wxpay, wxpay_simulator)
    half = wxpay.refund(no, 640, reason="破损")
    assert (half.refund_status, half.refund_fee, half.total_fee) == ("PROCESSING", 640, 1280)
    assert half.refund_id and wxpay_simulator.order(no)["refunded_fee"] == 640  # type: ignore[index]
    assert [(r.out_refund_no, r.refund_status) for r in store.refunds(no)] == [
        (half.out_refund_no, "PROCESSING")
    ]
    (done,) = settled(wxpay, no, 1)
    assert done.refund_id == half.refund_id
    assert store.refunds(no)[0].refund_status == "SUCCESS"
    assert store.get(no).status == "paid"  # type: ignore[union-attr]
    # Asking again with the same number returns the settled refund; WeChat is not asked.
    assert wxpay.refund(no, 640, out_refund_no=half.out_refund_no).refund_status == "SUCCESS"

    wxpay.refund(no, 640)
    settled(wxpay, no, 2)
    assert store.get(no).status == "refunded"  # type: ignore[union-attr]
    with pytest.raises(RefundRefusedError, match="refunded, not paid"):
        wxpay.refund(no, 1)
    assert wxpay_simulator.order(no)["refunded_fee"] == 1280  # type: ignore[index]


def test_refunds_never_pass_the_total(
    shop: tuple[WxPay, OrderStore, Shop], wxpay_simulator: Simulator
) -> None:
    wxpay, _, _ = shop
    no, _ = pay(wxpay, wxpay_simulator)
    wxpay.refund(no, 1000)
    with pytest.raises(RefundRefusedError, match="1000 fen are already") as refused:
        wxpay.refund(no, 281)
    assert refused.value.reason == "too_much"
    assert wxpay_simulator.order(no)["refunded_fee"] == 1000  # type: ignore[index]


def test_a_refund_retried_after_a_timeout_is_the_same_refund(
    shop: tuple[WxPay, OrderStore, Shop], wxpay_simulator: Simulator
) -> None:
    wxpay, store, _ = shop
    no, _ = pay(wxpay, wxpay_simulator)
    wxpay_simulator.add_fault("/secapi/pay/refund", "timeout", seconds=3, count=1)
    with pytest.raises(RefundFailedError) as lost:
        wxpay.refund(no, 500, out_refund_no="RT1")
    assert (lost.value.action, lost.value.code, lost.value.out_refund_no) == (
        "retry",
        "UNAVAILABLE",
        "RT1",
    )
    assert store.refunds(no)[0].refund_status == "REQUESTED"  # outcome unknown: kept
    assert wxpay_simulator.order(no)["refunded_fee"] == 500  # type: ignore[index]  # it acted
    again = wxpay.refund(no, 500, out_refund_no="RT1")
    assert again.refund_status == "PROCESSING"
    assert wxpay_simulator.order(no)["refunded_fee"] == 500  # type: ignore[index]  # once
    (found,) = settled(wxpay, no, 1)
    assert found.refund_id == again.refund_id


def test_a_refused_refund_gives_its_amount_back(
    shop: tuple[WxPay, OrderStore, Shop], wxpay_simulator: Simulator
) -> None:
    wxpay, store, _ = shop
    no, _ = pay(wxpay, wxpay_simulator)
    wxpay_simulator.add_fault("/secapi/pay/refund", "http_500", count=1)
    with pytest.raises(RefundFailedError) as failed:
        wxpay.refund(no, 1280, out_refund_no="RX1")
    assert failed.value.action == "retry"  # kept: the same number again is safe
    assert wxpay.refund(no, 1280, out_refund_no="RX1").refund_status == "PROCESSING"

    # An order the store was told is paid, but WeChat never took money for: refused.
    unpaid = prepay(wxpay, wxpay_simulator)["out_trade_no"]
    merchant = wxpay_simulator.merchant
    body = payment_notification(
        appid=merchant.appid,
        mch_id=merchant.mch_id,
        key=merchant.api_key,
        out_trade_no=unpaid,
        total_fee=1280,
    )
    assert xmlmsg.from_xml(wxpay.notify(body))["return_code"] == "SUCCESS"
    with pytest.raises(RefundFailedError) as refused:
        wxpay.refund(unpaid, 1280, out_refund_no="RX2")
    assert (refused.value.action, refused.value.code) == ("refused", "ORDERNOTEXIST")
    assert "action: refused" in str(refused.value)
    assert [(r.out_refund_no, r.refund_status) for r in store.refunds(unpaid)] == [
        ("RX2", "FAILED")
    ]
    amounts = {o["out_trade_no"]: o["refunded_fee"] for o in store.orders()}
    assert amounts == {no: 1280, unpaid: 0}  # RX2's share given back


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (WeChatError("SYSTEMERROR"), "retry"),
        (WeChatError("BIZERR_NEED_RETRY"), "retry"),
        (RateLimitedError("FREQUENCY_LIMITED"), "retry_later"),
        (WeChatError("NOTENOUGH"), "top_up"),
        (WeChatError("USER_ACCOUNT_ABNORMAL"), "refund_offline"),
        (WeChatError("TRADE_OVERDUE"), "refused"),
        (WeChatUnavailableError("timed out", may_have_acted=True), "retry"),
    ],
)
def test_refund_errors_map_to_what_the_host_should_do(error: Any, action: str) -> None:
    assert refund_action(error) == action


def test_close_query_and_a_close_that_lost_to_the_payment(
    shop: tuple[WxPay, OrderStore, Shop], wxpay_simulator: Simulator
) -> None:
    wxpay, store, shop_plugin = shop
    unpaid = prepay(wxpay, wxpay_simulator)["out_trade_no"]
    assert wxpay.close_order(unpaid) == "closed"
    assert store.get(unpaid).status == "closed"  # type: ignore[union-attr]
    assert wxpay.query(unpaid)["trade_state"] == "CLOSED"
    assert wxpay.close_order(unpaid) == "closed"  # ORDERCLOSED: already

    paid_no, transaction_id = pay(wxpay, wxpay_simulator, deliver=False)
    assert wxpay.close_order(paid_no) == "paid"  # ORDERPAID: the payment is recorded
    assert shop_plugin.fulfilled == [paid_no]
    assert store.get(paid_no).transaction_id == transaction_id  # type: ignore[union-attr]

    other, _ = pay(wxpay, wxpay_simulator, deliver=False)
    assert wxpay.query(other)["trade_state"] == "SUCCESS"
    assert store.get(other).status == "paid"  # type: ignore[union-attr]
    assert shop_plugin.fulfilled == [paid_no, other]


def test_download_bill_parses_the_day(
    shop: tuple[WxPay, OrderStore, Shop], wxpay_simulator: Simulator
) -> None:
    wxpay, _, _ = shop
    no, transaction_id = pay(wxpay, wxpay_simulator)
    wxpay.refund(no, 280)
    settled(wxpay, no, 1)
    bill = wxpay.download_bill(bill_day(wxpay_simulator))
    assert bill.header[:3] == ["交易时间", "公众账号ID", "商户号"]
    states = {(row["商户订单号"], row["交易状态"]): row for row in bill.rows}
    sale, back = states[(no, "SUCCESS")], states[(no, "REFUND")]
    assert sale["微信订单号"] == transaction_id and yuan_to_fen(sale["应结订单金额"]) == 1280
    assert yuan_to_fen(back["退款金额"]) == 280
    assert float(bill.summary["总交易单数"]) == 2  # "2" or "2.0"
    assert yuan_to_fen(bill.summary["退款总金额"]) == 280
    assert wxpay.download_bill("20200101").rows == []  # no bill that day


def test_parse_bill_keeps_commas_inside_cells_and_reads_yuan() -> None:
    text = "a,b\r\n`1,`x,y\r\n`2,`z\r\n总数,金额\r\n`2,`1.50\r\n"
    bill = parse_bill(text)
    assert bill.rows == [{"a": "1", "b": "x,y"}, {"a": "2", "b": "z"}]
    assert bill.summary == {"总数": "2", "金额": "1.50"}
    assert parse_bill("").rows == []
    assert [yuan_to_fen(v) for v in ("12.80", "0.05", "3", "3.5")] == [1280, 5, 300, 350]
    with pytest.raises(ValueError, match="not an amount in yuan"):
        yuan_to_fen("1.234")


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_refund_orders_bill_and_notifications(
    shop: tuple[WxPay, OrderStore, Shop],
    wxpay_simulator: Simulator,
    store_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wxpay, store, shop_plugin = shop
    _cli_app.wxpay = wxpay
    app = ["--app", "tests.store._cli_app:wxpay"]
    no, _ = pay(wxpay, wxpay_simulator)
    capsys.readouterr()

    assert main(["refund", no, "--fee", "640", "--out-refund-no", "RC1", *app]) == 0
    assert json.loads(capsys.readouterr().out)["refund_status"] == "PROCESSING"
    assert main(["refund", no, "--fee", "9999", *app]) == 2
    assert "would pass the total" in capsys.readouterr().err

    assert main(["orders", "list", "--url", store_url]) == 0
    assert [o["out_trade_no"] for o in json.loads(capsys.readouterr().out)] == [no]
    assert main(["orders", "show", no, *app]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["order"]["status"] == "paid"
    assert [r["out_refund_no"] for r in shown["refunds"]] == ["RC1"]
    assert main(["orders", "show", "NOPE", "--url", store_url]) == 2

    assert main(["bill", "--date", bill_day(wxpay_simulator).strftime("%Y%m%d"), *app]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["商户订单号"] == no

    # A forged notification is logged; replaying it is verified again, and refused.
    forged = xmlmsg.to_xml({"return_code": "SUCCESS", "out_trade_no": no, "sign": "F" * 32})
    assert xmlmsg.from_xml(wxpay.notify(forged))["return_code"] == "FAIL"
    assert main(["notifications", "list", "--kind", "rejected", *app]) == 0
    (rejected,) = json.loads(capsys.readouterr().out)
    assert rejected["reason"] == "bad_sign"
    assert main(["notifications", "replay", str(rejected["id"]), *app]) == 1
    assert json.loads(capsys.readouterr().out)["answer"] == "FAIL"
    # The accepted payment replays as the duplicate it is: verified, no second reaction.
    (accepted,) = store.notifications(kind="payment")
    assert main(["notifications", "replay", str(accepted["id"]), *app]) == 0
    assert shop_plugin.fulfilled == [no]
    assert main(["notifications", "replay", *app]) == 2
    assert "needs an id and --app" in capsys.readouterr().err
