"""The conformance kit (wxpay_mw.testing) against an async host: AsyncOrderStore and an
``async def`` shop on SQLite, PostgreSQL and MariaDB, driven through WxPay.ahandle, and a
broken async store that the kit must catch."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import pytest

from wxpay_mw import Order, hookimpl
from wxpay_mw.errors import SetupError
from wxpay_mw.simulator import Simulator
from wxpay_mw.store import AsyncOrderStore
from wxpay_mw.testing import (
    Host,
    Probe,
    StoreConformance,
    check_closed_order,
    check_crash_mid_transaction,
    check_duplicates_in_processes,
    check_duplicates_in_threads,
    check_pay_again,
    check_reconciliation,
)

from ._async_shop import AsyncShop, async_host_for, broken_async_plugins
from ._shop import host_for, payload, shipments


class TestAsyncStore(StoreConformance):
    """Every check of the kit, on each database, through the async flow."""

    @pytest.fixture
    def host(self, store_url: str) -> Host:
        return async_host_for(store_url)


@pytest.mark.parametrize("check", [check_duplicates_in_threads, check_reconciliation])
def test_the_async_fulfilment_commits_once(
    store_url: str, wxpay_simulator: Simulator, check: Any
) -> None:
    # The probe counts reactions; the shop's table shows that exactly one committed.
    check(async_host_for(store_url), wxpay_simulator)
    rows = shipments(store_url)
    assert len(rows) == 1 and rows[0][1].startswith("4200")


@pytest.mark.parametrize(
    "check",
    [
        check_duplicates_in_threads,
        check_duplicates_in_processes,
        check_crash_mid_transaction,
        check_closed_order,
    ],
)
def test_an_async_store_without_the_conditional_update_fails_the_kit(
    tmp_path: Any, wxpay_simulator: Simulator, check: Any
) -> None:
    url = f"sqlite:///{tmp_path}/broken.db"
    host_for(url)  # the tables
    broken = Host(plugins=partial(broken_async_plugins, url), payload=payload)
    with pytest.raises(AssertionError, match=r"the paid reaction ran ([2-9]|\d\d) times"):
        check(broken, wxpay_simulator)


def test_a_host_declared_synchronous_with_async_hooks_is_refused(
    tmp_path: Any, wxpay_simulator: Simulator
) -> None:
    url = f"sqlite:///{tmp_path}/kit.db"
    declared = Host(plugins=async_host_for(url).plugins, payload=payload, asynchronous=False)
    with pytest.raises(SetupError, match=r"wxpay_\w+ is 'async def'.*asynchronous=False"):
        check_pay_again(declared, wxpay_simulator)


def test_a_synchronous_host_declared_async_is_driven_through_ahandle(
    tmp_path: Any, wxpay_simulator: Simulator
) -> None:
    # Plain hooks under an async server: ahandle runs them in worker threads.
    url = f"sqlite:///{tmp_path}/kit.db"
    declared = Host(plugins=host_for(url).plugins, payload=payload, asynchronous=True)
    check_duplicates_in_threads(declared, wxpay_simulator)
    check_duplicates_in_processes(declared, wxpay_simulator)
    assert len(shipments(url)) == 2


class CountingStore(AsyncOrderStore):
    """Counts the wxpay_load_order calls in flight at once (the first hook a
    notification reaches)."""

    in_flight = 0
    most = 0

    @hookimpl
    async def wxpay_load_order(self, out_trade_no: str) -> Order | None:
        CountingStore.in_flight += 1
        CountingStore.most = max(CountingStore.most, CountingStore.in_flight)
        try:
            await asyncio.sleep(0)  # let every other task that was started get here
            return await self.get(out_trade_no)
        finally:
            CountingStore.in_flight -= 1


def counting_plugins(url: str, probe: Probe) -> list[object]:
    return [CountingStore(url), AsyncShop(probe)]


def test_the_async_storm_has_every_notification_in_flight_at_once(
    tmp_path: Any, wxpay_simulator: Simulator
) -> None:
    url = f"sqlite:///{tmp_path}/kit.db"
    host_for(url)
    counting = Host(plugins=partial(counting_plugins, url), payload=payload)
    CountingStore.most = 0
    check_duplicates_in_threads(counting, wxpay_simulator, threads=16)
    # Prepay and the final reads come one at a time; the storm all at once.
    assert CountingStore.most == 16
