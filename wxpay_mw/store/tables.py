"""The packaged store's tables: one MetaData, every table, and the schema's version.

All names start with ``wxpay_`` so the tables live beside the host's own in one database
(the host's fulfilment writes its rows in the same transaction as the paid transition).
Times are epoch seconds in a DOUBLE, as in :class:`~wxpay_mw.models.Order`; amounts are
integer fen. No foreign keys: a refund made in the merchant platform for an order this
store never saw must still be recorded.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa

__all__ = [
    "NOTIFICATIONS",
    "ORDERS",
    "REFUNDS",
    "SCHEMA_VERSION",
    "SCHEMA_VERSION_TABLE",
    "metadata",
]

#: The version :func:`wxpay_mw.store.upgrade` brings a database to.
SCHEMA_VERSION: Final = 1

metadata = sa.MetaData()

# MySQL/MariaDB: utf8mb4, so an order body in Chinese (or an emoji) is stored as sent.
_MYSQL: Final[dict[str, Any]] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}
# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere a 64-bit id.
_ID: Final = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SCHEMA_VERSION_TABLE = sa.Table(
    "wxpay_schema_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("upgraded_at", sa.Double, nullable=False),
    **_MYSQL,
)

ORDERS = sa.Table(
    "wxpay_orders",
    metadata,
    sa.Column("out_trade_no", sa.String(32), primary_key=True),
    sa.Column("total_fee", sa.BigInteger, nullable=False),
    sa.Column("body", sa.String(128), nullable=False),
    sa.Column("attach", sa.String(127)),
    sa.Column("time_expire", sa.String(14)),
    sa.Column("openid", sa.String(128)),
    # pending -> paid -> refunded, or pending -> closed (-> paid, if WeChat says so).
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("prepay_id", sa.String(64)),
    sa.Column("prepay_expires_at", sa.Double),
    sa.Column("sign_type", sa.String(16)),
    sa.Column("transaction_id", sa.String(32)),
    # Other unifiedorder parameters (Order.extra), as a JSON object.
    sa.Column("extra", sa.Text, nullable=False, server_default="{}"),
    # Fen promised to refunds not refused: requested, processing or succeeded. A refund
    # is accepted only by a conditional update that keeps this <= total_fee.
    sa.Column("refunded_fee", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("prepaid_at", sa.Double),
    sa.Column("paid_at", sa.Double),
    sa.Column("closed_at", sa.Double),
    # Reconciliation's lease: a machine that claimed the order asks WeChat about it; no
    # other machine does until this time has passed.
    sa.Column("claimed_until", sa.Double),
    sa.CheckConstraint("total_fee > 0", name="wxpay_orders_total_fee_positive"),
    sa.Index("wxpay_orders_pending", "status", "prepaid_at"),
    **_MYSQL,
)

REFUNDS = sa.Table(
    "wxpay_refunds",
    metadata,
    sa.Column("out_refund_no", sa.String(64), primary_key=True),
    sa.Column("out_trade_no", sa.String(32), nullable=False),
    sa.Column("refund_fee", sa.BigInteger, nullable=False),
    sa.Column("total_fee", sa.BigInteger, nullable=False),
    # REQUESTED (asked, outcome unknown), PROCESSING, SUCCESS, CHANGE, REFUNDCLOSE, or
    # FAILED (WeChat refused it; its fen were given back to the order).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("refund_id", sa.String(64)),
    sa.Column("reason", sa.String(80)),
    sa.Column("err_code", sa.String(64)),
    sa.Column("success_time", sa.String(32)),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Index("wxpay_refunds_order", "out_trade_no"),
    **_MYSQL,
)

NOTIFICATIONS = sa.Table(
    "wxpay_notifications",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    # payment, payment_failed, refund (accepted) or rejected.
    sa.Column("kind", sa.String(16), nullable=False),
    # Accepted ones: the out_trade_no (out_refund_no for refunds); every delivery of the
    # same notification updates one row. NULL for rejected ones (a row each, capped).
    sa.Column("ref", sa.String(64)),
    sa.Column("out_trade_no", sa.String(64)),
    sa.Column("reason", sa.String(32)),
    sa.Column("answer", sa.String(8), nullable=False),
    # The fields as JSON, cut to the store's cap for rejected ones (see ``truncated``).
    sa.Column("fields", sa.Text, nullable=False),
    sa.Column("truncated", sa.Boolean, nullable=False, server_default=sa.false()),
    # sha256 of the whole JSON, and its length: a cut body is still identified.
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("deliveries", sa.Integer, nullable=False, server_default="1"),
    sa.Column("first_received_at", sa.Double, nullable=False),
    sa.Column("last_received_at", sa.Double, nullable=False),
    sa.UniqueConstraint("kind", "ref", name="wxpay_notifications_once"),
    sa.Index("wxpay_notifications_kind", "kind", "id"),
    **_MYSQL,
)
