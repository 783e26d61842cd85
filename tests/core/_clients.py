"""Both WeChat clients behind one synchronous face, so one test body runs against each.

``AsyncFacade`` runs an :class:`AsyncWeChatClient` on an event loop of its own, in a
thread, and waits for each call there. Calls from several test threads at once become
concurrent tasks on that one loop, which is how an async host uses the client.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Literal, Self

import pytest

from wxpay_mw.aclient import AsyncWeChatClient
from wxpay_mw.client import WeChatClient
from wxpay_mw.config import WxPayConfig

Kind = Literal["sync", "async"]
KINDS: tuple[Kind, ...] = ("sync", "async")


class AsyncFacade:
    """An AsyncWeChatClient whose coroutine methods are called like WeChatClient's."""

    def __init__(self, config: WxPayConfig, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.client = self._wait(self._make(config, options))

    async def _make(self, config: WxPayConfig, options: dict[str, Any]) -> AsyncWeChatClient:
        return AsyncWeChatClient(config, **options)

    def _wait(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._wait(attr(*args, **kwargs))

        return call

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._wait(self.client.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self.client)


Client = WeChatClient | AsyncFacade


def open_client(kind: Kind, config: WxPayConfig, **options: Any) -> Client:
    """A WeChatClient, or an AsyncWeChatClient behind its facade."""
    if kind == "sync":
        return WeChatClient(config, **options)
    if kind == "async":
        return AsyncFacade(config, **options)
    # A test parametrized with its own "kind" hides the fixture; fail, never guess.
    raise ValueError(f"unknown client kind {kind!r}")


# Where and at which level each client records trying a connection again: urllib3 at
# WARNING ("Retrying ..."), the async client itself at WARNING ("... trying again ...").
_RETRIES: dict[Kind, tuple[str, str]] = {
    "sync": ("urllib3.connectionpool", "Retrying"),
    "async": ("wxpay_mw.client", "trying again"),
}


@contextmanager
def retries_captured(kind: Kind, caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], int]]:
    """Within the block, log the client's connect retries; yields their counter."""
    logger, words = _RETRIES[kind]

    def count() -> int:
        return sum(1 for r in caplog.records if r.name == logger and words in r.getMessage())

    with caplog.at_level(logging.WARNING, logger=logger):
        yield count
