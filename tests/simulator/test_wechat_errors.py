"""WeChat's own business errors and refund outcomes, injected and seen end to end.

The client (``WeChatClient``) talks to the simulator over HTTP, so its err_code mappings
are exercised against answers shaped as WeChat sends them (issue 13, items 5, 6 and 9).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from wxpay_mw.client import WeChatClient
from wxpay_mw.errors import LoginError, OrderPaidError, RateLimitedError, WeChatError
from wxpay_mw.refundcrypto import decrypt_req_info
from wxpay_mw.simulator import Merchant, Simulator
from wxpay_mw.xmlmsg import from_xml

from .conftest import Receiver, call, pay_params, place, place_and_pay


@pytest.fixture
def refund_sim(receiver: Receiver) -> Iterator[Simulator]:
    """A simulator whose merchant platform sends refund notifications to ``receiver``."""
    with Simulator(Merchant(refund_notify_url=receiver.url), time_factor=0.001) as simulator:
        yield simulator


def _client(sim: Simulator) -> WeChatClient:
    return WeChatClient(sim.config(notify_url="http://127.0.0.1:9/n", read_timeout=5.0))


def _order(sim: Simulator, out_trade_no: str) -> dict[str, object]:
    sim.login()
    from wxpay_mw.simulator import stable_openid

    return {
        "out_trade_no": out_trade_no,
        "total_fee": 101,
        "body": "测试商店-商品",
        "openid": stable_openid(sim.merchant.appid, "default"),
        "spbill_create_ip": "127.0.0.1",
    }


# -- item 6: business errors as faults ---------------------------------------------


def test_systemerror_on_unifiedorder_is_retryable_and_places_nothing(sim: Simulator) -> None:
    # SYSTEMERROR: "retry with the same params" (wechatpay-v2.md section 2 err_code table).
    sim.add_fault("/pay/unifiedorder", "wechat_error", code="SYSTEMERROR", count=1)
    with _client(sim) as client:
        with pytest.raises(WeChatError) as caught:
            client.unified_order(**_order(sim, "E1"))  # type: ignore[arg-type]
        assert caught.value.code == "SYSTEMERROR" and caught.value.retryable
        assert sim.order("E1") is None
        # The same call again succeeds: the fault was for one request.
        assert client.unified_order(**_order(sim, "E1"))["prepay_id"]  # type: ignore[arg-type]


def test_systemerror_on_orderquery(sim: Simulator) -> None:
    # orderquery's err_codes: ORDERNOTEXIST and SYSTEMERROR (wechatpay-v2.md section 4).
    params, _ = place(sim)
    sim.add_fault("/pay/orderquery", "wechat_error", code="SYSTEMERROR", count=1)
    with _client(sim) as client:
        with pytest.raises(WeChatError, match="SYSTEMERROR") as caught:
            client.order_query(out_trade_no=params["out_trade_no"])
        assert caught.value.retryable
        assert client.order_query(out_trade_no=params["out_trade_no"])["trade_state"] == "NOTPAY"


def test_orderpaid_fault_is_an_order_paid_error(sim: Simulator) -> None:
    sim.add_fault("/pay/unifiedorder", "wechat_error", code="ORDERPAID")
    with _client(sim) as client, pytest.raises(OrderPaidError):
        client.unified_order(**_order(sim, "E2"))  # type: ignore[arg-type]


def test_the_fault_answer_is_signed_and_needs_a_genuine_request(sim: Simulator) -> None:
    # A business error comes with return_code=SUCCESS, signed, with err_code and
    # err_code_des (wechatpay-v2.md section 2); a badly signed request still gets the
    # unsigned signature failure first.
    sim.add_fault("/pay/orderquery", "wechat_error", code="SYSTEMERROR")
    answer = call(sim, "/pay/orderquery", {"out_trade_no": "x"})  # call() checks the sign
    assert (answer["return_code"], answer["result_code"]) == ("SUCCESS", "FAIL")
    assert (answer["err_code"], answer["err_code_des"]) == ("SYSTEMERROR", "系统超时")
    forged = call(sim, "/pay/orderquery", {"out_trade_no": "x"}, key="0" * 32)
    assert forged == {"return_code": "FAIL", "return_msg": "签名错误"}


@pytest.mark.parametrize(
    ("errcode", "error", "retryable"),
    [
        pytest.param("-1", WeChatError, True, id="busy"),
        pytest.param("45011", RateLimitedError, True, id="rate-limit"),
        pytest.param("40226", LoginError, False, id="risky-user"),
    ],
)
def test_login_errors(
    sim: Simulator, errcode: str, error: type[WeChatError], retryable: bool
) -> None:
    # code2Session's errcodes -1 (busy), 45011 (minute quota) and 40226 (high-risk user)
    # (wechatpay-v2.md section 12, [C2S]).
    sim.add_fault("/sns/jscode2session", "wechat_error", code=errcode, count=1)
    with _client(sim) as client:
        with pytest.raises(error) as caught:
            client.code2session(sim.login())
        assert type(caught.value) is error
        assert caught.value.code == errcode and caught.value.retryable is retryable
        assert ", rid: " in str(caught.value)
        assert client.code2session(sim.login()).openid


@pytest.mark.parametrize(
    "fault",
    [
        {"endpoint": "*", "kind": "wechat_error", "code": "SYSTEMERROR"},
        {"endpoint": "/pay/unifiedorder", "kind": "wechat_error", "code": "NOSUCHCODE"},
        {"endpoint": "/pay/unifiedorder", "kind": "wechat_error"},
        {"endpoint": "/sns/jscode2session", "kind": "wechat_error", "code": "SYSTEMERROR"},
        {"endpoint": "/pay/unifiedorder", "kind": "latency", "code": "SYSTEMERROR"},
        {"endpoint": "/pay/orderquery", "kind": "refund_close"},
    ],
    ids=["star", "unknown-code", "no-code", "pay-code-on-login", "code-on-latency", "not-refund"],
)
def test_bad_business_faults_are_refused(sim: Simulator, fault: dict[str, object]) -> None:
    response = requests.post(sim.base_url + "/simulator/faults", json=fault, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"].split(":")[0] in ("endpoint", "code")


def test_wechat_error_fault_is_listed_with_its_code(sim: Simulator) -> None:
    fault = {"endpoint": "/sns/jscode2session", "kind": "wechat_error", "code": 45011}
    listed = requests.post(sim.base_url + "/simulator/faults", json=fault, timeout=10).json()
    assert listed["faults"][0]["code"] == "45011"


# -- item 5: refund errors and outcomes ----------------------------------------------


@pytest.mark.parametrize(
    ("code", "error", "retryable"),
    [
        pytest.param("NOTENOUGH", WeChatError, False, id="NOTENOUGH"),
        pytest.param("SYSTEMERROR", WeChatError, True, id="SYSTEMERROR"),
        pytest.param("BIZERR_NEED_RETRY", WeChatError, True, id="BIZERR_NEED_RETRY"),
        pytest.param("FREQUENCY_LIMITED", RateLimitedError, True, id="FREQUENCY_LIMITED"),
    ],
)
def test_refund_errors(
    refund_sim: Simulator, code: str, error: type[WeChatError], retryable: bool
) -> None:
    # Refund err_codes (wechatpay-v2.md section 6); NOTENOUGH is the merchant's basic
    # account: "基本账户余额不足，请充值后重新发起" (issue 13, item 5).
    sim = refund_sim
    params, _ = place_and_pay(sim, "http://127.0.0.1:9/n")
    sim.add_fault("/secapi/pay/refund", "wechat_error", code=code, count=1)
    refund = {"out_trade_no": params["out_trade_no"], "out_refund_no": "R1"}
    with _client(sim) as client:
        with pytest.raises(error) as caught:
            client.refund(**refund, total_fee=101, refund_fee=101)
        assert caught.value.code == code and caught.value.retryable is retryable
        if code == "NOTENOUGH":
            assert "基本账户余额不足，请充值后重新发起" in str(caught.value)
        assert sim.order(params["out_trade_no"])["refunded_fee"] == 0  # type: ignore[index]
        # Retried with the same out_refund_no, it goes through.
        assert client.refund(**refund, total_fee=101, refund_fee=101)["result_code"] == "SUCCESS"


@pytest.mark.parametrize(
    ("kind", "status"), [("refund_close", "REFUNDCLOSE"), ("refund_change", "CHANGE")]
)
def test_refund_close_and_change_are_notified(
    refund_sim: Simulator, receiver: Receiver, kind: str, status: str
) -> None:
    # refund_status SUCCESS, REFUNDCLOSE or CHANGE, each notified (wechatpay-v2.md
    # sections 7 and 10).
    sim = refund_sim
    params, _ = place_and_pay(sim, "http://127.0.0.1:9/n")
    sim.add_fault("/secapi/pay/refund", kind, count=1)
    refund = {
        "out_trade_no": params["out_trade_no"],
        "out_refund_no": "R1",
        "total_fee": "101",
        "refund_fee": "101",
    }
    assert call(sim, "/secapi/pay/refund", refund)["result_code"] == "SUCCESS"
    sim.wait_for_notifications(lambda log: any(n["kind"] == "refund" for n in log))
    (note,) = [n for n in sim.notifications() if n["kind"] == "refund"]
    info = decrypt_req_info(from_xml(note["body"].encode())["req_info"], sim.merchant.api_key)
    assert info["refund_status"] == status and info["out_refund_no"] == "R1"
    assert "success_time" not in info
    queried = call(sim, "/pay/refundquery", {"out_refund_no": "R1"})
    assert queried["refund_status_0"] == status
    # A closed refund returned nothing: the order can be refunded again; a CHANGE one
    # is stuck until handled by hand, so nothing is left to refund.
    again = {**refund, "out_refund_no": "R2"}
    answer = call(sim, "/secapi/pay/refund", again)
    assert answer["result_code"] == ("SUCCESS" if status == "REFUNDCLOSE" else "FAIL")


def test_platform_refund_notifies_an_out_refund_no_the_host_never_made(
    refund_sim: Simulator, receiver: Receiver
) -> None:
    # Refunds made in the merchant platform are notified like API ones, with
    # refund_request_source VENDOR_PLATFORM (wechatpay-v2.md section 10; issue 13, item 5).
    sim = refund_sim
    params, _ = place_and_pay(sim, "http://127.0.0.1:9/n")
    made = requests.post(
        sim.base_url + "/simulator/platform-refund",
        json={"out_trade_no": params["out_trade_no"], "refund_fee": 50},
        timeout=10,
    ).json()
    # Logged when queued: wait until the receiver has answered the first attempt.
    sim.wait_for_notifications(
        lambda log: any(n["kind"] == "refund" and n["attempts"] for n in log)
    )
    (body,) = [r.body for r in receiver.received if b"req_info" in r.body]
    info = decrypt_req_info(from_xml(body)["req_info"], sim.merchant.api_key)
    assert info["out_refund_no"] == made["out_refund_no"]
    assert info["refund_request_source"] == "VENDOR_PLATFORM"
    assert (info["refund_fee"], info["refund_status"]) == ("50", "SUCCESS")
    assert sim.order(params["out_trade_no"])["trade_state"] == "REFUND"  # type: ignore[index]
    # What is left is what the Python API refunds by default.
    assert sim.platform_refund(params["out_trade_no"])["refund_id"].startswith("503")
    assert sim.order(params["out_trade_no"])["refunded_fee"] == 101  # type: ignore[index]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"out_trade_no": "nope"}, "out_trade_no: no paid order"),
        ({"out_trade_no": 5}, "out_trade_no: expected a string"),
        ({"refund_fee": 102}, "refund_fee: expected 1 to 101 fen"),
        ({"refund_fee": "1"}, "refund_fee: expected 1 to 101 fen"),
    ],
)
def test_platform_refund_refuses(sim: Simulator, payload: dict[str, object], error: str) -> None:
    params, _ = place_and_pay(sim, "http://127.0.0.1:9/n")
    payload = {"out_trade_no": params["out_trade_no"], **payload}
    response = requests.post(sim.base_url + "/simulator/platform-refund", json=payload, timeout=10)
    assert response.status_code == 400 and response.json()["error"].startswith(error)


# -- item 9: refundquery paging ------------------------------------------------------


def test_refundquery_pages_ten_refunds_at_a_time(sim: Simulator) -> None:
    # With more than 10 partial refunds an order's refundquery returns 10 with
    # total_refund_count, and ``offset`` pages on; an offset past the end is PARAM_ERROR
    # (wechatpay-v2.md section 7, [RQ-off]).
    params, _ = place_and_pay(sim, "http://127.0.0.1:9/n", total_fee="1000")
    number = params["out_trade_no"]
    for n in range(12):
        refund = {
            "out_trade_no": number,
            "out_refund_no": f"R{n:02d}",
            "total_fee": "1000",
            "refund_fee": "1",
        }
        assert call(sim, "/secapi/pay/refund", refund)["result_code"] == "SUCCESS"
    first = call(sim, "/pay/refundquery", {"out_trade_no": number})
    assert (first["refund_count"], first["total_refund_count"]) == ("10", "12")
    assert first["out_refund_no_9"] == "R09" and "out_refund_no_10" not in first
    second = call(sim, "/pay/refundquery", {"out_trade_no": number, "offset": "10"})
    assert (second["refund_count"], second["total_refund_count"], second["offset"]) == (
        "2",
        "12",
        "10",
    )
    assert (second["out_refund_no_0"], second["out_refund_no_1"]) == ("R10", "R11")
    past = call(sim, "/pay/refundquery", {"out_trade_no": number, "offset": "13"})
    assert past["err_code"] == "PARAM_ERROR"


def test_refundquery_of_a_few_refunds_has_no_paging_fields(sim: Simulator) -> None:
    params, answer = place(sim)
    sim.pay(pay_params(sim, answer["prepay_id"]))
    refund = {
        "out_trade_no": params["out_trade_no"],
        "out_refund_no": "R1",
        "total_fee": "101",
        "refund_fee": "1",
    }
    call(sim, "/secapi/pay/refund", refund)
    queried = call(sim, "/pay/refundquery", {"out_trade_no": params["out_trade_no"]})
    assert queried["refund_count"] == "1" and "total_refund_count" not in queried
