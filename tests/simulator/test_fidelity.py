"""Where the simulator behaves as the real WeChat does, not more kindly (issue 13).

Each test names the source of the fact it checks.
"""

from __future__ import annotations

import calendar
import hashlib
import time

import pytest
import requests

from wxpay_mw import signing
from wxpay_mw.simulator import Simulator
from wxpay_mw.xmlmsg import from_xml, to_xml

from .conftest import Receiver, call, order_params, pay_params, place, post, signed


def _beijing(epoch: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(epoch + 8 * 3600))


# -- item 2: time_expire ------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds_ahead",
    [
        pytest.param(2 * 60, id="2-minutes-ahead"),
        pytest.param(-60, id="in-the-past"),
        # The classic bug: a 30-minute window written in UTC, 8 hours behind Beijing.
        pytest.param(30 * 60 - 8 * 3600, id="utc-instead-of-beijing"),
    ],
)
def test_time_expire_under_five_minutes_is_refused(sim: Simulator, seconds_ahead: int) -> None:
    # WeChat: "time_expire时间过短，刷卡至少1分钟，其他5分钟" (issue 13, item 2;
    # wechatpay-v2.md section 2: the minimum interval is 5 minutes).
    params = order_params(sim, "http://127.0.0.1:9/n")
    params["time_expire"] = _beijing(time.time() + seconds_ahead)
    answer = call(sim, "/pay/unifiedorder", params)
    assert answer["result_code"] == "FAIL"
    assert answer["err_code_des"] == "time_expire时间过短，刷卡至少1分钟，其他5分钟"
    assert sim.order(params["out_trade_no"]) is None


def test_time_expire_six_minutes_ahead_is_accepted(sim: Simulator) -> None:
    params = order_params(sim, "http://127.0.0.1:9/n")
    params["time_expire"] = _beijing(time.time() + 6 * 60)
    assert call(sim, "/pay/unifiedorder", params)["result_code"] == "SUCCESS"


# -- item 3: the sandbox ---------------------------------------------------------------


def _sandbox_key(sim: Simulator) -> str:
    message = {"mch_id": sim.merchant.mch_id, "nonce_str": signing.make_nonce()}
    message["sign"] = signing.sign(message, sim.merchant.api_key)
    return from_xml(post(sim, "/sandboxnew/pay/getsignkey", to_xml(message)).content)[
        "sandbox_signkey"
    ]


def test_sandbox_refund_on_the_official_sdks_path_keeps_device_info(sim: Simulator) -> None:
    # The official SDKs post sandbox refunds to /sandboxnew/secapi/pay/refund, and every
    # sandbox answer carries device_info=sandbox, even for an order that sent its own
    # device_info (issue 13, item 3; wechatpay-v2.md section 11).
    key = _sandbox_key(sim)
    params = order_params(sim, "http://127.0.0.1:9/n", device_info="POS1")
    ordered = call(sim, "/sandboxnew/pay/unifiedorder", params, key=key)
    assert ordered["device_info"] == "sandbox"
    sim.pay(
        signing.request_payment_params(
            appid=sim.merchant.appid, key=key, prepay_id=ordered["prepay_id"]
        )
    )
    queried = call(
        sim, "/sandboxnew/pay/orderquery", {"out_trade_no": params["out_trade_no"]}, key=key
    )
    assert queried["trade_state"] == "SUCCESS" and queried["device_info"] == "sandbox"
    refund = {
        "out_trade_no": params["out_trade_no"],
        "out_refund_no": "SR1",
        "total_fee": "101",
        "refund_fee": "101",
    }
    refunded = call(sim, "/sandboxnew/secapi/pay/refund", refund, key=key)
    assert refunded["result_code"] == "SUCCESS"
    assert refunded["device_info"] == "sandbox"


# -- item 7: coupons -----------------------------------------------------------------


def test_coupon_payment_notification_and_query(sim: Simulator, receiver: Receiver) -> None:
    # A coupon-discounted payment: cash_fee < total_fee, coupon_fee, coupon_count,
    # coupon_fee_N, coupon_id_N, settlement_total_fee (wechatpay-v2.md sections 4 and 9;
    # WxJava WxPayOrderNotifyResult; issue 13, item 7).
    params, answer = place(sim, receiver.url, total_fee="1000")
    sim.pay(pay_params(sim, answer["prepay_id"]), outcome="coupon", coupon_fee=300)
    sim.wait_for_notifications(1)
    fields = from_xml(receiver.received[0].body)
    assert signing.verify(fields, sim.merchant.api_key)
    assert fields["result_code"] == "SUCCESS"
    assert (fields["total_fee"], fields["cash_fee"]) == ("1000", "700")
    assert (fields["coupon_fee"], fields["coupon_count"]) == ("300", "1")
    assert fields["coupon_fee_0"] == "300" and fields["coupon_id_0"].isdigit()
    assert fields["settlement_total_fee"] == "700"
    queried = call(sim, "/pay/orderquery", {"out_trade_no": params["out_trade_no"]})
    assert (queried["total_fee"], queried["cash_fee"], queried["coupon_fee"]) == (
        "1000",
        "700",
        "300",
    )


