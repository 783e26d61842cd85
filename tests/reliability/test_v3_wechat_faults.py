"""A failing WeChat in API v3: prepay answers a clear error, keeps the order retryable,
and recovers; an answer whose signature does not verify is never trusted.

As test_wechat_faults.py for v2, with the host configured as a v3 merchant (no v2 key)
and the simulator's faults on ``/v3/pay/transactions/jsapi`` and the order query. When
WeChat acted on the failed call, the retry places the same JSAPI order again, and WeChat
answers the prepay_id it already issued: a second order is never placed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from wxpay_mw.adapters.asgi import WxPayMiddleware

from examples.catalogue import Catalogue
from examples.store import OrderStore
from tests.support import serve_asgi
from wxpay_mw import WxPay, WxPayConfig
from wxpay_mw.simulator import Simulator

from .test_wechat_faults import READ_TIMEOUT, TIMEOUT, Shop, _Late, _not_found

JSAPI = "/v3/pay/transactions/jsapi"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(api="v3", time_factor=0.001) as simulator:
        yield simulator


@contextmanager
def open_shop(db: Path, sim: Simulator, notify_url: str | None = None) -> Iterator[Shop]:
    """The v3 host app on a real server; ``notify_url`` defaults to its own /notify."""
    late = _Late()
    with serve_asgi(late) as base:
        store = OrderStore(f"sqlite:///{db}")
        env = sim.v3_env(notify_url or f"{base}/wxpay/notify")
        del env["WXPAY_API_KEY"]
        config = WxPayConfig.from_env(env, read_timeout=READ_TIMEOUT)
        with WxPay(config, store, Catalogue(store), status_query_interval=0) as wxpay:
            late.app = WxPayMiddleware(_not_found, wxpay)
            yield Shop(base, store, wxpay, sim)


@pytest.fixture
def shop(tmp_path: Path, sim: Simulator) -> Iterator[Shop]:
    with open_shop(tmp_path / "orders.db", sim) as running:
        yield running


# kind -> (seconds, did WeChat act on the failed call, HTTP status, error code)
FAULTS: dict[str, tuple[float | None, bool, int, str]] = {
    "latency-past-the-read-timeout": (3 * READ_TIMEOUT, True, 503, "wechat_unavailable"),
    "timeout": (3 * READ_TIMEOUT, True, 503, "wechat_unavailable"),
    "http_500": (None, False, 503, "wechat_unavailable"),
    "reset": (None, False, 503, "wechat_unavailable"),
    # A truncated JSON answer: its signature (over the whole body) fails first, as it must.
    "malformed_xml": (None, True, 502, "wechat_unavailable"),
    "bad_sign": (None, True, 502, "wechat_unavailable"),
    "sign_probe": (None, True, 502, "wechat_unavailable"),
}


def _eventually(probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while (found := probe()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


@pytest.mark.parametrize("fault", list(FAULTS))
def test_v3_prepay_survives_a_failing_wechat(shop: Shop, fault: str) -> None:
    seconds, acted, status, code = FAULTS[fault]
    no = shop.new_order().out_trade_no
    kind = "latency" if fault.startswith("latency") else fault
    shop.sim.add_fault(JSAPI, kind, seconds=seconds)

    failed = shop.prepay(no)

    assert failed.status_code == status, failed.text
    assert failed.json()["error"] == code
    assert "prepay_id" not in failed.text
    stored = shop.store.get(no)
    assert stored is not None and stored.status == "pending" and stored.prepay_id is None
    at_wechat = shop.sim.order(no)
    if fault.startswith("latency"):
        at_wechat = _eventually(lambda: shop.sim.order(no))
    assert (at_wechat is not None) == acted
    issued = at_wechat["prepay_id"] if at_wechat else None

    shop.sim.clear_faults()
    retried = shop.prepay(no)

    assert retried.status_code == 200, retried.text
    params = retried.json()
    assert params.pop("out_trade_no") == no
    params.pop("status_token")
    prepay_id = params["package"].removeprefix("prepay_id=")
    if acted:
        assert prepay_id == issued  # the order WeChat already had, not a second one
    assert shop.store.get(no).prepay_id == prepay_id  # type: ignore[union-attr]
    paid = shop.sim.pay(params)
    shop.sim.wait_for_notifications(1, timeout=TIMEOUT)
    assert shop.store.get(no).status == "paid"  # type: ignore[union-attr]
    assert shop.store.fulfilments() == [(no, paid["transaction_id"])]


def test_a_wrongly_signed_v3_order_query_never_marks_an_order_paid(
    tmp_path: Path, sim: Simulator
) -> None:
    # The user paid, the notification never arrives; the status path asks WeChat. While
    # its answers do not verify, the order stays pending; once they do, it is paid.
    with open_shop(tmp_path / "orders.db", sim, "http://127.0.0.1:9/n") as shop:
        order = shop.new_order()
        params = shop.prepay(order.out_trade_no).json()
        params.pop("out_trade_no")
        token = {"x-wxpay-token": params.pop("status_token")}
        shop.sim.pay(params)
        query = f"/v3/pay/transactions/out-trade-no/{order.out_trade_no}"
        for kind in ("bad_sign", "sign_probe"):
            shop.sim.add_fault(query, kind)
            status = requests.get(
                shop.url(f"/orders/{order.out_trade_no}"), headers=token, timeout=TIMEOUT
            )
            assert status.status_code == 200
            assert status.json()["status"] == "pending"
            shop.sim.clear_faults()
        assert shop.store.fulfilments() == []
        status = requests.get(
            shop.url(f"/orders/{order.out_trade_no}"), headers=token, timeout=TIMEOUT
        )
        assert status.json()["status"] == "paid"
        assert len(shop.store.fulfilments()) == 1
