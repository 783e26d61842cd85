"""The apps the benchmark serves: wxpay-mw mounted through each adapter.

Factories for ``uvicorn --factory`` and gunicorn/waitress, configured by environment:

- ``BENCH_PLUGIN``: ``memory`` (:class:`MinimalPlugin`, plain hooks that do the minimum,
  to isolate the middleware's own cost), ``amemory`` (:class:`AsyncMinimalPlugin`, the
  same with every hook ``async def``) or ``store`` (the reference ``examples.store``).
- ``BENCH_ORDERS``: how many orders the memory plugin pre-creates (``order_no(i)``).
- ``BENCH_STORE_URL``: the reference store's database URL (orders pre-created by the
  harness with :func:`populate_store`).
- ``BENCH_API_BASE``: where WeChat is (the simulator), for the prepay benchmark.
- With ``amemory`` WxPay also gets an :class:`~wxpay_mw.aclient.AsyncWeChatClient`: an
  async host calls WeChat on the event loop, without a thread.

Every app also answers ``GET /health`` and ``GET /ping`` outside wxpay-mw (the
framework's own trivial endpoint), and the notify path is ``/wxpay/notify`` everywhere.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from contextlib import closing
from typing import Any, Final

from wxpay_mw import Order, Payment, WxPayConfig, hookimpl
from wxpay_mw.app import WxPay

from . import _bare
from ._data import API_KEY, APPID, MCH_ID

__all__ = [
    "AsyncMinimalPlugin",
    "MinimalPlugin",
    "asgi",
    "asgi_hop",
    "flask",
    "order_no",
    "plugin",
    "populate_store",
    "starlette",
    "wsgi",
    "wxpay",
]

#: A fixed test app secret (the simulator's merchant is built with the same one).
APP_SECRET: Final = "b3nchS3cr3tb3nchS3cr3tb3nchS3cr3"
OPENID: Final = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def order_no(i: int) -> str:
    """The out_trade_no of pre-created order ``i``."""
    return f"B{i:010d}"


def order_fee(i: int) -> int:
    """Its amount in fen (varied, so the amount check compares something real)."""
    return 100 + i % 900


def make_order(i: int) -> Order:
    return Order(
        out_trade_no=order_no(i),
        total_fee=order_fee(i),
        body="wxpay-mw bench-tea",
        openid=OPENID,
        prepay_id=f"wx{i:020d}",
        prepay_expires_at=4102444800.0,
        sign_type="MD5",
    )


class MinimalPlugin:
    """The least a host can do: orders in a dict, paid with a conditional transition."""

    def __init__(self, orders: int = 0) -> None:
        self.lock = threading.Lock()
        self.orders: dict[str, Order] = {}
        for i in range(orders):
            order = make_order(i)
            self.orders[order.out_trade_no] = order
        self.numbers = itertools.count()
        self.prefix = f"P{os.getpid()}x"

    @hookimpl
    def wxpay_load_order(self, out_trade_no: str) -> Order | None:
        return self.orders.get(out_trade_no)

    @hookimpl
    def wxpay_order_paid(self, order: Order, payment: Payment | None) -> None:
        self.mark_paid(order.out_trade_no)

    def mark_paid(self, out_trade_no: str) -> None:
        """The in-memory update (also what the by-hand wechatpy endpoints call)."""
        with self.lock:
            stored = self.orders.get(out_trade_no)
            # Only the status flips: keeping per-payment data would grow the plugin's own
            # memory and hide (or fake) a leak in the memory benchmark.
            if stored is not None and stored.status == "pending":
                stored.status = "paid"

    @hookimpl
    def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Order:
        return Order(
            out_trade_no=f"{self.prefix}{next(self.numbers)}",
            total_fee=100,
            body="wxpay-mw bench-tea",
        )

    @hookimpl
    def wxpay_order_prepaid(self, order: Order, prepay_id: str) -> None:
        with self.lock:
            self.orders[order.out_trade_no] = order


class AsyncMinimalPlugin(MinimalPlugin):
    """MinimalPlugin with every hook ``async def``, as a host with an async driver writes it.

    The same dict and the same conditional transition. The hooks do not yield to the
    loop (an in-memory store has nothing to wait for): what is measured is the adapter's
    and the flow's own cost of awaiting hooks, not an imitation driver's.
    """

    @hookimpl
    async def wxpay_load_order(self, out_trade_no: str) -> Order | None:
        return self.orders.get(out_trade_no)

    @hookimpl
    async def wxpay_order_paid(self, order: Order, payment: Payment | None) -> None:
        self.mark_paid(order.out_trade_no)

    @hookimpl
    async def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Order:
        return MinimalPlugin.wxpay_create_order(self, openid, payload)

    @hookimpl
    async def wxpay_order_prepaid(self, order: Order, prepay_id: str) -> None:
        MinimalPlugin.wxpay_order_prepaid(self, order, prepay_id)


def config(api_base: str | None = None) -> WxPayConfig:
    """The bench merchant's config (the simulator, when there is one, uses the same keys)."""
    kwargs: dict[str, Any] = {}
    base = api_base or os.environ.get("BENCH_API_BASE")
    if base:
        kwargs = {"api_base": base, "login_base": base}
    return WxPayConfig(
        appid=APPID,
        mch_id=MCH_ID,
        api_key=API_KEY,
        app_secret=APP_SECRET,
        notify_url="http://127.0.0.1:1/wxpay/notify",
        **kwargs,
    )


