"""orderquery, closeorder, refund, refundquery, downloadbill and the sandbox."""

from __future__ import annotations

import gzip
import time

import pytest

from wxpay_mw import signing
from wxpay_mw.simulator import PROTOCOL_MSGS, Simulator
from wxpay_mw.xmlmsg import from_xml

from .conftest import call, pay_params, place, place_and_pay, post, signed


def test_orderquery_unpaid_then_paid(sim: Simulator) -> None:
    params, answer = place(sim)
    query = {"out_trade_no": params["out_trade_no"]}
    before = call(sim, "/pay/orderquery", query)
    assert before["result_code"] == "SUCCESS"
    assert before["trade_state"] == "NOTPAY"
    assert "transaction_id" not in before
    paid = sim.pay(pay_params(sim, answer["prepay_id"]))
    after = call(sim, "/pay/orderquery", query)
    assert after["trade_state"] == "SUCCESS"
    assert after["transaction_id"] == paid["transaction_id"]
    assert after["total_fee"] == "101"
    by_transaction = call(sim, "/pay/orderquery", {"transaction_id": paid["transaction_id"]})
    assert by_transaction["out_trade_no"] == params["out_trade_no"]


def test_orderquery_unknown_is_ordernotexist(sim: Simulator) -> None:
    answer = call(sim, "/pay/orderquery", {"out_trade_no": "nope"})
    assert answer["result_code"] == "FAIL"
    assert answer["err_code"] == "ORDERNOTEXIST"


def test_orderquery_without_ids_is_return_code_fail(sim: Simulator) -> None:
    # Missing parameters: unsigned return_code=FAIL "缺少参数..." (issue 13, item 12).
    assert call(sim, "/pay/orderquery", {}) == {
        "return_code": "FAIL",
        "return_msg": "缺少参数out_trade_no或transaction_id",
    }


def test_closeorder_states(sim: Simulator) -> None:
    params, _ = place(sim)
    number = {"out_trade_no": params["out_trade_no"]}
    assert call(sim, "/pay/closeorder", number)["result_code"] == "SUCCESS"
    assert call(sim, "/pay/orderquery", number)["trade_state"] == "CLOSED"
    assert call(sim, "/pay/closeorder", number)["err_code"] == "ORDERCLOSED"
    assert call(sim, "/pay/closeorder", {"out_trade_no": "nope"})["err_code"] == "ORDERNOTEXIST"
    paid_params, _ = place_and_pay(sim, "http://127.0.0.1:9/n")
    answer = call(sim, "/pay/closeorder", {"out_trade_no": paid_params["out_trade_no"]})
    assert answer["err_code"] == "ORDERPAID"


def _refund(
    sim: Simulator, out_trade_no: str, out_refund_no: str, fee: int, total: int = 101
) -> dict[str, str]:
    params = {
        "out_trade_no": out_trade_no,
        "out_refund_no": out_refund_no,
        "total_fee": str(total),
        "refund_fee": str(fee),
    }
    return call(sim, "/secapi/pay/refund", params)


def test_refund_of_unpaid_order_is_ordernotexist(sim: Simulator) -> None:
    params, _ = place(sim)
    assert _refund(sim, params["out_trade_no"], "R1", 1)["err_code"] == "ORDERNOTEXIST"


def test_partial_refunds_up_to_the_amount(sim: Simulator) -> None:
    params, paid = place_and_pay(sim, "http://127.0.0.1:9/n")
    number = params["out_trade_no"]
    first = _refund(sim, number, "R1", 60)
    assert first["result_code"] == "SUCCESS"
    assert first["refund_fee"] == "60"
    assert first["transaction_id"] == paid["transaction_id"]
    too_much = _refund(sim, number, "R2", 42)
    assert too_much["err_code"] == "ERROR"
    assert too_much["err_code_des"] == "累计退款金额大于支付金额"
    assert _refund(sim, number, "R2", 41)["result_code"] == "SUCCESS"
    assert _refund(sim, number, "R3", 1)["err_code_des"] == "订单已全额退款"
    assert call(sim, "/pay/orderquery", {"out_trade_no": number})["trade_state"] == "REFUND"


def test_same_out_refund_no_is_refunded_once(sim: Simulator) -> None:
    params, _ = place_and_pay(sim, "http://127.0.0.1:9/n")
    first = _refund(sim, params["out_trade_no"], "R1", 101)
    again = _refund(sim, params["out_trade_no"], "R1", 101)
    assert again["result_code"] == "SUCCESS"
    assert again["refund_id"] == first["refund_id"]
    changed = _refund(sim, params["out_trade_no"], "R1", 100)
    assert changed["err_code"] == "PARAM_ERROR"
    assert sim.order(params["out_trade_no"])["refunded_fee"] == 101  # type: ignore[index]


def test_refund_number_with_a_trailing_newline_is_refused(sim: Simulator) -> None:
    params, _ = place_and_pay(sim, "http://127.0.0.1:9/n")
    answer = _refund(sim, params["out_trade_no"], "R1\n", 1)
    assert answer == {"return_code": "FAIL", "return_msg": "out_refund_no参数格式错误"}
    assert sim.order(params["out_trade_no"])["refunded_fee"] == 0  # type: ignore[index]


