"""Checking what WeChat sends before any hook sees it: pure functions, no I/O.

A notification reaches ``wxpay_order_paid`` only through :func:`payment`, after its sign
(flow.py) and merchant (:func:`check_merchant`) are checked; a refund reaches
``wxpay_refund_notified`` only through :func:`refund`. Anything refused raises
:class:`Rejected` with the stable reason code the ``wxpay_notify_rejected`` hook receives.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Final

from . import signing, xmlmsg
from .config import WxPayConfig
from .models import Order, Payment, Refund

__all__ = [
    "SUCCESS",
    "Rejected",
    "check_merchant",
    "check_sign",
    "fail",
    "fen",
    "guess_sign_type",
    "payment",
    "refund",
]

log = logging.getLogger("wxpay_mw.flow")

# ASCII digits only: str.isdigit() also accepts "²" and other Unicode digits.
_FEN: Final = re.compile(r"^[0-9]{1,12}\Z")
#: The answer WeChat's notify contract expects (wechatpay-v2.md, section 9).
SUCCESS: Final = xmlmsg.to_xml({"return_code": "SUCCESS", "return_msg": "OK"})


class Rejected(Exception):
    """A notification failed verification; ``reason`` is a stable hookspec code.

    ``detail`` says what exactly was wrong, for the server log (never for WeChat).
    """

    def __init__(
        self, reason: str, fields: Mapping[str, str] | None = None, *, detail: str = ""
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason
        self.fields = dict(fields or {})


def fail(message: str) -> bytes:
    """A FAIL answer: WeChat will deliver the notification again."""
    return xmlmsg.to_xml({"return_code": "FAIL", "return_msg": message})


def fen(fields: Mapping[str, str], name: str) -> int | None:
    """The integer amount in ``fields[name]``, or None if it is not plain digits."""
    value = fields.get(name, "")
    return int(value) if _FEN.match(value) else None


def guess_sign_type(fields: Mapping[str, str], default: signing.SignType) -> signing.SignType:
    """The sign type a message was most likely signed with, judging by its sign."""
    # HMAC-SHA256 notifications usually carry no sign_type: the sign's length tells.
    length = len(fields.get("sign", ""))
    if length == 64:
        return signing.HMAC_SHA256
    if length == 32:
        return signing.MD5
    return default


def check_sign(
    fields: Mapping[str, str],
    key: str,
    order_sign_type: signing.SignType | None,
    default: signing.SignType,
) -> None:
    """Refuse a message whose sign does not match, or whose sign type is not the order's.

    HMAC-SHA256 notifications usually declare no ``sign_type``: the order's sign type
    (else a guess from the sign's length) is used. One that declares a sign type other
    than the order was placed with is refused, whatever its sign.
    """
    declared = fields.get("sign_type", "")
    if declared and order_sign_type and declared != order_sign_type:
        raise Rejected(
            "bad_sign",
            detail=f"declares sign_type {declared!r}; the order was placed with "
            f"{order_sign_type!r}",
        )
    try:
        sign_type = signing.sign_type_of(
            fields, order_sign_type or guess_sign_type(fields, default)
        )
    except ValueError as exc:
        raise Rejected("bad_sign", detail=str(exc)) from exc
    if not signing.verify(fields, key, sign_type):
        raise Rejected("bad_sign", detail=f"the sign does not match the fields ({sign_type})")


def check_merchant(config: WxPayConfig, fields: Mapping[str, str]) -> None:
    """Refuse a message meant for another mini program or merchant."""
    if fields.get("appid") != config.appid:
        raise Rejected("wrong_appid", detail=f"appid is {fields.get('appid')!r}, not ours")
    if fields.get("mch_id") != config.mch_id:
        raise Rejected("wrong_mch_id", detail=f"mch_id is {fields.get('mch_id')!r}, not ours")


def payment(order: Order, fields: Mapping[str, str], source: Any) -> Payment:
    """The verified Payment for ``order``; refuses missing fields and a wrong amount."""
    total_fee = fen(fields, "total_fee")
    if total_fee is None or not fields.get("transaction_id"):
        raise Rejected("bad_fields", detail="total_fee or transaction_id is missing or malformed")
    if total_fee != order.total_fee:
        log.error(
            "%s: WeChat reports %s fen paid, the order is for %s fen",
            order.out_trade_no,
            total_fee,
            order.total_fee,
        )
        raise Rejected(
            "amount_mismatch",
            detail=f"{total_fee} fen paid, the order is for {order.total_fee} fen",
        )
    return Payment(
        out_trade_no=order.out_trade_no,
        transaction_id=fields["transaction_id"],
        total_fee=total_fee,
        openid=fields.get("openid", ""),
        time_end=fields.get("time_end", ""),
        cash_fee=fen(fields, "cash_fee"),
        bank_type=fields.get("bank_type") or None,
        attach=fields.get("attach") or None,
        source=source,
        fields=dict(fields),
        coupon_fee=fen(fields, "coupon_fee"),
        settlement_total_fee=fen(fields, "settlement_total_fee"),
    )


def refund(info: Mapping[str, str], outer: Mapping[str, str]) -> Refund:
    """The Refund from decrypted ``req_info``; refuses missing fields and odd amounts."""
    refund_fee, total_fee = fen(info, "refund_fee"), fen(info, "total_fee")
    needed = ("out_trade_no", "out_refund_no", "refund_status")
    if refund_fee is None or total_fee is None or not all(info.get(k) for k in needed):
        raise Rejected("bad_fields", outer, detail="req_info lacks a required field")
    if not 0 < refund_fee <= total_fee:
        raise Rejected("bad_fields", outer, detail=f"refund_fee {refund_fee} is out of range")
    return Refund(
        out_trade_no=info["out_trade_no"],
        out_refund_no=info["out_refund_no"],
        refund_id=info.get("refund_id", ""),
        refund_fee=refund_fee,
        total_fee=total_fee,
        refund_status=info["refund_status"],
        success_time=info.get("success_time") or None,
        fields=dict(info),
    )
