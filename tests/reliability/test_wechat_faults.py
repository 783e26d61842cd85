"""A failing WeChat: prepay answers a clear error, keeps the order retryable, and recovers.

The simulator's fault injection breaks ``/pay/unifiedorder`` in each way WeChat (or the
network to it) can fail. The host app (ASGI middleware on a real uvicorn server, the
reference store, the example catalogue) must answer the mini program with a stable
error code, store nothing it was not sure of, and when the fault clears, the same
order's prepay must succeed, with the very prepay_id WeChat already issued if it had
acted on the failed call (a second order is never placed). An answer with a wrong sign
is never trusted: neither its prepay_id nor anything else in it is used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from wxpay_mw.adapters.asgi import WxPayMiddleware

from examples.catalogue import Catalogue, new_trade_no
from examples.store import OrderStore
from tests.support import serve_asgi
from wxpay_mw import Order, WxPay
from wxpay_mw.simulator import Simulator

TIMEOUT = 30
#: The app's read timeout for WeChat; the slow faults last longer than this.
READ_TIMEOUT = 0.5


@dataclass
class Shop:
    base: str
    store: OrderStore
    wxpay: WxPay
    sim: Simulator

    def url(self, path: str) -> str:
        return f"{self.base}/wxpay{path}"

    def new_order(self) -> Order:
        """An order the host created at checkout, before asking for payment."""
        order = Order(out_trade_no=new_trade_no(), total_fee=1280, body="fault-test-dumplings")
        return self.store.add_order(order)

    def prepay(self, out_trade_no: str) -> requests.Response:
        payload = {"code": self.sim.login(), "out_trade_no": out_trade_no}
        return requests.post(self.url("/prepay"), json=payload, timeout=TIMEOUT)


async def _not_found(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class _Late:
    """An ASGI app set after its server started (the notify_url needs the port)."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@contextmanager
def open_shop(db: Path, sim: Simulator, notify_url: str | None = None) -> Iterator[Shop]:
    """The host app on a real server; ``notify_url`` defaults to its own /notify."""
    late = _Late()
    with serve_asgi(late) as base:
        store = OrderStore(f"sqlite:///{db}")
        config = sim.config(
            notify_url=notify_url or f"{base}/wxpay/notify", read_timeout=READ_TIMEOUT
        )
        # Every status poll asks WeChat (no interval), so each fault is met.
        with WxPay(config, store, Catalogue(store), status_query_interval=0) as wxpay:
            late.app = WxPayMiddleware(_not_found, wxpay)
            yield Shop(base, store, wxpay, sim)


@pytest.fixture
def shop(tmp_path: Path, wxpay_simulator: Simulator) -> Iterator[Shop]:
    with open_shop(tmp_path / "orders.db", wxpay_simulator) as running:
        yield running


# kind -> (seconds, did WeChat act on the failed call, HTTP status, error code)
FAULTS: dict[str, tuple[float | None, bool, int, str]] = {
    "latency-past-the-read-timeout": (3 * READ_TIMEOUT, True, 503, "wechat_unavailable"),
    "timeout": (3 * READ_TIMEOUT, True, 503, "wechat_unavailable"),
    "http_500": (None, False, 503, "wechat_unavailable"),
    "reset": (None, False, 503, "wechat_unavailable"),
    "malformed_xml": (None, True, 503, "wechat_unavailable"),
    "bad_sign": (None, True, 502, "wechat_unavailable"),
}


def _eventually(probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while (found := probe()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def inject(sim: Simulator, name: str) -> None:
    seconds = FAULTS[name][0]
    kind = "latency" if name.startswith("latency") else name
    sim.add_fault("/pay/unifiedorder", kind, seconds=seconds)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_prepay_survives_a_failing_wechat(shop: Shop, fault: str) -> None:
    _, acted, status, code = FAULTS[fault]
    order = shop.new_order()
    no = order.out_trade_no
    inject(shop.sim, fault)

    failed = shop.prepay(no)

    assert failed.status_code == status, failed.text
    error = failed.json()
    assert error["error"] == code
    assert error["message"] and "prepay_id" not in failed.text
    # Nothing WeChat said was trusted or stored: the order is as it was, and payable.
    stored = shop.store.get(no)
    assert stored is not None and stored.status == "pending"
    assert stored.prepay_id is None
    at_wechat = shop.sim.order(no)
    if fault.startswith("latency"):
        # WeChat answers late but does act: wait until it has, as a real retry might.
        at_wechat = _eventually(lambda: shop.sim.order(no))
    assert (at_wechat is not None) == acted
    issued = at_wechat["prepay_id"] if at_wechat else None

    shop.sim.clear_faults()
    retried = shop.prepay(no)

    assert retried.status_code == 200, retried.text
    params = retried.json()
    assert params.pop("out_trade_no") == no
    prepay_id = params["package"].removeprefix("prepay_id=")
    if acted:
        assert prepay_id == issued  # the order WeChat already had, not a second one
    assert shop.sim.order(no)["prepay_id"] == prepay_id  # type: ignore[index]
    assert shop.store.get(no).prepay_id == prepay_id  # type: ignore[union-attr]

    # And it really is payable: the user pays, the notification marks it paid once.
    paid = shop.sim.pay(params)
    shop.sim.wait_for_notifications(1, timeout=TIMEOUT)
    assert shop.store.get(no).status == "paid"  # type: ignore[union-attr]
    assert shop.store.fulfilments() == [(no, paid["transaction_id"])]


def test_a_wrongly_signed_answer_is_never_trusted_even_repeatedly(shop: Shop) -> None:
    # Every answer tampered with (a man in the middle, or a wrong key): no prepay, ever.
    order = shop.new_order()
    shop.sim.add_fault("/pay/unifiedorder", "bad_sign")
    for _ in range(3):
        answer = shop.prepay(order.out_trade_no)
        assert answer.status_code == 502
        assert answer.json()["error"] == "wechat_unavailable"
    assert shop.store.get(order.out_trade_no).prepay_id is None  # type: ignore[union-attr]


def test_a_wrongly_signed_orderquery_never_marks_an_order_paid(
    tmp_path: Path, wxpay_simulator: Simulator
) -> None:
    # The user paid but the notification never arrives (notify_url unreachable), so the
    # order-status path asks orderquery. While its answers carry a wrong sign, the order
    # must stay pending; once they are genuine, it becomes paid.
    with open_shop(tmp_path / "orders.db", wxpay_simulator, "http://127.0.0.1:9/n") as shop:
        order = shop.new_order()
        params = shop.prepay(order.out_trade_no).json()
        params.pop("out_trade_no")
        token = {"x-wxpay-token": params.pop("status_token")}
        shop.sim.pay(params)
        shop.sim.add_fault("/pay/orderquery", "bad_sign")
        for _ in range(2):
            status = requests.get(
                shop.url(f"/orders/{order.out_trade_no}"), headers=token, timeout=TIMEOUT
            )
            assert status.status_code == 200
            assert status.json()["status"] == "pending"
        assert shop.store.fulfilments() == []
        shop.sim.clear_faults()
        status = requests.get(
            shop.url(f"/orders/{order.out_trade_no}"), headers=token, timeout=TIMEOUT
        )
        assert status.json()["status"] == "paid"
        assert len(shop.store.fulfilments()) == 1
