"""Sans-IO builders of the v3 requests the mini program flow makes, and their judges.

Each builder returns a :class:`V3Request`: method, the path and query exactly as they
will be sent and signed, and the body bytes, serialised once. A driver (the sync client,
an async one, a test) signs it with :meth:`V3Request.headers`, sends exactly those bytes,
verifies the answer's signature, and hands status and body to a judge in ``answers.py``. Bad
arguments raise ``ValueError`` naming the argument before anything is built.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from .._checks import OUT_REFUND_NO, fen, out_no, text
from .signing import authorization

__all__ = [
    "BILL_TYPES",
    "USER_AGENT",
    "V3Request",
    "bill_download",
    "certificates",
    "close_order",
    "jsapi_order",
    "query_order",
    "refund",
    "refund_query",
    "rfc3339",
    "trade_bill",
]

USER_AGENT: Final = "wxpay-mw"
BILL_TYPES: Final = (
    "ALL",
    "SUCCESS",
    "REFUND",
    "RECHARGE_REFUND",
    "ALL_SPECIAL",
    "SUC_SPECIAL",
    "REF_SPECIAL",
)
_BEIJING: Final = _dt.timezone(_dt.timedelta(hours=8))
_V2_TIME: Final = re.compile(r"^\d{14}\Z")
_RFC3339: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)\Z")
# UTF-8 characters of 4 bytes (emoji and the rest of the supplementary planes): v3 refuses them.
_ASTRAL: Final = re.compile("[\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class V3Request:
    """One v3 request, ready to sign and send.

    ``path`` is the path and query as sent and signed (already percent-encoded; a driver
    must not encode it again). ``body`` is the exact bytes to send. ``base`` is set when
    the request goes elsewhere than the API base (a bill's ``download_url``).
    ``endpoint`` names the call in errors and logs, without ids.
    """

    method: str
    path: str
    body: bytes
    endpoint: str
    base: str | None = None

    def url(self, api_base: str) -> str:
        """The absolute URL: ``base`` (or ``api_base``) plus ``path``."""
        return (self.base or api_base.rstrip("/")) + self.path

    def headers(
        self,
        key: rsa.RSAPrivateKey,
        *,
        mchid: str,
        serial_no: str,
        wechatpay_serial: str | None = None,
        timestamp: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        """The headers to send: the Authorization over exactly this request, plus the
        ``Accept`` and ``User-Agent`` WeChat requires.

        ``wechatpay_serial`` (a ``PUB_KEY_ID_...``) asks WeChat to sign its answer with
        the public-key pair instead of a platform certificate.
        """
        out = {
            "Authorization": authorization(
                key,
                mchid=mchid,
                serial_no=serial_no,
                method=self.method,
                url=self.path,
                body=self.body,
                timestamp=timestamp,
                nonce=nonce,
            ),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if self.body:
            out["Content-Type"] = "application/json"
        if wechatpay_serial:
            out["Wechatpay-Serial"] = wechatpay_serial
        return out


def _json(data: Mapping[str, Any]) -> bytes:
    # Compact UTF-8, serialised once: these bytes are both signed and sent.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _segment(name: str, value: str) -> str:
    # Percent-encode now, so that the path signed is the path requests sends (it would
    # otherwise encode "|" itself, after signing).
    return quote(text(name, value), safe="")


def _bmp(name: str, value: str, longest: int) -> str:
    text(name, value)
    if _ASTRAL.search(value):
        raise ValueError(f"{name} holds an emoji or other 4-byte character: v3 refuses them")
    if len(value) > longest:
        raise ValueError(f"{name} is {len(value)} characters; WeChat allows {longest}")
    return value


def rfc3339(value: str | _dt.datetime) -> str:
    """``value`` as RFC 3339: an aware datetime, an RFC 3339 string, or v2's
    ``yyyyMMddHHmmss`` (Beijing time)."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise ValueError("time_expire must be an aware datetime (with a time zone)")
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, str) and _V2_TIME.match(value):
        when = _dt.datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=_BEIJING)
        return when.isoformat()
    if isinstance(value, str) and _RFC3339.match(value):
        return value
    raise ValueError("time_expire must be RFC 3339 (2018-06-08T10:34:56+08:00) or yyyyMMddHHmmss")


