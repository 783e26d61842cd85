"""The pytest fixtures (this very run loads the plugin) and the CLI hook."""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import threading
import time
from contextlib import redirect_stdout

import pytest
import requests

from wxpay_mw.config import WxPayConfig
from wxpay_mw.simulator import Simulator, _cli

from .conftest import place


def test_fixtures_give_a_reset_simulator_and_a_config(
    wxpay_simulator: Simulator, wxpay_config: WxPayConfig
) -> None:
    assert wxpay_config.api_base == wxpay_config.login_base == wxpay_simulator.base_url
    assert wxpay_config.api_key == wxpay_simulator.merchant.api_key
    assert wxpay_config.appid == wxpay_simulator.merchant.appid
    assert wxpay_simulator.notifications() == []
    place(wxpay_simulator)  # left behind for the next test to not see


def test_fixture_state_does_not_leak_between_tests(wxpay_simulator: Simulator) -> None:
    assert wxpay_simulator.notifications() == []
    with wxpay_simulator._ctx.state.lock:
        assert wxpay_simulator._ctx.state.orders == {}


def test_importing_the_plugin_starts_nothing() -> None:
    code = (
        "import sys, threading; import wxpay_mw.simulator.pytest_plugin; "
        "print(threading.active_count(), 'wxpay_mw.simulator._server' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "False"]


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    _cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def _run_cli(args: argparse.Namespace) -> tuple[str, threading.Event, threading.Thread, list[int]]:
    stop, codes, out = threading.Event(), [], io.StringIO()

    def target() -> None:
        with redirect_stdout(out):
            codes.append(_cli.run(args, stop=stop))

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + 10
    while "WXPAY_LOGIN_BASE" not in out.getvalue():
        assert time.monotonic() < deadline and thread.is_alive(), out.getvalue()
        time.sleep(0.01)
    return out.getvalue(), stop, thread, codes


def test_cli_runs_a_default_merchant_and_prints_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WXPAY_APPID", "WXPAY_MCH_ID", "WXPAY_API_KEY", "WXPAY_APP_SECRET"):
        monkeypatch.delenv(name, raising=False)
    text, stop, thread, codes = _run_cli(_parse("--port", "0", "--time-factor", "0.01"))
    try:
        base = re.search(r"WXPAY_API_BASE=(\S+)", text).group(1)  # type: ignore[union-attr]
        assert re.search(r"WXPAY_API_KEY=[0-9a-f]{32}", text)
        assert requests.post(base + "/simulator/login", timeout=10).json()["code"]
    finally:
        stop.set()
        thread.join()
    assert codes == [0]


def test_cli_uses_the_apps_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "0123456789abcdef0123456789abcdef"
    monkeypatch.setenv("WXPAY_APPID", "wx1234567890abcdef")
    monkeypatch.setenv("WXPAY_MCH_ID", "1230000109")
    monkeypatch.setenv("WXPAY_API_KEY", key)
    monkeypatch.setenv("WXPAY_APP_SECRET", "s3cret-app")
    text, stop, thread, codes = _run_cli(_parse("--port", "0"))
    stop.set()
    thread.join()
    assert "mch_id 1230000109" in text
    assert key not in text and "s3cret-app" not in text
    assert codes == [0]


def test_cli_refuses_partial_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WXPAY_APPID", "wx1234567890abcdef")
    monkeypatch.delenv("WXPAY_MCH_ID", raising=False)
    monkeypatch.delenv("WXPAY_API_KEY", raising=False)
    assert _cli.run(_parse("--port", "0")) == 2
    assert "WXPAY_MCH_ID" in capsys.readouterr().err
