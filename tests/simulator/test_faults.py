"""Fault injection: each kind, as a client sees it over HTTP."""

from __future__ import annotations

import time

import pytest
import requests

from wxpay_mw import signing
from wxpay_mw.errors import XMLError
from wxpay_mw.simulator import Simulator
from wxpay_mw.xmlmsg import from_xml

from .conftest import call, order_params, place, post, signed


def test_latency_delays_the_answer(sim: Simulator) -> None:
    sim.add_fault("/pay/orderquery", "latency", seconds=0.3)
    started = time.monotonic()
    answer = call(sim, "/pay/orderquery", {"out_trade_no": "x"})
    assert time.monotonic() - started >= 0.3
    assert answer["err_code"] == "ORDERNOTEXIST"


def test_timeout_trips_the_read_timeout_but_the_order_exists(sim: Simulator) -> None:
    sim.add_fault("/pay/unifiedorder", "timeout", seconds=3, count=1)
    params = order_params(sim, "http://127.0.0.1:9/n")
    with pytest.raises(requests.ReadTimeout):
        post(sim, "/pay/unifiedorder", signed(sim, params), timeout=(2, 0.3))
    assert sim.order(params["out_trade_no"]) is not None  # WeChat acted: query, don't assume
    assert call(sim, "/pay/unifiedorder", params)["result_code"] == "SUCCESS"


def test_reset_closes_without_an_answer_and_does_nothing(sim: Simulator) -> None:
    sim.add_fault("/pay/unifiedorder", "reset", count=1)
    params = order_params(sim, "http://127.0.0.1:9/n")
    with pytest.raises(requests.ConnectionError):
        post(sim, "/pay/unifiedorder", signed(sim, params))
    assert sim.order(params["out_trade_no"]) is None
    assert call(sim, "/pay/unifiedorder", params)["result_code"] == "SUCCESS"


def test_http_500(sim: Simulator) -> None:
    sim.add_fault("*", "http_500")
    response = post(sim, "/pay/orderquery", signed(sim, {"out_trade_no": "x"}))
    assert response.status_code == 500
    login = requests.get(sim.base_url + "/sns/jscode2session", timeout=10)
    assert login.status_code == 500
    sim.clear_faults()
    assert post(sim, "/pay/orderquery", signed(sim, {"out_trade_no": "x"})).status_code == 200


def test_malformed_xml(sim: Simulator) -> None:
    sim.add_fault("/pay/orderquery", "malformed_xml", count=1)
    response = post(sim, "/pay/orderquery", signed(sim, {"out_trade_no": "x"}))
    with pytest.raises(XMLError):
        from_xml(response.content)


def test_bad_sign(sim: Simulator) -> None:
    sim.add_fault("/pay/unifiedorder", "bad_sign", count=1)
    params = order_params(sim, "http://127.0.0.1:9/n")
    answer = from_xml(post(sim, "/pay/unifiedorder", signed(sim, params)).content)
    assert answer["result_code"] == "SUCCESS"
    assert not signing.verify(answer, sim.merchant.api_key)
    assert call(sim, "/pay/unifiedorder", params)["result_code"] == "SUCCESS"  # verified


def test_count_limits_the_fault(sim: Simulator) -> None:
    sim.add_fault("/pay/orderquery", "http_500", count=2)
    statuses = [
        post(sim, "/pay/orderquery", signed(sim, {"out_trade_no": "x"})).status_code
        for _ in range(3)
    ]
    assert statuses == [500, 500, 200]


def test_faults_control_endpoint(sim: Simulator) -> None:
    url = sim.base_url + "/simulator/faults"
    added = requests.post(
        url, json={"endpoint": "/pay/closeorder", "kind": "latency", "seconds": 0.01}, timeout=10
    )
    assert added.json() == {
        "faults": [
            {"endpoint": "/pay/closeorder", "kind": "latency", "seconds": 0.01, "count": None}
        ]
    }
    assert requests.get(url, timeout=10).json()["faults"][0]["kind"] == "latency"
    assert requests.delete(url, timeout=10).json() == {"faults": []}


@pytest.mark.parametrize(
    "fault",
    [
        {"endpoint": "/pay/unifiedorder", "kind": "explode"},
        {"endpoint": "pay/unifiedorder", "kind": "reset"},
        {"endpoint": "/simulator/pay", "kind": "reset"},
        {"endpoint": "*", "kind": "latency", "seconds": -1},
        {"endpoint": "*", "kind": "reset", "count": 0},
    ],
    ids=["kind", "endpoint", "control", "seconds", "count"],
)
def test_bad_faults_are_refused(sim: Simulator, fault: dict[str, object]) -> None:
    response = requests.post(sim.base_url + "/simulator/faults", json=fault, timeout=10)
    assert response.status_code == 400
    assert requests.get(sim.base_url + "/simulator/faults", timeout=10).json() == {"faults": []}


def test_control_endpoints_are_never_faulted(sim: Simulator) -> None:
    sim.add_fault("*", "http_500")
    place_ok = requests.post(sim.base_url + "/simulator/login", timeout=10)
    assert place_ok.status_code == 200
    sim.clear_faults()
    place(sim)
