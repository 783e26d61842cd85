"""The stages of one notification timed in this process, without a server or a thread.

Beside the servers' CPU per request and py-spy's shares, this times the pieces directly
(the fastest of several batches of distinct notifications): ``WxPay.handle`` with the plain
plugin, ``WxPay.ahandle`` with the async plugin and an offload that runs inline (so
that no thread hop is counted, and each offload the flow asks for is recorded), the
parse and the sign check alone, and wechatpy's ``parse_payment_result``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from wxpay_mw import signing, xmlmsg
from wxpay_mw.app import WxPay
from wxpay_mw.sansio import Request

from ._apps import AsyncMinimalPlugin, MinimalPlugin, config, order_fee, order_no
from ._data import API_KEY, APPID, MCH_ID, notification, notification_body
from ._report import Figure

__all__ = ["figures"]


def _requests(count: int) -> list[Request]:
    return [
        Request(
            method="POST",
            path="/notify",
            headers={"content-type": "text/xml"},
            body=notification_body(notification(order_no(i), order_fee(i), serial=i)),
            client_ip="127.0.0.1",
        )
        for i in range(count)
    ]


def _us(fn: Callable[[list[Any]], None], batches: list[list[Any]]) -> float:
    """Microseconds per item of ``fn``: the fastest batch (the least disturbed by the
    machine's other work, as timeit advises for a shared machine)."""
    times = []
    for batch in batches:
        t0 = time.perf_counter()
        fn(batch)
        times.append((time.perf_counter() - t0) / len(batch) * 1e6)
    return min(times)


def figures(quick: bool) -> list[Figure]:
    """Figures for the in-process stage times (info only: they explain the ratios)."""
    per, reps = (400, 3) if quick else (1000, 7)
    reqs = _requests(per * reps)
    batches = [reqs[i * per : (i + 1) * per] for i in range(reps)]
    bodies = [[r.body for r in b] for b in batches]
    fields = [[xmlmsg.from_xml(body) for body in b] for b in bodies]

    sync = WxPay(config(), MinimalPlugin(per * reps))
    handle_us = _us(lambda b: [sync.handle(r) for r in b], batches)

    wx = WxPay(config(), AsyncMinimalPlugin(per * reps))
    offloaded: list[str] = []

    async def inline(fn: Callable[[], Any]) -> Any:
        offloaded.append(getattr(getattr(fn, "func", fn), "__qualname__", repr(fn)))
        return fn()

    async def arun(batch: list[Request]) -> None:
        for r in batch:
            await wx.ahandle(r, inline)

    loop = asyncio.new_event_loop()
    try:
        ahandle_us = _us(lambda b: loop.run_until_complete(arun(b)), batches)
    finally:
        loop.close()
    per_request = len(offloaded) / (per * reps)
    what = ", ".join(sorted(set(offloaded))) or "none"

    parse_us = _us(lambda b: [xmlmsg.from_xml(x) for x in b], bodies)
    verify_us = _us(lambda b: [signing.verify(f, API_KEY) for f in b], fields)
    from wechatpy.pay import WeChatPay

    pay = WeChatPay(APPID, API_KEY, MCH_ID)
    wechatpy_us = _us(lambda b: [pay.parse_payment_result(x) for x in b], bodies)
    return [
        Figure(
            name="In process: WxPay.handle, plain plugin, us per notification",
            value=f"{handle_us:.1f} us",
            note=f"of which from_xml {parse_us:.1f} us and the MD5 sign check "
            f"{verify_us:.1f} us (each timed alone); the rest is hooks and flow glue",
        ),
        Figure(
            name="In process: WxPay.ahandle, async plugin, offload inline, us per notification",
            value=f"{ahandle_us:.1f} us ({ahandle_us - handle_us:+.1f} vs handle)",
            note=f"offloads the flow asks for per notification: {per_request:g} ({what}); "
            "each is a worker-thread hop in a server (see the hop diagnostic)",
        ),
        Figure(
            name="In process: wechatpy parse_payment_result, us per notification",
            value=f"{wechatpy_us:.1f} us",
            note="xmltodict parse + calculate_signature, what the by-hand endpoints call",
        ),
    ]
