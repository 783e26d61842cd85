"""/pay/unifiedorder, /pay/orderquery and /pay/closeorder."""

from __future__ import annotations

import ipaddress
import re
import secrets
from typing import Final

from ._context import Context
from ._state import PREPAY_TTL, Order, beijing, new_prepay_id, parse_beijing
from ._wire import (
    Answer,
    Call,
    biz_fail,
    check_url,
    positive_fen,
    protocol_fail,
    require,
    signed_answer,
)

__all__ = ["MIN_EXPIRE", "closeorder", "orderquery", "unifiedorder"]

_OUT_TRADE_NO: Final = re.compile(r"^[0-9A-Za-z_\-|*@]+\Z")
_TRADE_TYPES: Final = ("JSAPI", "NATIVE", "APP", "MWEB")
# Fields that do not make two unifiedorder calls different: WeChat compares the order,
# not the envelope.
_ENVELOPE: Final = frozenset({"nonce_str", "sign"})

#: The shortest time_expire WeChat accepts, in seconds from now (non-micropay orders).
MIN_EXPIRE: Final = 5 * 60.0

_STATE_DESC: Final = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "REFUND": "订单发生过退款",
    "CLOSED": "订单已关闭",
}


def _check_order_params(ctx: Context, call: Call) -> Answer | None:
    fields = call.fields
    trade_type = fields.get("trade_type", "")
    names = ["body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type"]
    if (missing := require(call, *names)) is not None:
        return missing
    if trade_type == "JSAPI" and not fields.get("openid"):
        # WeChat's own wording for this one (issue 13, item 12).
        return protocol_fail("JSAPI支付必须传openid")
    if len(fields["out_trade_no"]) > 32:
        return protocol_fail("out_trade_no参数长度有误")
    if not _OUT_TRADE_NO.match(fields["out_trade_no"]):
        return protocol_fail("out_trade_no参数格式错误")
    if len(fields["body"]) > 128:
        return protocol_fail("body参数长度有误")
    if len(fields.get("attach", "")) > 127:
        return protocol_fail("attach参数长度有误")
    if (bad := positive_fen(call, "total_fee")) is not None:
        return bad
    if fields.get("fee_type", "CNY") != "CNY":
        return protocol_fail("fee_type参数格式错误")
    if trade_type not in _TRADE_TYPES:
        return protocol_fail("trade_type参数格式错误")
    if (bad := check_url(call, "notify_url")) is not None:
        return bad
    try:
        ipaddress.ip_address(fields["spbill_create_ip"])
    except ValueError:
        return protocol_fail("spbill_create_ip参数格式错误")
    for name in ("time_start", "time_expire"):
        if fields.get(name):
            try:
                parse_beijing(fields[name])
            except ValueError:
                return protocol_fail(f"{name}参数格式错误")
    if fields.get("time_expire") and (bad := _check_expire(ctx, call)) is not None:
        return bad
    if trade_type == "JSAPI":
        openid = fields["openid"]
        with ctx.state.lock:
            known = openid in ctx.state.known_openids
        # WeChat checks the openid belongs to this appid; here: was it issued by a login.
        if not known:
            return protocol_fail("appid和openid不匹配")
    return None


def _check_expire(ctx: Context, call: Call) -> Answer | None:
    # WeChat refuses a time_expire less than 5 minutes ahead (1 minute for micropay), and
    # so one in the past: the classic bug of writing it in UTC, 8 hours behind Beijing
    # (wechatpay-v2.md section 2, "old doc: min interval must be >5 min"; issue 13,
    # item 2, with WeChat's err_code_des).
    if parse_beijing(call.fields["time_expire"]) - ctx.state.now() < MIN_EXPIRE:
        return biz_fail(call, "PARAM_ERROR", "time_expire时间过短，刷卡至少1分钟，其他5分钟")
    return None


