"""Requests and answers as WeChat's pay host speaks them.

How failures are answered follows what WeChat actually sends (wechatpay-v2.md, section 2):

* protocol problems, a wrong sign, and bad parameter types or lengths come back as
  ``return_code=FAIL`` with a Chinese ``return_msg`` naming the problem, and nothing else:
  no err_code, no appid, no sign (WeChat does not sign these). :data:`PROTOCOL_MSGS`
  maps the documented err_code to the return_msg the simulator uses for it;
* business failures (LACK_PARAMS, APPID_MCHID_NOT_MATCH, ORDERPAID, OUT_TRADE_NO_USED...)
  come back as ``return_code=SUCCESS`` + ``result_code=FAIL`` with ``err_code`` and
  ``err_code_des``, signed like every successful answer, with appid, mch_id and nonce_str.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from .. import signing
from ..errors import XMLError
from ..signing import SignType
from ..xmlmsg import from_xml, to_xml
from ._merchant import Merchant

__all__ = [
    "PROTOCOL_MSGS",
    "Answer",
    "Call",
    "Request",
    "biz_fail",
    "check_url",
    "json_answer",
    "parse_pay_request",
    "positive_fen",
    "protocol_fail",
    "require",
    "signed_answer",
]

#: err_code -> the return_msg sent with ``return_code=FAIL`` for it.
PROTOCOL_MSGS: Final[dict[str, str]] = {
    "REQUIRE_POST_METHOD": "请使用post方法",
    "POST_DATA_EMPTY": "post数据为空",
    "NOT_UTF8": "编码格式错误",
    "XML_FORMAT_ERROR": "XML格式错误",
    "SIGNERROR": "签名错误",
    "MCHID_NOT_EXIST": "mch_id参数错误",
    "SANDBOX_SIGNERROR": "沙箱验证签名失败，请确认沙箱签名key是否正确（通过getsignkey调用生成）",
}


@dataclass
class Request:
    """One HTTP request, read whole (WeChat's messages are small)."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    environ: dict[str, object] = field(default_factory=dict)


@dataclass
class Answer:
    """One HTTP answer."""

    status: int
    body: bytes
    content_type: str = "text/xml; charset=utf-8"
    #: For the ``bad_sign`` fault: the answer is a signed XML message that may be tampered.
    signed: bool = False
    #: Further headers (v3: ``Wechatpay-*`` and ``Request-ID``).
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Call:
    """A verified pay request: its fields, key and sign type, and which system it is for."""

    fields: dict[str, str]
    merchant: Merchant
    key: str
    sign_type: SignType
    sandbox: bool
    #: How a refund accepted by this call settles: SUCCESS, or by a fault REFUNDCLOSE /
    #: CHANGE.
    settle_as: str = "SUCCESS"


def protocol_fail(message: str) -> Answer:
    """``return_code=FAIL`` with ``return_msg``: unsigned, as WeChat sends it."""
    return Answer(200, to_xml({"return_code": "FAIL", "return_msg": message}))


def signed_answer(call: Call, fields: Mapping[str, str | int | None]) -> Answer:
    """A ``return_code=SUCCESS`` answer with appid, mch_id, nonce_str and a sign."""
    message: dict[str, str | int | None] = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "appid": call.merchant.appid,
        "mch_id": call.merchant.mch_id,
        "nonce_str": signing.make_nonce(),
    }
    message.update(fields)
    if call.sandbox:
        # The sandbox marks every answer so; a request's own device_info never hides it.
        message["device_info"] = "sandbox"
    # None: the field is absent. "" is sent as an empty element, as WeChat sends
    # <device_info><![CDATA[]]></device_info>, and left out of the sign (wechatpay-v2.md,
    # section 3; issue 13, item 10): a verifier that signs empty values must fail here too.
    message = {k: v for k, v in message.items() if v is not None}
    message["sign"] = signing.sign(message, call.key, call.sign_type)
    return Answer(200, to_xml(message), signed=True)


