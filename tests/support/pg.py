"""PostgreSQL for the tests: the server at WXPAY_TEST_PG_URL, one fresh schema per use.

Where no PostgreSQL answers, the tests that need one skip with a reason saying how to
point them at one; under CI (``CI`` set) they fail instead, since CI's machine has one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_URL = os.environ.get("WXPAY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pg_or_skip() -> None:
    """Skip (fail under CI) when no PostgreSQL answers at WXPAY_TEST_PG_URL."""
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


@contextmanager
def pg_schema_url(prefix: str) -> Iterator[str]:
    """A URL whose search_path is a brand-new schema, dropped afterwards."""
    import psycopg

    pg_or_skip()
    schema = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
