"""Engines and the schema: ``make_engine(url)`` and ``upgrade(engine)``.

The schema is versioned by a one-row table, ``wxpay_schema_version``, not by Alembic:
wxpay-mw owns four tables, and a host that runs Alembic for its own tables would
otherwise have two migration histories fighting over ``alembic_version``. Each new
version adds one step to ``_STEPS``; ``upgrade`` runs the missing ones in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import event

from .tables import SCHEMA_VERSION, SCHEMA_VERSION_TABLE, metadata

__all__ = [
    "SchemaError",
    "current_version",
    "engine_url",
    "make_engine",
    "sqlite_setup",
    "upgrade",
    "upgrade_connection",
]

#: How long a SQLite writer waits for another's lock before "database is locked" (s).
SQLITE_BUSY_SECONDS: Final = 30


class SchemaError(RuntimeError):
    """The database's schema is not one this wxpay-mw can use; the message says why."""


def engine_url(url: str | sa.URL, *, asynchronous: bool = False) -> tuple[sa.URL, dict[str, Any]]:
    """The driver-qualified URL and engine options for ``url`` (see :func:`make_engine`)."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise ValueError(
            f"unsupported database {backend!r}: use sqlite:///file.db, "
            "postgresql+psycopg://user@host/db or mysql+pymysql://user@host/db"
        )
    options: dict[str, Any] = {"pool_pre_ping": backend != "sqlite"}
    # The drivers wxpay-mw's extras install, unless the URL names another.
    drivers = {
        "sqlite": "aiosqlite" if asynchronous else "pysqlite",
        "postgresql": "psycopg",
        "mysql": "aiomysql" if asynchronous else "pymysql",
        "mariadb": "aiomysql" if asynchronous else "pymysql",
    }
    # A URL naming the synchronous driver works for both stores: the async one swaps it.
    named = "+" in parsed.drivername
    swap = parsed.drivername in (f"{backend}+pymysql", "sqlite+pysqlite")
    if (asynchronous and (swap or not named)) or (not named and backend != "sqlite"):
        parsed = parsed.set(drivername=f"{backend}+{drivers[backend]}")
    if backend in ("mysql", "mariadb"):
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        options["isolation_level"] = "READ COMMITTED"
    return parsed, options


def make_engine(url: str | sa.URL, **options: Any) -> sa.Engine:
    """An Engine for ``url``, set up for the paid transition's concurrency rules.

    - SQLite: WAL (readers never wait for a writer), a busy timeout, and ``BEGIN
      IMMEDIATE`` for the store's write transactions, so two writers queue for the lock
      instead of failing when one upgrades a read to a write.
    - MySQL/MariaDB: READ COMMITTED, so an update that matched no row holds no lock
      until commit (InnoDB's REPEATABLE READ would), and utf8mb4.
    - PostgreSQL: the default READ COMMITTED; psycopg 3 for ``postgresql://`` URLs.
    """
    parsed, defaults = engine_url(url)
    engine = sa.create_engine(parsed, **{**defaults, **options})
    if parsed.get_backend_name() == "sqlite":
        sqlite_setup(engine)
    return engine


def sqlite_setup(engine: sa.Engine) -> None:
    """WAL, a busy timeout and our own BEGIN (IMMEDIATE for writes) on a SQLite engine."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Turn off the sqlite3 module's own BEGIN handling: the "begin" event below
        # says BEGIN itself, so SAVEPOINTs and IMMEDIATE work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get("wxpay_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def current_version(connection: sa.Connection) -> int:
    """The schema version recorded in the database; 0 when wxpay-mw never created it."""
    if not sa.inspect(connection).has_table(SCHEMA_VERSION_TABLE.name):
        return 0
    version = connection.execute(sa.select(SCHEMA_VERSION_TABLE.c.version)).scalar()
    return int(version or 0)


def _create_v1(connection: sa.Connection) -> None:
    metadata.create_all(connection, checkfirst=True)


# version -> the step that brings the schema from version - 1 to version.
_STEPS: Final[dict[int, Callable[[sa.Connection], None]]] = {1: _create_v1}


def upgrade(engine: sa.Engine) -> tuple[int, int]:
    """Create or upgrade the tables to :data:`SCHEMA_VERSION`; (version before, after).

    Safe to run from several machines at once: a database lock serialises them (an
    advisory lock on PostgreSQL, GET_LOCK on MySQL, the write lock on SQLite).
    """
    with engine.execution_options(wxpay_write=True).begin() as connection:
        return upgrade_connection(connection)


def upgrade_connection(connection: sa.Connection) -> tuple[int, int]:
    """:func:`upgrade` inside a transaction the caller began (the async store's way)."""
    backend = connection.dialect.name
    if backend == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(7307114)"))
    elif backend in ("mysql", "mariadb"):
        # DDL commits on its own in MySQL: a named lock, not the transaction, guards it.
        connection.execute(sa.text("SELECT GET_LOCK('wxpay_mw_schema', 60)"))
    try:
        before = current_version(connection)
        if before > SCHEMA_VERSION:
            raise SchemaError(
                f"the database is at wxpay-mw schema {before}, newer than this "
                f"wxpay-mw's {SCHEMA_VERSION}: upgrade the wxpay-mw package"
            )
        for version in range(before + 1, SCHEMA_VERSION + 1):
            _STEPS[version](connection)
        table = SCHEMA_VERSION_TABLE
        values = {"version": SCHEMA_VERSION, "upgraded_at": time.time()}
        if before == 0:
            connection.execute(sa.insert(table).values(id=1, **values))
        elif before < SCHEMA_VERSION:
            connection.execute(sa.update(table).where(table.c.id == 1).values(**values))
    finally:
        if backend in ("mysql", "mariadb"):
            connection.execute(sa.text("SELECT RELEASE_LOCK('wxpay_mw_schema')"))
    return before, SCHEMA_VERSION
