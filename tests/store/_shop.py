"""A host shop on the packaged store, as a host writes it: pricing and a fulfilment.

Importable by name, since the conformance kit rebuilds the plugins in child processes.
The fulfilment writes a row of the shop's own table through the paid transaction's
connection (a unique key on out_trade_no: a second fulfilment would fail loudly), then
tells the kit's probe.
"""

from __future__ import annotations

import itertools
import os
from functools import partial
from typing import Any

import sqlalchemy as sa

from wxpay_mw import Order, Payment, hookimpl
from wxpay_mw.store import OrderStore, make_engine
from wxpay_mw.testing import Host, Probe

PRICES = {"tea": 1280, "cake": 2500}

shop_metadata = sa.MetaData()
SHIPMENTS = sa.Table(
    "shop_shipments",
    shop_metadata,
    sa.Column("out_trade_no", sa.String(32), primary_key=True),
    sa.Column("transaction_id", sa.String(32), nullable=False),
)

_numbers = itertools.count(1)


def new_order_no() -> str:
    """A unique out_trade_no, also across processes."""
    return f"K{os.getpid()}{next(_numbers):04d}{os.urandom(3).hex()}"


class Shop:
    """Prices from PRICES; ``{"order_no": ...}`` pays that order again."""

    def __init__(
        self, probe: Probe | None = None, *, fail_fulfilment: int = 0, ship: bool = True
    ) -> None:
        self.probe = probe
        self.ship = ship
        self.fail_fulfilment = fail_fulfilment
        self.fulfilled: list[str] = []

    @hookimpl
    def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Order:
        sku = payload.get("sku", "tea")
        number = payload.get("order_no") or new_order_no()
        return Order(out_trade_no=number, total_fee=PRICES[sku], body=f"kit-{sku}")

    @hookimpl
    def wxpay_fulfil_order(self, order: Order, payment: Payment, connection: Any) -> None:
        if self.ship:
            connection.execute(
                sa.insert(SHIPMENTS).values(
                    out_trade_no=order.out_trade_no, transaction_id=payment.transaction_id
                )
            )
        if self.fail_fulfilment:
            self.fail_fulfilment -= 1
            raise RuntimeError("the warehouse is down")
        self.fulfilled.append(order.out_trade_no)
        if self.probe is not None:
            self.probe.fulfilled(order, payment)


def shop_plugins(url: str, probe: Probe) -> list[object]:
    """The kit's factory: a fresh store and shop over the database at ``url``."""
    return [OrderStore(url), Shop(probe)]


def payload(out_trade_no: str | None) -> dict[str, Any]:
    """A new tea, or the order ``out_trade_no`` again."""
    return {"sku": "tea"} if out_trade_no is None else {"order_no": out_trade_no}


def host_for(url: str) -> Host:
    """The kit's Host for the packaged store at ``url`` (tables created)."""
    store = OrderStore(url).create_all()
    shop_metadata.create_all(store.engine)
    store.dispose()
    return Host(plugins=partial(shop_plugins, url), payload=payload)


def shipments(url: str) -> list[tuple[str, str]]:
    """Every row the shop's fulfilment committed."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(SHIPMENTS).order_by(SHIPMENTS.c.out_trade_no))
            return [(row.out_trade_no, row.transaction_id) for row in rows]
    finally:
        engine.dispose()
