"""The one merchant (and mini program) a simulator stands in for."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Final

from .._logsafe import masked_repr
from ..config import WxPayConfig

__all__ = ["DEFAULT_APPID", "DEFAULT_MCH_ID", "Merchant"]

#: The default test merchant's ids: valid in shape, never a real account.
DEFAULT_APPID: Final = "wx5157e57000000001"
DEFAULT_MCH_ID: Final = "1900000109"

_SECRETS: Final = frozenset({"api_key", "app_secret", "sandbox_key"})


def _random_key() -> str:
    # 32 characters of [0-9a-f]: the shape WeChat's API key has (and WxPayConfig checks).
    return secrets.token_hex(16)


@dataclass(frozen=True, repr=False)
class Merchant:
    """The merchant account and mini program the simulator knows.

    ``api_key`` signs every pay message, ``app_secret`` authenticates jscode2session.
    ``sandbox_key`` is what ``/sandboxnew/pay/getsignkey`` hands out and what the
    ``/sandboxnew/...`` endpoints verify. ``refund_notify_url`` stands for the refund
    notification URL configured in the merchant platform (used when a refund request has
    no ``notify_url``). With ``issue_unionid`` the mini program counts as bound to an Open
    Platform account, so logins also return a ``unionid``.

    ``Merchant()`` is a fresh test merchant with random secrets.
    """

    appid: str = DEFAULT_APPID
    mch_id: str = DEFAULT_MCH_ID
    api_key: str = field(default_factory=_random_key)
    app_secret: str = field(default_factory=_random_key)
    refund_notify_url: str | None = None
    issue_unionid: bool = False
    sandbox_key: str = field(default_factory=_random_key)

    def __post_init__(self) -> None:
        # Reuse WxPayConfig's checks so the simulator refuses what the app would refuse.
        self.as_config(notify_url="http://127.0.0.1/wxpay/notify")

    def __repr__(self) -> str:
        return masked_repr(self, _SECRETS)

    __str__ = __repr__

    @classmethod
    def from_config(cls, config: WxPayConfig) -> Merchant:
        """The merchant a host app's :class:`~wxpay_mw.config.WxPayConfig` describes.

        Without ``app_secret`` in the config a random one is used, so logins are refused
        (as WeChat would refuse a wrong secret).
        """
        return cls(
            appid=config.appid,
            mch_id=config.mch_id,
            api_key=config.api_key,
            app_secret=config.app_secret or _random_key(),
            refund_notify_url=config.refund_notify_url,
        )

    def as_config(self, *, notify_url: str, api_base: str = "", **overrides: object) -> WxPayConfig:
        """A :class:`~wxpay_mw.config.WxPayConfig` for this merchant.

        ``api_base`` also becomes ``login_base`` unless ``login_base`` is given.
        """
        kwargs: dict[str, object] = {
            "appid": self.appid,
            "mch_id": self.mch_id,
            "api_key": self.api_key,
            "app_secret": self.app_secret,
            "notify_url": notify_url,
            "refund_notify_url": self.refund_notify_url,
        }
        if api_base:
            kwargs["api_base"] = api_base
            kwargs["login_base"] = api_base
        kwargs.update(overrides)
        return WxPayConfig(**kwargs)  # type: ignore[arg-type]
