"""The conformance kit against a host's own store (examples/store.py, hand-written SQL on
SQLite and PostgreSQL), as a host with its own tables runs it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pg import pg_schema_url
from wxpay_mw.testing import Host, StoreConformance

from ._own_store import own_host


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def own_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/own.db"
        return
    with pg_schema_url("kit_own") as url:
        yield url


class TestOwnStore(StoreConformance):
    """Every check of the kit, on the example of a host's own store."""

    @pytest.fixture
    def host(self, own_url: str) -> Host:
        return own_host(own_url)
