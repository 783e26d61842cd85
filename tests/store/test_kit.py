"""The conformance kit (wxpay_mw.testing) against the packaged store on SQLite,
PostgreSQL and MariaDB, and against a broken store that it must catch."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa

from wxpay_mw import Payment, hookimpl
from wxpay_mw.simulator import Simulator
from wxpay_mw.store import OrderStore
from wxpay_mw.store.tables import ORDERS
from wxpay_mw.testing import (
    CHECKS,
    Host,
    Probe,
    StoreConformance,
    check_closed_order,
    check_crash_mid_transaction,
    check_duplicates_in_threads,
    check_reconciliation,
)

from ._shop import Shop, host_for, payload, shipments


class TestPackagedStore(StoreConformance):
    """Every check of the kit, on each database."""

    @pytest.fixture
    def host(self, store_url: str) -> Host:
        return host_for(store_url)


def test_the_kit_has_every_check_as_a_test() -> None:
    names = {check.__name__.removeprefix("check_") for check in CHECKS}
    tests = {name.removeprefix("test_") for name in vars(StoreConformance) if name[:5] == "test_"}
    assert names == tests and len(names) == 7


def test_fulfilment_rows_commit_with_the_payment(
    store_url: str, wxpay_simulator: Simulator
) -> None:
    # The kit's probe sees reactions; the shop's own table shows what committed.
    host = host_for(store_url)
    check_reconciliation(host, wxpay_simulator)
    rows = shipments(store_url)
    assert len(rows) == 1 and rows[0][1].startswith("4200")


class BrokenStore(OrderStore):
    """What the kit exists to catch: the paid update without its condition."""

    @hookimpl
    def wxpay_order_paid(self, order: Any, payment: Payment) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.update(ORDERS)
                .where(ORDERS.c.out_trade_no == payment.out_trade_no)
                .values(status="paid", transaction_id=payment.transaction_id)
            )
            self._hook.wxpay_fulfil_order(order=order, payment=payment, connection=connection)


def broken_plugins(url: str, probe: Probe) -> list[object]:
    # No unique shipment row either: nothing but the store stands between a duplicate
    # and a second reaction.
    return [BrokenStore(url), Shop(probe, ship=False)]


@pytest.mark.parametrize(
    "check", [check_duplicates_in_threads, check_crash_mid_transaction, check_closed_order]
)
def test_a_store_without_the_conditional_update_fails_the_kit(
    tmp_path: Any, wxpay_simulator: Simulator, check: Any
) -> None:
    url = f"sqlite:///{tmp_path}/broken.db"
    host_for(url)  # the tables
    broken = Host(plugins=partial(broken_plugins, url), payload=payload)
    with pytest.raises(AssertionError, match=r"the paid reaction ran ([2-9]|\d\d) times"):
        check(broken, wxpay_simulator)
