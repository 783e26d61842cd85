"""The host app the reliability tests run in real server processes (uvicorn, gunicorn).

Importable by name (``tests.reliability._app:asgi_app`` / ``:wsgi_app``) and configured
only through the environment, since every worker process imports it on its own:

- ``WXPAY_*``: the merchant, as for any host (``WxPayConfig.from_env``);
- ``WXPAY_TEST_DB_URL``: the reference store's database (SQLite or PostgreSQL);
- ``WXPAY_TEST_DIR``: a directory shared with the test. Each worker writes
  ``ready-<pid>`` when it has imported the app; the paid reaction appends one line to
  ``reactions`` (outside the database, so a reaction that happened is seen even if its
  transaction later rolled back); while ``block`` exists, the paid reaction writes
  ``arrived-<pid>`` and waits (the crash test kills the worker there, inside the paid
  transaction, after the conditional UPDATE and before COMMIT).

Every answer carries ``x-worker-pid``, so a test can see which process served it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from wxpay_mw.adapters.asgi import WxPayMiddleware
from wxpay_mw.adapters.wsgi import WxPayWSGIMiddleware

from examples.catalogue import Catalogue
from examples.store import OrderStore
from wxpay_mw import Order, Payment, WxPay, WxPayConfig

SHARED = Path(os.environ["WXPAY_TEST_DIR"])


def _paid_reaction(order: Order, payment: Payment) -> None:
    block = SHARED / "block"
    if block.exists():
        (SHARED / f"arrived-{os.getpid()}").write_text(order.out_trade_no)
        while block.exists():
            time.sleep(0.01)
    with open(SHARED / "reactions", "a", encoding="utf-8") as log:
        log.write(f"{order.out_trade_no} {payment.transaction_id} {os.getpid()}\n")


store = OrderStore(os.environ["WXPAY_TEST_DB_URL"], on_paid=_paid_reaction)
wxpay = WxPay(WxPayConfig.from_env(), store, Catalogue(store))


async def _not_found(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"host 404"})


_asgi = WxPayMiddleware(_not_found, wxpay, prefix="/wxpay")


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    """The ASGI host app (run with ``--lifespan off``)."""

    async def send_with_pid(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"x-worker-pid", str(os.getpid()).encode())]
            message = {**message, "headers": headers}
        await send(message)

    await _asgi(scope, receive, send_with_pid)


def _wsgi_not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("404 Not Found", [("content-type", "text/plain")])
    return [b"host 404"]


_wsgi = WxPayWSGIMiddleware(_wsgi_not_found, wxpay, prefix="/wxpay")


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The WSGI host app."""

    def start_with_pid(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
        return start_response(status, [*headers, ("x-worker-pid", str(os.getpid()))], *exc)

    return _wsgi(environ, start_with_pid)


(SHARED / f"ready-{os.getpid()}").write_text("ready")
