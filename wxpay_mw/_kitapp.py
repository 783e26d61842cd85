"""The conformance kit's hold on a WxPay under test: driven synchronously, or on a loop.

A synchronous host is driven through :meth:`WxPay.handle` in the caller's thread. An
async host (``async def`` hooks, or ``Host(asynchronous=True)``) is driven through
``await WxPay.ahandle(...)`` on an event loop of its own: an :class:`asyncio.Runner`
kept open as long as the app, because an async engine's pooled connections belong to
the loop that opened them, so every call, and the plugins' ``dispose()``, must run
there. Used by :mod:`wxpay_mw._kit`.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ._drive import _call_hook
from .app import WxPay
from .config import WxPayConfig
from .flow import ReconcileSummary
from .sansio import Request, Response

__all__ = ["KitApp", "running"]


class KitApp:
    """A WxPay under test; ``runner`` is the async host's event loop, or None."""

    def __init__(self, wxpay: WxPay, runner: asyncio.Runner | None) -> None:
        self.wxpay = wxpay
        self.runner = runner

    @property
    def asynchronous(self) -> bool:
        """True when the flow is driven through ``WxPay.ahandle``."""
        return self.runner is not None

    def handle(self, request: Request) -> Response:
        """One request through ``handle``, or ``ahandle`` on the app's loop."""
        if self.runner is None:
            return self.wxpay.handle(request)
        return self.runner.run(self.wxpay.ahandle(request))

    def handle_at_once(self, request: Request, times: int) -> list[Response]:
        """``request`` ``times`` times at once: threads released together by a barrier,
        or, for an async host, as many ``ahandle`` tasks on its loop."""
        if self.runner is not None:
            return self.runner.run(self._gather(request, times))
        start = threading.Barrier(times)
        answers: list[Response] = []
        lock = threading.Lock()

        def deliver() -> None:
            start.wait()
            answer = self.wxpay.handle(request)
            with lock:
                answers.append(answer)

        workers = [threading.Thread(target=deliver) for _ in range(times)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return answers

    async def _gather(self, request: Request, times: int) -> list[Response]:
        return list(await asyncio.gather(*(self.wxpay.ahandle(request) for _ in range(times))))

    def hook(self, name: str, **kwargs: Any) -> Any:
        """Call the host's hook ``name`` as the flow would (async ones awaited)."""
        caller = getattr(self.wxpay.hook, name)
        if self.runner is None:
            return caller(**kwargs)
        return self.runner.run(_call_hook(caller, kwargs, self.wxpay.run_in_thread))

    def order_status(self, out_trade_no: str) -> dict[str, Any]:
        """``order_status``, or ``aorder_status`` on the app's loop."""
        if self.runner is None:
            return self.wxpay.order_status(out_trade_no)
        return self.runner.run(self.wxpay.aorder_status(out_trade_no))

    def reconcile(self, older_than: float) -> ReconcileSummary:
        """``reconcile``, or ``areconcile`` on the app's loop."""
        if self.runner is None:
            return self.wxpay.reconcile(older_than=older_than)
        return self.runner.run(self.wxpay.areconcile(older_than=older_than))


@contextmanager
def running(
    config: WxPayConfig, plugins: Sequence[object], asynchronous: bool | None = None
) -> Iterator[KitApp]:
    """A KitApp on ``plugins``; afterwards each plugin's ``dispose()`` or ``close()``.

    ``asynchronous``: None drives the host asynchronously when any hook is
    ``async def``; False refuses ``async def`` hooks (a SetupError naming them).
    """
    runner: asyncio.Runner | None = None
    try:
        with WxPay(config, *plugins) as wxpay:
            if asynchronous is False:
                wxpay.require_sync("the conformance kit with Host(asynchronous=False)")
            if asynchronous or (asynchronous is None and wxpay.plugins.has_async):
                runner = asyncio.Runner()
            yield KitApp(wxpay, runner)
    finally:
        try:
            _dispose(plugins, runner)
        finally:
            if runner is not None:
                runner.close()


def _dispose(plugins: Sequence[object], runner: asyncio.Runner | None) -> None:
    for plugin in plugins:
        closer = getattr(plugin, "dispose", None) or getattr(plugin, "close", None)
        done = closer() if callable(closer) else None
        if inspect.isawaitable(done):
            # An async plugin's connections belong to the app's loop: close them there.
            if runner is not None:
                runner.run(_awaited(done))
            else:
                asyncio.run(_awaited(done))


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
