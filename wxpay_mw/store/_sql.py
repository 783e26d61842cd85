"""The store's statements, built once and run by the synchronous and the async store.

Every state change is one conditional UPDATE whose WHERE clause says from which states
it may happen: the database serialises concurrent updates of a row, so exactly one of
them matches, and ``rowcount`` tells the caller whether it was this one.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from ..models import Order, Payment, Refund
from ._rows import FINAL_REFUND_STATES, ORDER_COLUMNS, PAYABLE, order_values
from .tables import NOTIFICATIONS, ORDERS, REFUNDS

__all__ = [
    "claim",
    "insert_order",
    "insert_refund",
    "mark_closed",
    "mark_paid",
    "mark_prepaid",
    "mark_refunded",
    "pending_candidates",
    "prune_rejected",
    "rejected_threshold",
    "release_refund",
    "reserve_refund",
    "select_order",
    "select_orders",
    "select_refund",
    "update_refund",
]

_no = ORDERS.c.out_trade_no


def select_order(out_trade_no: str) -> sa.Select[Any]:
    """The order's columns, as :func:`~._rows.order_from_row` reads them."""
    return sa.select(*ORDER_COLUMNS).where(_no == out_trade_no)


def select_orders(status: str | None, limit: int) -> sa.Select[Any]:
    """The newest orders first, optionally of one status."""
    query = sa.select(*ORDER_COLUMNS, ORDERS.c.created_at, ORDERS.c.refunded_fee)
    if status is not None:
        query = query.where(ORDERS.c.status == status)
    return query.order_by(ORDERS.c.created_at.desc(), _no).limit(limit)


def insert_order(order: Order) -> sa.Insert:
    """A new pending order row."""
    return sa.insert(ORDERS).values(order_values(order))


def mark_prepaid(order: Order, prepay_id: str) -> sa.Update:
    """Keep the prepay_id, its expiry, the payer's openid and the sign type."""
    return (
        sa.update(ORDERS)
        .where(_no == order.out_trade_no)
        .values(
            prepay_id=prepay_id,
            prepay_expires_at=order.prepay_expires_at,
            openid=order.openid,
            sign_type=order.sign_type,
            prepaid_at=time.time(),
        )
    )


def mark_paid(payment: Payment) -> sa.Update:
    """THE paid transition: matches a row only while it is pending (or closed)."""
    return (
        sa.update(ORDERS)
        .where(_no == payment.out_trade_no, ORDERS.c.status.in_(PAYABLE))
        .values(status="paid", transaction_id=payment.transaction_id, paid_at=time.time())
    )


def mark_closed(out_trade_no: str) -> sa.Update:
    """pending -> closed; a paid order is never closed."""
    return (
        sa.update(ORDERS)
        .where(_no == out_trade_no, ORDERS.c.status == "pending")
        .values(status="closed", closed_at=time.time())
    )


def pending_candidates(older_than: float, now: float, limit: int) -> sa.Select[Any]:
    """Unclaimed pending orders placed with WeChat before ``older_than``, oldest first."""
    return (
        sa.select(_no)
        .where(
            ORDERS.c.status == "pending",
            ORDERS.c.prepay_id.is_not(None),
            ORDERS.c.prepaid_at < older_than,
            sa.or_(ORDERS.c.claimed_until.is_(None), ORDERS.c.claimed_until < now),
        )
        .order_by(ORDERS.c.prepaid_at, _no)
        .limit(limit)
    )


def claim(out_trade_no: str, now: float, until: float) -> sa.Update:
    """Take reconciliation's lease on a pending order, unless another machine holds it."""
    return (
        sa.update(ORDERS)
        .where(
            _no == out_trade_no,
            ORDERS.c.status == "pending",
            sa.or_(ORDERS.c.claimed_until.is_(None), ORDERS.c.claimed_until < now),
        )
        .values(claimed_until=until)
    )


def reserve_refund(out_trade_no: str, refund_fee: int) -> sa.Update:
    """Promise ``refund_fee`` of a paid order to a refund, never past its total."""
    return (
        sa.update(ORDERS)
        .where(
            _no == out_trade_no,
            ORDERS.c.status == "paid",
            ORDERS.c.refunded_fee + refund_fee <= ORDERS.c.total_fee,
        )
        .values(refunded_fee=ORDERS.c.refunded_fee + refund_fee)
    )


def release_refund(out_trade_no: str, refund_fee: int) -> sa.Update:
    """Give back the fen of a refund WeChat refused or closed (or add an outside one's)."""
    return (
        sa.update(ORDERS)
        .where(_no == out_trade_no)
        .values(refunded_fee=ORDERS.c.refunded_fee - refund_fee)
    )


def select_refund(out_refund_no: str) -> sa.Select[Any]:
    """The refund row."""
    return sa.select(REFUNDS).where(REFUNDS.c.out_refund_no == out_refund_no)


def insert_refund(refund: Refund, reason: str | None = None) -> sa.Insert:
    """A new refund row in ``refund.refund_status``."""
    now = time.time()
    return sa.insert(REFUNDS).values(
        out_refund_no=refund.out_refund_no,
        out_trade_no=refund.out_trade_no,
        refund_fee=refund.refund_fee,
        total_fee=refund.total_fee,
        status=refund.refund_status,
        refund_id=refund.refund_id or None,
        reason=reason,
        success_time=refund.success_time,
        created_at=now,
        updated_at=now,
    )


def update_refund(refund: Refund, err_code: str | None = None) -> sa.Update:
    """A refund's new state; a final state (SUCCESS, REFUNDCLOSE, FAILED) never changes."""
    values: dict[str, Any] = {"status": refund.refund_status, "updated_at": time.time()}
    if refund.refund_id:
        values["refund_id"] = refund.refund_id
    if refund.success_time:
        values["success_time"] = refund.success_time
    if err_code:
        values["err_code"] = err_code[:64]
    return (
        sa.update(REFUNDS)
        .where(
            REFUNDS.c.out_refund_no == refund.out_refund_no,
            REFUNDS.c.status.not_in(FINAL_REFUND_STATES),
        )
        .values(values)
    )


def mark_refunded(out_trade_no: str) -> sa.Update:
    """paid -> refunded once the successful refunds add up to the total."""
    refunded = (
        sa.select(sa.func.coalesce(sa.func.sum(REFUNDS.c.refund_fee), 0))
        .where(REFUNDS.c.out_trade_no == out_trade_no, REFUNDS.c.status == "SUCCESS")
        .scalar_subquery()
    )
    return (
        sa.update(ORDERS)
        .where(_no == out_trade_no, ORDERS.c.status == "paid", ORDERS.c.total_fee <= refunded)
        .values(status="refunded")
    )


def rejected_threshold(keep: int) -> sa.Select[Any]:
    """The id of the newest rejected row beyond the ``keep`` newest, if any."""
    return (
        sa.select(NOTIFICATIONS.c.id)
        .where(NOTIFICATIONS.c.kind == "rejected")
        .order_by(NOTIFICATIONS.c.id.desc())
        .offset(keep)
        .limit(1)
    )


def prune_rejected(threshold: int) -> sa.Delete:
    """Forget rejected rows at or below ``threshold`` (MySQL cannot delete from a table
    it selects from in the same statement, hence two statements)."""
    return sa.delete(NOTIFICATIONS).where(
        NOTIFICATIONS.c.kind == "rejected", NOTIFICATIONS.c.id <= threshold
    )
