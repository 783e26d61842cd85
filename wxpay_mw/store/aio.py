"""AsyncOrderStore: the packaged store on SQLAlchemy's asyncio engine.

The same tables, the same statements and the same steps as
:class:`~wxpay_mw.store.OrderStore` (multi-statement steps run through
``AsyncConnection.run_sync``), with ``async def`` hooks for an async driver that awaits
them. Drivers: aiosqlite (``sqlite:///``), psycopg 3 (``postgresql://``), aiomysql
(``mysql://``); extra ``async``.

The paid transition is the same ONE conditional update; when it changed the row, the
host's ``wxpay_fulfil_order`` runs in the same transaction with its
``AsyncConnection`` (an ``async def`` implementation is awaited).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

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
from .schema import engine_url, sqlite_setup, upgrade_connection
from .sync import DEFAULT_URL
from .tables import NOTIFICATIONS, REFUNDS

__all__ = ["AsyncOrderStore", "make_async_engine"]

log = logging.getLogger("wxpay_mw.store")


def make_async_engine(url: str | sa.URL, **options: Any) -> AsyncEngine:
    """An AsyncEngine for ``url`` with the same set-up as :func:`make_engine`."""
    parsed, defaults = engine_url(url, asynchronous=True)
    engine = create_async_engine(parsed, **{**defaults, **options})
    if parsed.get_backend_name() == "sqlite":
        sqlite_setup(engine.sync_engine)
    return engine


class AsyncOrderStore:
    """:class:`~wxpay_mw.store.OrderStore` with ``async def`` hooks, on an AsyncEngine.

    Arguments as for OrderStore; ``url_or_engine`` may be an AsyncEngine of the host's.
    """

    def __init__(
        self,
        url_or_engine: str | sa.URL | AsyncEngine = DEFAULT_URL,
        *,
        claim_seconds: float = 300.0,
        max_rejected: int = 1000,
        max_rejected_bytes: int = 4096,
    ) -> None:
        if isinstance(url_or_engine, AsyncEngine):
            self.engine = url_or_engine
            self._owns_engine = False
        else:
            self.engine = make_async_engine(url_or_engine)
            self._owns_engine = True
        self._writer = self.engine.execution_options(wxpay_write=True)
        self.claim_seconds = claim_seconds
        self.max_rejected = max_rejected
        self.max_rejected_bytes = max_rejected_bytes
        self._hook: Any = None

    def __repr__(self) -> str:
        return f"AsyncOrderStore({self.engine.url.render_as_string(hide_password=True)!r})"

    async def create_all(self) -> AsyncOrderStore:
        """Create (or upgrade) the tables; for tests and development. Returns self."""
        async with self._writer.begin() as connection:
            await connection.run_sync(upgrade_connection)
        return self

    async def dispose(self) -> None:
        """Close the pooled connections, if the engine is the store's own."""
        if self._owns_engine:
            await self.engine.dispose()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._writer.begin() as connection:
            yield connection

    # -- reading --------------------------------------------------------------------------

    async def get(self, out_trade_no: str) -> Order | None:
        """The stored order, with its current status, or None."""
        async with self.engine.begin() as connection:
            row = (await connection.execute(_sql.select_order(out_trade_no))).first()
        return order_from_row(row) if row is not None else None

    async def refunds(self, out_trade_no: str) -> list[Refund]:
        """The refunds recorded for an order, oldest first."""
        query = sa.select(REFUNDS).where(REFUNDS.c.out_trade_no == out_trade_no)
        async with self.engine.begin() as connection:
            rows = (await connection.execute(query.order_by(REFUNDS.c.created_at))).all()
        return [refund_from_row(row) for row in rows]

    async def notifications(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The notification log, oldest first."""
        query = sa.select(NOTIFICATIONS).order_by(NOTIFICATIONS.c.id)
        if kind is not None:
            query = query.where(NOTIFICATIONS.c.kind == kind)
        async with self.engine.begin() as connection:
            rows = (await connection.execute(query)).all()
        return [notification_from_row(row) for row in rows]

    # -- hooks ---------------------------------------------------------------------------

    @hookimpl
    def wxpay_registered(self, wxpay: Any) -> None:
        """Keep the hook relay, to call the host's ``wxpay_fulfil_order``."""
        if self._hook is not None and self._hook is not wxpay.hook:
            raise RuntimeError(
                "this AsyncOrderStore is already registered with another WxPay: create one "
                "store per WxPay (they may share the engine)"
            )
        self._hook = wxpay.hook

    @hookimpl
    async def wxpay_order_created(self, order: Order) -> Order | None:
        """Store a new order; for a known out_trade_no, the stored one (or a conflict)."""
        try:
            async with self._write() as connection:
                await connection.execute(_sql.insert_order(order))
            return None
        except sa.exc.IntegrityError:
            stored = await self.get(order.out_trade_no)
            if stored is None:  # pragma: no cover - only if deleted in between
                raise
        error = conflict(stored, order)
        if error is not None:
            raise error
        return stored

    @hookimpl
    async def wxpay_load_order(self, out_trade_no: str) -> Order | None:
        """The stored order."""
        return await self.get(out_trade_no)

    @hookimpl
    async def wxpay_order_prepaid(self, order: Order, prepay_id: str) -> None:
        """Keep prepay_id, its expiry, openid and sign type."""
        async with self._write() as connection:
            await connection.run_sync(prepaid, order, prepay_id)

    @hookimpl
    async def wxpay_order_paid(self, order: Order, payment: Payment) -> None:
        """The paid transition, and the host's fulfilment only if this call made it."""
        if self._hook is None:
            raise RuntimeError(
                "AsyncOrderStore got a payment but is registered with no WxPay, so it "
                "cannot call wxpay_fulfil_order: register it with WxPay(config, store, ...)"
            )
        async with self._write() as connection:
            won = (await connection.execute(_sql.mark_paid(payment))).rowcount == 1
            if won:
                paid = replace(order, status="paid", transaction_id=payment.transaction_id)
                results = self._hook.wxpay_fulfil_order(
                    order=paid, payment=payment, connection=connection
                )
                for result in results:
                    if inspect.isawaitable(result):
                        await result
        if payment.source == "notify":
            await self._log_accepted("payment", payment.out_trade_no, "paid", payment.fields)

    @hookimpl
    async def wxpay_payment_failed(self, order: Order, fields: dict[str, str]) -> None:
        """Only logged: the order stays pending."""
        await self._log_accepted(
            "payment_failed", order.out_trade_no, fields.get("err_code"), fields
        )

    @hookimpl
    async def wxpay_notify_rejected(self, reason: str, fields: dict[str, str]) -> None:
        """Kept as evidence, bounded as in OrderStore."""
        record = rejected_record(reason, fields, self.max_rejected_bytes)
        async with self._write() as connection:
            await connection.run_sync(log_rejected, record, self.max_rejected)

    @hookimpl
    async def wxpay_order_closed(self, order: Order, fields: dict[str, str]) -> None:
        """pending -> closed."""
        async with self._write() as connection:
            await connection.execute(_sql.mark_closed(order.out_trade_no))

    @hookimpl
    async def wxpay_refund_notified(self, refund: Refund) -> None:
        """Idempotent on out_refund_no; the order becomes refunded at its total."""
        await self._apply_refund(refund)
        await self._log_accepted(
            "refund", refund.out_refund_no, refund.refund_status, refund.fields
        )

    @hookimpl
    async def wxpay_refund_updated(self, refund: Refund) -> None:
        """WeChat's answer about a refund this app asked for."""
        await self._apply_refund(refund)

    @hookimpl
    async def wxpay_refund_requested(
        self, out_trade_no: str, out_refund_no: str, refund_fee: int, reason: str | None
    ) -> Refund:
        """Reserve the amount with one conditional update; idempotent on out_refund_no."""
        for attempt in (1, 2):
            try:
                async with self._write() as connection:
                    made: Refund = await connection.run_sync(
                        reserve_refund, out_trade_no, out_refund_no, refund_fee, reason
                    )
                return made
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _apply_refund(self, refund: Refund) -> None:
        for attempt in (1, 2):
            try:
                async with self._write() as connection:
                    await connection.run_sync(apply_refund, refund)
                return
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise

    @hookimpl
    async def wxpay_pending_orders(self, older_than: float, limit: int) -> list[Order]:
        """Pending orders this machine claimed for reconciliation (a lease per order)."""
        async with self._write() as connection:
            claimed: list[Order] = await connection.run_sync(
                claim_pending, older_than, limit, time.time(), self.claim_seconds
            )
        return claimed

    async def _log_accepted(
        self, kind: str, ref: str, reason: str | None, fields: dict[str, str]
    ) -> None:
        # Audit only: a failure here must never turn a payment's SUCCESS into FAIL.
        record = accepted_record(kind, ref, reason, fields)
        try:
            async with self._write() as connection:
                await connection.execute(upsert_accepted(connection.dialect.name, record))
        except sa.exc.SQLAlchemyError:
            log.exception("could not log the %s notification for %s", kind, ref)
