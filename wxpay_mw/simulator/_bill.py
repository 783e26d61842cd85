"""/pay/downloadbill (a text bill of one day) and /sandboxnew/pay/getsignkey."""

from __future__ import annotations

import gzip
from typing import Final

from ..xmlmsg import to_xml
from ._context import Context
from ._state import Order, Refund, beijing, parse_beijing
from ._wire import Answer, Call, require

__all__ = ["downloadbill", "getsignkey"]

_BILL_TYPES: Final = ("ALL", "SUCCESS", "REFUND", "RECHARGE_REFUND")
_HEADER: Final = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
_SUMMARY: Final = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)


def _yuan(fen: int) -> str:
    # Bills are the one place WeChat writes amounts in yuan; integer maths, no floats.
    return f"{fen // 100}.{fen % 100:02d}"


def _bill_fail(message: str, error_code: str = "20001") -> Answer:
    # Bill failures are XML with return_code FAIL and an error_code, never signed.
    body = to_xml({"return_code": "FAIL", "return_msg": message, "error_code": error_code})
    return Answer(200, body)


def _row(ctx: Context, order: Order, refund: Refund | None) -> str:
    cells = [
        refund.success_time if refund else _dashed(order.time_end),
        order.request["appid"],
        ctx.merchant.mch_id,
        "0",
        order.request.get("device_info", ""),
        order.transaction_id,
        order.out_trade_no,
        order.request.get("openid", ""),
        order.request["trade_type"],
        "REFUND" if refund else "SUCCESS",
        "OTHERS",
        "CNY",
        _yuan(0 if refund else order.total_fee),
        "0.00",
        refund.refund_id if refund else "0",
        refund.out_refund_no if refund else "0",
        _yuan(refund.refund_fee) if refund else "0.00",
        "0.00",
        "ORIGINAL" if refund else "",
        refund.status if refund else "",
        order.request["body"],
        order.request.get("attach", ""),
        "0.00",
        "0.60%",
        _yuan(order.total_fee),
        _yuan(refund.refund_fee) if refund else "0.00",
        "",
    ]
    return ",".join("`" + cell for cell in cells)


def _dashed(time_end: str) -> str:
    t = time_end
    return f"{t[:4]}-{t[4:6]}-{t[6:8]} {t[8:10]}:{t[10:12]}:{t[12:14]}"


def downloadbill(ctx: Context, call: Call) -> Answer:
    """The day's bill as WeChat's backtick-prefixed CSV text; XML FAIL if none."""
    fields = call.fields
    if require(call, "bill_date") is not None:
        return _bill_fail("missing parameter")
    bill_type = fields.get("bill_type") or "ALL"
    if bill_type not in _BILL_TYPES:
        return _bill_fail("invalid bill_type")
    try:
        parse_beijing(fields["bill_date"] + "000000")
    except ValueError:
        return _bill_fail("invalid bill_date")
    day = fields["bill_date"]
    rows: list[str] = []
    paid = refunded = 0
    with ctx.state.lock:
        for order in ctx.state.orders.values():
            if order.sandbox != call.sandbox or not order.paid:
                continue
            if bill_type in ("ALL", "SUCCESS") and order.time_end.startswith(day):
                rows.append(_row(ctx, order, None))
                paid += order.total_fee
        for made in ctx.state.refunds.values():
            if made.sandbox != call.sandbox or made.status != "SUCCESS":
                continue
            if bill_type in ("ALL", "REFUND") and made.success_time.replace("-", "")[:8] == day:
                order = ctx.state.orders[(made.sandbox, made.out_trade_no)]
                rows.append(_row(ctx, order, made))
                refunded += made.refund_fee
    if not rows:
        return _bill_fail("No Bill Exist")
    summary = [str(len(rows)), _yuan(paid), _yuan(refunded), "0.00", "0.00", _yuan(paid)]
    summary.append(_yuan(refunded))
    text = "\r\n".join([_HEADER, *rows, _SUMMARY, ",".join("`" + s for s in summary)]) + "\r\n"
    if fields.get("tar_type") == "GZIP":
        return Answer(200, gzip.compress(text.encode()), "application/x-gzip")
    return Answer(200, text.encode(), "text/plain; charset=utf-8")


def getsignkey(ctx: Context, call: Call) -> Answer:
    """The sandbox key, for a request signed (MD5) with the production key."""
    body = to_xml(
        {
            "return_code": "SUCCESS",
            "return_msg": "ok",
            "mch_id": ctx.merchant.mch_id,
            "sandbox_signkey": ctx.merchant.sandbox_key,
        }
    )
    return Answer(200, body)


def today(ctx: Context) -> str:
    """Today's bill_date (Beijing) on the simulator's clock."""
    return beijing(ctx.state.now(), "%Y%m%d")
