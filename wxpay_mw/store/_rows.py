"""Rows to values and back: orders, refunds and notification-log records.

Pure functions, shared by the synchronous and the async store, so both write exactly
the same rows.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any, Final

import sqlalchemy as sa

from ..models import Order, Refund
from .tables import NOTIFICATIONS, ORDERS

__all__ = [
    "FINAL_REFUND_STATES",
    "ORDER_COLUMNS",
    "PAYABLE",
    "RELEASED_REFUND_STATES",
    "accepted_record",
    "notification_from_row",
    "order_from_row",
    "order_values",
    "refund_from_row",
    "rejected_record",
    "upsert_accepted",
]

#: The statuses the paid transition starts from. 'closed' too: if WeChat verifiably took
#: the money, our own close lost a race. Never 'paid' or 'refunded': that is what makes
#: every duplicate a no-op.
PAYABLE: Final = ("pending", "closed")
#: Refund states that never change again.
FINAL_REFUND_STATES: Final = ("SUCCESS", "REFUNDCLOSE", "FAILED")
#: Refund states whose fen go back to the order (its refundable amount grows again).
RELEASED_REFUND_STATES: Final = ("REFUNDCLOSE", "FAILED")

_ORDER_KEYS: Final = (
    "out_trade_no",
    "total_fee",
    "body",
    "attach",
    "time_expire",
    "openid",
    "status",
    "prepay_id",
    "prepay_expires_at",
    "sign_type",
    "transaction_id",
)
ORDER_COLUMNS: Final = (*(ORDERS.c[key] for key in _ORDER_KEYS), ORDERS.c.extra)


def order_values(order: Order) -> dict[str, Any]:
    """The columns of a new row for ``order``."""
    values = {key: getattr(order, key) for key in _ORDER_KEYS}
    values["extra"] = json.dumps(order.extra, ensure_ascii=False, sort_keys=True)
    values["created_at"] = time.time()
    return values


def order_from_row(row: Any) -> Order:
    """The :class:`Order` of a row selected with :data:`ORDER_COLUMNS`."""
    mapping = row._mapping if isinstance(row, sa.Row) else row
    data = {key: mapping[key] for key in _ORDER_KEYS}
    data["total_fee"] = int(data["total_fee"])
    return Order(**data, extra=json.loads(mapping["extra"] or "{}"))


def refund_from_row(row: Any) -> Refund:
    """The :class:`Refund` of a ``wxpay_refunds`` row."""
    data = row._mapping
    return Refund(
        out_trade_no=data["out_trade_no"],
        out_refund_no=data["out_refund_no"],
        refund_id=data["refund_id"] or "",
        refund_fee=int(data["refund_fee"]),
        total_fee=int(data["total_fee"]),
        refund_status=data["status"],
        success_time=data["success_time"],
    )


def _dump(fields: Mapping[str, str]) -> str:
    return json.dumps(dict(fields), ensure_ascii=False, sort_keys=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def accepted_record(
    kind: str, ref: str, reason: str | None, fields: Mapping[str, str]
) -> dict[str, Any]:
    """The row for a verified notification (one per ``(kind, ref)``; repeats update it)."""
    text = _dump(fields)
    now = time.time()
    return {
        "kind": kind,
        "ref": ref,
        "out_trade_no": str(fields.get("out_trade_no", ""))[:64] or None,
        "reason": (reason or "")[:32] or None,
        "answer": "SUCCESS",
        "fields": text,
        "truncated": False,
        "digest": _digest(text),
        "size": len(text),
        "deliveries": 1,
        "first_received_at": now,
        "last_received_at": now,
    }


def rejected_record(reason: str, fields: Mapping[str, str], max_bytes: int) -> dict[str, Any]:
    """The row for a rejected notification: its JSON cut to ``max_bytes``, with a digest.

    What a forger sends is stored, but never more than ``max_bytes`` of it per row.
    """
    text = _dump(fields)
    encoded = text.encode("utf-8")
    cut = len(encoded) > max_bytes
    stored = encoded[:max_bytes].decode("utf-8", "ignore") if cut else text
    now = time.time()
    return {
        "kind": "rejected",
        "ref": None,
        "out_trade_no": str(fields.get("out_trade_no", ""))[:64] or None,
        "reason": reason[:32],
        "answer": "FAIL",
        "fields": stored,
        "truncated": cut,
        "digest": _digest(text),
        "size": len(encoded),
        "deliveries": 1,
        "first_received_at": now,
        "last_received_at": now,
    }


def notification_from_row(row: Any) -> dict[str, Any]:
    """A notification-log row as a dict; ``fields`` parsed unless it was cut."""
    data = dict(row._mapping)
    if not data["truncated"]:
        data["fields"] = json.loads(data["fields"])
    data["truncated"] = bool(data["truncated"])
    return data


def upsert_accepted(dialect: str, record: dict[str, Any]) -> Any:
    """INSERT the record, or count one more delivery of the same ``(kind, ref)``."""
    table = NOTIFICATIONS
    changes = {
        "deliveries": table.c.deliveries + 1,
        "last_received_at": record["last_received_at"],
        "reason": record["reason"],
        "fields": record["fields"],
        "digest": record["digest"],
        "size": record["size"],
    }
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects import mysql

        return mysql.insert(table).values(record).on_duplicate_key_update(**changes)
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(table).values(record)
        return pg.on_conflict_do_update(index_elements=["kind", "ref"], set_=changes)
    from sqlalchemy.dialects import sqlite

    lite = sqlite.insert(table).values(record)
    return lite.on_conflict_do_update(index_elements=["kind", "ref"], set_=changes)
