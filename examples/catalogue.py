"""The tiny catalogue every example shop sells from, and its ``wxpay_create_order`` hook.

The price always comes from here, never from the client: the mini program only says
*what* it wants (``{"product_id": "tea"}``), or which of its own unpaid orders it wants
to pay again (``{"out_trade_no": "..."}``).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from wxpay_mw import Order, OrderRejectedError, hookimpl

from .store import OrderStore

__all__ = ["PRODUCTS", "Catalogue", "Product"]


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
    """Builds orders from ``products`` and stores them in ``store`` before WeChat sees them.

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

    @hookimpl
    def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Order:
        """A new order for ``product_id``, or the user's own stored order to pay again."""
        again = payload.get("out_trade_no")
        if again is not None:
            order = self.store.get(str(again))
            # Someone else's order number is as unknown as a made-up one.
            if order is None or order.openid not in (None, openid):
                raise OrderRejectedError("no such order")
            # Returned as stored: a still-valid prepay_id is reused, a paid one is refused.
            return order
        product = self.products.get(str(payload.get("product_id")))
        if product is None:
            raise OrderRejectedError("unknown product")
        order = Order(
            out_trade_no=new_trade_no(),
            total_fee=product.price,
            body=f"{self.merchant}-{product.name}",
            openid=openid,
            attach=product.id,
        )
        return self.store.add_order(order)