def unifiedorder(ctx: Context, call: Call) -> Answer:
    """Place an order, or return the same prepay_id for the same order placed again."""
    if (bad := _check_order_params(ctx, call)) is not None:
        return bad
    fields = call.fields
    fingerprint = {k: v for k, v in fields.items() if k not in _ENVELOPE}
    key = (call.sandbox, fields["out_trade_no"])
    with ctx.state.lock:
        now = ctx.state.now()
        order = ctx.state.orders.get(key)
        if order is not None:
            if order.paid:
                return biz_fail(call, "ORDERPAID", "该订单已支付")
            if order.state == "CLOSED":
                return biz_fail(call, "ORDERCLOSED", "该订单已关闭")
            if order.fingerprint != fingerprint:
                return biz_fail(call, "OUT_TRADE_NO_USED", "商户订单号重复")
            if order.prepay_expires <= now:
                order.prepay_id = new_prepay_id(now)
                order.prepay_expires = now + PREPAY_TTL
        else:
            order = Order(
                out_trade_no=fields["out_trade_no"],
                sandbox=call.sandbox,
                request=dict(fields),
                fingerprint=fingerprint,
                sign_type=call.sign_type,
                prepay_id=new_prepay_id(now),
                prepay_expires=now + PREPAY_TTL,
                created=now,
            )
            ctx.state.orders[key] = order
        prepay_id = order.prepay_id
    answer: dict[str, str | int | None] = {
        "result_code": "SUCCESS",
        "trade_type": fields["trade_type"],
        "prepay_id": prepay_id,
        "device_info": fields.get("device_info", ""),
    }
    if fields["trade_type"] == "NATIVE":
        answer["code_url"] = f"weixin://wxpay/bizpayurl?pr={prepay_id[-10:]}"
    if fields["trade_type"] == "MWEB":
        answer["mweb_url"] = (
            f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={prepay_id}"
        )
    return signed_answer(call, answer)


def order_fields(order: Order) -> dict[str, str | int | None]:
    """What orderquery (and the payment notification) says about an order."""
    # Empty attach and device_info are sent as empty elements, and an unpaid order's
    # answer carries its total_fee (issue 13, item 10, from captured answers).
    fields: dict[str, str | int | None] = {
        "out_trade_no": order.out_trade_no,
        "trade_state": order.state,
        "trade_state_desc": _STATE_DESC[order.state],
        "attach": order.request.get("attach", ""),
        "device_info": order.request.get("device_info", ""),
        "total_fee": order.total_fee,
    }
    if order.paid:
        fields.update(
            {
                "openid": order.request.get("openid"),
                "is_subscribe": "N",
                "trade_type": order.request["trade_type"],
                "bank_type": "OTHERS",
                "fee_type": "CNY",
                "cash_fee": order.total_fee - order.coupon_fee,
                "cash_fee_type": "CNY",
                "transaction_id": order.transaction_id,
                "time_end": order.time_end,
            }
        )
        if order.coupon_fee:
            fields.update(coupon_fields(order))
    return fields


def coupon_fields(order: Order) -> dict[str, str | int | None]:
    """The fields of a payment part paid with one coupon (a NO_CASH, non-recharge one).

    The user pays ``cash_fee`` = total_fee - coupon_fee; total_fee stays the order's
    amount. A non-recharge coupon is not settled to the merchant, so
    settlement_total_fee = total_fee - coupon_fee (wechatpay-v2.md sections 4 and 9,
    WxJava WxPayOrderNotifyResult; issue 13, item 7).
    """
    return {
        "settlement_total_fee": order.total_fee - order.coupon_fee,
        "coupon_fee": order.coupon_fee,
        "coupon_count": 1,
        "coupon_type_0": "NO_CASH",
        "coupon_id_0": order.coupon_id,
        "coupon_fee_0": order.coupon_fee,
    }


def orderquery(ctx: Context, call: Call) -> Answer:
    """An order's state; ORDERNOTEXIST for an order never placed."""
    if not call.fields.get("transaction_id") and not call.fields.get("out_trade_no"):
        return protocol_fail("缺少参数out_trade_no或transaction_id")
    with ctx.state.lock:
        order = ctx.state.order_by(call.sandbox, call.fields)
        if order is None:
            return biz_fail(call, "ORDERNOTEXIST", "订单不存在")
        answer = order_fields(order)
    return signed_answer(call, {"result_code": "SUCCESS", **answer})


def closeorder(ctx: Context, call: Call) -> Answer:
    """Close an unpaid order; ORDERPAID / ORDERCLOSED / ORDERNOTEXIST otherwise."""
    if (missing := require(call, "out_trade_no")) is not None:
        return missing
    with ctx.state.lock:
        order = ctx.state.orders.get((call.sandbox, call.fields["out_trade_no"]))
        if order is None:
            return biz_fail(call, "ORDERNOTEXIST", "订单不存在")
        if order.paid:
            return biz_fail(call, "ORDERPAID", "订单已支付，不能发起关单")
        if order.state == "CLOSED":
            return biz_fail(call, "ORDERCLOSED", "订单已关闭，无法重复关闭")
        order.state = "CLOSED"
    return signed_answer(call, {"result_code": "SUCCESS", "result_msg": "OK"})


def mark_paid(order: Order, transaction_id: str, now: float, coupon_fee: int = 0) -> None:
    """Record a payment, ``coupon_fee`` of it paid by a coupon (caller holds the lock)."""
    order.coupon_fee = coupon_fee
    if coupon_fee:
        order.coupon_id = f"{secrets.randbelow(10**10):010d}"
    order.state = "SUCCESS"
    order.transaction_id = transaction_id
    order.time_end = beijing(now)
