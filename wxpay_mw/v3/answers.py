"""Judging v3 answers: HTTP status first, then WeChat's JSON ``code`` as the typed errors.

The answer's signature is checked before any judge here reads it (``verify.py``).

v3 reports failures as an HTTP status with ``{"code", "message"[, "detail"]}``. Each code
with a v2 twin raises the same class as that err_code (``ORDER_CLOSED`` ->
:class:`~wxpay_mw.errors.OrderClosedError`, ...), so a host catches one set of errors for
both versions; ``code`` stays WeChat's own v3 spelling, which is what WeChat's support
and documentation use. ``fields`` carries the HTTP status and the ``Request-ID`` WeChat
asks for when something needs investigating.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from ..errors import (
    OrderClosedError,
    OrderPaidError,
    OutTradeNoUsedError,
    RateLimitedError,
    ResponseMismatchError,
    WeChatError,
    WeChatUnavailableError,
)
from .calls import V3Request
from .errors import BillDigestError

__all__ = [
    "ERR_CLASSES",
    "check_bill",
    "check_merchant",
    "error_for",
    "hint_for",
    "judge",
    "parse_json",
    "prepay_id",
]

# v3 code -> the class v2's err_code of the same meaning raises (_answers.ERR_CLASSES).
ERR_CLASSES: Final[dict[str, type[WeChatError]]] = {
    "ORDER_CLOSED": OrderClosedError,
    "ORDERPAID": OrderPaidError,
    "ORDER_PAID": OrderPaidError,
    "OUT_TRADE_NO_USED": OutTradeNoUsedError,
    "FREQUENCY_LIMITED": RateLimitedError,
    "RATELIMIT_EXCEEDED": RateLimitedError,
}

_HINTS: Final[dict[str, str]] = {
    "SIGN_ERROR": (
        "WeChat rejected our Authorization: check WXPAY_PRIVATE_KEY_PATH (apiclient_key.pem), "
        "WXPAY_CERT_SERIAL (the serial of that key's certificate) and WXPAY_MCH_ID; "
        "detail.sign_information shows what WeChat checked"
    ),
    "PARAM_ERROR": "a parameter is invalid: see message and detail for which one",
    "INVALID_REQUEST": (
        "the request breaks a v3 rule or repeats an order with other parameters: see message"
    ),
    "APPID_MCHID_NOT_MATCH": "WXPAY_APPID is not bound to WXPAY_MCH_ID in the merchant platform",
    "MCH_NOT_EXISTS": "check WXPAY_MCH_ID",
    "ORDER_CLOSED": "the order is closed: place a new order with a new out_trade_no",
    "ORDERPAID": "the order is already paid: treat it as paid and do not charge again",
    "ORDER_PAID": "the order is already paid: treat it as paid and do not charge again",
    "OUT_TRADE_NO_USED": (
        "this out_trade_no was already used with different parameters: resend the same "
        "parameters, or use a new out_trade_no"
    ),
    "NO_AUTH": "the merchant lacks permission for this API: apply for it in the merchant platform",
    "NOT_ENOUGH": "the balance is insufficient",
    "ORDER_NOT_EXIST": "WeChat knows no such order (an unpaid order is found by out_trade_no only)",
    "ORDERNOTEXIST": "WeChat knows no such order (an unpaid order is found by out_trade_no only)",
    "RESOURCE_NOT_EXISTS": (
        "WeChat has no such resource; from /v3/certificates: this merchant has no platform "
        "certificate, so set WXPAY_PUBLIC_KEY_PATH and WXPAY_PUBLIC_KEY_ID"
    ),
    "FREQUENCY_LIMITED": "too many calls: slow down, then retry",
    "RATELIMIT_EXCEEDED": "too many calls: slow down, then retry",
    "SYSTEM_ERROR": "WeChat had a temporary error: retry the call with the same parameters",
}


def hint_for(code: str) -> str:
    """What to do about a v3 error code; a generic hint if unknown."""
    return _HINTS.get(code, "see WeChat's message and detail, and the merchant platform")


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``, or None when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        return None


def error_for(
    endpoint: str, status: int, body: bytes, request_id: str = ""
) -> WeChatError | WeChatUnavailableError:
    """The exception for a non-2xx answer.

    WeChat's JSON error becomes a WeChatError (the v2 twin's class where there is one).
    Anything else comes from something in front of WeChat or from a WeChat in trouble:
    a 4xx without WeChat's JSON means nothing acted; a 5xx means WeChat may have acted.
    """
    data = parse_json(body)
    if not isinstance(data, dict) or not isinstance(data.get("code"), str) or not data["code"]:
        refused = 400 <= status < 500
        then = (
            "something in front of WeChat refused the request: check WXPAY_API_BASE"
            if refused
            else "WeChat may have acted: check the outcome before repeating the call"
        )
        rid = f" (Request-ID {request_id})" if request_id else ""
        return WeChatUnavailableError(
            f"WeChat answered HTTP {status} without its JSON error{rid}; {then}",
            endpoint=endpoint,
            may_have_acted=not refused,
        )
    code: str = data["code"]
    message = data.get("message")
    description = message if isinstance(message, str) else ""
    fields: dict[str, str] = {"code": code, "message": description, "http_status": str(status)}
    if request_id:
        fields["request_id"] = request_id
    detail = data.get("detail")
    if isinstance(detail, Mapping):
        fields["detail"] = json.dumps(detail, ensure_ascii=False, separators=(",", ":"))[:2000]
    cls = ERR_CLASSES.get(code, RateLimitedError if status == 429 else WeChatError)
    return cls(code, description, endpoint=endpoint, fields=fields, hint=hint_for(code))


def judge(request: V3Request, status: int, body: bytes, request_id: str = "") -> dict[str, Any]:
    """WeChat's decision on a (verified) answer: the JSON object of a 200, ``{}`` for a
    204, a typed error otherwise."""
    if status == 204 or (status == 202 and not body.strip()):
        return {}
    if status not in (200, 202):
        raise error_for(request.endpoint, status, body, request_id)
    data = parse_json(body)
    if not isinstance(data, dict):
        raise WeChatUnavailableError(
            "the answer is not a JSON object; the outcome is unknown: check it before "
            "repeating the call",
            endpoint=request.endpoint,
            may_have_acted=True,
        )
    return data


def check_merchant(request: V3Request, answer: Mapping[str, Any], **ours: str) -> None:
    """Refuse a verified answer about another appid / mchid than ours."""
    for name, value in ours.items():
        if name in answer and answer[name] != value:
            raise ResponseMismatchError(name, endpoint=request.endpoint)


def prepay_id(request: V3Request, answer: Mapping[str, Any]) -> str:
    """The ``prepay_id`` of a JSAPI order's answer."""
    value = answer.get("prepay_id")
    if not isinstance(value, str) or not value:
        raise WeChatUnavailableError(
            "no prepay_id in a 200 answer; the order may exist: query it by out_trade_no",
            endpoint=request.endpoint,
            may_have_acted=True,
        )
    return value


def check_bill(
    content: bytes, hash_type: str, hash_value: str, endpoint: str = "/v3/billdownload/file"
) -> bytes:
    """The bill's bytes (gunzipped if gzip) once their SHA-1 matches ``hash_value``."""
    if hash_type.upper() != "SHA1":
        raise WeChatError(
            "HASH_TYPE", f"hash_type {hash_type!r}", endpoint=endpoint, hint="only SHA1 is known"
        )
    try:
        data = gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content
    except (OSError, EOFError):
        raise BillDigestError(endpoint, hash_value, "none (a broken gzip file)") from None
    got = hashlib.sha1(data).hexdigest()
    if got != hash_value.lower():
        raise BillDigestError(endpoint, hash_value, got)
    return data