def biz_fail(call: Call, err_code: str, description: str) -> Answer:
    """``result_code=FAIL`` with WeChat's err_code and err_code_des, signed."""
    return signed_answer(
        call, {"result_code": "FAIL", "err_code": err_code, "err_code_des": description}
    )


def json_answer(status: int, data: object, content_type: str = "application/json") -> Answer:
    """A JSON answer (the login host, the control endpoints)."""
    return Answer(status, json.dumps(data, ensure_ascii=False).encode(), content_type)


def parse_pay_request(
    request: Request, merchant: Merchant, sandbox: bool, *, need_appid: bool = True
) -> Call | Answer:
    """Parse and authenticate a pay request, or the answer WeChat gives when it fails.

    The checks run in the order WeChat needs them: the body must be a POSTed UTF-8 XML
    message; ``mch_id`` must name the merchant (its key is needed for the sign); the sign
    must verify; then ``appid`` must be bound to ``mch_id``. Endpoint-specific parameters
    are checked by each endpoint.
    """
    if request.method != "POST":
        return protocol_fail(PROTOCOL_MSGS["REQUIRE_POST_METHOD"])
    if not request.body.strip():
        return protocol_fail(PROTOCOL_MSGS["POST_DATA_EMPTY"])
    try:
        request.body.decode("utf-8")
    except UnicodeDecodeError:
        return protocol_fail(PROTOCOL_MSGS["NOT_UTF8"])
    try:
        fields = from_xml(request.body)
    except XMLError:
        return protocol_fail(PROTOCOL_MSGS["XML_FORMAT_ERROR"])
    if not fields.get("mch_id"):
        return protocol_fail("缺少参数mch_id")
    if fields["mch_id"] != merchant.mch_id:
        return protocol_fail(PROTOCOL_MSGS["MCHID_NOT_EXIST"])
    if not fields.get("sign"):
        return protocol_fail("缺少参数sign")
    try:
        sign_type = signing.sign_type_of(fields, signing.MD5)
    except ValueError:
        return protocol_fail("sign_type参数格式错误")
    key = merchant.sandbox_key if sandbox else merchant.api_key
    if not signing.verify(fields, key, sign_type):
        return protocol_fail(PROTOCOL_MSGS["SANDBOX_SIGNERROR" if sandbox else "SIGNERROR"])
    call = Call(fields, merchant, key, sign_type, sandbox)
    for name in ("appid", "nonce_str") if need_appid else ("nonce_str",):
        if not fields.get(name):
            return protocol_fail(f"缺少参数{name}")
    if len(fields["nonce_str"]) > 32:
        return protocol_fail("nonce_str参数长度有误")
    if need_appid and fields["appid"] != merchant.appid:
        return biz_fail(call, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
    return call


def require(call: Call, *names: str) -> Answer | None:
    """``return_code=FAIL`` "缺少参数<name>" for the first of ``names`` missing or empty.

    WeChat answers a missing parameter before any business check: unsigned, with a
    Chinese return_msg and no err_code, although its tables list LACK_PARAMS (issue 13,
    item 12, from captured traffic; wechatpay-v2.md section 2: "many parameter problems
    come back as return_code=FAIL with a text return_msg").
    """
    for name in names:
        if not call.fields.get(name):
            return protocol_fail(f"缺少参数{name}")
    return None


def positive_fen(call: Call, name: str) -> Answer | None:
    """A ``return_code=FAIL`` unless ``name`` is a positive integer number of fen."""
    value = call.fields.get(name, "")
    # WeChat amounts are integer fen: "1.00", "-1", "0" and "1e2" are all refused.
    if not value.isascii() or not value.isdigit() or int(value) <= 0 or len(value) > 10:
        return protocol_fail(f"{name}参数格式错误")
    return None


def check_url(call: Call, name: str) -> Answer | None:
    """A ``return_code=FAIL`` unless ``name`` is an http(s) URL without a query string."""
    value = call.fields.get(name, "")
    url = urlsplit(value)
    if (
        url.scheme not in ("http", "https")
        or not url.netloc
        or url.query
        or url.fragment
        or len(value) > 256
    ):
        return protocol_fail(f"{name}参数格式错误")
    return None
