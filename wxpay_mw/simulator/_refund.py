"""/secapi/pay/refund, /pay/refundquery and the refund notification.

A refund is accepted as PROCESSING and settles after ``REFUND_SETTLE_SECONDS *
time_factor``: SUCCESS, or REFUNDCLOSE / CHANGE when a ``refund_close`` /
``refund_change`` fault says so. Only then is its notification sent (WeChat notifies all
three, wechatpay-v2.md section 10), to the request's ``notify_url`` or else the
merchant's refund notify URL (none: no notification, as when nothing is configured in
the merchant platform). :func:`platform_refund` is a refund made in the merchant
platform: the host never asked for it and first hears of it from the notification.
The mutual-TLS client certificate is checked only when the simulator serves TLS.
"""

from __future__ import annotations

import re
from typing import Final

from .. import signing
from ..refundcrypto import encrypt_req_info
from ..xmlmsg import to_xml
from ._context import Context
from ._state import Order, Refund, beijing, new_refund_id
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

__all__ = ["PAGE_SIZE", "REFUND_SETTLE_SECONDS", "platform_refund", "refund", "refundquery"]

#: Seconds (before time_factor) from an accepted refund to its SUCCESS.
REFUND_SETTLE_SECONDS: Final = 10.0

#: refundquery lists at most this many refunds per answer; ``offset`` pages on
#: (wechatpay-v2.md section 7).
PAGE_SIZE: Final = 10

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
        return protocol_fail("缺少参数out_trade_no或transaction_id")
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
                settle_as=call.settle_as,
            )
            _start(ctx, order, made, call.key)
        answer = {
            "result_code": "SUCCESS",
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            **_refund_fields(made),
        }
    return signed_answer(call, answer)


def _start(ctx: Context, order: Order, made: Refund, key: str) -> None:
    # Caller holds the state lock.
    made.applied = beijing(ctx.state.now(), "%Y-%m-%d %H:%M:%S")
    ctx.state.refunds[(made.sandbox, made.out_refund_no)] = made
    order.refunded_fee += made.refund_fee
    order.refunds.append(made.out_refund_no)
    order.state = "REFUND"
    ctx.deliveries.later(REFUND_SETTLE_SECONDS * ctx.time_factor, lambda: _settle(ctx, made, key))


def platform_refund(
    ctx: Context, out_trade_no: str, refund_fee: int | None = None, *, sandbox: bool = False
) -> Refund:
    """A refund made by hand in the merchant platform (``refund_request_source`` is
    VENDOR_PLATFORM): its ``out_refund_no`` was never sent by the host. The notification
    goes to the merchant's refund notify URL. ValueError if the order cannot be refunded.
    """
    with ctx.state.lock:
        order, made = new_platform_refund(ctx, out_trade_no, refund_fee, sandbox)
        key = ctx.merchant.sandbox_key if sandbox else ctx.merchant.api_key
        _start(ctx, order, made, key)
        return made


def new_platform_refund(
    ctx: Context, out_trade_no: str, refund_fee: int | None, sandbox: bool
) -> tuple[Order, Refund]:
    """The paid order and a new merchant-platform refund of it (v2 or v3); under the
    state's lock. ValueError if the order cannot be refunded that much."""
    order = ctx.state.orders.get((sandbox, out_trade_no))
    if order is None or not order.paid:
        raise ValueError(f"out_trade_no: no paid order {out_trade_no!r}")
    left = order.total_fee - order.refunded_fee
    fee = left if refund_fee is None else refund_fee
    if isinstance(fee, bool) or not isinstance(fee, int) or not 0 < fee <= left:
        raise ValueError(f"refund_fee: expected 1 to {left} fen")
    refund_id = new_refund_id(ctx.state.now())
    return order, Refund(
        # The platform numbers the refund itself; the host has never seen it.
        out_refund_no=refund_id,
        refund_id=refund_id,
        out_trade_no=out_trade_no,
        sandbox=sandbox,
        refund_fee=fee,
        total_fee=order.total_fee,
        notify_url=ctx.merchant.refund_notify_url,
        request={},
        source="VENDOR_PLATFORM",
    )


def _settle(ctx: Context, made: Refund, key: str) -> None:
    with ctx.state.lock:
        if ctx.state.refunds.get((made.sandbox, made.out_refund_no)) is not made:
            return  # forgotten by a reset meanwhile
        order = ctx.state.orders[(made.sandbox, made.out_trade_no)]
        made.status = made.settle_as
        if made.status == "SUCCESS":
            made.success_time = beijing(ctx.state.now(), "%Y-%m-%d %H:%M:%S")
        elif made.status == "REFUNDCLOSE":
            # A closed refund returned nothing: the amount can be refunded again.
            order.refunded_fee -= made.refund_fee
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
            "success_time": made.success_time or None,
            "refund_recv_accout": "支付用户零钱",
            "refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
            "refund_request_source": made.source,
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
        return protocol_fail("缺少参数out_trade_no或out_refund_no")
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
        total = len(refunds)
        offset = fields.get("offset", "")
        if offset and (not offset.isascii() or not offset.isdigit() or int(offset) > total):
            return biz_fail(call, "PARAM_ERROR", "offset参数错误")
        # An order's refunds come 10 to a page, from ``offset`` (wechatpay-v2.md section 7;
        # issue 13, item 9); total_refund_count comes with paging.
        start = int(offset or 0)
        order = ctx.state.orders[(call.sandbox, refunds[0].out_trade_no)]
        refunds = refunds[start : start + PAGE_SIZE]
        answer: dict[str, str | int | None] = {
            "result_code": "SUCCESS",
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "total_fee": order.total_fee,
            "cash_fee": order.total_fee - order.coupon_fee,
            "refund_count": len(refunds),
        }
        if offset or total > PAGE_SIZE:
            answer["total_refund_count"] = total
            answer["offset"] = start
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
