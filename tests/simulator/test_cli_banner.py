"""``wxpay-mw simulator``: --help explains the stable merchant; the banner lists every
setting an app needs, enough to build its WxPayConfig from the banner alone."""

from __future__ import annotations

import io
import re

import pytest

from wxpay_mw.cli import main
from wxpay_mw.config import WxPayConfig
from wxpay_mw.simulator import Merchant
from wxpay_mw.simulator._cli import _print_banner

BASE = "http://127.0.0.1:8700"


def _settings(banner: str) -> dict[str, str]:
    return dict(re.findall(r"^  (WXPAY_\w+)=(\S+)$", banner, re.M))


def test_help_says_exporting_the_settings_gives_a_stable_merchant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["simulator", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "stable merchant" in text
    for name in ("WXPAY_APPID", "WXPAY_MCH_ID", "WXPAY_API_KEY", "WXPAY_APP_SECRET"):
        assert name in text
    assert "trigger" in text


def test_banner_of_a_test_merchant_is_a_complete_config() -> None:
    merchant = Merchant()
    out = io.StringIO()
    _print_banner(out, BASE, merchant, False, environ={})
    banner = out.getvalue()
    config = WxPayConfig.from_env(_settings(banner))
    assert (config.appid, config.mch_id) == (merchant.appid, merchant.mch_id)
    assert (config.api_key, config.app_secret) == (merchant.api_key, merchant.app_secret)
    assert config.api_base == config.login_base == BASE
    assert config.notify_url == "http://127.0.0.1:8000/wxpay/notify"
    assert config.refund_notify_url == "http://127.0.0.1:8000/wxpay/refund-notify"
    assert "is an example" in banner
    assert f"{BASE}/simulator/" in banner


def test_banner_of_an_exported_merchant_echoes_no_secret() -> None:
    merchant = Merchant(
        appid="wx1234567890abcdef",
        mch_id="1230000109",
        api_key="0123456789abcdef0123456789abcdef",
        app_secret="fedcba9876543210fedcba9876543210",
        refund_notify_url="https://shop.example/wxpay/refund-notify",
    )
    environ = {
        "WXPAY_APPID": merchant.appid,
        "WXPAY_MCH_ID": merchant.mch_id,
        "WXPAY_API_KEY": merchant.api_key,
        "WXPAY_APP_SECRET": merchant.app_secret,
        "WXPAY_NOTIFY_URL": "https://shop.example/wxpay/notify",
    }
    out = io.StringIO()
    _print_banner(out, BASE, merchant, True, environ=environ)
    banner = out.getvalue()
    assert merchant.api_key not in banner and merchant.app_secret not in banner
    assert "WXPAY_API_KEY=(as exported)" in banner
    settings = _settings(banner)
    assert settings["WXPAY_NOTIFY_URL"] == "https://shop.example/wxpay/notify"
    assert settings["WXPAY_REFUND_NOTIFY_URL"] == "https://shop.example/wxpay/refund-notify"
    assert settings["WXPAY_MCH_ID"] == "1230000109"
    assert "is an example" not in banner
    # With the exported secrets added back, the banner's settings make the app's config.
    config = WxPayConfig.from_env({**environ, **settings})
    assert config.api_base == BASE


def test_banner_warns_when_logins_cannot_work() -> None:
    out = io.StringIO()
    _print_banner(out, BASE, Merchant(), True, environ={})
    assert "WXPAY_APP_SECRET is not set" in out.getvalue()
