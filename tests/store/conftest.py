"""Real databases for the reference store: a fresh SQLite file, a fresh PostgreSQL schema.

PostgreSQL comes from WXPAY_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/test).
Each test gets its own schema, dropped afterwards, so parallel runs never collide. With no
PostgreSQL answering, those tests skip, unless CI is set: then they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.mysql import mysql_database_url
from tests.support.pg import pg_schema_url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose search_path is a brand-new schema, dropped after the test."""
    with pg_schema_url("wxpay_store") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/orders.db"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A URL of a brand-new MariaDB/MySQL database, dropped after the test."""
    with mysql_database_url("wxt") as url:
        yield url


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """The packaged store's database: SQLite, PostgreSQL and MariaDB in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/wxpay.db"
    fixture = {"postgresql": "pg_url", "mysql": "mysql_url"}[request.param]
    url: str = request.getfixturevalue(fixture)
    return url