def jsapi_order(
    *,
    appid: str,
    mchid: str,
    description: str,
    out_trade_no: str,
    notify_url: str,
    total: int,
    openid: str,
    attach: str | None = None,
    time_expire: str | _dt.datetime | None = None,
    goods_tag: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> V3Request:
    """``POST /v3/pay/transactions/jsapi``: the answer holds ``prepay_id``.

    ``total`` is an int of fen (CNY). ``extra`` adds other documented fields
    (``detail``, ``scene_info``, ``settle_info``); ``None`` values are left out, since v3
    refuses ``null``.
    """
    data: dict[str, Any] = {
        "appid": text("appid", appid),
        "mchid": text("mchid", mchid),
        "description": _bmp("description", description, 127),
        "out_trade_no": out_no("out_trade_no", out_trade_no),
        "notify_url": text("notify_url", notify_url),
        "amount": {"total": fen("total", total), "currency": "CNY"},
        "payer": {"openid": text("openid", openid)},
    }
    if attach is not None:
        data["attach"] = _bmp("attach", attach, 128)
    if time_expire is not None:
        data["time_expire"] = rfc3339(time_expire)
    if goods_tag is not None:
        data["goods_tag"] = text("goods_tag", goods_tag)
    for name, value in (extra or {}).items():
        if name in data:
            raise ValueError(f"{name} is set by its own argument; do not pass it in extra")
        if value is not None:
            data[name] = value
    return V3Request(
        "POST", "/v3/pay/transactions/jsapi", _json(data), "/v3/pay/transactions/jsapi"
    )


def query_order(
    mchid: str, *, out_trade_no: str | None = None, transaction_id: str | None = None
) -> V3Request:
    """Query an order by ``out_trade_no`` (also finds unpaid orders) or ``transaction_id``."""
    query = "?" + urlencode({"mchid": text("mchid", mchid)})
    if out_trade_no is not None and transaction_id is None:
        no = _segment("out_trade_no", out_no("out_trade_no", out_trade_no))
        path, endpoint = (
            f"/v3/pay/transactions/out-trade-no/{no}",
            "/v3/pay/transactions/out-trade-no",
        )
    elif transaction_id is not None and out_trade_no is None:
        tid = _segment("transaction_id", transaction_id)
        path, endpoint = f"/v3/pay/transactions/id/{tid}", "/v3/pay/transactions/id"
    else:
        raise ValueError("give exactly one of out_trade_no or transaction_id")
    return V3Request("GET", path + query, b"", endpoint)


def close_order(mchid: str, out_trade_no: str) -> V3Request:
    """``POST .../out-trade-no/{out_trade_no}/close``: WeChat answers 204 No Content."""
    no = _segment("out_trade_no", out_no("out_trade_no", out_trade_no))
    body = _json({"mchid": text("mchid", mchid)})
    return V3Request(
        "POST", f"/v3/pay/transactions/out-trade-no/{no}/close", body, "/v3/pay/transactions/close"
    )


def refund(
    *,
    out_refund_no: str,
    refund: int,
    total: int,
    out_trade_no: str | None = None,
    transaction_id: str | None = None,
    reason: str | None = None,
    notify_url: str | None = None,
    funds_account: str | None = None,
) -> V3Request:
    """``POST /v3/refund/domestic/refunds`` (no client certificate in v3).

    Retry a failed or unknown refund with the *same* ``out_refund_no``: WeChat refunds it
    only once. ``refund`` and ``total`` are ints of fen.
    """
    if (out_trade_no is None) == (transaction_id is None):
        raise ValueError("give exactly one of out_trade_no or transaction_id")
    data: dict[str, Any] = {}
    if transaction_id is not None:
        data["transaction_id"] = text("transaction_id", transaction_id)
    else:
        data["out_trade_no"] = out_no("out_trade_no", out_trade_no)
    data["out_refund_no"] = out_no("out_refund_no", out_refund_no, OUT_REFUND_NO)
    if reason is not None:
        data["reason"] = _bmp("reason", reason, 80)
    if notify_url is not None:
        data["notify_url"] = text("notify_url", notify_url)
    if funds_account is not None:
        data["funds_account"] = text("funds_account", funds_account)
    if fen("refund", refund) > fen("total", total):
        raise ValueError(f"refund ({refund}) is more than total ({total})")
    data["amount"] = {"refund": refund, "total": total, "currency": "CNY"}
    return V3Request(
        "POST", "/v3/refund/domestic/refunds", _json(data), "/v3/refund/domestic/refunds"
    )


def refund_query(out_refund_no: str) -> V3Request:
    """``GET /v3/refund/domestic/refunds/{out_refund_no}``."""
    no = _segment("out_refund_no", out_no("out_refund_no", out_refund_no, OUT_REFUND_NO))
    return V3Request("GET", f"/v3/refund/domestic/refunds/{no}", b"", "/v3/refund/domestic/refunds")


def trade_bill(
    bill_date: str | _dt.date, bill_type: str = "ALL", *, gzip_file: bool = False
) -> V3Request:
    """``GET /v3/bill/tradebill``: the answer holds ``download_url`` and the SHA-1 of the file.

    ``bill_date`` is ``YYYY-MM-DD`` or a date (bills exist from 10:00 the next day, for
    three months).
    """
    if isinstance(bill_date, _dt.date):
        bill_date = bill_date.isoformat()
    if not isinstance(bill_date, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", bill_date):
        raise ValueError("bill_date must be YYYY-MM-DD or a datetime.date")
    if bill_type not in BILL_TYPES:
        raise ValueError(f"bill_type must be one of {', '.join(BILL_TYPES)}")
    params = {"bill_date": bill_date, "bill_type": bill_type}
    if gzip_file:
        params["tar_type"] = "GZIP"
    return V3Request("GET", "/v3/bill/tradebill?" + urlencode(params), b"", "/v3/bill/tradebill")


def bill_download(download_url: str) -> V3Request:
    """GET a bill's ``download_url`` (signed like any request; the file is not signed)."""
    parts = urlsplit(text("download_url", download_url))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("download_url must be the absolute URL WeChat returned")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return V3Request(
        "GET", path, b"", "/v3/billdownload/file", base=f"{parts.scheme}://{parts.netloc}"
    )


def certificates() -> V3Request:
    """``GET /v3/certificates``: the platform certificates, sealed with the APIv3 key."""
    return V3Request("GET", "/v3/certificates", b"", "/v3/certificates")
