"""The async driver calls hooks as pluggy would: the same results, async or plain.

``run_async`` calls ``async def`` implementations itself (pluggy cannot await them),
with a shortcut for the usual case of one async implementation per hook. Whatever path
it takes, a hook call must give what pluggy's own call gives for the same
implementations written as plain functions: the expected values here come from pluggy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from wxpay_mw import Order, hookimpl
from wxpay_mw._drive import HookCall, Steps, run_async
from wxpay_mw._plugins import Plugins

ORDER = Order(out_trade_no="DRIVE1", total_fee=100, body="drive")
OTHER = Order(out_trade_no="DRIVE2", total_fee=200, body="drive")


def _plain(value: Any) -> object:
    class Plain:
        @hookimpl
        def wxpay_load_order(self, out_trade_no: str) -> Any:
            return value

        @hookimpl
        def wxpay_order_prepaid(self, order: Order, prepay_id: str) -> Any:
            return value

    return Plain()


def _async(value: Any) -> object:
    class Async:
        @hookimpl
        async def wxpay_load_order(self, out_trade_no: str) -> Any:
            return value

        @hookimpl
        async def wxpay_order_prepaid(self, order: Order, prepay_id: str) -> Any:
            return value

    return Async()


CALLS = [
    HookCall("wxpay_load_order", {"out_trade_no": "DRIVE1"}),  # firstresult
    HookCall("wxpay_order_prepaid", {"order": ORDER, "prepay_id": "wx1"}),  # every result
]


def _driven(plugins: list[object], call: HookCall) -> Any:
    registry = Plugins()
    for plugin in plugins:
        registry.register(plugin)

    def steps() -> Steps[Any]:
        result = yield call
        return result

    async def offload(fn: Callable[[], Any]) -> Any:
        return fn()

    return asyncio.run(run_async(steps(), registry.hook, None, None, offload))


def _pluggy(plugins: list[object], call: HookCall) -> Any:
    registry = Plugins()
    for plugin in plugins:
        registry.register(plugin)
    return getattr(registry.hook, call.name)(**call.kwargs)


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
@pytest.mark.parametrize("value", [ORDER, None], ids=["a result", "None"])
def test_one_async_implementation_gives_what_pluggy_gives_for_it_plain(
    call: HookCall, value: Any
) -> None:
    assert _driven([_async(value)], call) == _pluggy([_plain(value)], call)


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
@pytest.mark.parametrize(
    "values",
    [(ORDER, None), (None, ORDER), (None, None), (ORDER, OTHER)],
    ids=["first", "second", "neither", "both"],
)
def test_several_async_implementations_give_what_pluggy_gives_for_them_plain(
    call: HookCall, values: tuple[Any, Any]
) -> None:
    asyncs = [_async(v) for v in values]
    plains = [_plain(v) for v in values]
    assert _driven(asyncs, call) == _pluggy(plains, call)


def test_a_plain_and_an_async_implementation_mixed_give_what_pluggy_gives() -> None:
    call = CALLS[1]
    mixed = _driven([_plain(ORDER), _async(None)], call)
    assert mixed == _pluggy([_plain(ORDER), _plain(None)], call) == [ORDER]