def test_coupon_outcome_defaults_to_a_tenth_and_refuses_a_whole_coupon(sim: Simulator) -> None:
    _, answer = place(sim, total_fee="1000")
    with pytest.raises(Exception, match="coupon_fee must be 1 to total_fee - 1"):
        sim.pay(pay_params(sim, answer["prepay_id"]), outcome="coupon", coupon_fee=1000)
    sim.pay(pay_params(sim, answer["prepay_id"]), outcome="coupon")
    (note,) = sim.notifications()
    assert from_xml(note["body"].encode())["coupon_fee"] == "100"


# -- item 10: empty elements ---------------------------------------------------------


def _md5_sign(fields: dict[str, str], key: str, *, keep_empty: bool) -> str:
    # Written out here, not taken from wxpay_mw.signing: the test's own reading of
    # WeChat's rule (wechatpay-v2.md section 3).
    pairs = sorted((k, v) for k, v in fields.items() if k != "sign" and (v or keep_empty))
    text = "&".join(f"{k}={v}" for k, v in pairs) + f"&key={key}"
    return hashlib.md5(text.encode()).hexdigest().upper()


def test_answers_carry_empty_elements_left_out_of_the_sign(sim: Simulator) -> None:
    # Real answers carry <device_info><![CDATA[]]></device_info> and
    # <attach><![CDATA[]]></attach>; a NOTPAY orderquery answer has total_fee; empty
    # values are not signed (issue 13, item 10; wechatpay-v2.md section 3 and 14).
    params, _ = place(sim)
    response = post(sim, "/pay/orderquery", signed(sim, {"out_trade_no": params["out_trade_no"]}))
    assert b"<attach><![CDATA[]]></attach>" in response.content
    assert b"<device_info><![CDATA[]]></device_info>" in response.content
    fields = from_xml(response.content)
    assert fields["trade_state"] == "NOTPAY" and fields["total_fee"] == "101"
    assert fields["sign"] == _md5_sign(fields, sim.merchant.api_key, keep_empty=False)
    # A verifier that signs "attach=&device_info=&" too must fail against the simulator.
    assert fields["sign"] != _md5_sign(fields, sim.merchant.api_key, keep_empty=True)


# -- item 11: orderquery REFUND --------------------------------------------------------


def test_orderquery_of_a_refunded_order_says_refund_with_the_payment(sim: Simulator) -> None:
    # trade_state REFUND ("转入退款") is a paid order with a refund: the answer carries
    # the payment's transaction_id, total_fee and time_end as for SUCCESS
    # (wechatpay-v2.md section 4; issue 13, item 11).
    params, answer = place(sim)
    paid = sim.pay(pay_params(sim, answer["prepay_id"]))
    refund = {
        "out_trade_no": params["out_trade_no"],
        "out_refund_no": "R1",
        "total_fee": "101",
        "refund_fee": "1",
    }
    assert call(sim, "/secapi/pay/refund", refund)["result_code"] == "SUCCESS"
    queried = call(sim, "/pay/orderquery", {"out_trade_no": params["out_trade_no"]})
    assert queried["trade_state"] == "REFUND"
    assert queried["trade_state_desc"] == "订单发生过退款"
    assert queried["transaction_id"] == paid["transaction_id"]
    assert queried["total_fee"] == queried["cash_fee"] == "101"
    assert len(queried["time_end"]) == 14


# -- item 12: closing at once ----------------------------------------------------------


def test_an_order_can_be_closed_at_once(sim: Simulator) -> None:
    # closeorder has no 5-minute minimum at WeChat (issue 13, item 12): closing right
    # after placing succeeds.
    params, _ = place(sim)
    answer = call(sim, "/pay/closeorder", {"out_trade_no": params["out_trade_no"]})
    assert answer["result_code"] == "SUCCESS"


# -- item 8: the bill -----------------------------------------------------------------


def _bill(sim: Simulator, day: str, bill_type: str) -> bytes:
    response = post(
        sim, "/pay/downloadbill", signed(sim, {"bill_date": day, "bill_type": bill_type})
    )
    assert response.status_code == 200
    return response.content


def _cells(line: str) -> list[str]:
    cells = line.split(",")
    assert all(cell.startswith("`") for cell in cells), line
    return [cell[1:] for cell in cells]


