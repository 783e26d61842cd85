"""WxPayConfig: the merchant's settings, validated once at start-up.

A bad setting fails when the app starts, with a message that names the setting and says
what is wrong, rather than as a SIGNERROR on the first customer's payment. The API key and
the app secret never appear in ``repr``, ``str`` or any message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit

from ._logsafe import masked_repr
from .errors import ConfigError
from .signing import SIGN_TYPES, SignType

if TYPE_CHECKING:
    from .v3.settings import V3Settings

__all__ = ["API_VERSIONS", "DEFAULT_API_BASE", "DEFAULT_LOGIN_BASE", "ApiVersion", "WxPayConfig"]

ApiVersion = Literal["v2", "v3"]
#: The WeChat Pay API versions a merchant can speak (WXPAY_API_VERSION).
API_VERSIONS: Final = ("v2", "v3")

DEFAULT_API_BASE: Final = "https://api.mch.weixin.qq.com"
DEFAULT_LOGIN_BASE: Final = "https://api.weixin.qq.com"

_APPID = re.compile(r"^wx[0-9A-Za-z]{1,30}\Z")
_API_KEY = re.compile(r"^[0-9A-Za-z]{32}\Z")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# Environment variable -> argument name. Names are part of the public contract.
ENV_NAMES: Final[dict[str, str]] = {
    "WXPAY_APPID": "appid",
    "WXPAY_MCH_ID": "mch_id",
    "WXPAY_API_KEY": "api_key",
    "WXPAY_APP_SECRET": "app_secret",
    "WXPAY_NOTIFY_URL": "notify_url",
    "WXPAY_SIGN_TYPE": "sign_type",
    "WXPAY_CERT_PATH": "cert_path",
    "WXPAY_KEY_PATH": "key_path",
    "WXPAY_API_BASE": "api_base",
    "WXPAY_LOGIN_BASE": "login_base",
    "WXPAY_SANDBOX": "sandbox",
    "WXPAY_REFUND_NOTIFY_URL": "refund_notify_url",
    "WXPAY_CONNECT_TIMEOUT": "connect_timeout",
    "WXPAY_READ_TIMEOUT": "read_timeout",
    "WXPAY_API_VERSION": "api_version",
}
_SETTING = {arg: env for env, arg in ENV_NAMES.items()}
_SECRETS: Final = frozenset({"api_key", "app_secret"})


def _http_url(value: str, setting: str, *, query_allowed: bool = True) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(setting, f"{value!r} is not an http(s) URL")
    if not query_allowed and (parts.query or parts.fragment):
        raise ConfigError(setting, "WeChat refuses a notify URL with a query string or fragment")
    return value.rstrip("/") if setting in ("WXPAY_API_BASE", "WXPAY_LOGIN_BASE") else value


@dataclass(frozen=True, repr=False)
class WxPayConfig:
    """The merchant's WeChat Pay settings.

    Build it from arguments or with :meth:`from_env`. It is immutable and validated on
    construction: a bad value raises :class:`~wxpay_mw.errors.ConfigError` naming the
    ``WXPAY_*`` setting. ``app_secret`` is only needed to turn wx.login codes into openids;
    ``cert_path`` / ``key_path`` only for refunds (mutual TLS).

    ``api_version`` (WXPAY_API_VERSION) is ``v2`` (the default) or ``v3``. In v3 mode
    ``v3`` holds the :class:`~wxpay_mw.v3.V3Settings` (the APIv3 key, the merchant's
    private key and serial, WeChat's verification keys) and ``api_key``, the v2 key, is
    not needed; ``from_env`` reads the ``WXPAY_APIV3_KEY``... settings then.

    ``sandbox`` (WXPAY_SANDBOX) is for the simulator only: it speaks WeChat's legacy
    ``/sandboxnew`` protocol, which WeChat took offline in 2022 (its replacement covers
    micropay cases only, not unifiedorder). Against the real WeChat, leave it off.
    """

    appid: str
    mch_id: str
    # Defaults only so that v3 merchants can leave the v2 key out; both are checked below.
    api_key: str = field(default="", repr=False)
    notify_url: str = ""
    app_secret: str | None = field(default=None, repr=False)
    sign_type: SignType = "MD5"
    cert_path: str | None = None
    key_path: str | None = None
    api_base: str = DEFAULT_API_BASE
    login_base: str = DEFAULT_LOGIN_BASE
    sandbox: bool = False
    refund_notify_url: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    api_version: ApiVersion = "v2"
    v3: V3Settings | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.appid, str) or not _APPID.match(self.appid):
            raise ConfigError(
                "WXPAY_APPID", "expected the mini program's appid, 'wx' then letters and digits"
            )
        if not isinstance(self.mch_id, str) or not self.mch_id.isdigit():
            raise ConfigError("WXPAY_MCH_ID", "expected the merchant id: digits only")
        if self.api_version not in API_VERSIONS:
            raise ConfigError("WXPAY_API_VERSION", f"{self.api_version!r} is unknown: use v2 or v3")
        self._check_v3()
        v2_key_needed = self.api_version == "v2" or self.api_key != ""
        if v2_key_needed and (
            not isinstance(self.api_key, str) or not _API_KEY.match(self.api_key)
        ):
            # Never echo the value: it is the secret.
            raise ConfigError(
                "WXPAY_API_KEY",
                "expected the 32-character API key (letters and digits) from the merchant "
                "platform's API security page; it is not the app secret",
            )
        if self.app_secret is not None and (
            not isinstance(self.app_secret, str) or not self.app_secret.strip()
        ):
            raise ConfigError("WXPAY_APP_SECRET", "is empty: set it or leave it out")
        if self.sign_type not in SIGN_TYPES:
            raise ConfigError(
                "WXPAY_SIGN_TYPE", f"{self.sign_type!r} is unknown: use MD5 or HMAC-SHA256"
            )
        if not self.notify_url:
            raise ConfigError("WXPAY_NOTIFY_URL", "is not set: the URL WeChat notifies")
        _http_url(self.notify_url, "WXPAY_NOTIFY_URL", query_allowed=False)
        if self.refund_notify_url is not None:
            _http_url(self.refund_notify_url, "WXPAY_REFUND_NOTIFY_URL", query_allowed=False)
        object.__setattr__(self, "api_base", _http_url(self.api_base, "WXPAY_API_BASE"))
        object.__setattr__(self, "login_base", _http_url(self.login_base, "WXPAY_LOGIN_BASE"))
        if (self.cert_path is None) != (self.key_path is None):
            raise ConfigError(
                "WXPAY_CERT_PATH" if self.cert_path is None else "WXPAY_KEY_PATH",
                "refunds need both WXPAY_CERT_PATH and WXPAY_KEY_PATH (apiclient_cert.pem "
                "and apiclient_key.pem), or neither",
            )
        for name in ("cert_path", "key_path"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise ConfigError(_SETTING[name], f"no file at {path!r}")
        for name in ("connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(_SETTING[name], "expected a positive number of seconds")

    def _check_v3(self) -> None:
        if self.api_version == "v2":
            return
        if self.v3 is None:
            raise ConfigError(
                "WXPAY_APIV3_KEY",
                "WXPAY_API_VERSION is v3 but no v3 settings were given: set WXPAY_APIV3_KEY, "
                "WXPAY_PRIVATE_KEY_PATH and WXPAY_CERT_SERIAL (and WeChat's keys), or pass "
                "v3=V3Settings(...)",
            )
        if self.sandbox:
            raise ConfigError(
                "WXPAY_SANDBOX", "the /sandboxnew protocol is v2 only: turn it off for v3"
            )

    @property
    def token_key(self) -> str:
        """The merchant secret the order-status tokens are derived from: the APIv3 key in
        v3 mode (the v2 key may be absent there), else the API key."""
        if self.api_version == "v3" and self.v3 is not None:
            return self.v3.apiv3_key
        return self.api_key

    def __repr__(self) -> str:
        return masked_repr(self, _SECRETS)

    __str__ = __repr__

    def with_changes(self, **changes: Any) -> WxPayConfig:
        """A copy with some settings changed, validated again."""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> WxPayConfig:
        """Build from ``WXPAY_*`` environment variables; ``overrides`` win over them."""
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        for env_name, arg in ENV_NAMES.items():
            raw = env.get(env_name)
            if raw is None:
                continue
            kwargs[arg] = _parse_env(env_name, arg, raw.strip())
        kwargs.update(overrides)
        required_names = ["appid", "mch_id", "notify_url"]
        if kwargs.get("api_version", "v2") == "v3":
            if kwargs.get("v3") is None:
                from .v3.settings import V3Settings  # needs `cryptography`: v3 mode only

                kwargs["v3"] = V3Settings.from_env(env)
        else:
            required_names.insert(2, "api_key")
        for required in required_names:
            if kwargs.get(required) in (None, ""):
                raise ConfigError(_SETTING[required], "is not set")
        return cls(**kwargs)


def _parse_env(env_name: str, arg: str, raw: str) -> Any:
    if arg == "sandbox":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(
            env_name,
            f"{raw!r} is not a yes/no value: use 1 or 0 (simulator only: WeChat's "
            "/sandboxnew was taken offline in 2022)",
        )
    if arg in ("connect_timeout", "read_timeout"):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(env_name, f"{raw!r} is not a number of seconds") from None
    if arg == "sign_type":
        return raw.upper()
    if arg == "api_version":
        return raw.lower() or "v2"
    if raw == "" and arg in ("app_secret", "cert_path", "key_path", "refund_notify_url"):
        return None
    return raw
