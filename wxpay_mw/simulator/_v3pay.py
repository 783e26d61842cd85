"""v3 orders: ``POST /v3/pay/transactions/jsapi``, the two queries and close.

A v3 order lives in the same :class:`~._state.State` as a v2 one, its request kept under
v2's field names (``body``, ``total_fee``, ``openid``...) so that payments, refunds, bills
and the control endpoints treat both alike; ``sign_type`` ``RSA`` marks it as v3 (its
paySign is RSA and its notifications v3). Field rules: wechatpay-v3.md section 4.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Any, Final
from urllib.parse import urlsplit

from ._context import Context
from ._state import PREPAY_TTL, Order, beijing, new_prepay_id
from ._v3wire import V3Call, V3Wechat, error, signed
from ._wire import Answer

__all__ = ["close", "jsapi", "query", "rfc3339", "transaction"]

_OUT_TRADE_NO: Final = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}\Z")
_ASTRAL: Final = re.compile("[\U00010000-\U0010ffff]")
_BEIJING: Final = _dt.timezone(_dt.timedelta(hours=8))
_STATE_DESC: Final = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "CLOSED": "已关闭",
}
#: The shortest time_expire WeChat accepts, in seconds from now ([JSAPI]: order time + 1 min).
MIN_EXPIRE: Final = 60.0


def rfc3339(v2_time: str) -> str:
    """``yyyyMMddHHmmss`` (Beijing) as v3 writes times: ``2018-06-08T10:34:56+08:00``."""
    when = _dt.datetime.strptime(v2_time, "%Y%m%d%H%M%S").replace(tzinfo=_BEIJING)
    return when.isoformat()


def _missing(v3: V3Wechat, call: V3Call, path: str) -> Answer:
    return error(
        v3,
        call.serial,
        400,
        "PARAM_ERROR",
        f"输入源“/body/{path}”映射到值字段必填性规则校验失败，此字段为必填项",
        {"field": path, "location": "body", "issue": "missing"},
    )


def _bad(v3: V3Wechat, call: V3Call, path: str, issue: str) -> Answer:
    return error(
        v3,
        call.serial,
        400,
        "PARAM_ERROR",
        f"参数错误：{path} {issue}",
        {"field": path, "location": "body", "issue": issue},
    )


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _check_order(ctx: Context, v3: V3Wechat, call: V3Call) -> Answer | None:
    data = call.data
    for name in ("appid", "mchid", "description", "out_trade_no", "notify_url"):
        if not _text(data, name):
            return _missing(v3, call, name)
    amount, payer = data.get("amount"), data.get("payer")
    if not isinstance(amount, dict) or "total" not in amount:
        return _missing(v3, call, "amount/total")
    if not isinstance(payer, dict) or not _text(payer, "openid"):
        return _missing(v3, call, "payer/openid")
    if data["mchid"] != ctx.merchant.mch_id:
        return error(v3, call.serial, 400, "INVALID_REQUEST", "请求中的mchid与签名中的商户号不一致")
    if data["appid"] != ctx.merchant.appid:
        return error(v3, call.serial, 400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
    total = amount["total"]
    if isinstance(total, bool) or not isinstance(total, int) or not 0 < total < 10**10:
        return _bad(v3, call, "amount/total", "must be a positive integer of fen")
    if amount.get("currency", "CNY") != "CNY":
        return _bad(v3, call, "amount/currency", "must be CNY")
    if not _OUT_TRADE_NO.match(data["out_trade_no"]):
        return _bad(v3, call, "out_trade_no", "must be 6-32 of [0-9A-Za-z_-|*]")
    for name, longest in (("description", 127), ("attach", 128)):
        value = _text(data, name)
        if len(value) > longest:
            return _bad(v3, call, name, f"is longer than {longest} characters")
        if _ASTRAL.search(value):
            # v3 accepts only UTF-8 characters of 1 to 3 bytes (no emoji).
            return _bad(v3, call, name, "holds a 4-byte UTF-8 character")
    url = urlsplit(data["notify_url"])
    if url.scheme not in ("http", "https") or not url.netloc or url.query or url.fragment:
        return _bad(v3, call, "notify_url", "must be an absolute URL without a query string")
    if data.get("time_expire") is not None:
        try:
            expire = _dt.datetime.fromisoformat(_text(data, "time_expire"))
        except ValueError:
            expire = None
        if expire is None or expire.tzinfo is None:
            return _bad(v3, call, "time_expire", "must be RFC 3339 with a time zone")
        if expire.timestamp() - ctx.state.now() < MIN_EXPIRE:
            return _bad(v3, call, "time_expire", "must be at least 1 minute after the order")
    with ctx.state.lock:
        known = payer["openid"] in ctx.state.known_openids
    if not known:
        # WeChat checks the openid belongs to this appid; here: was it issued by a login.
        return error(v3, call.serial, 400, "PARAM_ERROR", "appid和openid不匹配")
    return None


def _as_v2(data: dict[str, Any]) -> dict[str, str]:
    """The order under v2's names, which the rest of the simulator reads."""
    fields = {
        "appid": data["appid"],
        "mch_id": data["mchid"],
        "body": data["description"],
        "out_trade_no": data["out_trade_no"],
        "total_fee": str(data["amount"]["total"]),
        "notify_url": data["notify_url"],
        "trade_type": "JSAPI",
        "openid": data["payer"]["openid"],
        "attach": _text(data, "attach"),
    }
    if data.get("time_expire"):
        expire = _dt.datetime.fromisoformat(data["time_expire"])
        fields["time_expire"] = beijing(expire.timestamp())
    return fields