def test_refund_with_wrong_total_is_param_error(sim: Simulator) -> None:
    params, _ = place_and_pay(sim, "http://127.0.0.1:9/n")
    assert _refund(sim, params["out_trade_no"], "R1", 1, total=100)["err_code"] == "PARAM_ERROR"


def test_refund_missing_params_is_return_code_fail(sim: Simulator) -> None:
    answer = call(
        sim, "/secapi/pay/refund", {"out_trade_no": "x", "total_fee": "1", "refund_fee": "1"}
    )
    assert answer == {"return_code": "FAIL", "return_msg": "缺少参数out_refund_no"}


def test_refundquery_processing_then_success(sim: Simulator) -> None:
    params, _ = place_and_pay(sim, "http://127.0.0.1:9/n")
    number = params["out_trade_no"]
    assert call(sim, "/pay/refundquery", {"out_trade_no": number})["err_code"] == "REFUNDNOTEXIST"
    made = _refund(sim, number, "R1", 50)
    _refund(sim, number, "R2", 51)
    answer = call(sim, "/pay/refundquery", {"out_trade_no": number})
    assert answer["refund_count"] == "2"
    assert answer["out_refund_no_0"] == "R1"
    assert answer["refund_fee_1"] == "51"
    deadline = time.monotonic() + 10
    while (
        call(sim, "/pay/refundquery", {"refund_id": made["refund_id"]})["refund_status_0"]
        != "SUCCESS"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    one = call(sim, "/pay/refundquery", {"out_refund_no": "R1"})
    assert one["refund_count"] == "1"
    assert one["refund_success_time_0"]


def test_downloadbill_lists_the_days_payments(sim: Simulator) -> None:
    params, paid = place_and_pay(sim, "http://127.0.0.1:9/n")
    day = sim.order(params["out_trade_no"])["time_end"][:8]  # type: ignore[index]
    sim.advance_clock(34 * 3600)  # bills are ready at 10:00 the next day
    response = post(sim, "/pay/downloadbill", signed(sim, {"bill_date": day, "bill_type": "ALL"}))
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("交易时间,公众账号ID,商户号")
    assert f"`{paid['transaction_id']}" in lines[1]
    assert "`1.01" in lines[1]  # amounts in yuan
    assert lines[-1].startswith("`1.0,`1.01")
    zipped = post(sim, "/pay/downloadbill", signed(sim, {"bill_date": day, "tar_type": "GZIP"}))
    assert gzip.decompress(zipped.content).decode().splitlines()[1] == lines[1]


@pytest.mark.parametrize(
    ("params", "return_msg"),
    [
        ({"bill_date": "20000101"}, "No Bill Exist"),
        ({"bill_date": "20000132"}, "invalid bill_date"),
        ({"bill_date": "20000101", "bill_type": "SOME"}, "invalid bill_type"),
        ({}, "missing parameter"),
    ],
    ids=["no-bill", "bad-date", "bill-type", "missing"],
)
def test_downloadbill_failures(sim: Simulator, params: dict[str, str], return_msg: str) -> None:
    answer = from_xml(post(sim, "/pay/downloadbill", signed(sim, params)).content)
    assert answer["return_code"] == "FAIL"
    assert answer["return_msg"] == return_msg


def test_sandbox_key_and_sandbox_endpoints(sim: Simulator) -> None:
    message = {"mch_id": sim.merchant.mch_id, "nonce_str": signing.make_nonce()}
    message["sign"] = signing.sign(message, sim.merchant.api_key)
    from wxpay_mw.xmlmsg import to_xml

    got = from_xml(post(sim, "/sandboxnew/pay/getsignkey", to_xml(message)).content)
    sandbox_key = got["sandbox_signkey"]
    assert got["return_code"] == "SUCCESS" and len(sandbox_key) == 32
    params, _ = place(sim)
    production_key = call(
        sim, "/sandboxnew/pay/orderquery", {"out_trade_no": "x"}, key=sim.merchant.api_key
    )
    assert production_key == {
        "return_code": "FAIL",
        "return_msg": PROTOCOL_MSGS["SANDBOX_SIGNERROR"],
    }
    # The sandbox is a separate system: the production order is unknown there.
    answer = call(
        sim, "/sandboxnew/pay/orderquery", {"out_trade_no": params["out_trade_no"]}, key=sandbox_key
    )
    assert answer["err_code"] == "ORDERNOTEXIST"
    assert answer["device_info"] == "sandbox"
    ordered = call(
        sim, "/sandboxnew/pay/unifiedorder", {**params, "out_trade_no": "S1"}, key=sandbox_key
    )
    assert ordered["result_code"] == "SUCCESS"
    paid = sim.pay(
        signing.request_payment_params(
            appid=sim.merchant.appid, key=sandbox_key, prepay_id=ordered["prepay_id"]
        )
    )
    refund = {"out_trade_no": "S1", "out_refund_no": "SR1", "total_fee": "101", "refund_fee": "1"}
    refunded = call(sim, "/sandboxnew/pay/refund", refund, key=sandbox_key)
    assert refunded["transaction_id"] == paid["transaction_id"]
