"""MySQL/MariaDB for the tests: the server at WXPAY_TEST_MYSQL_URL, a fresh database per use.

Each use creates ``wxt_<random>`` (as a user allowed to, root by default) and drops it
afterwards, so parallel runs never collide. Where no server answers, the tests that need
one skip with a reason saying how to point them at one; under CI (``CI`` set) they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

MYSQL_URL = os.environ.get("WXPAY_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def _connect(database: str | None = None) -> Any:
    import pymysql
    from sqlalchemy import make_url

    url = make_url(MYSQL_URL)
    return pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=database,
        connect_timeout=3,
        autocommit=True,
    )


def mysql_or_skip() -> None:
    """Skip (fail under CI) when no MySQL/MariaDB answers at WXPAY_TEST_MYSQL_URL."""
    import pymysql

    try:
        _connect().close()
    except pymysql.err.MySQLError as exc:
        message = (
            f"no MySQL/MariaDB at {MYSQL_URL} ({exc}); set "
            "WXPAY_TEST_MYSQL_URL=mysql+pymysql://user:password@host:port/db (a user "
            "allowed to CREATE DATABASE) to point these tests at one"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def mysql_database_url(prefix: str = "wxt") -> Iterator[str]:
    """A URL of a brand-new database (utf8mb4), dropped afterwards."""
    from sqlalchemy import make_url

    mysql_or_skip()
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with _connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        yield make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with _connect() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
