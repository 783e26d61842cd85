"""One exception tree for everything wxpay-mw raises.

Every error names what was wrong and what to do about it. Errors that come from WeChat
carry WeChat's own ``err_code`` / ``err_code_des`` (or ``errcode`` / ``errmsg`` for the
login API) so that a host can log and search them. Each class also names the stable
``client_code`` and HTTP ``status`` that the adapters send to the mini program; WeChat's
raw text never goes to the client, only to the server log.

No message built here ever includes the API key, the app secret or a session_key.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "BadRequestError",
    "ConfigError",
    "LoginError",
    "OrderClosedError",
    "OrderPaidError",
    "OrderRejectedError",
    "OutTradeNoUsedError",
    "RateLimitedError",
    "RefundFailedError",
    "RefundRefusedError",
    "ResponseMismatchError",
    "ResponseSignatureError",
    "SetupError",
    "SignatureError",
    "UnknownOrderError",
    "WeChatError",
    "WeChatUnavailableError",
    "WxPayError",
    "XMLError",
    "hint_for",
]

# What a host developer should do for each err_code WeChat documents (wechatpay-v2.md).
_HINTS: dict[str, str] = {
    "ORDERPAID": "the order is already paid: treat it as paid and do not charge again",
    "ORDERCLOSED": "the order is closed: place a new order with a new out_trade_no",
    "OUT_TRADE_NO_USED": (
        "this out_trade_no was already used with different parameters: resend the same "
        "parameters, or use a new out_trade_no"
    ),
    "SYSTEMERROR": "WeChat had a temporary error: retry the call with the same parameters",
    "SIGNERROR": (
        "WeChat rejected the signature: check WXPAY_API_KEY (the 32-character API key from "
        "the merchant platform, not the app secret) and WXPAY_SIGN_TYPE"
    ),
    "LACK_PARAMS": "a required parameter is missing: see err_code_des for which one",
    "PARAM_ERROR": "a parameter is invalid: see err_code_des for which one",
    "INVALID_REQUEST": "the request is malformed or repeats an order with other parameters",
    "NOAUTH": "the merchant lacks permission for this API: apply for it in the merchant platform",
    "NOTENOUGH": (
        "the balance is insufficient (for a refund: the merchant's basic account; top it up "
        "and retry with the same out_refund_no)"
    ),
    "APPID_NOT_EXIST": "check WXPAY_APPID",
    "MCHID_NOT_EXIST": "check WXPAY_MCH_ID",
    "APPID_MCHID_NOT_MATCH": "WXPAY_APPID is not bound to WXPAY_MCH_ID in the merchant platform",
    "XML_FORMAT_ERROR": "the request XML was malformed",
    "REQUIRE_POST_METHOD": "the request must be a POST",
    "POST_DATA_EMPTY": "the request body was empty",
    "NOT_UTF8": "the request was not UTF-8: encode every string as UTF-8",
    "ORDERNOTEXIST": "WeChat knows no such order: only orders placed with unifiedorder exist",
    "REFUNDNOTEXIST": "no refund exists for this order yet",
    "BIZERR_NEED_RETRY": "WeChat rejected a concurrent request: retry with the same parameters",
    "FREQUENCY_LIMITED": "too many calls for an old order: slow down",
    "INVALID_REQ_TOO_MUCH": "too many invalid requests: wait a minute before trying again",
    "TRADE_OVERDUE": "the order is too old to refund",
    "USER_ACCOUNT_ABNORMAL": "the user's account is closed: refund offline",
    "INVALID_TRANSACTIONID": "check the transaction_id",
    # jscode2session errcodes
    "-1": "WeChat is busy: retry in a moment",
    "40029": "the wx.login code is invalid or expired: call wx.login again for a new code",
    "40163": "the wx.login code was already used: call wx.login again for a new code",
    "45011": "too many logins for this user: wait a minute",
    "40226": "WeChat blocked this login as high-risk",
    "40125": "check WXPAY_APP_SECRET",
}

# err_codes after which the same call with the same parameters may succeed.
RETRYABLE_CODES = frozenset({"SYSTEMERROR", "SYSTEM_ERROR", "BIZERR_NEED_RETRY", "-1"})


def hint_for(code: str) -> str:
    """What to do about a WeChat err_code (or login errcode); a generic hint if unknown."""
    return _HINTS.get(code, "see WeChat's err_code_des and the merchant platform")


class WxPayError(Exception):
    """The root of every error wxpay-mw raises."""

    #: A stable, machine-readable code for the client (the mini program).
    client_code: str = "internal_error"
    #: The HTTP status an adapter answers with.
    status: int = 500
    #: The order a failed prepay had already created, so the client can pay it again
    #: (``{"out_trade_no": ...}`` in the next prepay) instead of leaving it orphaned.
    out_trade_no: str | None = None


class ConfigError(WxPayError, ValueError):
    """A setting is missing or invalid. ``setting`` names it (``WXPAY_API_KEY``...)."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")


