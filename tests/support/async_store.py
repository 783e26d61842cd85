"""AsyncMemoryStore: MemoryStore with every hook ``async def``, as an async host writes them.

Each hook yields to the event loop once (as a real async database driver would) and then
does exactly what MemoryStore does, so every assertion about MemoryStore holds for it.
``threads`` records the name of the thread each hook ran in (the event loop's, if wxpay-mw
awaits them as it should, never one of its worker threads).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from tests.support.store import MemoryStore

__all__ = ["AsyncMemoryStore"]

_HOOKS = [name for name in vars(MemoryStore) if name.startswith("wxpay_")]


def _awaitable(name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
    sync = getattr(MemoryStore, name)

    @functools.wraps(sync)  # the same signature: pluggy passes the same arguments
    async def hook(self: MemoryStore, *args: Any) -> Any:
        await asyncio.sleep(0)
        self.__dict__.setdefault("threads", []).append(threading.current_thread().name)
        return sync(self, *args)

    return hook


AsyncMemoryStore = type(
    "AsyncMemoryStore",
    (MemoryStore,),
    {"__doc__": __doc__, **{name: _awaitable(name) for name in _HOOKS}},
)
