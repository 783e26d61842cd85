"""Running the payment flow: one flow, a synchronous and an asynchronous driver.

The flow (flow.py) is written once, as generators that ``yield`` what they need done
from outside: call a host hook (:class:`HookCall`) or call WeChat (:class:`WeChatCall`).
A driver does each request and sends the result back in, or throws the exception in,
so the order of steps and every check exist once (the sans-IO shape of h11 and h2).

- :func:`run_sync` calls hooks and the requests-based client directly;
- :func:`run_async` awaits ``async def`` hooks on the caller's event loop (so a host's
  asyncpg pool or SQLAlchemy async engine works inside them), runs plain hooks through
  ``offload`` (a worker thread), and awaits the async client where there is one.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from ._plugins import is_async_impl
from .errors import SetupError

__all__ = ["HookCall", "Offload", "Steps", "WeChatCall", "run_async", "run_sync"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HookCall:
    """Call the host's hook ``name`` with keyword arguments; the result comes back."""

    name: str
    kwargs: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WeChatCall:
    """Call the WeChat client's ``method`` with keyword arguments."""

    method: str
    kwargs: dict[str, Any]


Effect = HookCall | WeChatCall
Steps = Generator[Effect, Any, T]
#: Runs a plain function off the event loop: ``await offload(fn)``.
Offload = Callable[[Callable[[], Any]], Awaitable[Any]]


def _refuse_awaitable(name: str, value: Any) -> None:
    """Raise if a hook gave an awaitable to synchronous code, where nothing awaits it."""
    items = value if isinstance(value, list) else [value]
    awaitables = [item for item in items if inspect.isawaitable(item)]
    if not awaitables:
        return
    for item in awaitables:
        if inspect.iscoroutine(item):
            item.close()  # no "never awaited" warning on top of this error
    raise SetupError(
        f"{name} returned an awaitable: it is 'async def' but was called from synchronous "
        "code (WxPay.handle, a WSGI or Flask app). Write it as a plain 'def', or serve "
        "wxpay-mw through the ASGI or Starlette adapter, which await async hooks"
    )


def run_sync(steps: Steps[T], hook: Any, client: Any) -> T:
    """Drive ``steps`` to its result, calling hooks and ``client`` in this thread."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        value, error = None, None
        try:
            if isinstance(effect, HookCall):
                value = getattr(hook, effect.name)(**effect.kwargs)
                _refuse_awaitable(effect.name, value)
            else:
                value = getattr(client, effect.method)(**effect.kwargs)
        except Exception as exc:
            error = exc


async def run_async(steps: Steps[T], hook: Any, client: Any, aclient: Any, offload: Offload) -> T:
    """Drive ``steps`` on the running loop: async hooks awaited, plain ones offloaded.

    ``aclient`` is an async WeChat client (awaited on the loop) or None, in which case
    ``client``'s calls are offloaded like plain hooks.
    """
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        value, error = None, None
        try:
            if isinstance(effect, HookCall):
                value = await _call_hook(getattr(hook, effect.name), effect.kwargs, offload)
            elif aclient is not None:
                value = await getattr(aclient, effect.method)(**effect.kwargs)
            else:
                value = await offload(partial(getattr(client, effect.method), **effect.kwargs))
        except Exception as exc:
            error = exc


async def _call_hook(caller: Any, kwargs: dict[str, Any], offload: Offload) -> Any:
    """Call every implementation of one hook the way pluggy would, awaiting async ones."""
    impls = caller.get_hookimpls()
    firstresult = bool(caller.spec and caller.spec.opts.get("firstresult"))
    if len(impls) == 1 and is_async_impl(impls[0]):
        # The usual async host, one async implementation per hook: the loop below, for
        # one, without its list and generator (this runs three times per notification).
        impl = impls[0]
        result = impl.function(*[kwargs[name] for name in impl.argnames])
        if inspect.isawaitable(result):
            result = await result
        if firstresult:
            return result
        return [] if result is None else [result]
    if not impls:
        return None if firstresult else []
    if not any(is_async_impl(i) for i in impls):
        # All plain: one hop to a thread for the whole call, wrappers and all.
        return await offload(partial(caller, **kwargs))
    results: list[Any] = []
    # pluggy calls the last registered (and tryfirst) implementations first.
    for impl in reversed(impls):
        args = [kwargs[name] for name in impl.argnames]
        if is_async_impl(impl):
            result = impl.function(*args)
            if inspect.isawaitable(result):
                result = await result
        else:
            result = await offload(partial(impl.function, *args))
        if result is not None:
            results.append(result)
            if firstresult:
                break
    return (results[0] if results else None) if firstresult else results