class SetupError(WxPayError, TypeError):
    """The host app is wired wrong: a required hook is missing, a ``wxpay_*`` name is no
    hook, a hook is ``async def`` where it cannot be awaited, or a hook returned the wrong
    type. Raised at start-up where it can be seen then, else on the first request, which
    fails loudly (a logged 500, a FAIL answer to WeChat) instead of losing a payment.
    """


class XMLError(WxPayError, ValueError):
    """A body is not WeChat's flat, UTF-8 ``<xml>``: malformed, hostile or too large.

    DTDs and entities are refused, never expanded.
    """

    client_code = "bad_request"
    status = 400


class SignatureError(WxPayError, ValueError):
    """A signature is missing or does not match the fields it claims to sign."""

    client_code = "bad_signature"
    status = 400


class WeChatError(WxPayError):
    """WeChat answered, and the answer is a failure.

    ``code`` is WeChat's err_code (``SYSTEMERROR``), the login errcode (``"40029"``), or
    ``"FAIL"`` when WeChat only sent ``return_code=FAIL`` with a text ``return_msg``.
    ``description`` is WeChat's own text (err_code_des, errmsg or return_msg).
    ``fields`` is the parsed answer, for logging (it never holds a secret).
    """

    client_code = "wechat_error"
    status = 502

    def __init__(
        self,
        code: str,
        description: str = "",
        *,
        endpoint: str = "",
        fields: Mapping[str, str] | None = None,
        hint: str | None = None,
    ) -> None:
        self.code = code
        self.description = description
        self.endpoint = endpoint
        self.fields: dict[str, str] = dict(fields or {})
        self.hint = hint if hint is not None else hint_for(code)
        where = f"{endpoint}: " if endpoint else ""
        said = f" ({description})" if description else ""
        super().__init__(f"{where}WeChat answered {code}{said}; {self.hint}")

    @property
    def retryable(self) -> bool:
        """True when the same call with the same parameters may succeed later."""
        return self.code in RETRYABLE_CODES


class OrderPaidError(WeChatError):
    """ORDERPAID: the order is already paid."""

    client_code = "order_paid"
    status = 409


class OrderClosedError(WeChatError):
    """ORDERCLOSED: the order is closed and can no longer be paid."""

    client_code = "order_closed"
    status = 409


class OutTradeNoUsedError(WeChatError):
    """OUT_TRADE_NO_USED: the out_trade_no was already used with other parameters."""

    client_code = "order_conflict"
    status = 409


class LoginError(WeChatError):
    """jscode2session refused the wx.login code (40029, 40163, 45011, ...)."""

    client_code = "invalid_code"
    status = 401


class OrderRejectedError(WxPayError):
    """The host's ``wxpay_create_order`` hook refused the order (or returned none).

    The message is the host's own and is shown to the client.
    """

    client_code = "order_rejected"
    status = 400


