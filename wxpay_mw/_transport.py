"""Transport failures of a WeChat call, translated into WeChatUnavailableError.

The question each translation answers for the caller: may WeChat have acted on the
request? A connection that was never opened sent nothing, so the call can be repeated; a
read timeout, a dropped connection or a 5xx may come after WeChat acted, so the outcome
must be checked (orderquery / refundquery), never assumed.
"""

from __future__ import annotations

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from ._logsafe import redact
from .config import WxPayConfig
from .errors import WeChatUnavailableError

__all__ = ["bad_status", "fail_hint", "garbled", "translate", "unavailable"]


def _reason(exc: BaseException) -> BaseException:
    """The innermost urllib3 error behind a requests exception."""
    seen = exc
    for _ in range(4):
        inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        inner = getattr(seen, "reason", None) or inner
        if not isinstance(inner, BaseException) or inner is seen:
            break
        seen = inner
    return seen


def _nothing_sent(exc: BaseException) -> bool:
    """True when the request certainly never reached WeChat."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        # A TLS failure happens in the handshake (or is WeChat refusing our client
        # certificate): either way no API call was processed.
        return True
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema):
        return True
    if isinstance(exc, OSError) and not isinstance(exc, requests.RequestException):
        # requests raises a bare OSError for an unreadable certificate file, before
        # connecting.
        return True
    if isinstance(exc, requests.ConnectionError):
        # NameResolutionError is a NewConnectionError: DNS failures count as not sent.
        return isinstance(_reason(exc), NewConnectionError | ConnectTimeoutError)
    return False


def translate(exc: BaseException, endpoint: str, config: WxPayConfig) -> WeChatUnavailableError:
    """The WeChatUnavailableError for an exception of requests (or urllib3)."""
    return unavailable(
        endpoint,
        config,
        _reason(exc),
        sent=not _nothing_sent(exc),
        timed_out=isinstance(exc, requests.ReadTimeout),
    )


def unavailable(
    endpoint: str, config: WxPayConfig, reason: BaseException, *, sent: bool, timed_out: bool
) -> WeChatUnavailableError:
    """The error for a transport failure, whichever HTTP library met it.

    ``sent``: the request may have reached WeChat. ``timed_out``: it was sent and no
    answer came within the read timeout.
    """
    # The text of an HTTP library's error may hold the URL, which for jscode2session
    # holds the app secret: only a redacted form ever goes into our message.
    detail = redact(f"{type(reason).__name__}: {reason}")[:300]
    if not sent:
        return WeChatUnavailableError(
            f"could not reach WeChat ({detail}); nothing was sent, so the call may be "
            "repeated safely",
            endpoint=endpoint,
            may_have_acted=False,
        )
    if timed_out:
        message = (
            f"no answer within {config.read_timeout:g} s; WeChat may have acted on the request: "
            "check the outcome (orderquery / refundquery) before repeating it"
        )
    else:
        message = (
            f"the connection failed after the request was sent ({detail}); WeChat may have "
            "acted on it: check the outcome (orderquery / refundquery) before repeating it"
        )
    return WeChatUnavailableError(message, endpoint=endpoint, may_have_acted=True)


def bad_status(status: int, endpoint: str) -> WeChatUnavailableError:
    # WeChat answers 200 even for failures. A 4xx comes from something in front of it
    # refusing the request (wrong path, proxy), so nothing acted; a 5xx or anything else
    # may come after WeChat acted.
    refused = 400 <= status < 500
    then = (
        "the request was refused before WeChat acted: check WXPAY_API_BASE / WXPAY_LOGIN_BASE"
        if refused
        else "WeChat may have acted: check the outcome before repeating the call"
    )
    if status == 400 and endpoint.endswith("/pay/refund"):
        # WeChat's front end answers 400 "No required SSL certificate was sent" (or "The
        # SSL certificate error") to a refund without the merchant's client certificate.
        then = (
            "the refund was refused before WeChat acted, most likely for the client "
            "certificate: set WXPAY_CERT_PATH and WXPAY_KEY_PATH to the merchant's "
            "apiclient_cert.pem and apiclient_key.pem (from the merchant platform)"
        )
    return WeChatUnavailableError(
        f"WeChat answered HTTP {status}; {then}", endpoint=endpoint, may_have_acted=not refused
    )


def garbled(endpoint: str, problem: str) -> WeChatUnavailableError:
    return WeChatUnavailableError(
        f"the answer is unusable ({problem}); the outcome is unknown: check it before "
        "repeating the call",
        endpoint=endpoint,
        may_have_acted=True,
    )


def fail_hint(endpoint: str, return_msg: str) -> str:
    said = return_msg.lower()
    if "签名" in return_msg or "sign" in said:
        return (
            "WeChat rejected the signature: check WXPAY_API_KEY (the 32-character API key, "
            "not the app secret), WXPAY_SIGN_TYPE, and in sandbox mode the sandbox key; "
            "`wxpay-mw sign` shows the exact string signed"
        )
    if endpoint.endswith("downloadbill"):
        if "no bill" in said:
            return "there is no bill for that date: no payments that day, or over 3 months ago"
        if "creating" in said:
            return "the bill is not ready yet: bills are ready after 10:00 the next day"
    return "WeChat refused the request before processing it: see return_msg"
