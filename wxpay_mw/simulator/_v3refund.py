"""v3 refunds: ``POST /v3/refund/domestic/refunds`` and ``GET .../refunds/{out_refund_no}``.

The same refunds as v2's (``_refund.py``): accepted as PROCESSING, settled after
``REFUND_SETTLE_SECONDS * time_factor`` as SUCCESS, or CLOSED / ABNORMAL under a
``refund_close`` / ``refund_change`` fault, then notified (v3, sealed and signed) to the
request's ``notify_url`` or the merchant's refund notify URL. No client certificate:
v3 signs instead (wechatpay-v3.md section 7).
"""

from __future__ import annotations

import re
from typing import Any, Final

from ._context import Context
from ._refund import REFUND_SETTLE_SECONDS, new_platform_refund
from ._state import Order, Refund, beijing, new_refund_id
from ._v3notify import notify_refund
from ._v3pay import rfc3339
from ._v3wire import V3Call, V3Wechat, error, signed
from ._wire import Answer

__all__ = ["V3_STATUS", "platform_refund", "refund", "refund_query", "refund_resource", "start"]

#: The simulator's refund status (v2's names) -> v3's.
V3_STATUS: Final = {
    "PROCESSING": "PROCESSING",
    "SUCCESS": "SUCCESS",
    "REFUNDCLOSE": "CLOSED",
    "CHANGE": "ABNORMAL",
}
_OUT_REFUND_NO: Final = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}\Z")
_CHANGED: Final = "订单金额或退款金额与之前请求不一致，请核实后再试"


def _v3_time(dashed: str) -> str:
    # "yyyy-MM-dd HH:mm:ss" (v2's refund times) -> RFC 3339.
    return rfc3339(dashed.replace("-", "").replace(" ", "").replace(":", "")) if dashed else ""


def refund_resource(ctx: Context, made: Refund, order: Order) -> dict[str, Any]:
    """A refund as v3 answers it (caller holds the state lock)."""
    payer_total = order.total_fee - order.coupon_fee
    data: dict[str, Any] = {
        "refund_id": made.refund_id,
        "out_refund_no": made.out_refund_no,
        "transaction_id": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": _v3_time(made.applied),
        "status": V3_STATUS[made.status],
        "funds_account": "AVAILABLE",
        "amount": {
            "total": made.total_fee,
            "refund": made.refund_fee,
            "from": [],
            "payer_total": payer_total,
            "payer_refund": min(made.refund_fee, payer_total),
            "settlement_refund": made.refund_fee,
            "settlement_total": made.total_fee,
            "discount_refund": 0,
            "currency": "CNY",
        },
        "promotion_detail": [],
    }
    if made.success_time:
        data["success_time"] = _v3_time(made.success_time)
    return data


def _check(v3: V3Wechat, call: V3Call) -> Answer | tuple[int, int]:
    data = call.data
    amount = data.get("amount")
    if not isinstance(data.get("out_refund_no"), str) or not data["out_refund_no"]:
        return error(v3, call.serial, 400, "PARAM_ERROR", "缺少参数out_refund_no")
    if not data.get("transaction_id") and not data.get("out_trade_no"):
        return error(v3, call.serial, 400, "PARAM_ERROR", "缺少参数out_trade_no或transaction_id")
    if not _OUT_REFUND_NO.match(data["out_refund_no"]):
        return error(v3, call.serial, 400, "PARAM_ERROR", "out_refund_no参数格式错误")
    if not isinstance(amount, dict):
        return error(v3, call.serial, 400, "PARAM_ERROR", "缺少参数amount")
    fees = amount.get("refund"), amount.get("total")
    if any(isinstance(f, bool) or not isinstance(f, int) or f <= 0 for f in fees):
        return error(v3, call.serial, 400, "PARAM_ERROR", "amount.refund和amount.total须为正整数")
    if amount.get("currency", "CNY") != "CNY":
        return error(v3, call.serial, 400, "PARAM_ERROR", "amount.currency须为CNY")
    if len(str(data.get("reason", ""))) > 80:
        return error(v3, call.serial, 400, "PARAM_ERROR", "reason参数长度有误")
    return int(fees[0]), int(fees[1])  # type: ignore[arg-type]