class WeChatUnavailableError(WxPayError):
    """WeChat could not be reached, timed out, or answered something unusable.

    ``may_have_acted`` is True when the request may have reached WeChat (a read timeout,
    a 5xx): the outcome is unknown, so it must be checked (orderquery), never assumed.
    """

    client_code = "wechat_unavailable"
    status = 503

    def __init__(self, message: str, *, endpoint: str = "", may_have_acted: bool = False) -> None:
        self.endpoint = endpoint
        self.may_have_acted = may_have_acted
        where = f"{endpoint}: " if endpoint else ""
        super().__init__(f"{where}{message}")


class ResponseSignatureError(WeChatUnavailableError):
    """WeChat's answer carried a wrong signature: it is not trusted, whatever it says."""

    client_code = "wechat_unavailable"
    status = 502

    def __init__(self, endpoint: str = "") -> None:
        super().__init__(
            "the answer's signature does not match: it was not trusted. Check WXPAY_API_KEY "
            "and WXPAY_SIGN_TYPE; if they are right, something between you and WeChat "
            "altered the answer",
            endpoint=endpoint,
            may_have_acted=True,
        )


class RateLimitedError(WeChatError):
    """WeChat refused the call for coming too often: slow down, then try again.

    Login errcode 45011 and the pay err_codes FREQUENCY_LIMITED and INVALID_REQ_TOO_MUCH.
    Unlike an invalid login code, the same call may succeed after a pause.
    """

    client_code = "rate_limited"
    status = 429

    @property
    def retryable(self) -> bool:
        """Always True: the same call may succeed, after a pause (not at once)."""
        return True


class ResponseMismatchError(WeChatUnavailableError):
    """A correctly signed answer names another appid or mch_id than ours: not trusted.

    One merchant (one API key) may have several appids bound; an answer for another of
    them must never be taken as the answer to our call.
    """

    client_code = "wechat_unavailable"
    status = 502

    def __init__(self, field: str, *, endpoint: str = "") -> None:
        self.field = field
        super().__init__(
            f"the answer's {field} is not ours: it was not trusted. Check WXPAY_APPID and "
            "WXPAY_MCH_ID, and that WXPAY_API_BASE points at WeChat (or the simulator)",
            endpoint=endpoint,
            may_have_acted=True,
        )


class BadRequestError(WxPayError, ValueError):
    """The client's request is malformed (not a JSON object, a bad field)."""

    client_code = "bad_request"
    status = 400


class UnknownOrderError(WxPayError, LookupError):
    """No stored order has this out_trade_no."""

    client_code = "unknown_order"
    status = 404


class RefundRefusedError(WxPayError, ValueError):
    """A refund this app must not ask for: the order is unknown or unpaid, or the refunds
    would add up to more than it was paid. Nothing was sent to WeChat.

    ``reason`` is ``unknown_order``, ``not_paid`` or ``too_much``.
    """

    client_code = "refund_refused"
    status = 409

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class RefundFailedError(WxPayError):
    """WeChat did not take a refund; ``action`` says what the host should do about it.

    - ``retry``: nothing is known to have failed for good (SYSTEMERROR,
      BIZERR_NEED_RETRY, no answer): call ``refund`` again with the same
      ``out_refund_no``, which WeChat refunds at most once;
    - ``retry_later``: too many calls (FREQUENCY_LIMITED): the same, after a pause;
    - ``top_up``: the merchant account's available balance is too low (NOTENOUGH): add
      funds in the merchant platform, then retry with the same ``out_refund_no``;
    - ``refund_offline``: the user's account is closed (USER_ACCOUNT_ABNORMAL);
    - ``refused``: WeChat refused it for good (its ``code`` says why); the amount is
      free again, and a new refund needs a new ``out_refund_no``.

    ``code`` is WeChat's err_code (or ``UNAVAILABLE`` when no usable answer came).
    """

    client_code = "refund_failed"
    status = 502

    def __init__(self, action: str, code: str, out_refund_no: str, detail: str) -> None:
        self.action = action
        self.code = code
        self.out_refund_no = out_refund_no
        super().__init__(f"refund {out_refund_no}: {detail} ({code}); action: {action}")
