"""An async host shop on AsyncOrderStore, as a FastAPI host writes it: ``async def`` hooks.

The twin of _shop.py: the same prices and shipments table, the fulfilment written
through the paid transaction's AsyncConnection. Importable by name, since the
conformance kit rebuilds the plugins in child processes.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import sqlalchemy as sa

from wxpay_mw import Order, Payment, hookimpl
from wxpay_mw.store import AsyncOrderStore
from wxpay_mw.store.tables import ORDERS
from wxpay_mw.testing import Host, Probe

from ._shop import PRICES, SHIPMENTS, host_for, new_order_no, payload


class AsyncShop:
    """Prices from PRICES; ``{"order_no": ...}`` pays that order again."""

    def __init__(self, probe: Probe, *, ship: bool = True) -> None:
        self.probe = probe
        self.ship = ship

    @hookimpl
    async def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Order:
        sku = payload.get("sku", "tea")
        number = payload.get("order_no") or new_order_no()
        return Order(out_trade_no=number, total_fee=PRICES[sku], body=f"kit-{sku}")

    @hookimpl
    async def wxpay_fulfil_order(self, order: Order, payment: Payment, connection: Any) -> None:
        if self.ship:
            await connection.execute(
                sa.insert(SHIPMENTS).values(
                    out_trade_no=order.out_trade_no, transaction_id=payment.transaction_id
                )
            )
        self.probe.fulfilled(order, payment)


def async_shop_plugins(url: str, probe: Probe) -> list[object]:
    """The kit's factory: a fresh async store and shop over the database at ``url``."""
    return [AsyncOrderStore(url), AsyncShop(probe)]


def async_host_for(url: str) -> Host:
    """The kit's Host for AsyncOrderStore at ``url`` (tables created by the sync store).

    ``asynchronous`` is left to the kit, which sees the ``async def`` hooks.
    """
    host_for(url)
    return Host(plugins=partial(async_shop_plugins, url), payload=payload)


class BrokenAsyncStore(AsyncOrderStore):
    """What the kit exists to catch: the paid update without its condition."""

    @hookimpl
    async def wxpay_order_paid(self, order: Order, payment: Payment) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                sa.update(ORDERS)
                .where(ORDERS.c.out_trade_no == payment.out_trade_no)
                .values(status="paid", transaction_id=payment.transaction_id)
            )
            paid = replace(order, status="paid", transaction_id=payment.transaction_id)
            for result in self._hook.wxpay_fulfil_order(
                order=paid, payment=payment, connection=connection
            ):
                if result is not None:
                    await result


def broken_async_plugins(url: str, probe: Probe) -> list[object]:
    """A broken async store, and a shop with no unique shipment row to save it."""
    return [BrokenAsyncStore(url), AsyncShop(probe, ship=False)]
