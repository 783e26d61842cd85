"""What the mini program and the tester do in v3 mode.

* ``POST /simulator/pay`` with ``signType`` ``RSA``: wx.requestPayment for a v3 order.
  The paySign must verify under the merchant's public key over
  ``appId\\ntimeStamp\\nnonceStr\\npackage\\n`` (wechatpay-v3.md section 5); outcomes as in
  v2 (``ok``, ``coupon``, ``cancel``, ``fail``), except ``fail_notice``: v3 notifies
  successful payments only.
* ``GET | POST /simulator/v3/keys``: how WeChat signs. POST ``{"mode"?: "public_key" |
  "certificate" | "both", "new_certificate"?: true, "drop_old_certificates"?: true}``
  switches mid-run: a migration from certificates to the public key, a new platform
  certificate (its serial unknown to the host until it downloads ``/v3/certificates``), the
  old ones revoked. Answers ``{"mode", "public_key_id", "certificates", "signing_serial"}``.
* ``POST /simulator/v3/probe`` ``{"out_trade_no", "url"?}``: send a signature probe (an
  order's notification under a ``WECHATPAY/SIGNTEST/`` signature) to ``url`` or the order's
  notify_url; ``{"id"}`` of its log entry.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from ._context import Context
from ._pay import mark_paid
from ._state import new_transaction_id, parse_beijing
from ._v3notify import notify_payment, probe
from ._v3pay import transaction
from ._v3wire import MODES, V3Wechat
from ._wire import Answer, Request, json_answer

__all__ = [
    "KEYS_PATH",
    "PROBE_PATH",
    "control_v3",
    "keys_state",
    "request_payment",
    "send_probe",
    "switch",
]

KEYS_PATH = "/simulator/v3/keys"
PROBE_PATH = "/simulator/v3/probe"
_PAY_PARAMS = ("timeStamp", "nonceStr", "package", "signType", "paySign")
_V3_OUTCOMES = ("ok", "coupon", "cancel", "fail")


def _fail(status: int, reason: str) -> tuple[int, dict[str, str]]:
    return status, {"errMsg": f"requestPayment:fail {reason}"}


def _pay_sign_ok(v3: V3Wechat, appid: str, params: Mapping[str, Any]) -> bool:
    message = "".join(
        f"{v}\n" for v in (appid, params["timeStamp"], params["nonceStr"], params["package"])
    ).encode()
    try:
        raw = base64.b64decode(params["paySign"], validate=True)
        v3.keys.merchant_public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def request_payment(
    ctx: Context, v3: V3Wechat, params: Mapping[str, Any]
) -> tuple[int, dict[str, str]]:
    """wx.requestPayment with signType RSA: (HTTP status, JSON), as ``_control.py``'s."""
    for name in _PAY_PARAMS:
        if not isinstance(params.get(name), str) or not params[name]:
            return _fail(400, f"parameter error: parameter.{name} should be a non-empty String")
    outcome = params.get("outcome", "ok")
    if outcome not in _V3_OUTCOMES:
        return _fail(400, f"parameter error: outcome should be one of {', '.join(_V3_OUTCOMES)}")
    coupon_fee = params.get("coupon_fee")
    if coupon_fee is not None and (isinstance(coupon_fee, bool) or not isinstance(coupon_fee, int)):
        return _fail(400, "parameter error: coupon_fee should be an integer number of fen")
    if not params["timeStamp"].isdigit():
        return _fail(400, "parameter error: timeStamp should be a string of seconds")
    package: str = params["package"]
    if not package.startswith("prepay_id="):
        return _fail(400, "parameter error: package should be 'prepay_id=...'")
    with ctx.state.lock:
        now = ctx.state.now()
        order = ctx.state.order_by_prepay_id(package.removeprefix("prepay_id="))
        if order is None:
            return _fail(400, "prepay_id is unknown")
        # RSA is v3's only signType, MD5 / HMAC-SHA256 v2's; the appId signed must be the
        # order's (WeChat checks they agree).
        appid = order.request.get("appid", ctx.merchant.appid)
        if order.sign_type != "RSA" or not _pay_sign_ok(v3, appid, params):
            return _fail(400, "支付验证签名失败")
        if order.paid:
            return _fail(409, "该订单已支付")
        if order.state == "CLOSED":
            return _fail(409, "该订单已关闭")
        if order.prepay_expires <= now:
            return _fail(409, "prepay_id已过期")
        expire = order.request.get("time_expire")
        if expire and parse_beijing(expire) <= now:
            return _fail(409, "订单已过期")
        if outcome in ("cancel", "fail"):
            return _fail(400, "cancel" if outcome == "cancel" else "余额不足")
        coupon = 0
        if outcome == "coupon":
            coupon = order.total_fee // 10 if coupon_fee is None else coupon_fee
            if not 0 < coupon < order.total_fee:
                return _fail(400, "parameter error: coupon_fee must be 1 to total_fee - 1")
        mark_paid(order, new_transaction_id(now), now, coupon)
        paid = transaction(ctx, order)
        url = order.request["notify_url"]
    notify_payment(ctx, v3, paid, url)
    return 200, {
        "errMsg": "requestPayment:ok",
        "out_trade_no": paid["out_trade_no"],
        "transaction_id": paid["transaction_id"],
    }