def jsapi(ctx: Context, v3: V3Wechat, call: V3Call) -> Answer:
    """Place an order, or return the current prepay_id of the same order placed again."""
    if (bad := _check_order(ctx, v3, call)) is not None:
        return bad
    data = call.data
    key = (False, data["out_trade_no"])
    with ctx.state.lock:
        now = ctx.state.now()
        order = ctx.state.orders.get(key)
        if order is not None:
            if order.paid:
                return error(v3, call.serial, 400, "ORDERPAID", "该订单已支付")
            if order.state == "CLOSED":
                return error(v3, call.serial, 400, "ORDER_CLOSED", "订单已关闭")
            if order.fingerprint != _print(data):
                return error(v3, call.serial, 403, "OUT_TRADE_NO_USED", "商户订单号重复")
            if order.prepay_expires <= now:
                order.prepay_id = new_prepay_id(now)
                order.prepay_expires = now + PREPAY_TTL
        else:
            order = Order(
                out_trade_no=data["out_trade_no"],
                sandbox=False,
                request=_as_v2(data),
                fingerprint=_print(data),
                sign_type="RSA",
                prepay_id=new_prepay_id(now),
                prepay_expires=now + PREPAY_TTL,
                created=now,
            )
            ctx.state.orders[key] = order
        prepay_id = order.prepay_id
    return signed(v3, call.serial, 200, {"prepay_id": prepay_id})


def _print(data: dict[str, Any]) -> dict[str, str]:
    # The order's identity for "same parameters": its JSON with sorted keys, so that key
    # order (free in v3) does not make two requests different.
    return {"v3": json.dumps(data, sort_keys=True, ensure_ascii=False)}


def transaction(ctx: Context, order: Order) -> dict[str, Any]:
    """What a v3 query (and the payment notification) says about an order (caller holds
    the state lock)."""
    data: dict[str, Any] = {
        "appid": order.request.get("appid", ctx.merchant.appid),
        "mchid": ctx.merchant.mch_id,
        "out_trade_no": order.out_trade_no,
        "trade_state": order.state,
        "trade_state_desc": _STATE_DESC[order.state],
        "attach": order.request.get("attach", ""),
        "amount": {"total": order.total_fee, "currency": "CNY", "payer_currency": "CNY"},
        "scene_info": {"device_id": ""},
        "promotion_detail": [],
    }
    if order.paid:
        data.update(
            transaction_id=order.transaction_id,
            trade_type=order.request.get("trade_type", "JSAPI"),
            bank_type="OTHERS",
            success_time=rfc3339(order.time_end),
            payer={"openid": order.request.get("openid", "")},
        )
        data["amount"]["payer_total"] = order.total_fee - order.coupon_fee
        if order.coupon_fee:
            data["promotion_detail"] = [
                {
                    "coupon_id": order.coupon_id,
                    "name": "simulator coupon",
                    "scope": "GLOBAL",
                    # A non-recharge coupon (v2's NO_CASH): not settled to the merchant.
                    "type": "DISCOUNT",
                    "amount": order.coupon_fee,
                    "currency": "CNY",
                }
            ]
    return data


def query(ctx: Context, v3: V3Wechat, call: V3Call, *, by_id: bool) -> Answer:
    """``GET .../out-trade-no/{no}`` or ``GET .../id/{transaction_id}``, ``?mchid=``."""
    mchid = call.query.get("mchid", "")
    if not mchid:
        return error(v3, call.serial, 400, "PARAM_ERROR", "缺少参数mchid")
    if mchid != ctx.merchant.mch_id:
        return error(v3, call.serial, 400, "INVALID_REQUEST", "请求中的mchid与签名中的商户号不一致")
    number = call.segments()[-1]
    with ctx.state.lock:
        if by_id:
            order = ctx.state.order_by(False, {"transaction_id": number})
        else:
            order = ctx.state.orders.get((False, number))
        if order is None:
            return error(v3, call.serial, 404, "ORDER_NOT_EXIST", "订单不存在")
        data = transaction(ctx, order)
    return signed(v3, call.serial, 200, data)


def close(ctx: Context, v3: V3Wechat, call: V3Call) -> Answer:
    """``POST .../out-trade-no/{no}/close`` with ``{"mchid"}``: 204 No Content."""
    mchid = _text(call.data, "mchid")
    if not mchid:
        return _missing(v3, call, "mchid")
    if mchid != ctx.merchant.mch_id:
        return error(v3, call.serial, 400, "INVALID_REQUEST", "请求中的mchid与签名中的商户号不一致")
    number = call.segments()[-2]
    with ctx.state.lock:
        order = ctx.state.orders.get((False, number))
        if order is None:
            return error(v3, call.serial, 404, "ORDER_NOT_EXIST", "订单不存在")
        if order.paid:
            # v3's answer here is unconfirmed (wechatpay-v3.md section 6); v2 says ORDERPAID.
            return error(v3, call.serial, 400, "ORDERPAID", "订单已支付，不能发起关单")
        if order.state == "CLOSED":
            return error(v3, call.serial, 400, "ORDER_CLOSED", "订单已关闭，无法重复关闭")
        order.state = "CLOSED"
    return signed(v3, call.serial, 204)
