"""Code run in child processes (spawned: it must be importable by name)."""

from __future__ import annotations

from typing import Any

from examples.store import OrderStore


def deliver_paid(url: str, barrier: Any, order: Any, payment: Any, times: int) -> None:
    """What one worker process does when WeChat's duplicates reach it: call the hook."""
    store = OrderStore(url)
    barrier.wait()
    for _ in range(times):
        store.wxpay_order_paid(order=order, payment=payment)
