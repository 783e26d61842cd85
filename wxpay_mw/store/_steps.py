"""The store's multi-statement steps, each run inside one transaction's Connection.

Shared by both stores: :class:`~wxpay_mw.store.OrderStore` calls them directly, the
async store through ``AsyncConnection.run_sync``, so both follow exactly the same rules.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from ..errors import OutTradeNoUsedError, RefundRefusedError, UnknownOrderError
from ..models import Order, Refund
from . import _sql
from ._rows import ORDER_COLUMNS, RELEASED_REFUND_STATES, order_from_row, refund_from_row
from .tables import NOTIFICATIONS, ORDERS

__all__ = [
    "apply_refund",
    "claim_pending",
    "conflict",
    "log_rejected",
    "prepaid",
    "reserve_refund",
]


def conflict(stored: Order, given: Order) -> OutTradeNoUsedError | None:
    """The error for a reused out_trade_no whose amount or body differs, else None."""
    if (stored.total_fee, stored.body) == (given.total_fee, given.body):
        return None
    return OutTradeNoUsedError(
        "OUT_TRADE_NO_USED",
        f"the store holds {stored.out_trade_no} for {stored.total_fee} fen "
        f"{stored.body!r}, not {given.total_fee} fen {given.body!r}",
        endpoint="wxpay_mw.store",
        hint="give every new order a new out_trade_no; to pay an order again, "
        "build it with the same amount and body",
    )


def prepaid(connection: sa.Connection, order: Order, prepay_id: str) -> None:
    """Keep the prepay fields; insert the order first if no hook stored it."""
    if connection.execute(_sql.mark_prepaid(order, prepay_id)).rowcount == 1:
        return
    connection.execute(_sql.insert_order(replace(order, prepay_id=prepay_id)))
    connection.execute(_sql.mark_prepaid(order, prepay_id))


def _refused(connection: sa.Connection, out_trade_no: str, fee: int) -> Exception:
    """Why a refund reservation matched no row."""
    row = connection.execute(
        sa.select(*ORDER_COLUMNS, ORDERS.c.refunded_fee).where(
            ORDERS.c.out_trade_no == out_trade_no
        )
    ).first()
    if row is None:
        return UnknownOrderError(f"no order {out_trade_no!r} in the store: nothing refunded")
    order = order_from_row(row)
    if order.status != "paid":
        return RefundRefusedError(
            "not_paid", f"order {out_trade_no} is {order.status}, not paid: nothing refunded"
        )
    return RefundRefusedError(
        "too_much",
        f"order {out_trade_no} was paid {order.total_fee} fen and {row.refunded_fee} fen are "
        f"already refunded or being refunded: a refund of {fee} fen would pass the total",
    )


def reserve_refund(
    connection: sa.Connection,
    out_trade_no: str,
    out_refund_no: str,
    refund_fee: int,
    reason: str | None,
) -> Refund:
    """The recorded refund: an existing one for a retry, else a new reservation."""
    row = connection.execute(_sql.select_refund(out_refund_no)).first()
    if row is not None:
        existing = refund_from_row(row)
        if (existing.out_trade_no, existing.refund_fee) != (out_trade_no, refund_fee):
            raise ValueError(
                f"out_refund_no {out_refund_no} is already a refund of {existing.refund_fee} "
                f"fen of {existing.out_trade_no}: use a new out_refund_no for another refund"
            )
        return existing
    if connection.execute(_sql.reserve_refund(out_trade_no, refund_fee)).rowcount != 1:
        raise _refused(connection, out_trade_no, refund_fee)
    total = connection.execute(
        sa.select(ORDERS.c.total_fee).where(ORDERS.c.out_trade_no == out_trade_no)
    ).scalar_one()
    made = Refund(out_trade_no, out_refund_no, "", refund_fee, int(total), "REQUESTED")
    connection.execute(_sql.insert_refund(made, reason))
    return made


def apply_refund(connection: sa.Connection, refund: Refund) -> None:
    """A refund's new state: final states stick; refused fen go back; full -> refunded."""
    row = connection.execute(_sql.select_refund(refund.out_refund_no)).first()
    released = refund.refund_status in RELEASED_REFUND_STATES
    if row is None:
        # A refund made elsewhere (the merchant platform): its fen count too.
        connection.execute(_sql.insert_refund(refund))
        if not released:
            connection.execute(_sql.release_refund(refund.out_trade_no, -refund.refund_fee))
    else:
        err_code = refund.fields.get("err_code")
        changed = connection.execute(_sql.update_refund(refund, err_code)).rowcount == 1
        if changed and released:
            connection.execute(_sql.release_refund(row.out_trade_no, int(row.refund_fee)))
    if refund.refund_status == "SUCCESS":
        connection.execute(_sql.mark_refunded(refund.out_trade_no))


def claim_pending(
    connection: sa.Connection, older_than: float, limit: int, now: float, lease: float
) -> list[Order]:
    """Claim up to ``limit`` unclaimed pending orders; the ones this call claimed."""
    candidates = list(connection.execute(_sql.pending_candidates(older_than, now, limit)).scalars())
    claimed = [
        no
        for no in candidates
        if connection.execute(_sql.claim(no, now, now + lease)).rowcount == 1
    ]
    if not claimed:
        return []
    rows = connection.execute(
        sa.select(*ORDER_COLUMNS)
        .where(ORDERS.c.out_trade_no.in_(claimed))
        .order_by(ORDERS.c.prepaid_at, ORDERS.c.out_trade_no)
    ).all()
    return [order_from_row(row) for row in rows]


def log_rejected(connection: sa.Connection, record: dict[str, Any], keep: int) -> None:
    """Insert a rejected notification and forget all but the newest ``keep``."""
    connection.execute(sa.insert(NOTIFICATIONS).values(record))
    threshold = connection.execute(_sql.rejected_threshold(keep)).scalar()
    if threshold is not None:
        connection.execute(_sql.prune_rejected(threshold))
