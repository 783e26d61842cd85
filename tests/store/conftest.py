"""Real databases for the reference store: a fresh SQLite file, a fresh PostgreSQL schema.

PostgreSQL comes from WXPAY_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/test).
Each test gets its own schema, dropped afterwards, so parallel runs never collide. With no
PostgreSQL answering, those tests skip, unless CI is set: then they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

PG_URL = os.environ.get("WXPAY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_or_skip() -> None:
    import psycopg

    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        message = (
            f"no PostgreSQL at {PG_URL} ({str(exc).strip().splitlines()[0]}); set "
            "WXPAY_TEST_PG_URL=postgresql://user@host:port/db to point these tests at one"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose search_path is a brand-new schema, dropped after the test."""
    import psycopg

    _pg_or_skip()
    schema = f"wxpay_store_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/orders.db"
    url: str = request.getfixturevalue("pg_url")
    return url
