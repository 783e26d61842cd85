"""WeChat messages for tests: re-signed, tampered or built from scratch notifications."""

from __future__ import annotations

import secrets
from typing import Any

from wxpay_mw import signing, xmlmsg
from wxpay_mw.refundcrypto import encrypt_req_info

__all__ = ["payment_notification", "refund_notification", "resign", "tamper"]


def tamper(body: bytes, **changes: str | None) -> bytes:
    """``body`` with fields changed (None removes one) and the old sign kept: a forgery."""
    fields: dict[str, Any] = xmlmsg.from_xml(body)
    fields.update(changes)
    return xmlmsg.to_xml(fields)


def resign(
    body: bytes, key: str, sign_with: signing.SignType = "MD5", **changes: str | None
) -> bytes:
    """``body`` with fields changed and signed again with ``key`` (as WeChat would sign)."""
    fields: dict[str, Any] = xmlmsg.from_xml(body)
    fields.update(changes)
    fields.pop("sign", None)
    fields = {k: v for k, v in fields.items() if v is not None}
    fields["sign"] = signing.sign(fields, key, sign_with)
    return xmlmsg.to_xml(fields)


def payment_notification(
    *,
    appid: str,
    mch_id: str,
    key: str,
    out_trade_no: str,
    total_fee: int,
    sign_type: signing.SignType = "MD5",
    declare_sign_type: bool = False,
    result_code: str = "SUCCESS",
    **extra: str,
) -> bytes:
    """A payment notification as WeChat sends it, signed with ``key``.

    WeChat's HMAC-SHA256 notifications usually carry no ``sign_type`` field; set
    ``declare_sign_type`` to include it.
    """
    fields: dict[str, Any] = {
        "appid": appid,
        "mch_id": mch_id,
        "nonce_str": signing.make_nonce(),
        "result_code": result_code,
        "return_code": "SUCCESS",
        "openid": "oTest" + secrets.token_hex(8),
        "is_subscribe": "N",
        "trade_type": "JSAPI",
        "bank_type": "OTHERS",
        "total_fee": str(total_fee),
        "cash_fee": str(total_fee),
        "fee_type": "CNY",
        "transaction_id": "4200" + secrets.token_hex(12),
        "out_trade_no": out_trade_no,
        "time_end": "20240101120000",
    }
    if result_code != "SUCCESS":
        fields.update(err_code="NOTENOUGH", err_code_des="余额不足")
    if declare_sign_type:
        fields["sign_type"] = sign_type
    fields.update(extra)
    fields["sign"] = signing.sign(fields, key, sign_type)
    return xmlmsg.to_xml(fields)


def refund_notification(
    *,
    appid: str,
    mch_id: str,
    key: str,
    out_trade_no: str,
    refund_fee: int,
    total_fee: int,
    out_refund_no: str = "R0001",
    refund_status: str = "SUCCESS",
) -> bytes:
    """A refund notification: no sign, req_info encrypted with md5(key)."""
    info = {
        "transaction_id": "4200" + secrets.token_hex(12),
        "out_trade_no": out_trade_no,
        "refund_id": "5030" + secrets.token_hex(12),
        "out_refund_no": out_refund_no,
        "total_fee": str(total_fee),
        "refund_fee": str(refund_fee),
        "refund_status": refund_status,
        "success_time": "2024-01-01 12:00:00",
        "refund_recv_accout": "支付用户零钱",
    }
    return xmlmsg.to_xml(
        {
            "return_code": "SUCCESS",
            "appid": appid,
            "mch_id": mch_id,
            "nonce_str": signing.make_nonce(),
            "req_info": encrypt_req_info(info, key),
        }
    )
