"""Fault injection: make a WeChat endpoint slow, broken or untrustworthy on purpose.

| kind | what the client sees | did WeChat act? |
|---|---|---|
| ``latency`` | the normal answer, ``seconds`` late | yes |
| ``timeout`` | no answer for ``seconds`` (set it above the client's read timeout) | yes |
| ``reset`` | the connection closed without an answer | no |
| ``http_500`` | HTTP 500 with an HTML body | no |
| ``malformed_xml`` | HTTP 200 with a truncated XML body | yes |
| ``bad_sign`` | the normal answer with a wrong ``sign`` (unsigned answers unchanged) | yes |
| ``wechat_error`` | WeChat's own business error ``code``, signed (see below) | no |
| ``refund_close`` | the refund is accepted, then closes (REFUNDCLOSE, notified) | yes |
| ``refund_change`` | the refund is accepted, then goes abnormal (CHANGE, notified) | yes |
| ``sign_probe`` | v3: the normal answer, signed ``WECHATPAY/SIGNTEST/...`` (a probe) | yes |

"Did WeChat act" is the trap each fault sets: after a timeout or a malformed answer the
order (or refund) may well exist, so the client must query, not assume.

``wechat_error`` answers a correctly signed request with ``code`` instead of doing the
work, exactly as WeChat words it (:data:`PAY_ERRORS`, :data:`LOGIN_ERRORS`): a pay path
gets ``result_code=FAIL`` with err_code and err_code_des, signed; /sns/jscode2session
gets ``{"errcode", "errmsg"}``. It needs a single endpoint, not ``*``.
``refund_close`` and ``refund_change`` apply to a refund path only.

A fault applies to one path (``/pay/unifiedorder``) or every WeChat path (``*``), never
to ``/simulator/*``; with ``count`` it affects that many requests and then disappears.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["FAULT_KINDS", "LOGIN_ERRORS", "PAY_ERRORS", "Fault", "Faults"]

FAULT_KINDS: Final = (
    "latency",
    "timeout",
    "reset",
    "http_500",
    "malformed_xml",
    "bad_sign",
    "wechat_error",
    "refund_close",
    "refund_change",
    "sign_probe",
)
_DEFAULT_SECONDS: Final = {"latency": 1.0, "timeout": 30.0}

#: err_code -> err_code_des of the business errors a pay path can be made to answer.
#: Sources: wechatpay-v2.md sections 2, 4, 6 (WeChat's err_code tables); the refund
#: NOTENOUGH wording is WeChat's "基本账户余额不足，请充值后重新发起" (issue 13, item 5).
PAY_ERRORS: Final[dict[str, str]] = {
    "SYSTEMERROR": "系统超时",
    "ORDERPAID": "该订单已支付",
    "ORDERCLOSED": "该订单已关闭",
    "NOTENOUGH": "基本账户余额不足，请充值后重新发起",
    "BIZERR_NEED_RETRY": "退款业务流程错误，需要商户触发重试来解决",
    "FREQUENCY_LIMITED": "2个月之前的订单申请退款有频率限制",
    "INVALID_REQ_TOO_MUCH": "无效请求过多",
    "TRADE_OVERDUE": "订单已经超过退款期限",
    "USER_ACCOUNT_ABNORMAL": "退款请求失败，用户帐号注销",
}
#: errcode -> errmsg of the jscode2session errors that can be injected (code2Session
#: doc, wechatpay-v2.md section 12); a ", rid: ..." is appended as WeChat does.
LOGIN_ERRORS: Final[dict[str, str]] = {
    "-1": "system error",
    "45011": "api minute-quota reach limit  mustslower  retry next minute",
    "40226": "code blocked",
}
LOGIN_PATH: Final = "/sns/jscode2session"


@dataclass
class Fault:
    """One injected fault."""

    endpoint: str
    kind: str
    seconds: float = 0.0
    #: Requests still to affect; None: until cleared.
    count: int | None = None
    #: For ``wechat_error``: the err_code (pay) or errcode (login) to answer.
    code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape used by ``/simulator/faults``."""
        data: dict[str, Any] = {
            "endpoint": self.endpoint,
            "kind": self.kind,
            "seconds": self.seconds,
            "count": self.count,
        }
        if self.code is not None:
            data["code"] = self.code
        return data

    @classmethod
    def from_dict(cls, data: object) -> Fault:
        """Validate a fault given as JSON; ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object with endpoint and kind")
        endpoint, kind = data.get("endpoint"), data.get("kind")
        if not isinstance(endpoint, str) or not (endpoint == "*" or endpoint.startswith("/")):
            raise ValueError("endpoint: expected a path such as '/pay/unifiedorder', or '*'")
        if endpoint.startswith("/simulator/"):
            raise ValueError("endpoint: the /simulator/ control endpoints cannot be faulted")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind: expected one of {', '.join(FAULT_KINDS)}")
        seconds = data.get("seconds", _DEFAULT_SECONDS.get(kind, 0.0))
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ValueError("seconds: expected a non-negative number")
        count = data.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise ValueError("count: expected a positive integer, or null for no limit")
        if count is not None and count < 1:
            raise ValueError("count: expected a positive integer, or null for no limit")
        code = _check_code(endpoint, kind, data.get("code"))
        refund_paths = ("/pay/refund", "/v3/refund/domestic/refunds")
        if kind in ("refund_close", "refund_change") and not endpoint.endswith(refund_paths):
            raise ValueError(
                f"endpoint: {kind} applies to a refund path, '/secapi/pay/refund' or "
                "'/v3/refund/domestic/refunds'"
            )
        if kind == "sign_probe" and not (endpoint == "*" or endpoint.startswith("/v3/")):
            raise ValueError("endpoint: sign_probe applies to a v3 path ('/v3/...') or '*'")
        return cls(endpoint, kind, float(seconds), count, code)


def _check_code(endpoint: str, kind: object, code: object) -> str | None:
    if kind != "wechat_error":
        if code is not None:
            raise ValueError("code: only a wechat_error fault takes a code")
        return None
    if endpoint == "*":
        raise ValueError("endpoint: a wechat_error fault needs one path, not '*'")
    code = str(code) if isinstance(code, int) and not isinstance(code, bool) else code
    known = LOGIN_ERRORS if endpoint == LOGIN_PATH else PAY_ERRORS
    if not isinstance(code, str) or code not in known:
        raise ValueError(f"code: expected one of {', '.join(known)} for {endpoint}")
    return code


class Faults:
    """The faults in force, consumed as requests match them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Add a fault; faults added earlier win when several match."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        """The faults in force, as JSON-ready dicts."""
        with self._lock:
            return [fault.as_dict() for fault in self._faults]

    def take(self, path: str) -> Fault | None:
        """The fault for a request to ``path``, counting it against ``count``."""
        with self._lock:
            for fault in self._faults:
                if fault.endpoint in ("*", path):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None
