"""Config: validation names the setting; secrets never show."""

from __future__ import annotations

from typing import Any

import pytest

from wxpay_mw import ConfigError, WxPayConfig

KEY = "192006250b4c09247ec02edce69f6a2d"
SECRET = "0123456789abcdef0123456789abcdef"
GOOD: dict[str, Any] = {
    "appid": "wxd930ea5d5a258f4f",
    "mch_id": "10000100",
    "api_key": KEY,
    "app_secret": SECRET,
    "notify_url": "https://shop.example.com/wxpay/notify",
}
ENV = {
    "WXPAY_APPID": GOOD["appid"],
    "WXPAY_MCH_ID": GOOD["mch_id"],
    "WXPAY_API_KEY": KEY,
    "WXPAY_APP_SECRET": SECRET,
    "WXPAY_NOTIFY_URL": GOOD["notify_url"],
}


def test_valid_config_and_defaults() -> None:
    config = WxPayConfig(**GOOD)
    assert config.sign_type == "MD5"
    assert config.api_base == "https://api.mch.weixin.qq.com"
    assert config.connect_timeout > 0 and config.read_timeout > 0


def test_repr_and_str_hide_secrets() -> None:
    config = WxPayConfig(**GOOD)
    for text in (repr(config), str(config), f"{config}"):
        assert KEY not in text and SECRET not in text
        assert "api_key=***" in text and "appid='wxd930ea5d5a258f4f'" in text


@pytest.mark.parametrize(
    ("change", "setting", "words"),
    [
        ({"api_key": "short"}, "WXPAY_API_KEY", "32-character"),
        ({"api_key": "x" * 31 + "!"}, "WXPAY_API_KEY", "32-character"),
        ({"mch_id": "12ab"}, "WXPAY_MCH_ID", "digits"),
        ({"appid": "abc"}, "WXPAY_APPID", "'wx'"),
        ({"appid": "wxd930ea5d5a258f4f\n"}, "WXPAY_APPID", "'wx'"),
        ({"api_key": KEY + "\n"}, "WXPAY_API_KEY", "32-character"),
        ({"notify_url": "ftp://x/notify"}, "WXPAY_NOTIFY_URL", "not an http(s) URL"),
        ({"notify_url": "https://x/notify?a=1"}, "WXPAY_NOTIFY_URL", "query string"),
        ({"sign_type": "SHA1"}, "WXPAY_SIGN_TYPE", "MD5 or HMAC-SHA256"),
        ({"app_secret": " "}, "WXPAY_APP_SECRET", "empty"),
        ({"cert_path": "/nonexistent.pem"}, "WXPAY_KEY_PATH", "both"),
        (
            {"cert_path": "/nonexistent.pem", "key_path": "/nonexistent.key"},
            "WXPAY_CERT_PATH",
            "no file",
        ),
        ({"read_timeout": 0}, "WXPAY_READ_TIMEOUT", "positive"),
        ({"api_base": "localhost:8000"}, "WXPAY_API_BASE", "http(s)"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_settings_name_the_setting(change: dict[str, Any], setting: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        WxPayConfig(**{**GOOD, **change})
    assert info.value.setting == setting
    assert str(info.value).startswith(setting)
    assert words in str(info.value)
    assert KEY not in str(info.value)


def test_bad_api_key_is_not_echoed() -> None:
    bad = "s3cr3t-but-only-31-characters-x"
    with pytest.raises(ConfigError) as info:
        WxPayConfig(**{**GOOD, "api_key": bad})
    assert bad not in str(info.value)


def test_from_env_reads_every_documented_name() -> None:
    env = {
        **ENV,
        "WXPAY_SIGN_TYPE": "hmac-sha256",
        "WXPAY_API_BASE": "http://127.0.0.1:9000/",
        "WXPAY_LOGIN_BASE": "http://127.0.0.1:9000",
        "WXPAY_SANDBOX": "yes",
        "WXPAY_CONNECT_TIMEOUT": "1.5",
        "WXPAY_READ_TIMEOUT": "3",
    }
    config = WxPayConfig.from_env(env)
    assert config.sign_type == "HMAC-SHA256"
    assert config.api_base == "http://127.0.0.1:9000"
    assert config.sandbox is True
    assert (config.connect_timeout, config.read_timeout) == (1.5, 3.0)
    assert config.app_secret == SECRET


@pytest.mark.parametrize(
    "missing", ["WXPAY_APPID", "WXPAY_MCH_ID", "WXPAY_API_KEY", "WXPAY_NOTIFY_URL"]
)
def test_from_env_names_a_missing_setting(missing: str) -> None:
    env = {k: v for k, v in ENV.items() if k != missing}
    with pytest.raises(ConfigError, match=f"^{missing}: is not set"):
        WxPayConfig.from_env(env)


def test_from_env_rejects_bad_booleans_and_numbers() -> None:
    with pytest.raises(ConfigError, match="WXPAY_SANDBOX"):
        WxPayConfig.from_env({**ENV, "WXPAY_SANDBOX": "maybe"})
    with pytest.raises(ConfigError, match="WXPAY_READ_TIMEOUT"):
        WxPayConfig.from_env({**ENV, "WXPAY_READ_TIMEOUT": "soon"})


def test_overrides_win_over_env() -> None:
    assert WxPayConfig.from_env(ENV, mch_id="42").mch_id == "42"


def test_with_changes_validates_again() -> None:
    config = WxPayConfig(**GOOD)
    with pytest.raises(ConfigError, match="WXPAY_MCH_ID"):
        config.with_changes(mch_id="x")