def populate_store(url: str, count: int) -> None:
    """Create the reference store at ``url`` with orders ``0..count-1``, in one go."""
    from examples.store import INSERT_ORDER, OrderStore, _values

    OrderStore(url)  # creates the schema, as the app will at start-up
    path = url.removeprefix("sqlite:///")
    rows = [(*_values(make_order(i)), 0.0) for i in range(count)]
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany(INSERT_ORDER, rows)


def plugin(kind: str | None = None) -> MinimalPlugin:
    """The in-memory plugin ``BENCH_PLUGIN`` names, with ``BENCH_ORDERS`` orders."""
    kind = kind or os.environ.get("BENCH_PLUGIN", "memory")
    cls = AsyncMinimalPlugin if kind == "amemory" else MinimalPlugin
    return cls(int(os.environ.get("BENCH_ORDERS", "0")))


def _plugins() -> list[object]:
    kind = os.environ.get("BENCH_PLUGIN", "memory")
    if kind in ("memory", "amemory"):
        return [plugin(kind)]
    if kind == "store":
        from examples.store import OrderStore

        store = OrderStore(os.environ["BENCH_STORE_URL"])
        # The reference store leaves wxpay_create_order to a catalogue; prepay is not
        # measured against it, so a minimal one is enough here.
        return [store]
    raise ValueError(f"BENCH_PLUGIN must be memory, amemory or store, not {kind!r}")


def wxpay() -> WxPay:
    aclient = None
    if os.environ.get("BENCH_PLUGIN") == "amemory":
        from wxpay_mw.aclient import AsyncWeChatClient

        aclient = AsyncWeChatClient(config())
    return WxPay(config(), *_plugins(), aclient=aclient)


def asgi() -> Any:
    """The ASGI middleware around a raw ASGI app (uvicorn)."""
    from wxpay_mw.adapters.asgi import WxPayMiddleware

    return WxPayMiddleware(_bare.asgi(), wxpay(), prefix="/wxpay")


def starlette() -> Any:
    """A Starlette app with wxpay-mw's Mount (uvicorn)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route
    from wxpay_mw.adapters.starlette import mount

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/health", health), Route("/ping", health), mount(wxpay())])


def flask() -> Any:
    """A Flask app with the wxpay-mw extension (gunicorn / waitress)."""
    from flask import Flask
    from wxpay_mw.adapters.flask import WxPayFlask

    app = Flask("bench_wxpay")

    @app.get("/health")
    @app.get("/ping", endpoint="ping")
    def health() -> str:
        return "ok"

    WxPayFlask(app, wxpay=wxpay())
    return app


def wsgi() -> Any:
    """The WSGI middleware around a plain WSGI app (gunicorn / waitress)."""
    from wxpay_mw.adapters.wsgi import WxPayWSGIMiddleware

    inner: Any = _bare.wsgi()
    return WxPayWSGIMiddleware(inner, wxpay(), prefix="/wxpay")


def asgi_hop() -> Any:
    """Diagnostic: the raw ASGI app plus one worker-thread hop of a no-op per request.

    Not a baseline for a bar: it shows what one hop costs on its own. ``BENCH_HOP``:
    ``executor`` (default) is the hop the ASGI adapters make on asyncio, a WxPay
    object's bounded ``ThreadPoolExecutor`` through ``loop.run_in_executor``
    (``WxPay.run_in_thread``, the very method); ``anyio`` is ``anyio.to_thread.run_sync``
    (what the adapters use off asyncio, and what Starlette uses for sync endpoints).
    """
    kind = os.environ.get("BENCH_HOP", "executor")
    inner = _bare.asgi()

    def nothing() -> None:
        return None

    if kind == "executor":
        hop = WxPay(config(), MinimalPlugin()).run_in_thread
    elif kind == "anyio":
        import anyio.to_thread

        hop = anyio.to_thread.run_sync
    else:
        raise ValueError(f"BENCH_HOP must be executor or anyio, not {kind!r}")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            await hop(nothing)
        await inner(scope, receive, send)

    return app
