"""The simulator's WSGI application: routing, faults, and the HTTP plumbing.

Plain WSGI on purpose: the core (and so the simulator) never imports a web framework.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qsl

from .. import signing
from ..errors import XMLError
from ..xmlmsg import from_xml, to_xml
from ._bill import downloadbill, getsignkey
from ._context import Context
from ._control import control
from ._faults import LOGIN_ERRORS, LOGIN_PATH, PAY_ERRORS, Fault
from ._login import jscode2session, login_error
from ._pay import closeorder, orderquery, unifiedorder
from ._refund import refund, refundquery
from ._tls import CLIENT_CERT_KEY, NO_CERT_PAGE, TLS_KEY
from ._wire import Answer, Call, Request, biz_fail, parse_pay_request

__all__ = ["RESET_KEY", "SimulatorApp"]

logger = logging.getLogger("wxpay_mw.simulator")

#: environ key the app sets to ask the server to drop the connection unanswered.
RESET_KEY: Final = "wxpay_mw.simulator.reset"
_MAX_BODY: Final = 1024 * 1024

Handler = Callable[[Context, Call], Answer]

_PAY: Final[dict[str, Handler]] = {
    "unifiedorder": unifiedorder,
    "orderquery": orderquery,
    "closeorder": closeorder,
    "refundquery": refundquery,
    "downloadbill": downloadbill,
}
# path -> (handler, sandbox): production paths and the /sandboxnew copies. The retired
# sandbox documented its refund without "secapi" (wechatpay-v2.md section 11), while the
# official SDKs post to /sandboxnew/secapi/pay/refund (issue 13, item 3): both answer.
ROUTES: Final[dict[str, tuple[Handler, bool]]] = {
    **{f"/pay/{name}": (handler, False) for name, handler in _PAY.items()},
    **{f"/sandboxnew/pay/{name}": (handler, True) for name, handler in _PAY.items()},
    "/secapi/pay/refund": (refund, False),
    "/sandboxnew/pay/refund": (refund, True),
    "/sandboxnew/secapi/pay/refund": (refund, True),
}

#: Paths that demand the merchant's client certificate when served over TLS.
CERT_PATHS: Final = frozenset({"/secapi/pay/refund", "/sandboxnew/secapi/pay/refund"})

# Fault kind -> the refund_status an accepted refund settles with.
_SETTLE_AS: Final = {"refund_close": "REFUNDCLOSE", "refund_change": "CHANGE"}

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _read(environ: dict[str, Any]) -> Request | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > _MAX_BODY:
        return None
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    return Request(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), query, body, environ)


def _tamper(answer: Answer) -> Answer:
    try:
        fields = from_xml(answer.body)
    except XMLError:  # pragma: no cover - signed answers are always our own XML
        return answer
    sign_type: signing.SignType = "HMAC-SHA256" if len(fields.get("sign", "")) == 64 else "MD5"
    fields["sign"] = signing.sign(fields, signing.make_nonce(), sign_type)
    return Answer(answer.status, to_xml(fields), answer.content_type, signed=True)


def _serve_v3(ctx: Context, request: Request) -> Answer | None:
    # v3 mode only: imported on first use, so v2 never loads the v3 modules.
    from ._v3app import serve_v3

    return serve_v3(ctx, request)


class SimulatorApp:
    """WSGI application for one simulator; all its state lives in ``ctx``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        request = _read(environ)
        if request is None:
            answer = Answer(413, b"request body too large", "text/plain")
        elif self.ctx.v3 is not None and (v3_answer := _serve_v3(self.ctx, request)) is not None:
            answer = v3_answer
        elif request.path.startswith("/simulator/"):
            answer = control(self.ctx, request)
        elif (
            environ.get(TLS_KEY) and request.path in CERT_PATHS and not environ.get(CLIENT_CERT_KEY)
        ):
            # WeChat's front end refuses before anything reaches the pay system.
            answer = Answer(400, NO_CERT_PAGE, "text/html")
        else:
            fault = self.ctx.faults.take(request.path)
            if fault is not None and fault.kind == "reset":
                self.ctx.calls.record(request, None, fault.kind)
                environ[RESET_KEY] = True
                start_response("200 OK", [])
                return []
            answer = self._faulted(request, fault)
            self.ctx.calls.record(request, answer, fault.kind if fault else None)
        status = HTTPStatus(answer.status)
        start_response(
            f"{status.value} {status.phrase}",
            [
                ("Content-Type", answer.content_type),
                ("Content-Length", str(len(answer.body))),
                *answer.headers,
            ],
        )
        return [answer.body]

    def _faulted(self, request: Request, fault: Fault | None) -> Answer:
        if fault is not None:
            logger.info("fault %s on %s", fault.kind, request.path)
            if fault.kind == "http_500":
                return Answer(
                    500, b"<html><body>500 Internal Server Error</body></html>", "text/html"
                )
            if fault.kind == "latency":
                self.ctx.stopping.wait(fault.seconds)
        answer = self._dispatch(request, fault)
        if fault is None:
            return answer
        if fault.kind == "timeout":
            # The work is done, the answer withheld: the client cannot know it succeeded.
            self.ctx.stopping.wait(fault.seconds)
        elif fault.kind == "malformed_xml":
            answer = Answer(
                answer.status, answer.body[: len(answer.body) // 2], answer.content_type
            )
        elif fault.kind == "bad_sign" and answer.signed:
            answer = _tamper(answer)
        return answer

    def _dispatch(self, request: Request, fault: Fault | None = None) -> Answer:
        error = fault.code if fault is not None and fault.kind == "wechat_error" else None
        if request.path == LOGIN_PATH:
            if error is not None:
                return login_error(int(error), LOGIN_ERRORS[error])
            return jscode2session(self.ctx, request)
        if request.path == "/sandboxnew/pay/getsignkey":
            parsed = parse_pay_request(request, self.ctx.merchant, False, need_appid=False)
            return parsed if isinstance(parsed, Answer) else getsignkey(self.ctx, parsed)
        route = ROUTES.get(request.path)
        if route is None:
            return Answer(404, b"404 Not Found", "text/plain")
        handler, sandbox = route
        parsed = parse_pay_request(request, self.ctx.merchant, sandbox)
        if isinstance(parsed, Answer):
            return parsed
        if error is not None:
            # WeChat's business error, signed, for a request it authenticated; nothing done.
            return biz_fail(parsed, error, PAY_ERRORS[error])
        if fault is not None and fault.kind in _SETTLE_AS:
            parsed.settle_as = _SETTLE_AS[fault.kind]
        try:
            return handler(self.ctx, parsed)
        except Exception:
            # WeChat's own answer to its own failures: SYSTEMERROR, retry with the same params.
            logger.exception("simulator handler for %s failed", request.path)
            return biz_fail(parsed, "SYSTEMERROR", "系统错误")
