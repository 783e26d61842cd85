"""Running plain hooks off the event loop, for the async adapters.

``async def`` hooks are awaited on the loop; plain ones (and the whole request, when no
hook is async) run in a worker thread, so the loop never waits on a database or WeChat.
On asyncio those threads are the WxPay object's bounded ``ThreadPoolExecutor``
(``loop.run_in_executor``, context variables copied); under any other event loop (trio)
they are anyio's.

An earlier scheduler of our own (CoreRunner) measured only x1.12 faster than a plain
``run_in_executor`` and grew to dozens of threads under load; the standard executor
replaced it (bench/results.md has the figures).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from wxpay_mw.app import WxPay
from wxpay_mw.sansio import Request, Response

__all__ = ["handle"]


async def handle(wxpay: WxPay, request: Request) -> Response:
    """``wxpay.ahandle(request)``, with plain hooks in threads on asyncio and trio alike."""

    async def offload(fn: Callable[[], Any]) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): anyio's own threads
            import anyio.to_thread  # only off asyncio, so plain ASGI needs no anyio

            return await anyio.to_thread.run_sync(fn)
        return await wxpay.run_in_thread(fn)

    return await wxpay.ahandle(request, offload)
