"""Fixtures for the reliability suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .leaks import LeakWatch


@pytest.fixture
def leak_watch(capfd: pytest.CaptureFixture[str]) -> Iterator[LeakWatch]:
    """A :class:`LeakWatch` collecting every log record, stdout and stderr from now on.

    The test registers its secrets, runs, then calls ``leak_watch.assert_clean()``.
    """
    watch = LeakWatch(streams=capfd)
    watch.install()
    try:
        yield watch
    finally:
        watch.uninstall()
