"""Running the synchronous core off the event loop, for the async adapters.

Hooks are plain synchronous functions that may wait on a database, and prepay waits on
WeChat, so the ASGI adapters never call ``WxPay.handle`` on the event loop: each request
makes one hop to a worker thread and back. With anyio's ``to_thread.run_sync`` every
hop wakes a worker thread of its own and hands the GIL over twice, which costs about
half of what a bare endpoint serves.

:class:`CoreRunner` keeps the hop and makes it cheaper on asyncio: calls queue up, and
one thread takes them one after another for as long as it keeps up; a call that has
waited ``spill`` seconds (the busy threads are blocked: a slow hook, a WeChat call)
brings in another thread, up to ``max_threads`` (40, as anyio's default limiter). The
threads come from a ``ThreadPoolExecutor``, so they end with the interpreter, after the
call they are running. Context variables are copied into the call, as anyio does.
Under any other event loop (trio), calls go through ``anyio.to_thread.run_sync``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

import anyio.to_thread

__all__ = ["CoreRunner"]

T = TypeVar("T")
A = TypeVar("A")

#: anyio's default thread limit: at most this many calls wait on WeChat or a database.
MAX_THREADS: Final = 40
#: How long a queued call waits for a busy thread before another one is brought in.
SPILL_SECONDS: Final = 0.001

_Job = tuple[
    contextvars.Context,
    Callable[[Any], Any],
    Any,
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
    float,
]


def _resolve(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is None:
        future.set_result(result)
    elif isinstance(exc, StopIteration):
        # A future cannot carry StopIteration (anyio turns it into RuntimeError too).
        error = RuntimeError("the call raised StopIteration")
        error.__cause__ = exc
        future.set_exception(error)
    else:
        future.set_exception(exc)


class CoreRunner:
    """Runs one-argument synchronous calls in worker threads; see the module docstring.

    One per adapter instance. Thread-safe, and usable from several event loops.
    """

    def __init__(self, max_threads: int = MAX_THREADS, spill: float = SPILL_SECONDS) -> None:
        if max_threads < 1:
            raise ValueError("max_threads must be positive")
        self.max_threads = max_threads
        self.spill = spill
        self._executor = ThreadPoolExecutor(max_threads, thread_name_prefix="wxpay-mw")
        self._lock = threading.Lock()
        self._jobs: deque[_Job] = deque()
        self._running = 0  # threads taking jobs off the queue (idle ones are not counted)
        # When each loop's next spill check is due (none: no check pending there). A loop
        # closed with a check pending takes it along, so the time is kept per loop: a
        # single one would stop other loops from scheduling theirs until it has passed.
        self._check_due: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, float] = (
            weakref.WeakKeyDictionary()
        )
        self._finished = 0  # calls done so far, and as of the last check
        self._finished_at_check = 0

    async def run(self, fn: Callable[[A], T], arg: A) -> T:
        """``fn(arg)`` in a worker thread; its result, or what it raised."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): anyio's own threads
            return await anyio.to_thread.run_sync(fn, arg)
        future: asyncio.Future[T] = loop.create_future()
        now = time.monotonic()
        job: _Job = (contextvars.copy_context(), fn, arg, loop, future, now)
        start = check = False
        with self._lock:
            self._jobs.append(job)
            if self._running == 0:
                self._running = 1
                start = True
            elif now >= self._check_due.get(loop, 0.0):
                self._check_due[loop] = now + self.spill
                check = True
        if start:
            self._start(1)
        elif check:
            loop.call_later(self.spill, self._check, loop)
        # Cancelled while waiting: the call still runs if it has started (a thread cannot
        # be stopped) and its result is dropped; if it has not, it is skipped (as anyio).
        return await future

    def _start(self, count: int) -> None:
        started = 0
        try:
            for _ in range(count):
                self._executor.submit(self._drain)
                started += 1
        finally:
            if started < count:  # the interpreter is shutting down
                with self._lock:
                    self._running -= count - started

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop, ``spill`` after a call was queued behind a busy thread."""
        now = time.monotonic()
        with self._lock:
            # Calls finished since the last check: the threads are busy, not blocked, and
            # more threads would only fight over the GIL.
            progress = self._finished != self._finished_at_check
            self._finished_at_check = self._finished
            waiting = 0
            for job in self._jobs:
                if progress or now - job[5] < self.spill:
                    break
                waiting += 1
            more = max(0, min(waiting, self.max_threads - self._running))
            self._running += more
            again = bool(self._jobs)
            if again:
                self._check_due[loop] = now + self.spill
            else:
                self._check_due.pop(loop, None)
        if more:
            self._start(more)
        if again:
            loop.call_later(self.spill, self._check, loop)

    def _drain(self) -> None:
        """In a worker thread: take queued calls until there are none left."""
        finished = False
        while True:
            with self._lock:
                if finished:
                    self._finished += 1
                if not self._jobs:
                    self._running -= 1
                    return
                context, fn, arg, loop, future, _ = self._jobs.popleft()
            finished = False
            if future.cancelled():
                continue
            finished = True
            result: Any = None
            exc: BaseException | None = None
            try:
                result = context.run(fn, arg)
            except BaseException as error:  # handed to the awaiting task, as anyio does
                exc = error
            # A closed loop raises RuntimeError: nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future, result, exc)
            del result, exc
