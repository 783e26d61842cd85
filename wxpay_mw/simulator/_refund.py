"""/secapi/pay/refund, /pay/refundquery and the refund notification.

A refund is accepted as PROCESSING and settles (SUCCESS) after
``REFUND_SETTLE_SECONDS * time_factor``; only then is its notification sent, to the
request's ``notify_url`` or else the merchant's refund notify URL (none: no notification,
as when nothing is configured in the merchant platform). The mutual-TLS client
certificate real WeChat demands is not checked.
"""

from __future__ import annotations

import re
from typing import Final

from .. import signing
from ..refundcrypto import encrypt_req_info
from ..xmlmsg import to_xml
from ._context import Context
from ._state import Refund, beijing, new_refund_id
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

__all__ = ["REFUND_SETTLE_SECONDS", "refund", "refundquery"]

#: Seconds (before time_factor) from an accepted refund to its SUCCESS.
REFUND_SETTLE_SECONDS: Final = 10.0

_OUT_REFUND_NO: Final = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}\Z")
_CHANGED: Final = "订单金额或退款金额与之前请求不一致，请核实后再试"


def _refund_fields(refund: Refund) -> dict[str, str | int | None]:
    return {
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_fee": refund.refund_fee,
        "total_fee": refund.total_fee,
        "cash_fee": refund.total_fee,
        "cash_refund_fee": refund.refund_fee,
        "refund_channel": "",
    }


def refund(ctx: Context, call: Call) -> Answer:
    """Accept a refund of a paid order; the same out_refund_no is refunded only once."""
    fields = call.fields
    if (missing := require(call, "out_refund_no", "total_fee", "refund_fee")) is not None:
        return missing
    if not fields.get("transaction_id") and not fields.get("out_trade_no"):
        return biz_fail(call, "LACK_PARAMS", "缺少参数out_trade_no或transaction_id")
    if not _OUT_REFUND_NO.match(fields["out_refund_no"]):
        return protocol_fail("out_refund_no参数格式错误")
    for name in ("total_fee", "refund_fee"):
        if (bad := positive_fen(call, name)) is not None:
            return bad
    if fields.get("notify_url") and (bad := check_url(call, "notify_url")) is not None:
        return bad
    if len(fields.get("refund_desc", "")) > 80:
        return protocol_fail("refund_desc参数长度有误")
    total_fee, refund_fee = int(fields["total_fee"]), int(fields["refund_fee"])
    with ctx.state.lock:
        order = ctx.state.order_by(call.sandbox, fields)
        if order is None or not order.paid:
            return biz_fail(call, "ORDERNOTEXIST", "订单不存在或未支付")
        key = (call.sandbox, fields["out_refund_no"])
        existing = ctx.state.refunds.get(key)
        if existing is not None:
            if (existing.out_trade_no, existing.refund_fee, existing.total_fee) != (
                order.out_trade_no,
                refund_fee,
                total_fee,
            ):
                return biz_fail(call, "PARAM_ERROR", _CHANGED)
            made = existing
        else:
            if total_fee != order.total_fee:
                return biz_fail(call, "PARAM_ERROR", "total_fee与订单金额不一致")
            if refund_fee > total_fee:
                return biz_fail(call, "PARAM_ERROR", "退款金额大于订单金额")
            if order.refunded_fee >= order.total_fee:
                return biz_fail(call, "ERROR", "订单已全额退款")
            if refund_fee > order.total_fee - order.refunded_fee:
                return biz_fail(call, "ERROR", "累计退款金额大于支付金额")
            made = Refund(
                out_refund_no=fields["out_refund_no"],
                refund_id=new_refund_id(ctx.state.now()),
                out_trade_no=order.out_trade_no,
                sandbox=call.sandbox,
                refund_fee=refund_fee,
                total_fee=total_fee,
                notify_url=fields.get("notify_url") or ctx.merchant.refund_notify_url,
                request=dict(fields),
            )
            ctx.state.refunds[key] = made
            order.refunded_fee += refund_fee
            order.refunds.append(made.out_refund_no)
            order.state = "REFUND"
            ctx.deliveries.later(
                REFUND_SETTLE_SECONDS * ctx.time_factor, lambda: _settle(ctx, made, call.key)
            )
        answer = {
            "result_code": "SUCCESS",
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            **_refund_fields(made),
        }
    return signed_answer(call, answer)


