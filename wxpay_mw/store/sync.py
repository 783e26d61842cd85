"""OrderStore: every storage hook of wxpay-mw on SQLAlchemy Core, synchronous.

The paid transition is ONE conditional ``UPDATE ... WHERE status IN ('pending',
'closed')`` in one transaction; only when it changed the row does the host's
``wxpay_fulfil_order`` run, in that same transaction, with its connection. If the
fulfilment raises, everything rolls back, wxpay-mw answers FAIL and WeChat retries.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Final

import sqlalchemy as sa

from ..hookspecs import hookimpl
from ..models import Order, Payment, Refund
from . import _sql
from ._rows import (
    accepted_record,
    notification_from_row,
    order_from_row,
    refund_from_row,
    rejected_record,
    upsert_accepted,
)
from ._steps import apply_refund, claim_pending, conflict, log_rejected, prepaid, reserve_refund
from .schema import make_engine, upgrade
from .tables import NOTIFICATIONS, REFUNDS

__all__ = ["DEFAULT_URL", "OrderStore"]

log = logging.getLogger("wxpay_mw.store")

#: The embedded default: a SQLite file in the current directory.
DEFAULT_URL: Final = "sqlite:///wxpay.db"


def _refuse_awaitables(results: list[Any]) -> None:
    # An async def fulfilment called here would never run: fail (and roll back) loudly.
    for result in results:
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise TypeError(
                "wxpay_fulfil_order is async def, but OrderStore is synchronous and cannot "
                "await it: use wxpay_mw.store.AsyncOrderStore, or make the hook synchronous"
            )


class OrderStore:
    """Orders, refunds and the notification log in one SQL database, as wxpay-mw hooks.

    ``url_or_engine``: a URL (``sqlite:///wxpay.db``, ``postgresql+psycopg://...``,
    ``mysql+pymysql://...``) or an :class:`sqlalchemy.Engine` of the host's. Register
    it with ``WxPay(config, OrderStore(url), MyShop())``; the host implements only
    ``wxpay_create_order`` and ``wxpay_fulfil_order``.

    ``claim_seconds``: reconciliation's lease on an order (no other machine asks WeChat
    about it meanwhile). ``max_rejected`` / ``max_rejected_bytes``: the rejected
    notifications kept (the newest) and the bytes of each kept, so forged traffic cannot
    fill the disk.
    """

    def __init__(
        self,
        url_or_engine: str | sa.URL | sa.Engine = DEFAULT_URL,
        *,
        claim_seconds: float = 300.0,
        max_rejected: int = 1000,
        max_rejected_bytes: int = 4096,
    ) -> None:
        if isinstance(url_or_engine, sa.Engine):
            self.engine = url_or_engine
            self._owns_engine = False
        else:
            self.engine = make_engine(url_or_engine)
            self._owns_engine = True
        # SQLite: BEGIN IMMEDIATE for transactions that write (see schema.make_engine).
        self._writer = self.engine.execution_options(wxpay_write=True)
        self.claim_seconds = claim_seconds
        self.max_rejected = max_rejected
        self.max_rejected_bytes = max_rejected_bytes
        self._hook: Any = None

    def __repr__(self) -> str:
        return f"OrderStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def create_all(self) -> OrderStore:
        """Create (or upgrade) the tables; for tests and development. Returns self."""
        upgrade(self.engine)
        return self

    def dispose(self) -> None:
        """Close the pooled connections, if the engine is the store's own."""
        if self._owns_engine:
            self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._writer.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as connection:
            yield connection

    # -- reading, for the shop and the CLI -------------------------------------------------

    def get(self, out_trade_no: str) -> Order | None:
        """The stored order, with its current status, or None."""
        with self._read() as connection:
            row = connection.execute(_sql.select_order(out_trade_no)).first()
        return order_from_row(row) if row is not None else None

    def orders(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest orders (as dicts with ``created_at`` and ``refunded_fee``)."""
        with self._read() as connection:
            rows = connection.execute(_sql.select_orders(status, limit)).all()
        return [dict(row._mapping) for row in rows]

    def refunds(self, out_trade_no: str) -> list[Refund]:
        """The refunds recorded for an order, oldest first."""
        query = sa.select(REFUNDS).where(REFUNDS.c.out_trade_no == out_trade_no)
        with self._read() as connection:
            rows = connection.execute(query.order_by(REFUNDS.c.created_at)).all()
        return [refund_from_row(row) for row in rows]

    def notifications(self, kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The notification log, oldest first: kind, ref, reason, answer, fields, counts."""
        query = sa.select(NOTIFICATIONS)
        if kind is not None:
            query = query.where(NOTIFICATIONS.c.kind == kind)
        newest = query.order_by(NOTIFICATIONS.c.id.desc()).limit(limit).subquery()
        with self._read() as connection:
            rows = connection.execute(sa.select(newest).order_by(newest.c.id)).all()
        return [notification_from_row(row) for row in rows]

    def notification(self, notification_id: int) -> dict[str, Any] | None:
        """One logged notification by id, or None."""
        query = sa.select(NOTIFICATIONS).where(NOTIFICATIONS.c.id == notification_id)
        with self._read() as connection:
            row = connection.execute(query).first()
        return notification_from_row(row) if row is not None else None

    # -- hooks ---------------------------------------------------------------------------

    @hookimpl
    def wxpay_registered(self, wxpay: Any) -> None:
        """Keep the hook relay, to call the host's ``wxpay_fulfil_order``."""
        if self._hook is not None and self._hook is not wxpay.hook:
            raise RuntimeError(
                "this OrderStore is already registered with another WxPay: create one "
                "OrderStore per WxPay (they may share the engine)"
            )
        self._hook = wxpay.hook

    @hookimpl
    def wxpay_order_created(self, order: Order) -> Order | None:
        """Store a new order; for a known out_trade_no, the stored one (or a conflict)."""
        try:
            with self._write() as connection:
                connection.execute(_sql.insert_order(order))
            return None
        except sa.exc.IntegrityError:
            stored = self.get(order.out_trade_no)
            if stored is None:  # pragma: no cover - only if deleted in between
                raise
        error = conflict(stored, order)
        if error is not None:
            raise error
        return stored

    @hookimpl
    def wxpay_load_order(self, out_trade_no: str) -> Order | None:
        """The stored order: the flow compares every notification's amount with it."""
        return self.get(out_trade_no)

    @hookimpl
    def wxpay_order_prepaid(self, order: Order, prepay_id: str) -> None:
        """Keep prepay_id, its expiry, openid and sign type (the notification's sign)."""
        with self._write() as connection:
            prepaid(connection, order, prepay_id)

    @hookimpl
    def wxpay_order_paid(self, order: Order, payment: Payment) -> None:
        """The paid transition, and the host's fulfilment only if this call made it."""
        if self._hook is None:
            raise RuntimeError(
                "OrderStore got a payment but is registered with no WxPay, so it cannot "
                "call wxpay_fulfil_order: register it with WxPay(config, store, ...)"
            )
        with self._write() as connection:
            won = connection.execute(_sql.mark_paid(payment)).rowcount == 1
            if won:
                paid = replace(order, status="paid", transaction_id=payment.transaction_id)
                results = self._hook.wxpay_fulfil_order(
                    order=paid, payment=payment, connection=connection
                )
                _refuse_awaitables(results)
        if payment.source == "notify":
            self._log_accepted("payment", payment.out_trade_no, "paid", payment.fields)

    @hookimpl
    def wxpay_payment_failed(self, order: Order, fields: dict[str, str]) -> None:
        """Only logged: the order stays pending, and the user may pay again."""
        self._log_accepted("payment_failed", order.out_trade_no, fields.get("err_code"), fields)

    @hookimpl
    def wxpay_notify_rejected(self, reason: str, fields: dict[str, str]) -> None:
        """Kept as evidence, bounded: each row cut to ``max_rejected_bytes``, and only the
        newest ``max_rejected`` rows kept."""
        record = rejected_record(reason, fields, self.max_rejected_bytes)
        with self._write() as connection:
            log_rejected(connection, record, self.max_rejected)

    @hookimpl
    def wxpay_order_closed(self, order: Order, fields: dict[str, str]) -> None:
        """WeChat says the order can no longer be paid: pending -> closed."""
        with self._write() as connection:
            connection.execute(_sql.mark_closed(order.out_trade_no))

    @hookimpl
    def wxpay_refund_notified(self, refund: Refund) -> None:
        """Idempotent on out_refund_no; the order becomes refunded at its total."""
        self._apply_refund(refund)
        self._log_accepted("refund", refund.out_refund_no, refund.refund_status, refund.fields)

    @hookimpl
    def wxpay_refund_updated(self, refund: Refund) -> None:
        """WeChat's answer about a refund this app asked for."""
        self._apply_refund(refund)

    @hookimpl
    def wxpay_refund_requested(
        self, out_trade_no: str, out_refund_no: str, refund_fee: int, reason: str | None
    ) -> Refund:
        """Reserve the amount with one conditional update; idempotent on out_refund_no."""
        for attempt in (1, 2):
            try:
                return self._reserve(out_trade_no, out_refund_no, refund_fee, reason)
            except sa.exc.IntegrityError:
                # The same out_refund_no inserted at the same moment: the second attempt
                # finds it and answers as for a retry.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _reserve(
        self, out_trade_no: str, out_refund_no: str, refund_fee: int, reason: str | None
    ) -> Refund:
        with self._write() as connection:
            return reserve_refund(connection, out_trade_no, out_refund_no, refund_fee, reason)

    def _apply_refund(self, refund: Refund) -> None:
        for attempt in (1, 2):
            try:
                with self._write() as connection:
                    apply_refund(connection, refund)
                return
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise

    @hookimpl
    def wxpay_pending_orders(self, older_than: float, limit: int) -> list[Order]:
        """Pending orders this machine claimed for reconciliation (a lease per order)."""
        with self._write() as connection:
            return claim_pending(connection, older_than, limit, time.time(), self.claim_seconds)

    # -- the notification log -----------------------------------------------------------

    def _log_accepted(
        self, kind: str, ref: str, reason: str | None, fields: dict[str, str]
    ) -> None:
        # Audit only: a failure here must never turn a payment's SUCCESS into FAIL.
        record = accepted_record(kind, ref, reason, fields)
        try:
            with self._write() as connection:
                connection.execute(upsert_accepted(connection.dialect.name, record))
        except sa.exc.SQLAlchemyError:
            log.exception("could not log the %s notification for %s", kind, ref)
