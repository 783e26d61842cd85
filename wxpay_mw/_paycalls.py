"""The Pay v2 API calls without I/O: checked arguments, signed requests, judged answers.

Each builder checks its arguments (bad input is a ValueError or ConfigError before
anything is sent) and returns an unsigned :class:`PayCall`. A client signs it with
:func:`signed` (the key may need the sandbox key, which is I/O), sends the request, and
hands status and body to :func:`judge` (or :func:`judge_bill`). Every answer is judged in
WeChat's own order: the transport, ``return_code``, the answer's ``sign`` and its
``appid`` / ``mch_id``, and only then ``result_code`` / ``err_code``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from . import signing
from ._answers import check_result, check_return
from ._calls import HttpRequest, Param, parse, xml_post
from ._checks import OUT_REFUND_NO, fen, out_no, text
from ._transport import bad_status, garbled
from .config import WxPayConfig
from .errors import ConfigError, ResponseMismatchError, ResponseSignatureError

__all__ = [
    "PayCall",
    "close_order",
    "download_bill",
    "judge",
    "judge_bill",
    "order_query",
    "refund",
    "refund_query",
    "signed",
    "unified_order",
]

_LOG = logging.getLogger("wxpay_mw.client")

_SANDBOX_PREFIX: Final = "/sandboxnew"
# \Z, not $: "$" also matches before a final newline ("20240101\n").
_TIME_EXPIRE = re.compile(r"^\d{14}\Z")
_BILL_DATE = re.compile(r"^\d{8}\Z")
_BILL_TYPES: Final = ("ALL", "SUCCESS", "REFUND", "RECHARGE_REFUND")
# Set by the client on every request; a caller's ``extra`` may not override them.
_RESERVED: Final = frozenset({"appid", "mch_id", "nonce_str", "sign", "sign_type"})


@dataclass(frozen=True)
class PayCall:
    """A checked, not yet signed call; a SUCCESS answer without ``needs`` is unusable."""

    endpoint: str
    params: dict[str, Param]
    cert: tuple[str, str] | None = None
    needs: str | None = None


# --- building ------------------------------------------------------------------------


def unified_order(
    config: WxPayConfig,
    *,
    out_trade_no: str,
    total_fee: int,
    body: str,
    openid: str | None,
    spbill_create_ip: str,
    trade_type: str,
    attach: str | None,
    time_expire: str | None,
    notify_url: str | None,
    extra: Mapping[str, object],
) -> PayCall:
    params: dict[str, Param] = {
        "out_trade_no": out_no("out_trade_no", out_trade_no),
        "total_fee": fen("total_fee", total_fee),
        "body": text("body", body),
        "spbill_create_ip": text("spbill_create_ip", spbill_create_ip),
        "trade_type": text("trade_type", trade_type),
        "notify_url": notify_url or config.notify_url,
    }
    if trade_type == "JSAPI":
        params["openid"] = text("openid (required for JSAPI orders)", openid)
    elif openid:
        params["openid"] = openid
    if attach is not None:
        params["attach"] = attach
    if time_expire is not None:
        if not isinstance(time_expire, str) or not _TIME_EXPIRE.match(time_expire):
            raise ValueError("time_expire must be yyyyMMddHHmmss (Beijing time)")
        params["time_expire"] = time_expire
    params.update(_extra(extra))
    needs = "prepay_id" if trade_type == "JSAPI" else None
    return PayCall("/pay/unifiedorder", params, needs=needs)


def order_query(out_trade_no: str | None, transaction_id: str | None) -> PayCall:
    return PayCall("/pay/orderquery", _order_ids(out_trade_no, transaction_id))


def close_order(out_trade_no: str) -> PayCall:
    return PayCall("/pay/closeorder", {"out_trade_no": out_no("out_trade_no", out_trade_no)})


def refund(
    config: WxPayConfig,
    *,
    out_refund_no: str,
    total_fee: int,
    refund_fee: int,
    out_trade_no: str | None,
    transaction_id: str | None,
    refund_desc: str | None,
    notify_url: str | None,
) -> PayCall:
    params = _order_ids(out_trade_no, transaction_id)
    params["out_refund_no"] = out_no("out_refund_no", out_refund_no, OUT_REFUND_NO)
    params["total_fee"] = fen("total_fee", total_fee)
    params["refund_fee"] = fen("refund_fee", refund_fee)
    if refund_fee > total_fee:
        raise ValueError(f"refund_fee ({refund_fee}) is more than total_fee ({total_fee})")
    if refund_desc is not None:
        params["refund_desc"] = refund_desc
    params["notify_url"] = notify_url or config.refund_notify_url
    cert: tuple[str, str] | None = None
    if config.cert_path and config.key_path:
        cert = (config.cert_path, config.key_path)
    elif urlsplit(config.api_base).scheme == "https" and not config.sandbox:
        raise ConfigError(
            "WXPAY_CERT_PATH",
            "refunds need the merchant API certificate (mutual TLS): set WXPAY_CERT_PATH "
            "and WXPAY_KEY_PATH to apiclient_cert.pem and apiclient_key.pem",
        )
    return PayCall("/secapi/pay/refund", params, cert=cert)


def refund_query(
    *,
    out_refund_no: str | None,
    refund_id: str | None,
    out_trade_no: str | None,
    transaction_id: str | None,
    offset: int | None,
) -> PayCall:
    params: dict[str, Param] = {
        "refund_id": refund_id,
        "out_refund_no": out_refund_no,
        "transaction_id": transaction_id,
        "out_trade_no": out_trade_no,
    }
    if all(v in (None, "") for v in params.values()):
        raise ValueError("give one of refund_id, out_refund_no, transaction_id or out_trade_no")
    if offset is not None:
        params["offset"] = fen("offset", offset, allow_zero=True)
    return PayCall("/pay/refundquery", params)


def download_bill(bill_date: str | _dt.date, bill_type: str) -> PayCall:
    if isinstance(bill_date, _dt.date):
        bill_date = bill_date.strftime("%Y%m%d")
    if not isinstance(bill_date, str) or not _BILL_DATE.match(bill_date):
        raise ValueError("bill_date must be yyyyMMdd or a datetime.date")
    if bill_type not in _BILL_TYPES:
        raise ValueError(f"bill_type must be one of {', '.join(_BILL_TYPES)}")
    return PayCall("/pay/downloadbill", {"bill_date": bill_date, "bill_type": bill_type})


def signed(config: WxPayConfig, call: PayCall, key: str) -> HttpRequest:
    """The request for ``call``, signed with ``key`` (the client's signing key)."""
    params: dict[str, Param] = {
        "appid": config.appid,
        "mch_id": config.mch_id,
        "nonce_str": signing.make_nonce(),
        # Always sent, MD5 too: explicit is what WeChat then signs its answer with,
        # and sign_type is itself part of the signed set.
        "sign_type": config.sign_type,
        **{k: v for k, v in call.params.items() if v is not None},
    }
    params["sign"] = signing.sign(params, key, config.sign_type)
    return xml_post(call.endpoint, _url(config, call.endpoint), params, cert=call.cert)


# --- judging -------------------------------------------------------------------------


def judge(
    config: WxPayConfig, call: PayCall, key: str, status: int, content: bytes
) -> dict[str, str]:
    """WeChat's verified answer to ``call``, or the exception for what went wrong."""
    endpoint = call.endpoint
    fields = parse(endpoint, status, content)
    check_return(endpoint, fields)
    # Only now is the answer trusted enough to read what WeChat decided.
    if not signing.verify(fields, key, config.sign_type):
        raise ResponseSignatureError(endpoint)
    for name, ours in (("appid", config.appid), ("mch_id", config.mch_id)):
        if fields.get(name) != ours:
            raise ResponseMismatchError(name, endpoint=endpoint)
    check_result(endpoint, fields)
    if call.needs and not fields.get(call.needs):
        raise garbled(endpoint, f"no {call.needs} in a SUCCESS answer")
    return fields


def judge_bill(status: int, content: bytes) -> str:
    """The bill's text table, or the exception for WeChat's XML refusal."""
    endpoint = "/pay/downloadbill"
    if status != 200:
        raise bad_status(status, endpoint)
    if content.lstrip()[:4] == b"<xml":
        fields = parse(endpoint, status, content)
        check_return(endpoint, fields)
        raise garbled(endpoint, "an XML answer with return_code SUCCESS instead of a bill")
    try:
        table = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise garbled(endpoint, "the bill is not UTF-8") from None
    _LOG.debug("<- %s HTTP 200, bill of %d lines", endpoint, table.count("\n"))
    return table


# --- internals -----------------------------------------------------------------------


def _order_ids(out_trade_no: str | None, transaction_id: str | None) -> dict[str, Param]:
    if not out_trade_no and not transaction_id:
        raise ValueError("give out_trade_no or transaction_id")
    return {
        "out_trade_no": out_no("out_trade_no", out_trade_no) if out_trade_no else None,
        "transaction_id": text("transaction_id", transaction_id) if transaction_id else None,
    }


def _url(config: WxPayConfig, endpoint: str) -> str:
    if not config.sandbox:
        return config.api_base + endpoint
    # The legacy sandbox has no /secapi: its refund is /sandboxnew/pay/refund.
    path = "/pay/refund" if endpoint == "/secapi/pay/refund" else endpoint
    return config.api_base + _SANDBOX_PREFIX + path


def _extra(extra: Mapping[str, object]) -> dict[str, Param]:
    out: dict[str, Param] = {}
    for name, value in extra.items():
        if name in _RESERVED:
            raise ValueError(f"{name} is set by the client; do not pass it")
        if isinstance(value, bool) or not isinstance(value, str | int | None):
            raise ValueError(f"{name} must be a string or an int, not {type(value).__name__}")
        out[name] = value
    return out