def keys_state(v3: V3Wechat) -> dict[str, Any]:
    """How WeChat signs now (the JSON of ``GET /simulator/v3/keys``)."""
    with v3.lock:
        mode = v3.mode
    return {
        "mode": mode,
        "public_key_id": v3.keys.public_key_id,
        "certificates": [p.serial_no for p in v3.keys.platform],
        "signing_serial": v3.answer_key(None)[1],
    }


def switch(
    v3: V3Wechat,
    *,
    mode: str | None = None,
    new_certificate: bool = False,
    drop_old_certificates: bool = False,
) -> dict[str, Any]:
    """Change how WeChat signs, mid-run; ValueError for an unknown mode."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode: expected one of {', '.join(MODES)}")
    if new_certificate:
        v3.keys.new_certificate()
    if drop_old_certificates:
        v3.keys.drop_old_certificates()
    if mode is not None:
        with v3.lock:
            v3.mode = mode
    return keys_state(v3)


def send_probe(ctx: Context, v3: V3Wechat, out_trade_no: str, url: str | None = None) -> int:
    """Send a signature probe about an order; the id of its log entry."""
    with ctx.state.lock:
        order = ctx.state.orders.get((False, out_trade_no))
        if order is None:
            raise ValueError(f"out_trade_no: no order {out_trade_no!r}")
        resource = transaction(ctx, order)
        target = url or order.request["notify_url"]
    return probe(ctx, v3, resource, target).id


def control_v3(ctx: Context, v3: V3Wechat, request: Request, data: dict[str, Any]) -> Answer:
    """Answer ``/simulator/v3/...`` (``data``: the parsed JSON body of a POST)."""
    try:
        if request.path == KEYS_PATH and request.method == "GET":
            return json_answer(200, keys_state(v3))
        if request.path == KEYS_PATH and request.method == "POST":
            mode = data.get("mode")
            if mode is not None and not isinstance(mode, str):
                raise ValueError("mode: expected a string")
            flags = {n: data.get(n, False) for n in ("new_certificate", "drop_old_certificates")}
            if any(not isinstance(v, bool) for v in flags.values()):
                raise ValueError("new_certificate and drop_old_certificates: expected booleans")
            return json_answer(200, switch(v3, mode=mode, **flags))
        if request.path == PROBE_PATH and request.method == "POST":
            number, url = data.get("out_trade_no"), data.get("url")
            if not isinstance(number, str) or not isinstance(url, str | None):
                raise ValueError("out_trade_no (and url, if given): expected strings")
            return json_answer(200, {"id": send_probe(ctx, v3, number, url)})
    except ValueError as exc:
        return json_answer(400, {"error": str(exc)})
    return json_answer(404, {"error": f"no control endpoint {request.method} {request.path}"})
