"""The same host plugins, unchanged, under v2 and v3: the test store and the packaged
OrderStore (SQLite) with a shop's fulfilment, paid and refunded through a real server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store._shop import Shop, shipments, shop_metadata
from tests.support import MemoryStore
from wxpay_mw import WxPayConfig
from wxpay_mw.simulator import Simulator
from wxpay_mw.store import OrderStore

from .conftest import PREFIX, hosted, v3_config


@contextlib.contextmanager
def _simulator(api: str) -> Iterator[Simulator]:
    with Simulator(api=api, time_factor=0.001) as simulator:
        yield simulator


def _config(sim: Simulator, api: str, base: str) -> WxPayConfig:
    if api == "v3":
        return v3_config(sim, base)
    return sim.config(
        notify_url=f"{base}{PREFIX}/notify", refund_notify_url=f"{base}{PREFIX}/refund-notify"
    )


def _pay_and_refund(sim: Simulator, api: str, plugins: tuple[object, ...]) -> tuple[str, str]:
    """Prepay, pay, refund 100 fen; (out_trade_no, the paySign's signType)."""
    with hosted(sim, "wsgi-middleware", plugins, lambda base: _config(sim, api, base)) as host:
        data = (
            host.prepay(sim, sku="tea")
            if isinstance(plugins[-1], Shop)
            else host.prepay(sim, sku="melon")
        )
        sim.pay({k: v for k, v in data.items() if k not in ("out_trade_no", "status_token")})
        sim.wait_for_notifications(1)
        no = str(data["out_trade_no"])
        host.wxpay.refund(no, 100)
        sim.wait_for_notifications(
            lambda log: any(n["kind"] == "refund" and n["acknowledged"] for n in log)
        )
        return no, str(data["signType"])


@pytest.mark.parametrize("api", ["v2", "v3"])
def test_the_test_store_works_unchanged(api: str) -> None:
    store = MemoryStore()
    with _simulator(api) as sim:
        no, sign_type = _pay_and_refund(sim, api, (store,))
    assert sign_type == ("RSA" if api == "v3" else "MD5")
    order = store.get(no)
    assert order is not None and order.status in ("paid", "refunded")
    assert store.paid_reactions == [no]
    assert [(r.refund_fee, r.total_fee, r.refund_status) for r in store.refunds] == [
        (100, 1999, "SUCCESS")
    ]


@pytest.mark.parametrize("api", ["v2", "v3"])
def test_the_packaged_store_works_unchanged(api: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    store = OrderStore(url).create_all()
    shop_metadata.create_all(store.engine)
    shop = Shop()
    try:
        with _simulator(api) as sim:
            no, _ = _pay_and_refund(sim, api, (store, shop))
        order = store.get(no)
        assert order is not None and order.transaction_id
        assert shop.fulfilled == [no]
        assert shipments(url) == [(no, order.transaction_id)]
        (refund,) = store.refunds(no)
        assert (refund.refund_fee, refund.total_fee, refund.refund_status) == (
            100,
            1280,
            "SUCCESS",
        )
    finally:
        store.dispose()
