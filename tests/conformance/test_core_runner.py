"""CoreRunner, the async adapters' hop to a worker thread: what its docstrings promise.

Real threads and real event loops throughout. Calls that must block wait on a
``threading.Event`` that the test sets, and every wait is bounded by ``TIMEOUT``, so a
defect fails the test instead of hanging it; nothing asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
from wxpay_mw.adapters._threads import CoreRunner

TIMEOUT = 10
#: A bound for a run of asyncio.run that only waits on its own calls.
RUN_TIMEOUT = 2 * TIMEOUT

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


class Halt(BaseException):
    """A BaseException that is neither an Exception nor cancellation."""


@pytest.fixture
def runners() -> Iterator[Callable[..., CoreRunner]]:
    """Makes CoreRunners and joins their threads after the test.

    CoreRunner has no close (its threads end with the interpreter); joining them here
    keeps a thread from outliving its test. Every call the tests block waits on an Event
    with a timeout, so the join is bounded too.
    """
    made: list[CoreRunner] = []

    def make(**options: Any) -> CoreRunner:
        runner = CoreRunner(**options)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner._executor.shutdown(wait=True)


def run_loop(main: Callable[[], Awaitable[None]]) -> None:
    """``main()`` in a fresh asyncio loop, bounded so that a lost call fails the test."""

    async def bounded() -> None:
        async with asyncio.timeout(RUN_TIMEOUT):
            await main()

    asyncio.run(bounded())


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Poll ``predicate`` from the loop (without blocking it) until it holds."""
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.001)


def where(tag: str) -> tuple[str, int, str]:
    """What a call reports: its argument, and the thread it ran in."""
    thread = threading.current_thread()
    return tag, thread.ident or 0, thread.name


def test_returns_the_result_from_a_worker_thread(
    runners: Callable[..., CoreRunner],
) -> None:
    runner = runners()
    seen: list[tuple[str, int, str]] = []

    async def main() -> None:
        seen.append(await runner.run(where, "one"))
        seen.extend(await asyncio.gather(*(runner.run(where, f"n{i}") for i in range(20))))

    run_loop(main)
    assert [tag for tag, _, _ in seen] == ["one"] + [f"n{i}" for i in range(20)]
    assert threading.get_ident() not in {ident for _, ident, _ in seen}
    assert all(name.startswith("wxpay-mw") for _, _, name in seen)


def _raise(error: BaseException) -> None:
    raise error


@pytest.mark.parametrize(
    "error",
    [ValueError("bad"), Halt("halt"), SystemExit(3), KeyboardInterrupt()],
    ids=["exception", "base-exception", "system-exit", "keyboard-interrupt"],
)
def test_what_the_call_raised_reaches_the_awaiting_task(
    runners: Callable[..., CoreRunner], error: BaseException
) -> None:
    runner = runners()
    caught: list[BaseException] = []

    async def main() -> None:
        # Awaited directly, not in a task of its own: asyncio re-raises SystemExit and
        # KeyboardInterrupt out of a task that ends with them.
        try:
            await runner.run(_raise, error)
        except BaseException as exc:
            caught.append(exc)
        caught.append(await runner.run(lambda e: e, error))  # the runner still works

    run_loop(main)
    assert caught == [error, error]
    assert caught[0] is error


def test_stop_iteration_becomes_runtime_error(runners: Callable[..., CoreRunner]) -> None:
    runner = runners()
    stop = StopIteration("exhausted")

    async def main() -> None:
        with pytest.raises(RuntimeError, match="StopIteration") as info:
            await runner.run(_raise, stop)
        assert info.value.__cause__ is stop

    run_loop(main)


def test_context_variables_set_before_the_call_are_visible_in_it(
    runners: Callable[..., CoreRunner],
) -> None:
    runner = runners()

    def read_and_set(suffix: str) -> str:
        seen = request_id.get()
        request_id.set("changed in the thread")
        return seen + suffix

    async def one(name: str) -> str:
        request_id.set(name)
        seen = await runner.run(read_and_set, "!")
        # The call ran in a copy: what it set stays there, as with anyio.
        assert request_id.get() == name
        return seen

    async def main() -> None:
        assert await asyncio.gather(one("a"), one("b"), one("c")) == ["a!", "b!", "c!"]

    run_loop(main)
    assert request_id.get() == "unset"


