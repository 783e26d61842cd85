"""Many threads at once: no lost orders, one prepay_id per order, one payment per order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from wxpay_mw.simulator import Simulator

from .conftest import call, order_params, pay_params, place


def test_many_threads_creating_orders(sim: Simulator) -> None:
    params = [order_params(sim, "http://127.0.0.1:9/n", out_trade_no=f"C{i}") for i in range(120)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda p: call(sim, "/pay/unifiedorder", p), params))
    assert all(a["result_code"] == "SUCCESS" for a in answers)
    assert len({a["prepay_id"] for a in answers}) == 120
    for i, answer in enumerate(answers):
        assert sim.order(f"C{i}")["prepay_id"] == answer["prepay_id"]  # type: ignore[index]


def test_same_order_raced_gets_one_prepay_id(sim: Simulator) -> None:
    params = order_params(sim, "http://127.0.0.1:9/n", out_trade_no="RACE")
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: call(sim, "/pay/unifiedorder", params), range(32)))
    assert len({a["prepay_id"] for a in answers}) == 1


def test_same_payment_raced_pays_once(sim: Simulator) -> None:
    _, answer = place(sim)
    params = pay_params(sim, answer["prepay_id"])
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: sim.pay(params, check=False), range(16)))
    assert sum(r["errMsg"] == "requestPayment:ok" for r in results) == 1
    assert len(sim.notifications()) == 1
