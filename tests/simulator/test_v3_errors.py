"""What the v3 simulator refuses in a correctly signed request; its control endpoints' errors."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from wxpay_mw.errors import WeChatUnavailableError
from wxpay_mw.simulator import PaymentRefused, Simulator
from wxpay_mw.v3 import V3ResponseSignatureError
from wxpay_mw.v3.client import WeChatPayV3Client

from ._v3help import client, number, openid, place_and_pay, send

_BEIJING = _dt.timezone(_dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def v3sim_session() -> Iterator[Simulator]:
    with Simulator(api="v3", time_factor=0.001) as simulator:
        yield simulator


@pytest.fixture
def sim(v3sim_session: Simulator) -> Iterator[Simulator]:
    v3sim_session.reset()
    yield v3sim_session
    v3sim_session.reset()


def _order(sim: Simulator, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "appid": sim.merchant.appid,
        "mchid": sim.merchant.mch_id,
        "description": "测试",
        "out_trade_no": number(),
        "notify_url": "http://127.0.0.1:9/n",
        "amount": {"total": 101, "currency": "CNY"},
        "payer": {"openid": openid(sim)},
    }
    for name, value in changes.items():
        if value is ...:
            del body[name]
        else:
            body[name] = value
    return body


_SOON = _dt.datetime.now(_BEIJING) + _dt.timedelta(seconds=20)


@pytest.mark.parametrize(
    ("changes", "status", "code", "field"),
    [
        ({"description": ...}, 400, "PARAM_ERROR", "description"),
        ({"amount": {"currency": "CNY"}}, 400, "PARAM_ERROR", "amount/total"),
        ({"payer": {}}, 400, "PARAM_ERROR", "payer/openid"),
        ({"mchid": "1230000109"}, 400, "INVALID_REQUEST", None),
        ({"appid": "wx0000000000000000"}, 400, "APPID_MCHID_NOT_MATCH", None),
        ({"amount": {"total": 0}}, 400, "PARAM_ERROR", "amount/total"),
        ({"amount": {"total": "101"}}, 400, "PARAM_ERROR", "amount/total"),
        ({"amount": {"total": 101, "currency": "USD"}}, 400, "PARAM_ERROR", "amount/currency"),
        ({"out_trade_no": "abc"}, 400, "PARAM_ERROR", "out_trade_no"),
        ({"description": "x" * 128}, 400, "PARAM_ERROR", "description"),
        ({"attach": "好😀"}, 400, "PARAM_ERROR", "attach"),
        ({"notify_url": "http://h.example/n?x=1"}, 400, "PARAM_ERROR", "notify_url"),
        ({"notify_url": "notify"}, 400, "PARAM_ERROR", "notify_url"),
        ({"time_expire": "tomorrow"}, 400, "PARAM_ERROR", "time_expire"),
        ({"time_expire": "2030-01-01T10:00:00"}, 400, "PARAM_ERROR", "time_expire"),
        ({"time_expire": _SOON.isoformat()}, 400, "PARAM_ERROR", "time_expire"),
        ({"payer": {"openid": "oNeverLoggedIn"}}, 400, "PARAM_ERROR", None),
    ],
)
def test_order_parameters_are_checked(
    sim: Simulator, changes: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    answer = send(sim, "POST", "/v3/pay/transactions/jsapi", _order(sim, **changes))
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    if field is not None:
        assert answer.json()["detail"]["field"] == field


def test_a_body_that_is_not_a_json_object_is_refused(sim: Simulator) -> None:
    for body in (b"[1]", b"{not json"):
        answer = send(sim, "POST", "/v3/pay/transactions/jsapi", body)
        assert (answer.status_code, answer.json()["code"]) == (400, "PARAM_ERROR")


def test_a_paid_or_closed_order_cannot_be_placed_again(sim: Simulator) -> None:
    with client(sim) as c:
        no, _ = place_and_pay(sim, c)
        closed = number()
        c.jsapi_order(out_trade_no=closed, total=101, description="A", openid=openid(sim))
        c.close_order(closed)
    paid = send(sim, "POST", "/v3/pay/transactions/jsapi", _order(sim, out_trade_no=no))
    assert (paid.status_code, paid.json()["code"]) == (400, "ORDERPAID")
    again = send(sim, "POST", "/v3/pay/transactions/jsapi", _order(sim, out_trade_no=closed))
    assert (again.status_code, again.json()["code"]) == (400, "ORDER_CLOSED")
    shut = send(
        sim,
        "POST",
        f"/v3/pay/transactions/out-trade-no/{no}/close",
        {"mchid": sim.merchant.mch_id},
    )
    assert (shut.status_code, shut.json()["code"]) == (400, "ORDERPAID")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/v3/pay/transactions/out-trade-no/T1234567", None, 400, "PARAM_ERROR"),
        ("GET", "/v3/pay/transactions/out-trade-no/T1234567?mchid=1", None, 400, "INVALID_REQUEST"),
        ("GET", "/v3/pay/transactions/id/4200?mchid={mchid}", None, 404, "ORDER_NOT_EXIST"),
        ("POST", "/v3/pay/transactions/out-trade-no/T1234567/close", {}, 400, "PARAM_ERROR"),
        (
            "POST",
            "/v3/pay/transactions/out-trade-no/T1234567/close",
            {"mchid": "1"},
            400,
            "INVALID_REQUEST",
        ),
        (
            "POST",
            "/v3/pay/transactions/out-trade-no/T1234567/close",
            {"mchid": "{mchid}"},
            404,
            "ORDER_NOT_EXIST",
        ),
        ("GET", "/v3/refund/domestic/refunds/R-NONE", None, 404, "RESOURCE_NOT_EXISTS"),
        ("GET", "/v3/bill/tradebill?bill_date=20260101", None, 400, "PARAM_ERROR"),
        ("GET", "/v3/bill/tradebill?bill_date=2026-01-01&bill_type=X", None, 400, "PARAM_ERROR"),
        ("GET", "/v3/billdownload/file?token=nope", None, 400, "INVALID_REQUEST"),
    ],
)
def test_queries_closes_and_bills_are_checked(
    sim: Simulator, method: str, path: str, body: Any, status: int, code: str
) -> None:
    mchid = sim.merchant.mch_id
    if isinstance(body, dict):
        body = {k: v.format(mchid=mchid) for k, v in body.items()}
    answer = send(sim, method, path.format(mchid=mchid), body)
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text


def test_a_bill_for_today_is_not_ready(sim: Simulator) -> None:
    now = _dt.datetime.now(_BEIJING)
    today = now.date().isoformat()
    with client(sim) as c:
        place_and_pay(sim, c)
    answer = send(sim, "GET", f"/v3/bill/tradebill?bill_date={today}")
    assert (answer.status_code, answer.json()["code"]) == (400, "PARAM_ERROR")
    midnight = _dt.datetime.combine(now.date() + _dt.timedelta(days=1), _dt.time(), _BEIJING)
    sim.advance_clock((midnight - now).total_seconds() + 60)  # the bill is made from 10:00
    creating = send(sim, "GET", f"/v3/bill/tradebill?bill_date={today}")
    assert (creating.status_code, creating.json()["code"]) == (400, "STATEMENT_CREATING")


def _refund(sim: Simulator, no: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "out_trade_no": no,
        "out_refund_no": "R" + no,
        "amount": {"refund": 50, "total": 101, "currency": "CNY"},
    }
    for name, value in changes.items():
        if value is ...:
            del body[name]
        else:
            body[name] = value
    return body


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"out_refund_no": ...}, 400, "PARAM_ERROR"),
        ({"out_trade_no": ...}, 400, "PARAM_ERROR"),
        ({"out_refund_no": "R#1"}, 400, "PARAM_ERROR"),
        ({"amount": ...}, 400, "PARAM_ERROR"),
        ({"amount": {"refund": 0, "total": 101}}, 400, "PARAM_ERROR"),
        ({"amount": {"refund": 5, "total": 101, "currency": "USD"}}, 400, "PARAM_ERROR"),
        ({"reason": "x" * 81}, 400, "PARAM_ERROR"),
        ({"out_trade_no": "NOT-AN-ORDER"}, 404, "RESOURCE_NOT_EXISTS"),
        ({"amount": {"refund": 5, "total": 100}}, 400, "PARAM_ERROR"),
    ],
)
def test_refund_parameters_are_checked(
    sim: Simulator, changes: dict[str, Any], status: int, code: str
) -> None:
    with client(sim) as c:
        no, _ = place_and_pay(sim, c)
    answer = send(sim, "POST", "/v3/refund/domestic/refunds", _refund(sim, no, **changes))
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text


def test_the_same_out_refund_no_with_other_amounts_is_refused(sim: Simulator) -> None:
    with client(sim) as c:
        no, _ = place_and_pay(sim, c)
    assert send(sim, "POST", "/v3/refund/domestic/refunds", _refund(sim, no)).status_code == 200
    changed = _refund(sim, no, amount={"refund": 60, "total": 101})
    answer = send(sim, "POST", "/v3/refund/domestic/refunds", changed)
    assert (answer.status_code, answer.json()["code"]) == (400, "INVALID_REQUEST")


def _pay(sim: Simulator, params: dict[str, Any]) -> requests.Response:
    return requests.post(sim.base_url + "/simulator/pay", json=params, timeout=10)


def test_the_rsa_pay_endpoint_over_http(sim: Simulator) -> None:
    with client(sim) as c:
        no = number()
        prepay_id = c.jsapi_order(out_trade_no=no, total=101, description="A", openid=openid(sim))
        params = c.request_payment(prepay_id)
    refusals = [
        ({**params, "paySign": ""}, "parameter.paySign"),
        ({**params, "outcome": "fail_notice"}, "outcome"),
        ({**params, "coupon_fee": "1"}, "coupon_fee"),
        ({**params, "timeStamp": "soon"}, "timeStamp"),
        ({**params, "package": prepay_id}, "package"),
        ({**params, "package": "prepay_id=wx1"}, "unknown"),
        ({**params, "paySign": "not base64!"}, "签名"),
        ({**params, "outcome": "coupon", "coupon_fee": 101}, "coupon_fee"),
    ]
    for bad, words in refusals:
        answer = _pay(sim, bad)
        assert answer.status_code == 400 and words in answer.json()["errMsg"], (bad, answer.text)
    assert "cancel" in _pay(sim, {**params, "outcome": "cancel"}).json()["errMsg"]
    assert "余额不足" in _pay(sim, {**params, "outcome": "fail"}).json()["errMsg"]
    ok = _pay(sim, params)
    assert ok.json()["out_trade_no"] == no
    again = _pay(sim, params)
    assert again.status_code == 409


def test_expired_prepay_ids_and_orders_cannot_be_paid(sim: Simulator) -> None:
    with client(sim) as c:
        prepay_id = c.jsapi_order(
            out_trade_no=number(), total=101, description="A", openid=openid(sim)
        )
        expire = _dt.datetime.now(_BEIJING) + _dt.timedelta(minutes=10)
        limited = c.jsapi_order(
            out_trade_no=number(),
            total=101,
            description="A",
            openid=openid(sim),
            time_expire=expire,
        )
        sim.advance_clock(11 * 60)
        with pytest.raises(PaymentRefused, match="订单已过期"):
            sim.pay(c.request_payment(limited))
        sim.advance_clock(2 * 3600)
        with pytest.raises(PaymentRefused, match="prepay_id已过期"):
            sim.pay(c.request_payment(prepay_id))


def test_placing_an_order_again_after_two_hours_gives_a_new_prepay_id(sim: Simulator) -> None:
    with client(sim) as c:
        no, who = number(), openid(sim)
        first = c.jsapi_order(out_trade_no=no, total=101, description="A", openid=who)
        sim.advance_clock(2 * 3600 + 1)
        second = c.jsapi_order(out_trade_no=no, total=101, description="A", openid=who)
    assert second != first
    assert sim.order(no)["prepay_id"] == second  # type: ignore[index]


def test_the_v3_control_endpoints_refuse_bad_input(sim: Simulator) -> None:
    keys = sim.base_url + "/simulator/v3/keys"
    cases = [
        (keys, b"[1]"),
        (keys, b'{"mode": 3}'),
        (keys, b'{"new_certificate": "yes"}'),
        (sim.base_url + "/simulator/v3/probe", b'{"out_trade_no": 7}'),
    ]
    for url, body in cases:
        answer = requests.post(url, data=body, timeout=10)
        assert answer.status_code == 400 and answer.json()["error"], (url, body)
    assert requests.delete(keys, timeout=10).status_code == 404


@pytest.mark.parametrize("kind", ["latency", "timeout", "malformed_xml"])
def test_faults_on_v3_paths(sim: Simulator, kind: str) -> None:
    no = number()
    sim.add_fault("/v3/pay/transactions/jsapi", kind, seconds=0.3, count=1)
    config = sim.config(notify_url="http://127.0.0.1:9/n", read_timeout=0.2)
    with WeChatPayV3Client(config, sim.v3_settings()) as c:
        if kind == "latency":
            sim.clear_faults()
            sim.add_fault("/v3/pay/transactions/jsapi", kind, seconds=0.05, count=1)
            assert c.jsapi_order(out_trade_no=no, total=101, description="A", openid=openid(sim))
        elif kind == "timeout":
            with pytest.raises(WeChatUnavailableError) as caught:
                c.jsapi_order(out_trade_no=no, total=101, description="A", openid=openid(sim))
            assert caught.value.may_have_acted
        else:
            with pytest.raises(V3ResponseSignatureError):
                c.jsapi_order(out_trade_no=no, total=101, description="A", openid=openid(sim))
    # In every case WeChat did the work: the order exists.
    assert sim.order(no) is not None
