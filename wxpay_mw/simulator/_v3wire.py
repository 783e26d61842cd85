"""The v3 wire as WeChat speaks it: the merchant's Authorization checked, JSON answers
signed, failures as an HTTP status with ``{"code", "message"[, "detail"]}``.

Checks run in WeChat's order (wechatpay-v3.md section 2): ``Accept`` and ``User-Agent``
present (400 INVALID_REQUEST); the ``WECHATPAY2-SHA256-RSA2048`` Authorization well
formed, for this merchant, with the serial of the merchant's certificate and a signature
that verifies over the method, the URL exactly as received, timestamp, nonce and the raw
body (401 SIGN_ERROR, with ``detail.sign_information`` as WeChat gives it); then a JSON
body without ``null``. Every answer, errors included, carries ``Request-ID`` and is
signed with the key the current mode names (see :class:`V3Wechat`).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from cryptography.hazmat.primitives.asymmetric import rsa

from ..v3 import signing
from ..v3.errors import V3SignatureError
from ._v3keys import V3Keys
from ._wire import Answer, Request

__all__ = ["MODES", "V3Call", "V3Wechat", "authenticate", "error", "signed"]

#: How WeChat signs: with the WeChat Pay public key, with platform certificates, or
#: both during a merchant's migration.
MODES: Final = ("public_key", "certificate", "both")
#: How far (seconds) a request's timestamp may be from WeChat's clock; unconfirmed,
#: taken as the 5 minutes WeChat asks merchants to allow.
CLOCK_WINDOW: Final = 300

_BAD_AUTH: Final = "Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》"


@dataclass
class V3Wechat:
    """The v3 side of one simulator: its keys, its signing mode, issued bill tokens."""

    keys: V3Keys
    mode: str = "public_key"
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: download token -> (file bytes as sent, expiry on the wall clock)
    bills: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    #: out_refund_no of the refunds asked for through v3 (notified as v3).
    refunds: set[str] = field(default_factory=set)
    #: Notifications signed so far; in "both" mode they alternate between the keys.
    notified: int = 0
    #: The mode the simulator started with (a reset returns to it).
    initial_mode: str = ""

    def __post_init__(self) -> None:
        self.initial_mode = self.initial_mode or self.mode

    def reset(self) -> None:
        """Back to the start: its signing mode and certificates; no bills, no v3 refunds."""
        self.keys.restore()
        with self.lock:
            self.mode = self.initial_mode
            self.bills.clear()
            self.refunds.clear()
            self.notified = 0

    def answer_key(self, request_serial: str | None) -> tuple[rsa.RSAPrivateKey, str]:
        """The key and ``Wechatpay-Serial`` of an answer.

        In "both" mode the merchant chooses: a request naming the ``PUB_KEY_ID_...`` in
        its ``Wechatpay-Serial`` is answered under the public key, others under the
        newest platform certificate (wechatpay-v3.md section 1).
        """
        with self.lock:
            mode = self.mode
        if mode == "public_key" or (mode == "both" and request_serial == self.keys.public_key_id):
            return self.keys.wechat_key, self.keys.public_key_id
        cert = self.keys.signing_certificate
        return cert.key, cert.serial_no

    def notify_key(self) -> tuple[rsa.RSAPrivateKey, str]:
        """The key and serial of the next notification; WeChat chooses, and during a
        migration moves notifications over to the public key: here they alternate."""
        with self.lock:
            mode, self.notified = self.mode, self.notified + 1
            use_public = mode == "public_key" or (mode == "both" and self.notified % 2 == 1)
        if use_public:
            return self.keys.wechat_key, self.keys.public_key_id
        cert = self.keys.signing_certificate
        return cert.key, cert.serial_no


@dataclass
class V3Call:
    """An authenticated v3 request."""

    method: str
    #: The path as received, percent-encoded, without the query.
    path: str
    query: dict[str, str]
    body: bytes
    #: The parsed JSON body of a POST, else {}.
    data: dict[str, Any]
    #: The request's ``Wechatpay-Serial`` (which key the merchant wants answers under).
    serial: str | None
    #: ``scheme://host`` the request came to (for a bill's download_url).
    base_url: str

    def segments(self) -> list[str]:
        """The path's segments, percent-decoded."""
        return [unquote(s) for s in self.path.split("/")[1:]]