def refund(ctx: Context, v3: V3Wechat, call: V3Call, settle_as: str = "SUCCESS") -> Answer:
    """Accept a refund of a paid order; the same out_refund_no is refunded only once."""
    checked = _check(v3, call)
    if isinstance(checked, Answer):
        return checked
    refund_fee, total_fee = checked
    data = call.data
    lookup = {k: str(data.get(k, "")) for k in ("transaction_id", "out_trade_no")}
    with ctx.state.lock:
        order = ctx.state.order_by(False, lookup)
        if order is None or not order.paid:
            return error(v3, call.serial, 404, "RESOURCE_NOT_EXISTS", "订单不存在或未支付")
        existing = ctx.state.refunds.get((False, data["out_refund_no"]))
        if existing is not None:
            same = (existing.out_trade_no, existing.refund_fee, existing.total_fee)
            if same != (order.out_trade_no, refund_fee, total_fee):
                return error(v3, call.serial, 400, "INVALID_REQUEST", _CHANGED)
            made = existing
        else:
            if total_fee != order.total_fee:
                return error(v3, call.serial, 400, "PARAM_ERROR", "订单金额total与原订单不一致")
            left = order.total_fee - order.refunded_fee
            if refund_fee > left:
                return error(v3, call.serial, 403, "NOT_ENOUGH", "申请退款金额超过订单可退金额")
            made = Refund(
                out_refund_no=data["out_refund_no"],
                refund_id=new_refund_id(ctx.state.now()),
                out_trade_no=order.out_trade_no,
                sandbox=False,
                refund_fee=refund_fee,
                total_fee=total_fee,
                notify_url=str(data.get("notify_url") or "") or ctx.merchant.refund_notify_url,
                request={"reason": str(data.get("reason", ""))},
                settle_as=settle_as,
            )
            start(ctx, v3, order, made)
        answer = refund_resource(ctx, made, order)
    return signed(v3, call.serial, 200, answer)


def start(ctx: Context, v3: V3Wechat, order: Order, made: Refund) -> None:
    """Record a refund and schedule its settling (caller holds the state lock)."""
    made.applied = beijing(ctx.state.now(), "%Y-%m-%d %H:%M:%S")
    ctx.state.refunds[(False, made.out_refund_no)] = made
    order.refunded_fee += made.refund_fee
    order.refunds.append(made.out_refund_no)
    order.state = "REFUND"
    with v3.lock:
        v3.refunds.add(made.out_refund_no)
    ctx.deliveries.later(REFUND_SETTLE_SECONDS * ctx.time_factor, lambda: _settle(ctx, v3, made))


def _settle(ctx: Context, v3: V3Wechat, made: Refund) -> None:
    with ctx.state.lock:
        if ctx.state.refunds.get((False, made.out_refund_no)) is not made:
            return  # forgotten by a reset meanwhile
        order = ctx.state.orders[(False, made.out_trade_no)]
        made.status = made.settle_as
        if made.status == "SUCCESS":
            made.success_time = beijing(ctx.state.now(), "%Y-%m-%d %H:%M:%S")
        elif made.status == "REFUNDCLOSE":
            # A closed refund returned nothing: the amount can be refunded again.
            order.refunded_fee -= made.refund_fee
        full = refund_resource(ctx, made, order)
    if not made.notify_url:
        return
    amount = full["amount"]
    resource: dict[str, Any] = {
        "mchid": ctx.merchant.mch_id,
        "transaction_id": full["transaction_id"],
        "out_trade_no": full["out_trade_no"],
        "refund_id": full["refund_id"],
        "out_refund_no": full["out_refund_no"],
        "refund_status": full["status"],
        "user_received_account": full["user_received_account"],
        "amount": {k: amount[k] for k in ("total", "refund", "payer_total", "payer_refund")},
    }
    if "success_time" in full:
        resource["success_time"] = full["success_time"]
    notify_refund(ctx, v3, resource, made.notify_url)


def refund_query(ctx: Context, v3: V3Wechat, call: V3Call) -> Answer:
    """One refund by its out_refund_no."""
    number = call.segments()[-1]
    with ctx.state.lock:
        made = ctx.state.refunds.get((False, number))
        if made is None:
            return error(v3, call.serial, 404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        answer = refund_resource(ctx, made, ctx.state.orders[(False, made.out_trade_no)])
    return signed(v3, call.serial, 200, answer)


def platform_refund(
    ctx: Context, v3: V3Wechat, out_trade_no: str, refund_fee: int | None = None
) -> Refund:
    """A refund of a v3 order made by hand in the merchant platform: as v2's
    (``_refund.platform_refund``), notified as v3 to the merchant's refund notify URL."""
    with ctx.state.lock:
        order, made = new_platform_refund(ctx, out_trade_no, refund_fee, sandbox=False)
        start(ctx, v3, order, made)
        return made
