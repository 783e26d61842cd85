"""Routing of the v3 endpoints, their faults, and the v3 control endpoints.

:func:`serve_v3` answers a request when the simulator speaks v3 and the request is a v3
one (``/v3/...``, ``/simulator/v3/...``, or ``/simulator/pay`` with ``signType`` RSA);
otherwise it returns None and the v2 application answers. Faults (``_faults.py``) apply
to v3 paths as to v2's: ``malformed_xml`` truncates the JSON, ``bad_sign`` sends a
signature that does not verify, ``sign_probe`` one WeChat's probes carry
(``WECHATPAY/SIGNTEST/...``, which a client must refuse like any bad signature), and
``wechat_error`` answers the v3 code of the same meaning (:data:`V3_ERRORS`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Final

from ..v3 import signing
from ..v3.verify import PROBE_PREFIX
from ._app import RESET_KEY
from ._context import Context
from ._faults import Fault
from ._v3bill import DOWNLOAD_PATH, certificates, download, tradebill
from ._v3control import control_v3, request_payment
from ._v3pay import close, jsapi, query
from ._v3refund import refund, refund_query
from ._v3wire import V3Call, V3Wechat, authenticate, error
from ._wire import Answer, Request, json_answer

__all__ = ["V3_ERRORS", "serve_v3"]

logger = logging.getLogger("wxpay_mw.simulator")

#: A ``wechat_error`` fault's err_code (``PAY_ERRORS``) -> v3's (HTTP status, code, message).
V3_ERRORS: Final[dict[str, tuple[int, str, str]]] = {
    "SYSTEMERROR": (500, "SYSTEM_ERROR", "系统异常，请稍后重试"),
    "ORDERPAID": (400, "ORDERPAID", "该订单已支付"),
    "ORDERCLOSED": (400, "ORDER_CLOSED", "订单已关闭"),
    "NOTENOUGH": (403, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起"),
    "BIZERR_NEED_RETRY": (500, "SYSTEM_ERROR", "退款业务流程错误，需要商户触发重试来解决"),
    "FREQUENCY_LIMITED": (429, "FREQUENCY_LIMITED", "频率超限"),
    "INVALID_REQ_TOO_MUCH": (429, "RATELIMIT_EXCEEDED", "无效请求过多"),
    "TRADE_OVERDUE": (400, "INVALID_REQUEST", "订单已经超过退款期限"),
    "USER_ACCOUNT_ABNORMAL": (403, "USER_ACCOUNT_ABNORMAL", "退款请求失败，用户帐号注销"),
}
_SETTLE_AS: Final = {"refund_close": "REFUNDCLOSE", "refund_change": "CHANGE"}

Handler = Callable[[Context, V3Wechat, V3Call, str], Answer]

# (method, path pattern) -> handler; patterns match PATH_INFO.
_ROUTES: Final[list[tuple[str, re.Pattern[str], Handler]]] = [
    ("POST", re.compile(r"/v3/pay/transactions/jsapi"), lambda c, v, k, s: jsapi(c, v, k)),
    (
        "GET",
        re.compile(r"/v3/pay/transactions/out-trade-no/[^/]+"),
        lambda c, v, k, s: query(c, v, k, by_id=False),
    ),
    (
        "GET",
        re.compile(r"/v3/pay/transactions/id/[^/]+"),
        lambda c, v, k, s: query(c, v, k, by_id=True),
    ),
    (
        "POST",
        re.compile(r"/v3/pay/transactions/out-trade-no/[^/]+/close"),
        lambda c, v, k, s: close(c, v, k),
    ),
    ("POST", re.compile(r"/v3/refund/domestic/refunds"), refund),
    (
        "GET",
        re.compile(r"/v3/refund/domestic/refunds/[^/]+"),
        lambda c, v, k, s: refund_query(c, v, k),
    ),
    ("GET", re.compile(r"/v3/bill/tradebill"), lambda c, v, k, s: tradebill(c, v, k)),
    ("GET", re.compile(re.escape(DOWNLOAD_PATH)), lambda c, v, k, s: download(v, k)),
    ("GET", re.compile(r"/v3/certificates"), lambda c, v, k, s: certificates(v, k)),
]


def _is_v3_pay(request: Request) -> bool:
    try:
        data = json.loads(request.body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("signType") == "RSA"


def serve_v3(ctx: Context, request: Request) -> Answer | None:
    """The answer to a v3 request, or None when the request is not one."""
    v3 = ctx.v3
    if v3 is None:
        return None
    if request.path == "/simulator/reset" and request.method == "POST":
        v3.reset()
        return None  # the v2 control endpoint forgets the rest
    if request.path.startswith("/simulator/v3/"):
        try:
            data = json.loads(request.body) if request.body.strip() else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return json_answer(400, {"error": "the body is not a JSON object"})
        return control_v3(ctx, v3, request, data)
    if request.path == "/simulator/pay" and request.method == "POST" and _is_v3_pay(request):
        status, answer = request_payment(ctx, v3, json.loads(request.body))
        return json_answer(status, answer)
    if not request.path.startswith("/v3/"):
        return None
    fault = ctx.faults.take(request.path)
    if fault is not None and fault.kind == "reset":
        # Nothing done; the server drops the connection without an answer.
        request.environ[RESET_KEY] = True
        return Answer(200, b"")
    return _faulted(ctx, v3, request, fault)


def _faulted(ctx: Context, v3: V3Wechat, request: Request, fault: Fault | None) -> Answer:
    if fault is not None:
        logger.info("fault %s on %s", fault.kind, request.path)
        if fault.kind == "http_500":
            return Answer(500, b"<html><body>500 Internal Server Error</body></html>", "text/html")
        if fault.kind == "latency":
            ctx.stopping.wait(fault.seconds)
    answer = _dispatch(ctx, v3, request, fault)
    if fault is None:
        return answer
    if fault.kind == "timeout":
        # The work is done, the answer withheld: the client cannot know it succeeded.
        ctx.stopping.wait(fault.seconds)
    elif fault.kind == "malformed_xml":
        answer.body = answer.body[: len(answer.body) // 2]
    elif fault.kind == "bad_sign" and answer.signed:
        headers = dict(answer.headers)
        key, serial = v3.answer_key(headers.get("Wechatpay-Serial"))
        # A signature over other bytes: well formed, and wrong.
        wrong = signing.sign_answer(key, serial, answer.body + b" ")
        headers["Wechatpay-Signature"] = wrong["Wechatpay-Signature"]
        headers["Wechatpay-Timestamp"] = wrong["Wechatpay-Timestamp"]
        headers["Wechatpay-Nonce"] = wrong["Wechatpay-Nonce"]
        answer.headers = list(headers.items())
    elif fault.kind == "sign_probe" and answer.signed:
        answer.headers = [
            (name, PROBE_PREFIX + value if name == "Wechatpay-Signature" else value)
            for name, value in answer.headers
        ]
    return answer


def _dispatch(ctx: Context, v3: V3Wechat, request: Request, fault: Fault | None) -> Answer:
    handler = next(
        (h for m, p, h in _ROUTES if m == request.method and p.fullmatch(request.path)), None
    )
    if handler is None:
        return error(v3, None, 404, "NOT_FOUND", f"没有这个接口：{request.method} {request.path}")
    call = authenticate(v3, ctx.merchant.mch_id, request)
    if isinstance(call, Answer):
        return call
    if fault is not None and fault.kind == "wechat_error" and fault.code is not None:
        # WeChat's error, for a request it authenticated; nothing done.
        status, code, message = V3_ERRORS.get(fault.code, (400, fault.code, fault.code))
        return error(v3, call.serial, status, code, message)
    settle_as = _SETTLE_AS.get(fault.kind, "SUCCESS") if fault is not None else "SUCCESS"
    try:
        return handler(ctx, v3, call, settle_as)
    except Exception:
        # WeChat's own answer to its own failures: SYSTEM_ERROR, retry with the same params.
        logger.exception("simulator v3 handler for %s failed", request.path)
        return error(v3, call.serial, 500, "SYSTEM_ERROR", "系统异常，请稍后重试")