def test_bill_is_shaped_like_wechats(sim: Simulator) -> None:
    # Reference: a real ALL bill, wechatpay-apiv3/wechatpay-php tests/fixtures/bill.ALL.csv
    # (27 columns; refund rows with 应结订单金额 and 订单金额 0.00; fees like 0.01000;
    # summary "`45.0,`0.47,`0.14,`0.0,..."); column counts SUCCESS 20, REFUND 26 and the
    # BOM from WxJava's WxPayBillResult and issue 13, item 8.
    params, answer = place(sim, total_fee="1000")
    paid = sim.pay(pay_params(sim, answer["prepay_id"]))
    refund = {
        "out_trade_no": params["out_trade_no"],
        "out_refund_no": "R1",
        "total_fee": "1000",
        "refund_fee": "250",
    }
    assert call(sim, "/secapi/pay/refund", refund)["result_code"] == "SUCCESS"
    day = sim.order(params["out_trade_no"])["time_end"][:8]  # type: ignore[index]
    deadline = time.monotonic() + 10
    while call(sim, "/pay/refundquery", {"out_refund_no": "R1"})["refund_status_0"] != "SUCCESS":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # Not before 10:00 Beijing time the next day (wechatpay-v2.md section 8).
    assert from_xml(_bill(sim, day, "ALL"))["return_msg"] == "invalid bill_date"
    midnight = calendar.timegm(time.strptime(day, "%Y%m%d")) - 8 * 3600
    sim.advance_clock(midnight + 33 * 3600 - time.time())  # 09:00 the next day
    assert from_xml(_bill(sim, day, "ALL"))["return_msg"] == "Bill Creating"
    sim.advance_clock(3600)  # 10:00

    raw = _bill(sim, day, "ALL")
    assert raw.startswith(b"\xef\xbb\xbf")  # a UTF-8 BOM
    lines = raw.decode("utf-8-sig").splitlines()
    header, *rows, summary_header, summary = lines
    assert len(header.split(",")) == 27
    assert summary_header.startswith("总交易单数,应结订单总金额,退款总金额")
    by_state = {_cells(row)[9]: _cells(row) for row in rows}
    payment, refunded = by_state["SUCCESS"], by_state["REFUND"]
    assert all(len(row) == 27 for row in (payment, refunded))
    assert payment[5] == paid["transaction_id"] and payment[12] == "10.00"
    assert payment[22] == "0.06000"  # 手续费 with 5 decimals (0.6% of 10.00)
    assert (refunded[12], refunded[24], refunded[25]) == ("0.00", "0.00", "2.50")
    assert (refunded[15], refunded[16], refunded[19]) == ("R1", "2.50", "SUCCESS")
    assert _cells(summary) == ["2.0", "10.0", "2.5", "0.0", "0.06", "10.0", "2.5"]

    success = _bill(sim, day, "SUCCESS").decode("utf-8-sig").splitlines()
    assert len(success[0].split(",")) == 20 and len(_cells(success[1])) == 20
    refunds = _bill(sim, day, "REFUND").decode("utf-8-sig").splitlines()
    assert len(refunds[0].split(",")) == 26 and len(_cells(refunds[1])) == 26
    assert _cells(refunds[1])[17] == "R1"


def test_a_day_without_payments_is_no_bill_exist_20002(sim: Simulator) -> None:
    # "No Bill Exist" (not the doc's "NO Bill Exist", WxJava PR #1241), error_code 20002
    # (issue 13, item 8).
    answer = from_xml(_bill(sim, "20200101", "ALL"))
    assert answer == {"return_code": "FAIL", "return_msg": "No Bill Exist", "error_code": "20002"}


def test_missing_appid_is_an_unsigned_return_code_fail(sim: Simulator) -> None:
    # Missing parameters: return_code=FAIL "缺少参数<name>" (issue 13, item 12).
    body = signed(sim, {"appid": None, "out_trade_no": "x"})  # type: ignore[dict-item]
    assert from_xml(post(sim, "/pay/orderquery", body).content) == {
        "return_code": "FAIL",
        "return_msg": "缺少参数appid",
    }


def test_coupon_fee_must_be_an_integer(sim: Simulator) -> None:
    _, answer = place(sim)
    params = {**pay_params(sim, answer["prepay_id"]), "outcome": "coupon", "coupon_fee": "10"}
    response = requests.post(sim.base_url + "/simulator/pay", json=params, timeout=10)
    assert response.status_code == 400
    assert "coupon_fee should be an integer" in response.json()["errMsg"]


def test_tls_certificate_names_a_host_name() -> None:
    pytest.importorskip("cryptography", reason="the simulator's TLS mode needs the crypto extra")
    with Simulator(host="localhost", tls=True) as tls_sim:
        assert tls_sim.tls_files is not None
        response = requests.get(
            tls_sim.base_url + "/simulator/notifications",
            verify=tls_sim.tls_files.ca_cert,
            timeout=10,
        )
        assert response.json() == {"notifications": []}
