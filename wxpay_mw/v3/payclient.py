"""V3PayClient: the flow's WeChat calls, spoken in API v3.

The flow (``flow.py``) and the money operations (``operations.py``) are written once
and yield :class:`~wxpay_mw._drive.WeChatCall` steps by name: ``unified_order``,
``order_query``, ``refund``... The v2 client answers them in v2; this class answers the
same names over :class:`~wxpay_mw.v3.client.WeChatPayV3Client` and gives back what v2
gives (flat fields named ``prepay_id``, ``total_fee``, ``trade_state``, ``mch_id``;
refund statuses ``CHANGE``, ``REFUNDCLOSE``), so every check after the call is the same
code for both versions. Two names are v3's own: ``pay_params`` (the paySign is RSA,
made with the merchant's private key) and ``open_notification``. Logins stay
``jscode2session``, which is not part of WeChat Pay: they go through the v2 client,
which needs no v2 API key for them.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from ..client import LoginSession, WeChatClient
from ..config import WxPayConfig
from ..errors import BadRequestError, SetupError, WeChatError
from .client import WeChatPayV3Client
from .notify import refund_fields, transaction_fields

__all__ = ["V3PayClient"]


def _sent(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class V3PayClient:
    """The calls the flow makes, over API v3; ``v3`` and ``login`` are made for ``config``
    unless given (then they stay the caller's to close)."""

    def __init__(
        self,
        config: WxPayConfig,
        v3: WeChatPayV3Client | None = None,
        login: WeChatClient | None = None,
    ) -> None:
        if config.v3 is None:
            raise SetupError("V3PayClient needs a config with v3 settings (WXPAY_API_VERSION=v3)")
        self.config = config
        self._owns = (v3 is None, login is None)
        self.v3 = v3 or WeChatPayV3Client(config, config.v3)
        self.login = login or WeChatClient(config)

    def __repr__(self) -> str:
        return f"V3PayClient({self.v3!r})"

    def close(self) -> None:
        """Close the clients this object made."""
        if self._owns[0]:
            self.v3.close()
        if self._owns[1]:
            self.login.close()

    # -- login and payment

    def code2session(self, code: str) -> LoginSession:
        """jscode2session, as in v2 (it is the mini program's login, not WeChat Pay)."""
        return self.login.code2session(code)

    def signing_key(self) -> str:
        """v2's sandbox key: there is none in v3 (WxPayConfig refuses the sandbox)."""
        raise SetupError("WXPAY_SANDBOX is v2 only: v3 requests are signed with RSA keys")

    def unified_order(
        self,
        *,
        out_trade_no: str,
        total_fee: int,
        body: str,
        openid: str,
        spbill_create_ip: str,
        attach: str | None = None,
        time_expire: str | None = None,
        notify_url: str | None = None,
        **extra: Any,
    ) -> dict[str, str]:
        """``POST /v3/pay/transactions/jsapi``; ``{"prepay_id": ...}`` as v2 answers.

        ``spbill_create_ip`` goes as ``scene_info.payer_client_ip``, where v3 keeps it.
        """
        scene = dict(extra.pop("scene_info", None) or {})
        scene.setdefault("payer_client_ip", spbill_create_ip)
        prepay_id = self.v3.jsapi_order(
            out_trade_no=out_trade_no,
            total=total_fee,
            description=body,
            openid=openid,
            attach=attach,
            time_expire=time_expire,
            notify_url=notify_url,
            scene_info=scene,
            **extra,
        )
        return {"prepay_id": prepay_id}

    def pay_params(self, *, prepay_id: str) -> dict[str, str]:
        """The wx.requestPayment parameters, signType RSA."""
        return self.v3.request_payment(prepay_id)

    def open_notification(self, *, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """Verify and decrypt a notification; its resource as v2-named fields, with
        ``event_type``, ``original_type`` and ``notification_id``.

        Raises a :class:`~wxpay_mw.v3.errors.V3SignatureError` for anything not signed
        and sealed by WeChat (see ``WeChatPayV3Client.parse_notification``).
        """
        note = self.v3.parse_notification(headers, body)
        fields = (refund_fields if note.original_type == "refund" else transaction_fields)(
            note.resource, note.plaintext
        )
        fields.update(
            event_type=note.event_type,
            original_type=note.original_type,
            notification_id=note.id,
        )
        return fields

    # -- queries and money

    def order_query(
        self, *, out_trade_no: str | None = None, transaction_id: str | None = None
    ) -> dict[str, str]:
        """The order as v2's orderquery fields (``trade_state``, ``total_fee``, ``mch_id``)."""
        tx = self.v3.query_order(out_trade_no=out_trade_no, transaction_id=transaction_id)
        return transaction_fields(tx)

    def close_order(self, out_trade_no: str) -> dict[str, str]:
        """Close an unpaid order (v3 answers 204: no fields)."""
        self.v3.close_order(out_trade_no)
        return {}

    def refund(
        self,
        *,
        out_refund_no: str,
        total_fee: int,
        refund_fee: int,
        out_trade_no: str | None = None,
        transaction_id: str | None = None,
        refund_desc: str | None = None,
        notify_url: str | None = None,
    ) -> dict[str, str]:
        """``POST /v3/refund/domestic/refunds`` (no client certificate); v2-named fields."""
        answer = self.v3.refund(
            out_refund_no=out_refund_no,
            refund=refund_fee,
            total=total_fee,
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            reason=refund_desc,
            notify_url=notify_url,
        )
        return refund_fields(answer)

    def refund_query(
        self,
        *,
        out_refund_no: str | None = None,
        out_trade_no: str | None = None,
        **_: Any,
    ) -> dict[str, str]:
        """One refund, as v2's refundquery answer with one entry (``_0`` fields).

        v3 looks refunds up by ``out_refund_no`` only.
        """
        if not out_refund_no:
            raise BadRequestError(
                "API v3 queries a refund by out_refund_no only: pass out_refund_no "
                f"(the refunds of {out_trade_no!r} are in your store)"
            )
        fields = refund_fields(self.v3.refund_query(out_refund_no))
        entry = {
            "out_refund_no_0": fields.get("out_refund_no", out_refund_no),
            "refund_id_0": fields.get("refund_id"),
            "refund_fee_0": fields.get("refund_fee"),
            "refund_status_0": fields.get("refund_status"),
            "refund_success_time_0": fields.get("success_time"),
        }
        return {**fields, **_sent(entry), "refund_count": "1"}

    def download_bill(self, bill_date: str | _dt.date, bill_type: str = "ALL") -> str:
        """The day's bill (the same table as v2's), its SHA-1 checked; "" for a day
        without one."""
        if isinstance(bill_date, str) and len(bill_date) == 8 and bill_date.isdigit():
            # v2 writes yyyyMMdd, v3 yyyy-MM-dd: the operations accept both.
            bill_date = f"{bill_date[:4]}-{bill_date[4:6]}-{bill_date[6:]}"
        try:
            content = self.v3.download_bill(bill_date, bill_type)
        except WeChatError as exc:
            if exc.code == "NO_STATEMENT_EXIST":
                return ""
            raise
        return content.decode("utf-8-sig")
