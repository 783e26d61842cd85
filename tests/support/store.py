"""MemoryStore: an in-memory order store implementing every wxpay-mw hook, for tests.

It behaves like a careful host: one lock around every read and write, the paid reaction
guarded by a conditional transition (pending -> paid) so that it takes effect once per
order however many notifications arrive at once, and copies handed out so that callers
never share the stored objects. It also records every hook call, so tests can assert
what the flow did.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from wxpay_mw import Order, OrderRejectedError, Payment, Refund, hookimpl
from wxpay_mw.sansio import Request

__all__ = ["OPENID_HEADER", "MemoryStore"]

#: A request header the store's ``wxpay_openid_from_request`` trusts (tests only!).
OPENID_HEADER = "x-test-openid"

_CATALOG = {"apple": 100, "pear": 250, "melon": 1999}


@dataclass
class MemoryStore:
    """Orders in a dict, behind a lock; every hook implemented and recorded.

    Prepay payloads: ``{"code": ..., "sku": "apple"}`` buys one item at the catalogue
    price; ``"order_no"`` re-uses a stored order (to pay it again) or names a new one;
    ``"reject": true`` raises OrderRejectedError, ``"invalid": true`` ValueError and
    ``"none": true`` returns None. ``fail_paid`` makes the paid hook raise (a database
    outage) while it is set.
    """

    catalog: dict[str, int] = field(default_factory=lambda: dict(_CATALOG))
    orders: dict[str, Order] = field(default_factory=dict)
    #: out_trade_no for each time the paid reaction took effect (once per order).
    paid_reactions: list[str] = field(default_factory=list)
    #: (hook name, kwargs) for every hook call, in order.
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejections: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    fail_paid: bool = False
    trust_openid_header: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    _numbers: Any = field(default_factory=lambda: itertools.count(1))

    # -- helpers for tests ------------------------------------------------------------

    def called(self, hook: str) -> list[dict[str, Any]]:
        """The kwargs of every call of ``hook``."""
        with self.lock:
            return [kwargs for name, kwargs in self.calls if name == hook]

    def get(self, out_trade_no: str) -> Order | None:
        """A copy of the stored order."""
        with self.lock:
            order = self.orders.get(out_trade_no)
            return None if order is None else replace(order)

    def put(self, order: Order) -> None:
        """Store an order as given (tests build special cases this way)."""
        with self.lock:
            self.orders[order.out_trade_no] = replace(order)

    def _record(self, name: str, **kwargs: Any) -> None:
        with self.lock:
            self.calls.append((name, kwargs))

    # -- hooks ------------------------------------------------------------------------

    @hookimpl
    def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Order | None:
        """Price from the catalogue; the client's JSON only names what is bought."""
        self._record("wxpay_create_order", openid=openid, payload=payload)
        if payload.get("reject"):
            raise OrderRejectedError("sold out")
        if payload.get("invalid"):
            raise ValueError("quantity must be positive")
        if payload.get("none"):
            return None
        order_no = payload.get("order_no")
        if isinstance(order_no, str):
            with self.lock:
                stored = self.orders.get(order_no)
            if stored is not None:
                return replace(stored)
        sku = payload.get("sku")
        if sku not in self.catalog:
            raise OrderRejectedError(f"unknown product {sku!r}")
        number = order_no if isinstance(order_no, str) else f"T{next(self._numbers):06d}"
        order = Order(out_trade_no=number, total_fee=self.catalog[sku], body=f"测试商店-{sku}")
        self.put(order)
        return replace(order)

    @hookimpl
    def wxpay_order_prepaid(self, order: Order, prepay_id: str) -> None:
        """Keep the prepay_id, its expiry, openid and sign type."""
        self._record("wxpay_order_prepaid", order=replace(order), prepay_id=prepay_id)
        with self.lock:
            stored = self.orders.get(order.out_trade_no)
            base = stored if stored is not None else order
            self.orders[order.out_trade_no] = replace(
                base,
                prepay_id=prepay_id,
                prepay_expires_at=order.prepay_expires_at,
                openid=order.openid,
                sign_type=order.sign_type,
            )

    @hookimpl
    def wxpay_load_order(self, out_trade_no: str) -> Order | None:
        """A copy of the stored order."""
        self._record("wxpay_load_order", out_trade_no=out_trade_no)
        return self.get(out_trade_no)

    @hookimpl
    def wxpay_order_paid(self, order: Order, payment: Payment) -> None:
        """pending -> paid under the lock; the reaction only when the transition happened."""
        self._record("wxpay_order_paid", order=order, payment=payment)
        if self.fail_paid:
            raise RuntimeError("the database is down")
        with self.lock:
            stored = self.orders.get(order.out_trade_no)
            if stored is None or stored.status != "pending":
                return
            self.orders[order.out_trade_no] = replace(
                stored, status="paid", transaction_id=payment.transaction_id
            )
            self.paid_reactions.append(order.out_trade_no)

    @hookimpl
    def wxpay_payment_failed(self, order: Order, fields: dict[str, str]) -> None:
        """Recorded only: the order stays pending."""
        self._record("wxpay_payment_failed", order=order, fields=fields)

    @hookimpl
    def wxpay_notify_rejected(self, reason: str, fields: dict[str, str]) -> None:
        """Recorded for assertions."""
        self._record("wxpay_notify_rejected", reason=reason, fields=fields)
        with self.lock:
            self.rejections.append((reason, fields))

    @hookimpl
    def wxpay_order_closed(self, order: Order, fields: dict[str, str]) -> None:
        """pending -> closed."""
        self._record("wxpay_order_closed", order=order, fields=fields)
        with self.lock:
            stored = self.orders.get(order.out_trade_no)
            if stored is not None and stored.status == "pending":
                self.orders[order.out_trade_no] = replace(stored, status="closed")

    @hookimpl
    def wxpay_refund_notified(self, refund: Refund) -> None:
        """Idempotent on out_refund_no."""
        self._record("wxpay_refund_notified", refund=refund)
        with self.lock:
            if all(r.out_refund_no != refund.out_refund_no for r in self.refunds):
                self.refunds.append(refund)
            stored = self.orders.get(refund.out_trade_no)
            if stored is not None and refund.refund_status == "SUCCESS":
                self.orders[refund.out_trade_no] = replace(stored, status="refunded")

    @hookimpl
    def wxpay_openid_from_request(self, request: Request) -> str | None:
        """The test header's openid, when trusted (a stand-in for a host's own login)."""
        self._record("wxpay_openid_from_request", request=request)
        if not self.trust_openid_header:
            return None
        return request.headers.get(OPENID_HEADER) or None

    @hookimpl
    def wxpay_user_logged_in(self, openid: str, unionid: str | None, session_key: str) -> None:
        """Recorded (a real host would keep session_key server-side)."""
        self._record(
            "wxpay_user_logged_in", openid=openid, unionid=unionid, session_key=session_key
        )

    @hookimpl
    def wxpay_pending_orders(self, older_than: float, limit: int) -> list[Order]:
        """Pending orders with a prepay_id (this store ignores ``older_than``)."""
        self._record("wxpay_pending_orders", older_than=older_than, limit=limit)
        with self.lock:
            pending = [
                replace(o) for o in self.orders.values() if o.status == "pending" and o.prepay_id
            ]
        return pending[:limit]