def _request_id() -> str:
    return secrets.token_hex(16).upper()


def signed(
    v3: V3Wechat, request_serial: str | None, status: int, data: object | None = None
) -> Answer:
    """An answer signed as WeChat signs it: JSON (none for a 204), ``Wechatpay-*``
    headers over ``timestamp\\nnonce\\nbody\\n``, and a ``Request-ID``."""
    body = b"" if data is None else json.dumps(data, ensure_ascii=False).encode()
    key, serial = v3.answer_key(request_serial)
    headers = signing.sign_answer(key, serial, body)
    return Answer(
        status,
        body,
        "application/json" if body else "text/plain",
        signed=True,
        headers=[*headers.items(), ("Request-ID", _request_id())],
    )


def error(
    v3: V3Wechat,
    request_serial: str | None,
    status: int,
    code: str,
    message: str,
    detail: dict[str, Any] | None = None,
) -> Answer:
    """WeChat's JSON error: HTTP ``status`` with ``code``, ``message`` and maybe ``detail``."""
    data: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        data["detail"] = detail
    return signed(v3, request_serial, status, data)


def _has_null(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False


def _raw_url(request: Request) -> str:
    # The URL exactly as the merchant sent (and signed) it: the HTTP server keeps the
    # request target; PATH_INFO is already percent-decoded.
    raw = request.environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw.startswith("/"):
        return raw
    query = request.environ.get("QUERY_STRING") or ""
    return request.path + (f"?{query}" if query else "")


def authenticate(v3: V3Wechat, mch_id: str, request: Request) -> V3Call | Answer:
    """The authenticated call, or the answer WeChat gives a request it refuses."""
    environ = request.environ
    serial = environ.get("HTTP_WECHATPAY_SERIAL")
    serial = serial if isinstance(serial, str) and serial else None
    if not environ.get("HTTP_ACCEPT") or not environ.get("HTTP_USER_AGENT"):
        return error(v3, serial, 400, "INVALID_REQUEST", "Http头缺少Accept或User-Agent")
    url = _raw_url(request)
    header = environ.get("HTTP_AUTHORIZATION")
    if not isinstance(header, str) or not header:
        return error(v3, serial, 401, "SIGN_ERROR", _BAD_AUTH)
    try:
        fields = signing.parse_authorization(header)
    except V3SignatureError:
        return error(v3, serial, 401, "SIGN_ERROR", _BAD_AUTH)
    if fields["mchid"] != mch_id:
        return error(v3, serial, 400, "MCH_NOT_EXISTS", "商户号不存在")
    if fields["serial_no"].upper() != v3.keys.cert_serial:
        return error(
            v3,
            serial,
            401,
            "SIGN_ERROR",
            "商户证书序列号有误。请使用签名私钥匹配的证书序列号",
        )
    ts = fields["timestamp"]
    if not ts.isdigit() or abs(time.time() - int(ts)) > CLOCK_WINDOW:
        return error(v3, serial, 401, "SIGN_ERROR", "Http头Authorization中的timestamp已过期或无效")
    try:
        signing.verify_authorization(
            header, request.method, url, request.body, v3.keys.merchant_public_key
        )
    except (V3SignatureError, ValueError):
        message = signing.request_message(
            request.method, url, ts, fields["nonce_str"], request.body
        )
        info = {
            "method": request.method,
            "url": url,
            "sign_message_length": len(message),
            "truncated_sign_message": message[:100].decode("utf-8", "replace"),
        }
        return error(
            v3,
            serial,
            401,
            "SIGN_ERROR",
            "错误的签名，验签失败",
            {
                "detail": {"issue": "sign not match"},
                "field": "signature",
                "location": "authorization",
                "sign_information": info,
            },
        )
    data: dict[str, Any] = {}
    if request.method == "POST":
        try:
            parsed = json.loads(request.body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            return error(v3, serial, 400, "PARAM_ERROR", "请求体不是合法的JSON对象")
        if _has_null(parsed):
            return error(v3, serial, 400, "PARAM_ERROR", "请求体中不允许使用null")
        data = parsed
    path, _, query = url.partition("?")
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    return V3Call(
        method=request.method,
        path=path,
        query=dict(parse_qsl(query, keep_blank_values=True)),
        body=request.body,
        data=data,
        serial=serial,
        base_url=f"{scheme}://{host}",
    )
