"""Plain hooks under the async adapters: worker threads on asyncio, anyio's under trio."""

from __future__ import annotations

import contextvars
import threading
from typing import Any

import anyio
import pytest
from wxpay_mw.adapters.asgi import WxPayMiddleware

from tests.support import MemoryStore
from wxpay_mw import Order, WxPay, WxPayConfig

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class Watching(MemoryStore):
    """Records the thread and the context variable each load ran with."""

    def wxpay_load_order(self, out_trade_no: str) -> Order | None:
        self.__dict__.setdefault("seen", []).append(
            (threading.current_thread().name, REQUEST_ID.get())
        )
        return MemoryStore.wxpay_load_order(self, out_trade_no)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_plain_hooks_run_in_a_worker_thread_with_the_callers_context(
    wxpay_config: WxPayConfig, backend: str
) -> None:
    store = Watching()
    store.put(Order(out_trade_no="T1", total_fee=100, body="x"))

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("wxpay-mw's paths never reach the host app")

    with WxPay(wxpay_config, store) as wxpay:
        app = WxPayMiddleware(inner, wxpay)
        # With the order's token, the status is answered (loaded in a worker thread).
        token = wxpay.status_token("T1")

        async def main() -> int:
            REQUEST_ID.set("req-42")
            sent: list[dict[str, Any]] = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = {
                "type": "http",
                "method": "GET",
                "path": "/wxpay/orders/T1",
                "headers": [(b"x-wxpay-token", token.encode())],
                "client": ("127.0.0.1", 5000),
            }
            await app(scope, receive, send)
            status: int = sent[0]["status"]
            return status

        assert anyio.run(main, backend=backend) == 200
    ((thread, request_id),) = store.__dict__["seen"]
    assert thread != threading.current_thread().name  # never on the loop's thread
    assert (backend == "asyncio") == thread.startswith("wxpay-mw")
    assert request_id == "req-42"  # context variables reach the hook
