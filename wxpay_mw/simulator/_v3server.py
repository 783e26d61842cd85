"""The v3 half of :class:`~._server.Simulator`'s Python API (``api="v3"``).

Kept in its own module so that v2 never imports ``cryptography`` for the simulator: the
v3 modules load when a v3 simulator starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..v3.settings import V3Settings
    from ._context import Context
    from ._merchant import Merchant
    from ._v3keys import V3Keys
    from ._v3wire import V3Wechat

__all__ = ["V3Methods"]


class V3Methods:
    """What a test or a developer does with a v3 simulator."""

    _ctx: Context
    merchant: Merchant

    @property
    def base_url(self) -> str:  # pragma: no cover - the Simulator defines it
        raise NotImplementedError

    def _start_v3(self, mode: str, directory: str | None) -> None:
        from ._v3keys import V3Keys
        from ._v3wire import V3Wechat

        self._ctx.v3 = V3Wechat(V3Keys.create(self.merchant.mch_id, directory), mode)

    def _v3(self) -> V3Wechat:
        if self._ctx.v3 is None:
            raise RuntimeError("the simulator does not speak v3: start one with api='v3'")
        return self._ctx.v3

    @property
    def v3_keys(self) -> V3Keys:
        """The v3 keys (the merchant's and WeChat's) and their files
        (``v3_keys.files.private_key``...); RuntimeError unless running with api="v3"."""
        return self._v3().keys

    @property
    def v3_mode(self) -> str:
        """How WeChat signs now: ``public_key``, ``certificate`` or ``both``."""
        return self._v3().mode

    def v3_settings(self, **overrides: Any) -> V3Settings:
        """The :class:`~wxpay_mw.v3.V3Settings` of this merchant: the APIv3 key,
        ``apiclient_key.pem`` and its serial and, unless WeChat signs with certificates
        only, the WeChat Pay public key and its ``PUB_KEY_ID_...`` (certificate mode: the
        client downloads ``/v3/certificates``); in "both" mode also the platform
        certificate of the start, as a migrating merchant keeps its certificates.
        ``overrides`` as for V3Settings."""
        from ..v3.settings import V3Settings

        v3 = self._v3()
        kwargs: dict[str, Any] = {
            "apiv3_key": v3.keys.apiv3_key,
            "private_key_path": v3.keys.files.private_key,
            "cert_serial": v3.keys.cert_serial,
        }
        if v3.mode != "certificate":
            kwargs["public_key_path"] = v3.keys.files.public_key
            kwargs["public_key_id"] = v3.keys.public_key_id
        if v3.mode == "both":
            kwargs["platform_cert_paths"] = (v3.keys.files.platform_certificate,)
        kwargs.update(overrides)
        return V3Settings(**kwargs)

    def v3_env(self, notify_url: str | None = None) -> dict[str, str]:
        """Every ``WXPAY_*`` variable a host needs to speak v3 to this simulator
        (``WXPAY_API_VERSION=v3``, the merchant's ids, the base URLs, the v3 keys)."""
        v3 = self._v3()
        env = {
            "WXPAY_API_VERSION": "v3",
            "WXPAY_APPID": self.merchant.appid,
            "WXPAY_MCH_ID": self.merchant.mch_id,
            "WXPAY_API_KEY": self.merchant.api_key,
            "WXPAY_APP_SECRET": self.merchant.app_secret,
            "WXPAY_API_BASE": self.base_url,
            "WXPAY_LOGIN_BASE": self.base_url,
            "WXPAY_APIV3_KEY": v3.keys.apiv3_key,
            "WXPAY_PRIVATE_KEY_PATH": v3.keys.files.private_key,
            "WXPAY_CERT_SERIAL": v3.keys.cert_serial,
        }
        if v3.mode != "certificate":
            env["WXPAY_PUBLIC_KEY_PATH"] = v3.keys.files.public_key
            env["WXPAY_PUBLIC_KEY_ID"] = v3.keys.public_key_id
        if v3.mode == "both":
            env["WXPAY_PLATFORM_CERT_PATHS"] = v3.keys.files.platform_certificate
        if notify_url is not None:
            env["WXPAY_NOTIFY_URL"] = notify_url
        if self.merchant.refund_notify_url:
            env["WXPAY_REFUND_NOTIFY_URL"] = self.merchant.refund_notify_url
        return env

    def switch_v3(
        self,
        *,
        mode: str | None = None,
        new_certificate: bool = False,
        drop_old_certificates: bool = False,
    ) -> dict[str, Any]:
        """Change how WeChat signs, mid-run (``POST /simulator/v3/keys``): ``mode``, a new
        platform certificate (signing from now on), the old ones revoked. Returns
        ``{"mode", "public_key_id", "certificates", "signing_serial"}``."""
        from ._v3control import switch

        return switch(
            self._v3(),
            mode=mode,
            new_certificate=new_certificate,
            drop_old_certificates=drop_old_certificates,
        )

    def send_probe(self, out_trade_no: str, url: str | None = None) -> int:
        """Send WeChat's signature probe: the order's notification under a
        ``WECHATPAY/SIGNTEST/`` signature, to ``url`` or the order's notify_url, once.
        A host must refuse it (4xx or 5xx); returns the id of its log entry (kind
        ``probe``, its attempt shows what the host answered)."""
        from ._v3control import send_probe

        return send_probe(self._ctx, self._v3(), out_trade_no, url)

    # -- used by Simulator.pay and Simulator.platform_refund

    def _pay_v3(self, params: Mapping[str, Any]) -> tuple[int, dict[str, str]]:
        from ._v3control import request_payment

        return request_payment(self._ctx, self._v3(), params)

    def _is_v3_order(self, out_trade_no: str) -> bool:
        with self._ctx.state.lock:
            order = self._ctx.state.orders.get((False, out_trade_no))
            return order is not None and order.sign_type == "RSA"

    def _platform_refund_v3(self, out_trade_no: str, refund_fee: int | None) -> dict[str, str]:
        from ._v3refund import platform_refund

        made = platform_refund(self._ctx, self._v3(), out_trade_no, refund_fee)
        return {"out_refund_no": made.out_refund_no, "refund_id": made.refund_id}
