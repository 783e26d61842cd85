"""``wxpay-mw simulator --api v3``, the v3 keys' files, and the ``wxpay_v3_settings`` fixture."""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from wxpay_mw.config import WxPayConfig
from wxpay_mw.errors import WeChatError
from wxpay_mw.simulator import Simulator, _cli
from wxpay_mw.v3 import V3Settings
from wxpay_mw.v3.client import WeChatPayV3Client

from ._v3help import client, number, openid


def _run(*argv: str) -> tuple[str, threading.Event, threading.Thread, list[int]]:
    parser = argparse.ArgumentParser()
    _cli.add_arguments(parser)
    args = parser.parse_args(list(argv))
    stop, codes, out = threading.Event(), [], io.StringIO()

    def target() -> None:
        with redirect_stdout(out):
            codes.append(_cli.run(args, stop=stop))

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + 20
    while "v3 control" not in out.getvalue():
        assert time.monotonic() < deadline and thread.is_alive(), out.getvalue()
        time.sleep(0.01)
    return out.getvalue(), stop, thread, codes


def test_the_cli_prints_the_v3_settings_a_host_can_use(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WXPAY_APPID", "WXPAY_MCH_ID", "WXPAY_API_KEY", "WXPAY_APP_SECRET"):
        monkeypatch.delenv(name, raising=False)
    text, stop, thread, codes = _run("--port", "0", "--api", "v3", "--time-factor", "0.01")
    try:
        env = dict(re.findall(r"^  (WXPAY_[A-Z0-9_]+)=(\S+)$", text, re.MULTILINE))
        assert env["WXPAY_API_VERSION"] == "v3"
        assert env["WXPAY_PUBLIC_KEY_ID"].startswith("PUB_KEY_ID_")
        settings = V3Settings.from_env(env)
        assert settings.uses_public_key
        key_dir = Path(env["WXPAY_PRIVATE_KEY_PATH"]).parent
        assert key_dir.is_dir()
        # The printed settings work: a query through the v3 client.
        config = WxPayConfig(
            appid=env["WXPAY_APPID"],
            mch_id=env["WXPAY_MCH_ID"],
            api_key=env["WXPAY_API_KEY"],
            notify_url="http://127.0.0.1:9/n",
            api_base=env["WXPAY_API_BASE"],
        )
        with WeChatPayV3Client(config, settings) as c, pytest.raises(WeChatError) as caught:
            c.query_order(out_trade_no="NOT-PLACED-1")
        assert caught.value.code == "ORDER_NOT_EXIST"
    finally:
        stop.set()
        thread.join()
    assert codes == [0]
    assert not key_dir.exists()  # temporary keys go with the simulator


def test_the_cli_in_certificate_mode_prints_no_public_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WXPAY_APPID", "WXPAY_MCH_ID", "WXPAY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    text, stop, thread, codes = _run("--port", "0", "--api", "v3", "--v3-mode", "certificate")
    stop.set()
    thread.join()
    assert "WXPAY_PUBLIC_KEY_ID" not in text
    assert "/v3/certificates" in text
    assert codes == [0]


def test_a_v3_dir_keeps_the_keys_across_runs(tmp_path: Path) -> None:
    keys_dir = tmp_path / "v3keys"
    with Simulator(api="v3", v3_dir=str(keys_dir)) as first:
        settings = first.v3_settings()
        seen = (first.v3_keys.cert_serial, first.v3_keys.public_key_id, first.v3_keys.apiv3_key)
    assert (keys_dir / "apiclient_key.pem").exists()  # a given directory is kept
    assert oct((keys_dir / "apiclient_key.pem").stat().st_mode & 0o777) == "0o600"
    with Simulator(api="v3", v3_dir=str(keys_dir), time_factor=0.001) as second:
        keys = second.v3_keys
        assert (keys.cert_serial, keys.public_key_id, keys.apiv3_key) == seen
        # The settings made for the first run still work against the second.
        config = second.config(notify_url="http://127.0.0.1:9/n")
        with WeChatPayV3Client(config, settings) as c:
            no = number()
            c.jsapi_order(out_trade_no=no, total=101, description="A", openid=openid(second))
            assert c.query_order(out_trade_no=no)["trade_state"] == "NOTPAY"


def test_v3_env_and_settings_name_the_same_files() -> None:
    with Simulator(api="v3") as sim:
        env = sim.v3_env(notify_url="http://127.0.0.1:8000/wxpay/v3/notify")
        assert V3Settings.from_env(env) == sim.v3_settings()
        assert env["WXPAY_API_BASE"] == sim.base_url
        assert env["WXPAY_NOTIFY_URL"].endswith("/wxpay/v3/notify")
        assert sim.v3_keys.apiv3_key not in repr(sim.v3_keys)
        with client(sim) as c:
            assert c.keys.public_key_id == env["WXPAY_PUBLIC_KEY_ID"]


def test_v3_methods_need_a_v3_simulator() -> None:
    with Simulator() as sim, pytest.raises(RuntimeError, match="api='v3'"):
        sim.v3_settings()
    with pytest.raises(ValueError, match="api"):
        Simulator(api="v4")
    with pytest.raises(ValueError, match="v3_mode"):
        Simulator(api="v3", v3_mode="sm2")


def _host_suite(tmp_path: Path, options: str, test: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n"
        '@pytest.fixture(scope="session")\n'
        f"def wxpay_simulator_options():\n    return {options}\n"
    )
    (tmp_path / "test_host.py").write_text(textwrap.dedent(test))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


_HOST_TEST = """
    from wxpay_mw.v3.client import WeChatPayV3Client

    def test_settings(wxpay_simulator, wxpay_config, wxpay_v3_settings):
        assert wxpay_v3_settings.public_key_id.startswith("PUB_KEY_ID_")
        assert wxpay_v3_settings.platform_cert_paths
        with WeChatPayV3Client(wxpay_config, wxpay_v3_settings) as c:
            certs = c.refresh_certificates()
        assert [x.serial_no for x in certs] == [
            wxpay_simulator.v3_keys.signing_certificate.serial_no
        ]
"""


def test_the_v3_fixtures_in_a_host_test_suite(tmp_path: Path) -> None:
    options = '{"api": "v3", "v3_mode": "both", "time_factor": 0.001}'
    result = _host_suite(tmp_path, options, _HOST_TEST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_v3_settings_fixture_names_the_option_it_needs(tmp_path: Path) -> None:
    result = _host_suite(tmp_path, '{"time_factor": 0.001}', _HOST_TEST)
    assert result.returncode == 1
    assert "wxpay_v3_settings needs a v3 simulator" in result.stdout
