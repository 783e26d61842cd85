"""Judging WeChat's answers: return_code, then result_code / err_code, as exceptions.

Also what of an answer may be logged or copied into an exception: ids and states only,
never a session_key or a sandbox key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ._transport import fail_hint, garbled
from .errors import (
    LoginError,
    OrderClosedError,
    OrderPaidError,
    OutTradeNoUsedError,
    RateLimitedError,
    WeChatError,
)

__all__ = ["LOGIN_CLASSES", "check_result", "check_return", "safe_fields", "summary"]

# err_code -> the exception class a caller can catch by meaning.
ERR_CLASSES: Final[dict[str, type[WeChatError]]] = {
    "ORDERPAID": OrderPaidError,
    "ORDERCLOSED": OrderClosedError,
    "OUT_TRADE_NO_USED": OutTradeNoUsedError,
    "FREQUENCY_LIMITED": RateLimitedError,
    "INVALID_REQ_TOO_MUCH": RateLimitedError,
}
# jscode2session errcodes. -1 (busy) stays a plain WeChatError, which is ``retryable``.
LOGIN_CLASSES: Final[dict[str, type[WeChatError]]] = {
    "40029": LoginError,
    "40163": LoginError,
    "40226": LoginError,
    "45011": RateLimitedError,
}

# Fields never copied into an exception or a log line.
_SECRET_FIELDS: Final = frozenset({"sandbox_signkey", "session_key"})
# What may appear in a debug summary of a request or an answer: ids and states only.
_SUMMARY_FIELDS: Final = (
    "out_trade_no",
    "transaction_id",
    "out_refund_no",
    "total_fee",
    "refund_fee",
    "bill_date",
    "return_code",
    "result_code",
    "err_code",
    "trade_state",
)


def safe_fields(fields: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if k not in _SECRET_FIELDS}


def summary(fields: Mapping[str, str | int | None]) -> str:
    return " ".join(f"{k}={fields[k]}" for k in _SUMMARY_FIELDS if fields.get(k) not in (None, ""))


def check_return(endpoint: str, fields: dict[str, str]) -> None:
    """Raise unless WeChat took the request (return_code SUCCESS)."""
    return_code = fields.get("return_code")
    if return_code == "SUCCESS":
        return
    if return_code == "FAIL":
        # WeChat did not take the request (bad sign, bad parameter format): nothing
        # happened, and return_msg is the only text there is.
        return_msg = fields.get("return_msg", "")
        raise WeChatError(
            "FAIL",
            return_msg,
            endpoint=endpoint,
            fields=safe_fields(fields),
            hint=fail_hint(endpoint, return_msg),
        )
    raise garbled(endpoint, f"return_code is {return_code!r}")


def check_result(endpoint: str, fields: dict[str, str]) -> None:
    """Raise the err_code's exception unless WeChat decided SUCCESS."""
    result_code = fields.get("result_code")
    err_code = fields.get("err_code", "")
    if result_code == "SUCCESS" or (result_code is None and not err_code):
        return
    if result_code not in ("FAIL", None):
        raise garbled(endpoint, f"result_code is {result_code!r}")
    code = err_code or "FAIL"
    cls = ERR_CLASSES.get(code, WeChatError)
    raise cls(
        code,
        fields.get("err_code_des", ""),
        endpoint=endpoint,
        fields=safe_fields(fields),
    )
