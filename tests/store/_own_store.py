"""The kit's host for examples/store.py: a host that keeps its own tables (no packaged store).

Its paid reaction is ``on_paid``, called in the paid transaction; pricing is a plugin of
its own that reads the host's stored order to pay it again. Importable by name, since the
kit rebuilds the plugins in child processes.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from examples.store import OrderStore
from wxpay_mw import Order, OrderRejectedError
from wxpay_mw.testing import Host, Probe

from ._shop import PRICES, new_order_no, payload


class Pricing:
    """New orders at PRICES, added to the host's store; ``order_no`` pays one again."""

    def __init__(self, store: OrderStore) -> None:
        self.store = store

    def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Order:
        again = payload.get("order_no")
        if again is not None:
            stored = self.store.get(str(again))
            if stored is None:
                raise OrderRejectedError("no such order")
            return stored
        sku = payload.get("sku", "tea")
        return self.store.add_order(
            Order(out_trade_no=new_order_no(), total_fee=PRICES[sku], body=f"kit-{sku}")
        )


def own_plugins(url: str, probe: Probe) -> list[object]:
    """The kit's factory: the host's own store, its reaction reported to the probe."""
    store = OrderStore(url, on_paid=probe.fulfilled)
    return [store, Pricing(store)]


def own_host(url: str) -> Host:
    """The kit's Host for examples/store.py at ``url``."""
    OrderStore(url)  # creates its tables
    return Host(plugins=partial(own_plugins, url), payload=payload)
