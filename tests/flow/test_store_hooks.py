"""The hooks that came with the packaged store, as the flow calls them.

wxpay_order_created: prepay hands the built order to the store, which may answer the
stored one. wxpay_registered: every plugin learns its WxPay, also when added later.
wxpay_fulfil_order, wxpay_refund_requested and wxpay_refund_updated are called by the
packaged store and the money operations: tests/store covers them on real databases.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from tests.support import MemoryStore
from wxpay_mw import Order, OutTradeNoUsedError, WxPay, WxPayConfig, hookimpl
from wxpay_mw.sansio import Request
from wxpay_mw.simulator import Simulator


class Keeper:
    """wxpay_order_created as a store implements it, in memory."""

    def __init__(self) -> None:
        self.kept: dict[str, Order] = {}
        self.wxpay: Any = None

    @hookimpl
    def wxpay_registered(self, wxpay: Any) -> None:
        self.wxpay = wxpay

    @hookimpl
    def wxpay_order_created(self, order: Order) -> Order | None:
        stored = self.kept.get(order.out_trade_no)
        if stored is None:
            self.kept[order.out_trade_no] = replace(order)
            return None
        if stored.total_fee != order.total_fee:
            raise OutTradeNoUsedError("OUT_TRADE_NO_USED", "another amount")
        return replace(stored, status="paid")


def _prepay(wxpay: WxPay, sim: Simulator, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = json.dumps({**payload, "code": sim.login()}).encode()
    response = wxpay.handle(
        Request("POST", "/prepay", {"content-type": "application/json"}, body, "127.0.0.1")
    )
    return response.status, json.loads(response.body)


def test_wxpay_order_created_keeps_new_orders_and_answers_stored_ones(
    wxpay_config: WxPayConfig, wxpay_simulator: Simulator
) -> None:
    keeper, shop = Keeper(), MemoryStore()
    with WxPay(wxpay_config, shop, keeper) as wxpay:
        status, answer = _prepay(wxpay, wxpay_simulator, {"sku": "apple", "order_no": "K1"})
        assert status == 200 and answer["out_trade_no"] == "K1"
        assert keeper.kept["K1"].total_fee == 100
        # The same number again: the store's copy (paid, here) decides.
        status, answer = _prepay(wxpay, wxpay_simulator, {"sku": "apple", "order_no": "K1"})
        assert (status, answer["error"]) == (409, "order_paid")
        # The shop forgot K1 and prices it anew: the store refuses the other amount.
        shop.orders.clear()
        status, answer = _prepay(wxpay, wxpay_simulator, {"sku": "pear", "order_no": "K1"})
        assert (status, answer["error"]) == (409, "order_conflict")


def test_wxpay_order_created_must_return_an_order(
    wxpay_config: WxPayConfig, wxpay_simulator: Simulator
) -> None:
    class Odd:
        @hookimpl
        def wxpay_order_created(self, order: Order) -> Any:
            return {"out_trade_no": order.out_trade_no}

    with WxPay(wxpay_config, MemoryStore(), Odd()) as wxpay:
        status, answer = _prepay(wxpay, wxpay_simulator, {"sku": "apple"})
        assert (status, answer["error"]) == (500, "internal_error")
        with pytest.raises(TypeError, match="wxpay_order_created returned dict"):
            wxpay.prepay({"sku": "apple", "code": wxpay_simulator.login()})


def test_wxpay_registered_reaches_plugins_given_and_added_later(
    wxpay_config: WxPayConfig,
) -> None:
    first, later = Keeper(), Keeper()
    with WxPay(wxpay_config, MemoryStore(), first) as wxpay:
        wxpay.register(later)
        assert first.wxpay is wxpay and later.wxpay is wxpay