def _settle(ctx: Context, made: Refund, key: str) -> None:
    with ctx.state.lock:
        if ctx.state.refunds.get((made.sandbox, made.out_refund_no)) is not made:
            return  # forgotten by a reset meanwhile
        order = ctx.state.orders[(made.sandbox, made.out_trade_no)]
        made.status = "SUCCESS"
        made.success_time = beijing(ctx.state.now(), "%Y-%m-%d %H:%M:%S")
        secret: dict[str, str | int | None] = {
            "transaction_id": order.transaction_id,
            "out_trade_no": made.out_trade_no,
            "refund_id": made.refund_id,
            "out_refund_no": made.out_refund_no,
            "total_fee": made.total_fee,
            "settlement_total_fee": made.total_fee,
            "refund_fee": made.refund_fee,
            "settlement_refund_fee": made.refund_fee,
            "refund_status": made.status,
            "success_time": made.success_time,
            "refund_recv_accout": "支付用户零钱",
            "refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
            "refund_request_source": "API",
        }
    if not made.notify_url:
        return
    # WeChat's refund notification has no sign: req_info decrypting is its proof.
    body = to_xml(
        {
            "return_code": "SUCCESS",
            "appid": ctx.merchant.appid,
            "mch_id": ctx.merchant.mch_id,
            "nonce_str": signing.make_nonce(),
            "req_info": encrypt_req_info(secret, key),
        }
    )
    ctx.deliveries.send("refund", made.notify_url, body, made.out_trade_no, made.out_refund_no)


def refundquery(ctx: Context, call: Call) -> Answer:
    """The refunds of an order, by refund_id > out_refund_no > transaction_id > out_trade_no."""
    fields = call.fields
    ids = ("refund_id", "out_refund_no", "transaction_id", "out_trade_no")
    if not any(fields.get(name) for name in ids):
        return biz_fail(call, "LACK_PARAMS", "缺少参数out_trade_no或out_refund_no")
    with ctx.state.lock:
        refunds = [r for r in ctx.state.refunds.values() if r.sandbox == call.sandbox]
        if fields.get("refund_id"):
            refunds = [r for r in refunds if r.refund_id == fields["refund_id"]]
        elif fields.get("out_refund_no"):
            refunds = [r for r in refunds if r.out_refund_no == fields["out_refund_no"]]
        else:
            order = ctx.state.order_by(call.sandbox, fields)
            numbers = order.refunds if order is not None else []
            refunds = [ctx.state.refunds[(call.sandbox, number)] for number in numbers]
        if not refunds:
            return biz_fail(call, "REFUNDNOTEXIST", "not exist")
        order = ctx.state.orders[(call.sandbox, refunds[0].out_trade_no)]
        answer: dict[str, str | int | None] = {
            "result_code": "SUCCESS",
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "total_fee": order.total_fee,
            "cash_fee": order.total_fee,
            "refund_count": len(refunds),
        }
        for n, made in enumerate(refunds):
            answer.update(
                {
                    f"out_refund_no_{n}": made.out_refund_no,
                    f"refund_id_{n}": made.refund_id,
                    f"refund_channel_{n}": "ORIGINAL",
                    f"refund_fee_{n}": made.refund_fee,
                    f"refund_status_{n}": made.status,
                    f"refund_account_{n}": "REFUND_SOURCE_UNSETTLED_FUNDS",
                    f"refund_recv_accout_{n}": "支付用户零钱",
                    f"refund_success_time_{n}": made.success_time or None,
                }
            )
    return signed_answer(call, answer)
