"""docs/store.md: its examples run as written, and the kit example really checks a host."""

from __future__ import annotations

from typing import Any

from tests.docs.snippets import ROOT, python_blocks, run_blocks
from wxpay_mw import Order, Payment
from wxpay_mw.simulator import Simulator
from wxpay_mw.store import OrderStore
from wxpay_mw.testing import check_duplicates_in_threads, check_pay_again

BLOCKS = python_blocks((ROOT / "docs" / "store.md").read_text("utf-8"))


def test_the_fulfilment_example_writes_through_the_paid_transaction(tmp_path: Any) -> None:
    namespace = run_blocks([BLOCKS[0]], "docs/store.md")
    store = OrderStore(f"sqlite:///{tmp_path / 'shop.db'}").create_all()
    namespace["shipments"].create(store.engine)
    order = Order(out_trade_no="S1", total_fee=100, body="shop-tea")
    paid = Payment(
        out_trade_no="S1",
        transaction_id="4200S1",
        total_fee=100,
        openid="o",
        time_end="20240101120000",
    )
    with store.engine.begin() as connection:
        namespace["Shop"]().wxpay_fulfil_order(order, paid, connection)
        assert connection.execute(namespace["shipments"].select()).fetchall() == [("S1",)]
    store.dispose()


def test_the_kit_example_checks_a_hosts_own_store(
    wxpay_env: None, wxpay_simulator: Simulator
) -> None:
    namespace = run_blocks([BLOCKS[1]], "docs/store.md")
    # The page's fixture function itself (a pytest fixture keeps it as __wrapped__).
    test_class = namespace["TestMyStore"]
    host = test_class.host.__wrapped__(test_class())
    check_duplicates_in_threads(host, wxpay_simulator)
    check_pay_again(host, wxpay_simulator)
