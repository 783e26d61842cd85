"""The leak harness itself: it must see what it claims to see, or it proves nothing."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from .leaks import LeakWatch

SECRET = "Zq7RkP2mXw9VtL4nBc8HsJ3dFg6YaE1u"


def _expect_leak(watch: LeakWatch, where: str) -> None:
    leaks = watch.leaks()
    assert leaks, f"the harness missed a leak in {where}"
    assert any(where in leak for leak in leaks), leaks
    # The report names the place but never prints the secret itself.
    assert all(SECRET[:12].lower() not in leak.lower() for leak in leaks)


def test_debug_records_of_any_logger_are_searched(leak_watch: LeakWatch) -> None:
    leak_watch.secret("api_key", SECRET)
    quiet = logging.getLogger("some.library")
    quiet.setLevel(logging.ERROR)  # a library that silences itself is still searched
    quiet.debug("signing with %s", SECRET)
    _expect_leak(leak_watch, "log DEBUG some.library")


def test_exception_text_in_a_record_is_searched(leak_watch: LeakWatch) -> None:
    leak_watch.secret("app_secret", SECRET)
    try:
        raise RuntimeError(f"secret={SECRET}")
    except RuntimeError:
        logging.getLogger("wxpay_mw.test").exception("failed")
    _expect_leak(leak_watch, "log ERROR wxpay_mw.test")


def test_extra_attributes_are_searched(leak_watch: LeakWatch) -> None:
    leak_watch.secret("session_key", SECRET)
    logging.getLogger("x").info("login", extra={"session": {"key": SECRET}})
    _expect_leak(leak_watch, "log INFO x")


def test_a_piece_of_a_secret_in_other_case_is_a_leak(leak_watch: LeakWatch) -> None:
    leak_watch.api_key(SECRET)
    leak_watch.text("answer", f"key={SECRET[5:19].upper()}...")
    _expect_leak(leak_watch, "answer")


def test_the_derived_refund_key_is_a_leak(leak_watch: LeakWatch) -> None:
    import hashlib

    leak_watch.api_key(SECRET)
    leak_watch.text("log", hashlib.md5(SECRET.encode()).hexdigest())
    _expect_leak(leak_watch, "log")


def test_chained_exceptions_are_searched(leak_watch: LeakWatch) -> None:
    leak_watch.secret("app_secret", SECRET)
    try:
        try:
            raise ValueError(SECRET)
        except ValueError:
            raise KeyError("clean") from None
    except KeyError as exc:
        leak_watch.exception("client", exc)
    # ``from None`` hides the context from tracebacks but it is still reachable.
    _expect_leak(leak_watch, "exception client")


def test_stdout_and_stderr_of_child_processes_are_searched(leak_watch: LeakWatch) -> None:
    leak_watch.secret("api_key", SECRET)
    subprocess.run(
        [sys.executable, "-c", f"import sys; sys.stderr.write({SECRET!r})"],
        check=True,
        env={**os.environ},
    )
    _expect_leak_after_streams(leak_watch, "stderr")


def _expect_leak_after_streams(watch: LeakWatch, where: str) -> None:
    watch.read_streams()
    _expect_leak(watch, where)


def test_clean_output_passes(leak_watch: LeakWatch) -> None:
    leak_watch.api_key(SECRET)
    logging.getLogger("wxpay_mw").debug("nothing secret here")
    leak_watch.assert_saw("nothing secret here")
    leak_watch.assert_clean()


def test_no_secrets_registered_is_an_error(leak_watch: LeakWatch) -> None:
    with pytest.raises(AssertionError, match="no secrets"):
        leak_watch.assert_clean()
