"""WXPAY_API_VERSION: v2 by default; v3 reads the v3 settings, needs no v2 key, and every
mistake is a ConfigError naming the setting, with no secret in it."""

from __future__ import annotations

import pytest

from tests.support import MemoryStore
from wxpay_mw import WxPay, WxPayConfig
from wxpay_mw.errors import BadRequestError, ConfigError, SetupError
from wxpay_mw.simulator import Simulator
from wxpay_mw.v3.payclient import V3PayClient

from .conftest import v3_config

URL = "http://127.0.0.1:9/wxpay/notify"


def _env(sim: Simulator, **changes: str | None) -> dict[str, str]:
    env = sim.v3_env(URL)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def test_v2_stays_the_default_and_still_needs_its_key(sim: Simulator) -> None:
    env = _env(sim, WXPAY_API_VERSION=None)
    config = WxPayConfig.from_env(env)
    assert (config.api_version, config.v3) == ("v2", None)
    assert config.token_key == config.api_key == sim.merchant.api_key
    with pytest.raises(ConfigError) as raised:
        WxPayConfig.from_env(_env(sim, WXPAY_API_VERSION=None, WXPAY_API_KEY=None))
    assert raised.value.setting == "WXPAY_API_KEY"


def test_v3_reads_the_v3_settings_and_tokens_use_the_apiv3_key(sim: Simulator) -> None:
    config = WxPayConfig.from_env(_env(sim, WXPAY_API_KEY=None, WXPAY_API_VERSION="V3"))
    assert config.api_version == "v3" and config.v3 is not None
    assert config.v3.public_key_id == sim.v3_keys.public_key_id
    assert config.token_key == sim.v3_keys.apiv3_key
    for shown in (repr(config), str(config)):
        assert sim.v3_keys.apiv3_key not in shown and sim.merchant.api_key not in shown


@pytest.mark.parametrize(
    ("changes", "setting", "words"),
    [
        ({"WXPAY_API_VERSION": "v4"}, "WXPAY_API_VERSION", "use v2 or v3"),
        ({"WXPAY_APIV3_KEY": None}, "WXPAY_APIV3_KEY", "is not set"),
        ({"WXPAY_APIV3_KEY": "short"}, "WXPAY_APIV3_KEY", "is 5 bytes"),
        ({"WXPAY_CERT_SERIAL": None}, "WXPAY_CERT_SERIAL", "is not set"),
        ({"WXPAY_PRIVATE_KEY_PATH": "/nonexistent.pem"}, "WXPAY_PRIVATE_KEY_PATH", ""),
        ({"WXPAY_SANDBOX": "1"}, "WXPAY_SANDBOX", "v2 only"),
        ({"WXPAY_NOTIFY_URL": None}, "WXPAY_NOTIFY_URL", "is not set"),
    ],
)
def test_each_v3_mistake_names_its_setting(
    sim: Simulator, changes: dict[str, str | None], setting: str, words: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        WxPayConfig.from_env(_env(sim, **changes))
    assert raised.value.setting == setting
    assert words in str(raised.value)
    assert sim.v3_keys.apiv3_key not in str(raised.value)


def test_v3_without_settings_given_in_code_is_refused(sim: Simulator) -> None:
    with pytest.raises(ConfigError) as raised:
        sim.config(notify_url=URL, api_version="v3")
    assert raised.value.setting == "WXPAY_APIV3_KEY"
    assert "v3=V3Settings" in str(raised.value)
    settings = sim.v3_settings()
    config = sim.config(notify_url=URL, api_version="v3", v3=settings, api_key="")
    assert config.v3 is settings


def test_wxpay_builds_the_v3_client_and_refuses_a_v2_async_client(sim: Simulator) -> None:
    config = v3_config(sim, "http://127.0.0.1:9")
    with WxPay(config) as wxpay:
        assert isinstance(wxpay.client, V3PayClient)
        assert "PUB_KEY_ID_" in repr(wxpay.client)
        with pytest.raises(SetupError, match="WXPAY_SANDBOX is v2 only"):
            wxpay.client.signing_key()
    with pytest.raises(ValueError, match="aclient is a v2 client"):
        WxPay(config, aclient=object())
    with pytest.raises(SetupError, match="WXPAY_API_VERSION=v3"):
        V3PayClient(sim.config(notify_url=URL))


def test_refund_query_by_order_alone_is_refused_in_v3(sim: Simulator) -> None:
    with (
        WxPay(v3_config(sim, "http://127.0.0.1:9"), MemoryStore()) as wxpay,
        pytest.raises(BadRequestError, match="out_refund_no only"),
    ):
        wxpay.refund_query(out_trade_no="T0001")


def test_the_body_only_notify_api_refuses_v3_mode(sim: Simulator) -> None:
    import asyncio

    with WxPay(v3_config(sim, "http://127.0.0.1:9"), MemoryStore()) as wxpay:
        for name in ("notify", "refund_notify"):
            with pytest.raises(SetupError, match=r"wxpay.handle\(Request"):
                getattr(wxpay, name)(b"{}")
        for name in ("anotify", "arefund_notify"):
            with pytest.raises(SetupError, match="answered by HTTP status"):
                asyncio.run(getattr(wxpay, name)(b"{}"))


def test_clients_passed_in_stay_the_callers(sim: Simulator) -> None:
    import datetime as _dt

    from wxpay_mw.client import WeChatClient
    from wxpay_mw.errors import WeChatError
    from wxpay_mw.v3.client import WeChatPayV3Client

    config = v3_config(sim, "http://127.0.0.1:9")
    assert config.v3 is not None
    with WeChatPayV3Client(config, config.v3) as v3, WeChatClient(config) as login:
        client = V3PayClient(config, v3, login)
        client.close()
        # Still open: the caller closes them.
        assert login.code2session(sim.login()).openid
        with pytest.raises(WeChatError) as raised:
            # Today's bill does not exist before 10:00 tomorrow; a date object is sent as is.
            client.download_bill(_dt.date.today() + _dt.timedelta(days=2))
        assert raised.value.code == "PARAM_ERROR"


def test_a_config_without_notify_url_names_it(sim: Simulator) -> None:
    with pytest.raises(ConfigError) as raised:
        WxPayConfig(appid=sim.merchant.appid, mch_id=sim.merchant.mch_id, api_key="a" * 32)
    assert raised.value.setting == "WXPAY_NOTIFY_URL" and "is not set" in str(raised.value)


def test_v3_settings_passed_to_from_env_are_used_as_given(sim: Simulator) -> None:
    settings = sim.v3_settings()
    env = {k: v for k, v in _env(sim).items() if not k.startswith("WXPAY_APIV3")}
    config = WxPayConfig.from_env(env, v3=settings)
    assert config.v3 is settings