def test_blocked_calls_spill_to_more_threads_but_never_past_max_threads(
    runners: Callable[..., CoreRunner],
) -> None:
    runner = runners(max_threads=3)
    release = threading.Event()
    lock = threading.Lock()
    active = [0]
    peak = [0]
    threads: set[int] = set()

    def blocking(i: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            threads.add(threading.get_ident())
        try:
            release.wait(TIMEOUT)
        finally:
            with lock:
                active[0] -= 1
        return i

    async def main() -> None:
        calls = asyncio.gather(*(runner.run(blocking, i) for i in range(9)))
        try:
            await until(lambda: active[0] == 3, "three calls block at once")
            # Room for a wrongful fourth thread to show up before the calls are let go.
            await asyncio.sleep(0.02)
        finally:
            release.set()
        assert await calls == list(range(9))

    try:
        run_loop(main)
    finally:
        release.set()
    assert peak[0] == 3
    assert 1 < len(threads) <= 3
    assert threading.get_ident() not in threads


def test_sleeping_calls_spill_to_more_threads(runners: Callable[..., CoreRunner]) -> None:
    runner = runners(max_threads=3)
    lock = threading.Lock()
    active = [0]
    peak = [0]
    names: set[str] = set()

    def sleepy(i: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            names.add(threading.current_thread().name)
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return i

    async def main() -> None:
        assert await asyncio.gather(*(runner.run(sleepy, i) for i in range(6))) == list(range(6))

    run_loop(main)
    assert len(names) > 1
    assert peak[0] <= 3


def test_a_call_cancelled_before_it_started_never_runs(
    runners: Callable[..., CoreRunner],
) -> None:
    # One thread, so the second call queues behind the first for as long as it blocks.
    runner = runners(max_threads=1)
    entered, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def first(_: None) -> str:
        entered.set()
        release.wait(TIMEOUT)
        ran.append("first")
        return "first"

    def second(_: None) -> str:
        ran.append("second")
        return "second"

    async def main() -> None:
        blocker = asyncio.create_task(runner.run(first, None))
        await until(entered.is_set, "the only thread is busy")
        queued = asyncio.create_task(runner.run(second, None))
        await asyncio.sleep(0)  # runs up to its one await: the call is queued
        assert not queued.done()
        queued.cancel()
        release.set()
        assert await blocker == "first"
        with pytest.raises(asyncio.CancelledError):
            await queued
        # Calls are taken in order: once a later one has run, the cancelled one is gone.
        assert await runner.run(lambda _: "third", None) == "third"

    try:
        run_loop(main)
    finally:
        release.set()
    assert ran == ["first"]


def test_a_call_cancelled_after_it_started_finishes_in_the_background(
    runners: Callable[..., CoreRunner],
) -> None:
    runner = runners()
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    errors: list[dict[str, Any]] = []

    def slow(_: None) -> str:
        entered.set()
        release.wait(TIMEOUT)
        finished.set()
        return "dropped"

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        task = asyncio.create_task(runner.run(slow, None))
        await until(entered.is_set, "the call started")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not finished.is_set()  # a thread cannot be stopped: the call goes on
        release.set()
        await until(finished.is_set, "the cancelled call finished")
        # Its result was handed back before this later call's, and dropped quietly.
        assert await runner.run(lambda _: "next", None) == "next"

    try:
        run_loop(main)
    finally:
        release.set()
    assert errors == []


def test_one_runner_serves_event_loops_one_after_another(
    runners: Callable[..., CoreRunner],
) -> None:
    runner = runners()
    seen: list[tuple[str, int, str]] = []
    for loop_name in ("first", "second", "third"):

        async def main(loop_name: str = loop_name) -> None:
            seen.extend(await asyncio.gather(*(runner.run(where, loop_name) for _ in range(5))))

        run_loop(main)
    assert [tag for tag, _, _ in seen] == ["first"] * 5 + ["second"] * 5 + ["third"] * 5
    assert threading.get_ident() not in {ident for _, ident, _ in seen}


def test_a_closed_loop_does_not_keep_the_next_loop_from_spilling(
    runners: Callable[..., CoreRunner],
) -> None:
    # The first loop ends with the only thread blocked and a spill check pending on it;
    # the next loop's call, queued at once behind that thread, must still get another
    # thread after waiting ``spill``. A long spill makes "at once" certain.
    runner = runners(max_threads=2, spill=0.25)
    entered, release = threading.Event(), threading.Event()
    stuck_in: list[int] = []

    def stuck(_: None) -> str:
        stuck_in.append(threading.get_ident())
        entered.set()
        release.wait(TIMEOUT)
        return "stuck"

    async def first_loop() -> None:
        started = asyncio.create_task(runner.run(stuck, None))
        await until(entered.is_set, "the only thread is busy")
        queued = asyncio.create_task(runner.run(where, "queued"))
        await asyncio.sleep(0)
        started.cancel()
        queued.cancel()

    async def next_loop() -> None:
        tag, ident, _ = await runner.run(where, "next")
        # Not run by the stuck thread once its wait gave up: by a thread of its own.
        assert (tag, release.is_set()) == ("next", False)
        assert ident not in {threading.get_ident(), *stuck_in}

    try:
        run_loop(first_loop)
        run_loop(next_loop)
    finally:
        release.set()


def test_one_runner_serves_event_loops_in_two_threads(
    runners: Callable[..., CoreRunner],
) -> None:
    runner = runners(max_threads=4)
    results: dict[str, list[tuple[str, int, str]]] = {}
    failures: list[BaseException] = []
    loop_threads: dict[str, int] = {}

    def sleepy(tag: str) -> tuple[str, int, str]:
        time.sleep(0.01)
        return where(tag)

    def serve(name: str) -> None:
        async def main() -> None:
            loop_threads[name] = threading.get_ident()
            calls = (runner.run(sleepy if i % 2 else where, name) for i in range(10))
            results[name] = list(await asyncio.gather(*calls))

        try:
            run_loop(main)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=serve, args=(name,)) for name in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RUN_TIMEOUT + TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    for name in ("left", "right"):
        assert [tag for tag, _, _ in results[name]] == [name] * 10
        assert not {ident for _, ident, _ in results[name]} & set(loop_threads.values())


def test_other_event_loops_go_through_anyio(runners: Callable[..., CoreRunner]) -> None:
    # trio is a dev dependency, so this runs wherever the tests do.
    runner = runners()
    outcome: list[object] = []

    async def main() -> None:
        request_id.set("under trio")
        outcome.append(await runner.run(lambda suffix: request_id.get() + suffix, "!"))
        with pytest.raises(Halt):
            await runner.run(_raise, Halt())
        outcome.append(await runner.run(lambda _: threading.get_ident(), None))

    anyio.run(main, backend="trio")
    assert outcome[0] == "under trio!"
    assert outcome[1] != threading.get_ident()
