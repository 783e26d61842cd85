"""A host's own order store: wxpay-mw's hooks on the host's own tables, hand-written SQL.

Most shops should use the packaged store, :mod:`wxpay_mw.store` (SQLAlchemy; SQLite,
PostgreSQL, MySQL), as the example shops do. This is for a host whose orders already
live in its own tables: the same rules, written by hand, and it passes the conformance
kit (``wxpay_mw.testing``; tests/store/test_kit_own_store.py runs it on SQLite and
PostgreSQL), which is how a host checks its own hooks.

``OrderStore(url)`` keeps orders in SQLite (``sqlite:///path.db``, the default, stdlib
only) or PostgreSQL (``postgresql://...``, psycopg 3) and implements every hook except
``wxpay_create_order``, which belongs to the host's pricing: it builds the
:class:`~wxpay_mw.Order` and calls :meth:`OrderStore.add_order`.

The one thing to get right is the paid transition. WeChat delivers the same notification
again and again, sometimes to several workers at the same moment, and the order-status
path may confirm the same payment too. So the order becomes paid with ONE conditional
``UPDATE ... WHERE status='pending'``, and the paid reaction (a row in ``fulfilments``,
then your ``on_paid`` callback) runs only when that UPDATE changed a row, in the SAME
transaction. The database serialises the updates: exactly one wins. If anything raises,
the transaction rolls back, wxpay-mw answers FAIL, and WeChat retries later.

Every notification wxpay-mw hands over, verified or not, goes into ``notifications`` with
the answer it got, for audit and replay (its ``fields`` still carry WeChat's sign).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any
from urllib.parse import urlsplit

from wxpay_mw import Order, Payment, Refund, hookimpl

__all__ = ["OrderStore"]

# Portable SQL: '?' placeholders (rewritten for psycopg), ON CONFLICT (SQLite >= 3.24),
# times as epoch seconds. Only the identity column differs between the dialects: {id}.
SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    out_trade_no TEXT PRIMARY KEY, total_fee INTEGER NOT NULL CHECK (total_fee > 0),
    body TEXT NOT NULL, attach TEXT, time_expire TEXT, openid TEXT,
    status TEXT NOT NULL DEFAULT 'pending', prepay_id TEXT, prepay_expires_at DOUBLE PRECISION,
    sign_type TEXT, transaction_id TEXT, created_at DOUBLE PRECISION NOT NULL,
    prepaid_at DOUBLE PRECISION, paid_at DOUBLE PRECISION, closed_at DOUBLE PRECISION);
CREATE INDEX IF NOT EXISTS orders_pending ON orders (status, prepaid_at);
CREATE TABLE IF NOT EXISTS fulfilments (
    out_trade_no TEXT PRIMARY KEY REFERENCES orders (out_trade_no),
    transaction_id TEXT NOT NULL, fulfilled_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS refunds (
    out_refund_no TEXT PRIMARY KEY, out_trade_no TEXT NOT NULL, refund_id TEXT,
    refund_fee INTEGER NOT NULL, refund_status TEXT NOT NULL, updated_at DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS notifications (
    id {id}, received_at DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL,
    out_trade_no TEXT, reason TEXT, answer TEXT NOT NULL, fields TEXT NOT NULL)
"""
_KEYS = (
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
SELECT_ORDER = """SELECT out_trade_no, total_fee, body, attach, time_expire, openid, status,
    prepay_id, prepay_expires_at, sign_type, transaction_id FROM orders WHERE out_trade_no = ?"""
SELECT_PENDING = """SELECT out_trade_no, total_fee, body, attach, time_expire, openid, status,
    prepay_id, prepay_expires_at, sign_type, transaction_id FROM orders
    WHERE status = 'pending' AND prepay_id IS NOT NULL AND prepaid_at < ?
    ORDER BY prepaid_at LIMIT ?"""
INSERT_ORDER = """INSERT INTO orders (out_trade_no, total_fee, body, attach, time_expire, openid,
    status, prepay_id, prepay_expires_at, sign_type, transaction_id, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
# An upsert, so a host whose catalogue never called add_order still gets its row.
UPSERT_PREPAID = """INSERT INTO orders (out_trade_no, total_fee, body, attach, time_expire, openid,
    status, prepay_id, prepay_expires_at, sign_type, transaction_id, created_at, prepaid_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (out_trade_no) DO UPDATE SET prepay_id = excluded.prepay_id,
    openid = excluded.openid, prepay_expires_at = excluded.prepay_expires_at,
    sign_type = excluded.sign_type, prepaid_at = excluded.prepaid_at"""
# THE paid transition. 'closed' too: if WeChat verifiably took the money, our own close
# lost a race. Never 'paid' or 'refunded': that is what makes every duplicate a no-op.
MARK_PAID = """UPDATE orders SET status = 'paid', transaction_id = ?, paid_at = ?
    WHERE out_trade_no = ? AND status IN ('pending', 'closed')"""
INSERT_FULFILMENT = "INSERT INTO fulfilments VALUES (?, ?, ?)"
MARK_CLOSED = """UPDATE orders SET status = 'closed', closed_at = ?
    WHERE out_trade_no = ? AND status = 'pending'"""
UPSERT_REFUND = """INSERT INTO refunds VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (out_refund_no)
    DO UPDATE SET refund_status = excluded.refund_status, updated_at = excluded.updated_at"""
MARK_REFUNDED = """UPDATE orders SET status = 'refunded'
    WHERE out_trade_no = ? AND status = 'paid' AND total_fee <= (SELECT SUM(refund_fee)
    FROM refunds WHERE out_trade_no = ? AND refund_status = 'SUCCESS')"""
INSERT_LOG = """INSERT INTO notifications (received_at, kind, out_trade_no, reason, answer,
    fields) VALUES (?, ?, ?, ?, ?, ?)"""
# Keeps the newest ``?`` rejections; the subquery picks the first id past them.
PRUNE_REJECTED = """DELETE FROM notifications WHERE kind = 'rejected' AND id <= (
    SELECT id FROM (SELECT id FROM notifications WHERE kind = 'rejected'
                    ORDER BY id DESC LIMIT 1 OFFSET ?) AS oldest_kept)"""
#: The most JSON one rejected notification keeps; a larger one keeps its size and hash.
REJECTED_BYTES = 2048
SELECT_LOG = """SELECT received_at, kind, out_trade_no, reason, answer, fields
    FROM notifications ORDER BY id"""


class _SQLite:
    """A connection per call: sqlite3 connections must not cross threads, opening one is
    cheap, and it is exactly what separate worker processes have anyway."""

    placeholder, identity = "?", "INTEGER PRIMARY KEY"

    def __init__(self, path: str) -> None:
        self.path = path

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Any]:
        # isolation_level=None: we say BEGIN ourselves. timeout is SQLite's busy_timeout:
        # a writer waits for the lock instead of failing with "database is locked".
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as conn:
            # IMMEDIATE takes the write lock before the first read, so two writers never
            # both read and then deadlock upgrading; a plain BEGIN suffices for reads.
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def create_schema(self, script: str) -> None:
        with closing(sqlite3.connect(self.path, timeout=30)) as conn:
            # WAL: readers (order-status polls) never wait for a notification's write.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(script)


class _Postgres:
    """A connection per call keeps the example short; in production use psycopg_pool.
    READ COMMITTED is enough: a second UPDATE of the same row waits for the first to
    commit, then re-checks ``status`` and changes nothing."""

    placeholder, identity = "%s", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"

    def __init__(self, url: str) -> None:
        import psycopg  # only hosts on PostgreSQL need it installed

        self.psycopg, self.url = psycopg, url

    def connect(self) -> Any:
        return self.psycopg.connect(self.url)

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Any]:
        # psycopg's connection block commits on success, rolls back on error, and closes.
        with self.connect() as conn:
            yield conn

    def create_schema(self, script: str) -> None:
        with self.connect() as conn:
            # CREATE TABLE IF NOT EXISTS can race between processes starting together in
            # PostgreSQL; a transaction-scoped advisory lock serialises start-up.
            conn.execute("SELECT pg_advisory_xact_lock(7307114)")
            for statement in script.split(";"):
                conn.execute(statement)


class OrderStore:
    """Orders, payments, refunds and the notification log in one database.

    ``url``: ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or
    ``postgresql://user@host/db``. ``on_paid(order, payment)`` is your paid reaction
    (ship, credit, e-mail): it runs exactly once per order, inside the paid transaction,
    so if it raises nothing is marked paid and WeChat's retry tries again.
    """

    def __init__(
        self,
        url: str = "sqlite:///wxpay-orders.db",
        *,
        on_paid: Callable[[Order, Payment], None] | None = None,
        rejected_kept: int = 1000,
    ) -> None:
        #: Forged traffic is logged too, so the log of rejections is bounded: at most this
        #: many rows are kept (the newest), each at most REJECTED_BYTES of JSON.
        self.rejected_kept = rejected_kept
        scheme = urlsplit(url).scheme
        if scheme == "sqlite":
            self.db: _SQLite | _Postgres = _SQLite(url.removeprefix("sqlite:///"))
        elif scheme in ("postgresql", "postgres"):
            self.db = _Postgres(url)
        else:
            raise ValueError(f"database URL must start sqlite:/// or postgresql://, not {scheme!r}")
        self.on_paid = on_paid
        self.db.create_schema(SCHEMA.format(id=self.db.identity))

    def _run(self, conn: Any, sql: str, *params: Any) -> Any:
        return conn.execute(sql.replace("?", self.db.placeholder), params)

    def _log(self, conn: Any, kind: str, answer: str, fields: dict[str, str], **at: Any) -> None:
        record = json.dumps(fields, ensure_ascii=False)
        self._run(
            conn, INSERT_LOG, time.time(), kind, at.get("no"), at.get("reason"), answer, record
        )

    # -- the shop's side ------------------------------------------------------------------

    def add_order(self, order: Order) -> Order:
        """Store a new order (status pending) that the catalogue built; returns it."""
        with self.db.transaction() as conn:
            self._run(conn, INSERT_ORDER, *_values(order), time.time())
        return order

    def get(self, out_trade_no: str) -> Order | None:
        """The stored order, with its current status, or None."""
        with self.db.transaction(write=False) as conn:
            row = self._run(conn, SELECT_ORDER, out_trade_no).fetchone()
        return Order(**dict(zip(_KEYS, row, strict=True))) if row else None

    def fulfilments(self) -> list[tuple[str, str]]:
        """(out_trade_no, transaction_id) of every paid reaction, oldest first."""
        with self.db.transaction(write=False) as conn:
            sql = "SELECT out_trade_no, transaction_id FROM fulfilments ORDER BY fulfilled_at"
            return [(row[0], row[1]) for row in self._run(conn, sql).fetchall()]

    def notifications(self) -> list[dict[str, Any]]:
        """The notification log, oldest first: kind, reason, answer and WeChat's fields."""
        keys = ("received_at", "kind", "out_trade_no", "reason", "answer", "fields")
        with self.db.transaction(write=False) as conn:
            rows = self._run(conn, SELECT_LOG)
            return [{**dict(zip(keys, r, strict=True)), "fields": json.loads(r[5])} for r in rows]

    # -- wxpay-mw hooks -------------------------------------------------------------------

    @hookimpl
    def wxpay_load_order(self, out_trade_no: str) -> Order | None:
        """wxpay-mw checks every notification's amount against the order stored here."""
        return self.get(out_trade_no)

    @hookimpl
    def wxpay_order_prepaid(self, order: Order, prepay_id: str) -> None:
        """Keep the prepay_id (valid 2 h), so a repeated prepay reuses it, and the sign type,
        since WeChat's HMAC-SHA256 notifications do not say which type they use."""
        now = time.time()
        with self.db.transaction() as conn:
            self._run(conn, UPSERT_PREPAID, *_values(order, prepay_id), now, now)

    @hookimpl
    def wxpay_order_paid(self, order: Order, payment: Payment) -> None:
        """The paid transition: one conditional UPDATE, and the reaction only if it won."""
        no = payment.out_trade_no
        with self.db.transaction() as conn:
            self._log(conn, "paid", "SUCCESS", payment.fields, no=no, reason=payment.source)
            won = self._run(conn, MARK_PAID, payment.transaction_id, time.time(), no).rowcount
            if won != 1:
                return  # a duplicate of a delivery that already won: just answer SUCCESS
            # fulfilments' primary key is a second guard: a bug here fails loudly (rollback,
            # FAIL, WeChat retries) instead of fulfilling twice.
            self._run(conn, INSERT_FULFILMENT, no, payment.transaction_id, time.time())
            if self.on_paid is not None:
                self.on_paid(order, payment)

    @hookimpl
    def wxpay_payment_failed(self, order: Order, fields: dict[str, str]) -> None:
        """Only logged: the order stays pending, and the user may pay again."""
        with self.db.transaction() as conn:
            reason = fields.get("err_code")
            self._log(conn, "failed", "SUCCESS", fields, no=order.out_trade_no, reason=reason)

    @hookimpl
    def wxpay_notify_rejected(self, reason: str, fields: dict[str, str]) -> None:
        """Forged or broken notifications, kept as evidence: alert on these in production."""
        no = fields.get("out_trade_no")
        record = json.dumps(fields, ensure_ascii=False)
        if len(record.encode()) > REJECTED_BYTES:
            # Anyone can post to the notify URL: keep the evidence, not the payload.
            digest = hashlib.sha256(record.encode()).hexdigest()
            fields = {"truncated": f"{len(record.encode())} bytes", "sha256": digest}
        with self.db.transaction() as conn:
            self._log(conn, "rejected", "FAIL", fields, no=no and no[:64], reason=reason)
            self._run(conn, PRUNE_REJECTED, self.rejected_kept)

    @hookimpl
    def wxpay_order_closed(self, order: Order, fields: dict[str, str]) -> None:
        """WeChat says the order can no longer be paid (expired or closed)."""
        with self.db.transaction() as conn:
            self._run(conn, MARK_CLOSED, time.time(), order.out_trade_no)

    @hookimpl
    def wxpay_refund_notified(self, refund: Refund) -> None:
        """Idempotent on out_refund_no; refunds adding up to the total mark it refunded."""
        no, status = refund.out_trade_no, refund.refund_status
        with self.db.transaction() as conn:
            self._log(conn, "refund", "SUCCESS", refund.fields, no=no, reason=status)
            self._run(
                conn,
                UPSERT_REFUND,
                refund.out_refund_no,
                no,
                refund.refund_id,
                refund.refund_fee,
                status,
                time.time(),
            )
            if status == "SUCCESS":
                self._run(conn, MARK_REFUNDED, no, no)

    @hookimpl
    def wxpay_pending_orders(self, older_than: float, limit: int) -> list[Order]:
        """Orders placed with WeChat whose notification never came: for reconciliation."""
        with self.db.transaction(write=False) as conn:
            rows = self._run(conn, SELECT_PENDING, older_than, limit).fetchall()
        return [Order(**dict(zip(_KEYS, row, strict=True))) for row in rows]


def _values(order: Order, prepay_id: str | None = None) -> tuple[Any, ...]:
    values = {key: getattr(order, key) for key in _KEYS}
    if prepay_id is not None:
        values["prepay_id"] = prepay_id
    return tuple(values[key] for key in _KEYS)
