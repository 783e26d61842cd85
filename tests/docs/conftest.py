"""The environment a reader of the docs would have: WXPAY_* pointed at the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from wxpay_mw import WxPayConfig


@pytest.fixture
def wxpay_env(wxpay_config: WxPayConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """WXPAY_* for the simulator's merchant, and a fresh current directory."""
    monkeypatch.chdir(tmp_path)  # examples write their SQLite file in the current directory
    for name, value in {
        "WXPAY_APPID": wxpay_config.appid,
        "WXPAY_MCH_ID": wxpay_config.mch_id,
        "WXPAY_API_KEY": wxpay_config.api_key,
        "WXPAY_APP_SECRET": wxpay_config.app_secret or "",
        "WXPAY_NOTIFY_URL": wxpay_config.notify_url,
        "WXPAY_API_BASE": wxpay_config.api_base,
        "WXPAY_LOGIN_BASE": wxpay_config.login_base,
    }.items():
        monkeypatch.setenv(name, value)
