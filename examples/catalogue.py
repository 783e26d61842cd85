"""The tiny catalogue every example shop sells from: its prices and its reaction to a payment.

The shops keep their orders in the packaged store (:mod:`wxpay_mw.store`), so these two
hooks are all a shop writes: ``wxpay_create_order`` (the price always comes from here,
never from the client: the mini program only says *what* it wants, ``{"product_id":
"tea"}``, or which of its own unpaid orders it wants to pay again, ``{"out_trade_no":
"..."}``) and ``wxpay_fulfil_order``, which the store runs exactly once per order inside
the paid transaction. :class:`AsyncCatalogue` is the same for :class:`AsyncOrderStore`.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from wxpay_mw import Order, OrderRejectedError, Payment
from wxpay_mw.store import AsyncOrderStore, OrderStore

__all__ = ["PRODUCTS", "SHIPMENTS", "AsyncCatalogue", "Catalogue", "Product"]

log = logging.getLogger("examples.shop")

#: The shop's own table, beside the store's: one row per shipped order. The unique key
#: makes a second fulfilment (a bug) fail loudly instead of shipping twice.
SHIPMENTS = sa.Table(
    "shipments",
    sa.MetaData(),
    sa.Column("out_trade_no", sa.String(32), primary_key=True),
    sa.Column("product_id", sa.String(32)),
    sa.Column("transaction_id", sa.String(32), nullable=False),
)


def _shipment(order: Order, payment: Payment) -> sa.Insert:
    return SHIPMENTS.insert().values(
        out_trade_no=order.out_trade_no,
        product_id=order.attach,
        transaction_id=payment.transaction_id,
    )


@dataclass(frozen=True)
class Product:
    """Something for sale; ``price`` in integer fen (100 fen = 1 yuan)."""

    id: str
    name: str
    price: int
    #: The colour of the product's badge on the demo page.
    tint: str = "#07c160"


PRODUCTS: dict[str, Product] = {
    p.id: p
    for p in (
        Product("tea", "Longjing green tea", 1, "#4caf50"),
        Product("dumplings", "Steamed dumplings", 1280, "#ff9800"),
        Product("mooncake", "Mooncake gift box", 8800, "#c0392b"),
    )
}


def new_trade_no() -> str:
    """A unique out_trade_no: date-time plus randomness, within WeChat's 32 characters."""
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(6)


class Catalogue:
    """Prices orders from ``products``; the packaged ``store`` keeps them.

    ``merchant`` starts every order body, as WeChat asks: "商家名称-销售商品类目".
    """

    def __init__(
        self,
        store: OrderStore,
        products: dict[str, Product] | None = None,
        merchant: str = "wxpay-mw demo",
    ) -> None:
        self.store = store
        self.products = PRODUCTS if products is None else products
        self.merchant = merchant
        if isinstance(store, OrderStore):
            SHIPMENTS.create(store.engine, checkfirst=True)

    def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Order:
        """A new order for ``product_id``, or the user's own stored order to pay again."""
        again = payload.get("out_trade_no")
        if again is not None:
            return self._again(self.store.get(str(again)), openid)
        return self._new(openid, payload)

    def wxpay_fulfil_order(self, order: Order, payment: Payment, connection: Any) -> None:
        """Ship it: runs once per order, in the paid transaction (``connection``'s)."""
        connection.execute(_shipment(order, payment))
        log.info("shipping %s (order %s)", order.attach, order.out_trade_no)

    def _again(self, order: Order | None, openid: str) -> Order:
        # Someone else's order number is as unknown as a made-up one.
        if order is None or order.openid not in (None, openid):
            raise OrderRejectedError("no such order")
        # Returned as stored: a still-valid prepay_id is reused, a paid one is refused.
        return order

    def _new(self, openid: str, payload: dict[str, Any]) -> Order:
        product = self.products.get(str(payload.get("product_id")))
        if product is None:
            raise OrderRejectedError("unknown product")
        return Order(
            out_trade_no=new_trade_no(),
            total_fee=product.price,
            body=f"{self.merchant}-{product.name}",
            openid=openid,
            attach=product.id,
        )


class AsyncCatalogue(Catalogue):
    """The same for an async host: hooks awaited on the event loop, no thread."""

    def __init__(
        self,
        store: AsyncOrderStore,
        products: dict[str, Product] | None = None,
        merchant: str = "wxpay-mw demo",
    ) -> None:
        super().__init__(store, products, merchant)  # type: ignore[arg-type]
        self.async_store = store

    async def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Order:  # type: ignore[override]
        """As :meth:`Catalogue.wxpay_create_order`, reading the store without blocking."""
        again = payload.get("out_trade_no")
        if again is not None:
            return self._again(await self.async_store.get(str(again)), openid)
        return self._new(openid, payload)

    async def create_tables(self) -> None:
        """The store's tables and the shop's own (call once, at start-up)."""
        await self.async_store.create_all()
        async with self.async_store.engine.begin() as connection:
            await connection.run_sync(SHIPMENTS.create, checkfirst=True)

    async def wxpay_fulfil_order(  # type: ignore[override]
        self, order: Order, payment: Payment, connection: Any
    ) -> None:
        """Ship it: awaited once per order, in the paid transaction."""
        await connection.execute(_shipment(order, payment))
        log.info("shipping %s (order %s)", order.attach, order.out_trade_no)
