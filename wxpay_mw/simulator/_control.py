"""The /simulator/* control endpoints: what the mini program and the tester do.

* ``POST /simulator/login``: ``{"openid"?, "user"?}`` -> ``{"code", "openid"}``
* ``POST /simulator/pay``: ``{timeStamp, nonceStr, package, signType, paySign, "outcome"?}``
  -> 200 ``{"errMsg": "requestPayment:ok", "out_trade_no", "transaction_id"}``, or 400 / 409
  ``{"errMsg": "requestPayment:fail <reason>"}``
* ``POST /simulator/platform-refund``: ``{"out_trade_no", "refund_fee"?}`` -> ``{"out_refund_no",
  "refund_id"}``: a refund made in the merchant platform (see ``Simulator.platform_refund``)
* ``GET /simulator/notifications`` -> ``{"notifications": [...]}`` (see ``Notification``)
* ``GET | POST | DELETE /simulator/faults``: POST ``{endpoint, kind, seconds?, count?}``
  -> ``{"faults": [...]}``; DELETE clears them
* ``POST /simulator/reset`` -> ``{"reset": true}``
* ``POST /simulator/clock``: ``{"advance": seconds}`` -> ``{"offset": seconds}``

Bad JSON answers 400 ``{"error": text}``. The console's endpoints (orders, calls,
redelivery...) are in :mod:`._console`, which sees each request first.

``outcome`` (not a wx.requestPayment parameter) picks what the user does:

* ``"ok"`` (the default): pays; a SUCCESS notification follows.
* ``"coupon"``: pays part with a coupon (``coupon_fee`` fen, default a tenth): the
  notification has cash_fee < total_fee, coupon_fee, coupon_count, coupon_fee_0,
  coupon_id_0 and settlement_total_fee.
* ``"cancel"``: closes the payment sheet; nothing happens.
* ``"fail"``: the payment fails inside WeChat's payment sheet: the mini program gets
  ``requestPayment:fail ...``, the order stays unpaid and **no notification** is sent.
  That is what WeChat does for mini-program (JSAPI) payments: it notifies successful
  payments only (wechatpay-v2.md section 9; issue 13, item 1).
* ``"fail_notice"``: as ``"fail"``, but a signed ``result_code=FAIL`` (NOTENOUGH)
  notification is delivered too. Real mini-program payments do not do this; it tests that
  the host handles such a verified failure notice safely (it can exist for other trade
  types).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .. import signing
from ..xmlmsg import to_xml
from ._context import Context
from ._faults import Fault
from ._login import issue_code
from ._pay import mark_paid, order_fields
from ._refund import platform_refund
from ._state import Order, new_transaction_id, parse_beijing
from ._wire import Answer, Request, json_answer

__all__ = ["OUTCOMES", "control", "request_payment"]

_PAY_PARAMS = ("timeStamp", "nonceStr", "package", "signType", "paySign")
OUTCOMES = ("ok", "coupon", "cancel", "fail", "fail_notice")


def _fail(status: int, reason: str) -> tuple[int, dict[str, str]]:
    return status, {"errMsg": f"requestPayment:fail {reason}"}


def request_payment(ctx: Context, params: Mapping[str, Any]) -> tuple[int, dict[str, str]]:
    """What wx.requestPayment does with the prepay parameters: (HTTP status, JSON)."""
    for name in _PAY_PARAMS:
        if not isinstance(params.get(name), str) or not params[name]:
            return _fail(400, f"parameter error: parameter.{name} should be a non-empty String")
    outcome = params.get("outcome", "ok")
    if outcome not in OUTCOMES:
        return _fail(400, f"parameter error: outcome should be one of {', '.join(OUTCOMES)}")
    coupon_fee = params.get("coupon_fee")
    if coupon_fee is not None and (isinstance(coupon_fee, bool) or not isinstance(coupon_fee, int)):
        return _fail(400, "parameter error: coupon_fee should be an integer number of fen")
    if params["signType"] not in signing.SIGN_TYPES:
        return _fail(400, "parameter error: signType should be MD5 or HMAC-SHA256")
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
        key = ctx.merchant.sandbox_key if order.sandbox else ctx.merchant.api_key
        signed = {name: params[name] for name in _PAY_PARAMS if name != "paySign"}
        signed.update(appId=ctx.merchant.appid, sign=params["paySign"])
        # paySign must use the order's sign type (WeChat's rule), and covers appId.
        if params["signType"] != order.sign_type or not signing.verify(
            signed, key, params["signType"]
        ):
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
        if outcome == "cancel":
            return _fail(400, "cancel")
        if outcome == "fail":
            return _fail(400, "余额不足")
        if outcome == "fail_notice":
            body = _notification(ctx, order, key, failed=True)
        else:
            coupon = 0
            if outcome == "coupon":
                coupon = order.total_fee // 10 if coupon_fee is None else coupon_fee
                if not 0 < coupon < order.total_fee:
                    return _fail(400, "parameter error: coupon_fee must be 1 to total_fee - 1")
            mark_paid(order, new_transaction_id(now), now, coupon)
            body = _notification(ctx, order, key, failed=False)
        url, number, transaction_id = (
            order.request["notify_url"],
            order.out_trade_no,
            order.transaction_id,
        )
    ctx.deliveries.send("payment", url, body, number)
    if outcome == "fail_notice":
        return _fail(400, "余额不足")
    return 200, {
        "errMsg": "requestPayment:ok",
        "out_trade_no": number,
        "transaction_id": transaction_id,
    }


def _notification(ctx: Context, order: Order, key: str, *, failed: bool) -> bytes:
    fields = order_fields(order)
    del fields["trade_state"], fields["trade_state_desc"]
    message: dict[str, str | int | None] = {
        "return_code": "SUCCESS",
        "appid": ctx.merchant.appid,
        "mch_id": ctx.merchant.mch_id,
        "nonce_str": signing.make_nonce(),
        "result_code": "FAIL" if failed else "SUCCESS",
        **fields,
    }
    if failed:
        message.update(
            err_code="NOTENOUGH",
            err_code_des="余额不足",
            openid=order.request.get("openid"),
            trade_type=order.request["trade_type"],
            total_fee=order.total_fee,
            fee_type="CNY",
        )
    message = {k: v for k, v in message.items() if v is not None and v != ""}
    # Signed with the order's sign type but, like WeChat's, without a sign_type field.
    message["sign"] = signing.sign(message, key, order.sign_type)  # type: ignore[arg-type]
    return to_xml(message)


def _json_body(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    data = json.loads(request.body)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def control(ctx: Context, request: Request) -> Answer:
    """Answer a request to /simulator/..."""
    # The console's module uses request_payment from this one: imported here, not above.
    from ._console import console

    if (handled := console(ctx, request)) is not None:
        return handled
    try:
        data = _json_body(request) if request.method == "POST" else {}
    except ValueError as exc:
        return json_answer(400, {"error": f"the body is not a JSON object: {exc}"})
    route = (request.method, request.path)
    try:
        if route == ("POST", "/simulator/login"):
            openid, user = data.get("openid"), data.get("user")
            if not isinstance(openid, str | None) or not isinstance(user, str | None):
                raise ValueError("openid and user must be strings")
            code = issue_code(ctx, openid=openid, user=user)
            with ctx.state.lock:
                return json_answer(200, {"code": code, "openid": ctx.state.codes[code].openid})
        if route == ("POST", "/simulator/pay"):
            status, answer = request_payment(ctx, data)
            return json_answer(status, answer)
        if route == ("POST", "/simulator/platform-refund"):
            number, fee = data.get("out_trade_no"), data.get("refund_fee")
            if not isinstance(number, str):
                raise ValueError("out_trade_no: expected a string")
            made = platform_refund(ctx, number, fee)
            return json_answer(
                200, {"out_refund_no": made.out_refund_no, "refund_id": made.refund_id}
            )
        if route == ("GET", "/simulator/notifications"):
            return json_answer(200, {"notifications": ctx.deliveries.log()})
        if request.path == "/simulator/faults":
            if request.method == "POST":
                ctx.faults.add(Fault.from_dict(data))
            elif request.method == "DELETE":
                ctx.faults.clear()
            elif request.method != "GET":
                return json_answer(405, {"error": "use GET, POST or DELETE"})
            return json_answer(200, {"faults": ctx.faults.list()})
        if route == ("POST", "/simulator/reset"):
            reset(ctx)
            return json_answer(200, {"reset": True})
        if route == ("POST", "/simulator/clock"):
            advance = data.get("advance")
            if isinstance(advance, bool) or not isinstance(advance, int | float) or advance < 0:
                raise ValueError("advance: expected a non-negative number of seconds")
            with ctx.state.lock:
                ctx.state.clock_offset += advance
                return json_answer(200, {"offset": ctx.state.clock_offset})
    except ValueError as exc:
        return json_answer(400, {"error": str(exc)})
    return json_answer(404, {"error": f"no control endpoint {request.method} {request.path}"})


def reset(ctx: Context) -> None:
    """Forget orders, codes, refunds, notifications and faults."""
    ctx.deliveries.cancel_all(forget=True)
    ctx.faults.clear()
    ctx.calls.clear()
    ctx.state.reset()
