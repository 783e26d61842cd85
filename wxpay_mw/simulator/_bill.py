"""/pay/downloadbill (a text bill of one day) and /sandboxnew/pay/getsignkey.

The bill is shaped as WeChat's (reference: wechatpay-apiv3/wechatpay-php
``tests/fixtures/bill.ALL.csv``, a real ALL bill; parsers: WxJava ``WxPayBillResult``;
wechatpay-v2.md section 8; issue 13, item 8):

* a UTF-8 BOM, a header line, one line per row with every cell prefixed by a backtick,
  then a summary header and a summary line;
* ALL bills have 27 columns, SUCCESS bills 20, REFUND bills 26;
* amounts in yuan with 2 decimals, fees (手续费) with 5;
* in an ALL bill a refund row's 应结订单金额 and 订单金额 are ``0.00`` (the payment's own
  row carries them), its 申请退款金额 the refund;
* the summary's count and amounts are written as WeChat's Java doubles: ``45.0``,
  ``0.47``, ``0.0``;
* the bill of a day exists from 10:00 Beijing time the next day ("Bill Creating" before),
  and a day without payments is "No Bill Exist" with error_code 20002.
"""

from __future__ import annotations

import gzip
from typing import Final

from ..xmlmsg import to_xml
from ._context import Context
from ._state import Order, Refund, beijing, parse_beijing
from ._wire import Answer, Call

__all__ = ["BILL_READY_SECONDS", "downloadbill", "getsignkey"]

#: A day's bill is ready this long after that day's midnight (Beijing): 10:00 next day.
BILL_READY_SECONDS: Final = 34 * 3600.0

_BOM: Final = "\ufeff"
_BILL_TYPES: Final = ("ALL", "SUCCESS", "REFUND", "RECHARGE_REFUND")
_COLUMNS: Final = {
    "ALL": (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
        "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
        "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
        "费率备注"
    ),
    "SUCCESS": (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
        "交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,"
        "订单金额,费率备注"
    ),
    "REFUND": (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
        "交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,"
        "商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率"
    ),
}
_SUMMARY: Final = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)
_RATE: Final = "0.60%"


def _yuan(fen: int, decimals: int = 2) -> str:
    # Bills are the one place WeChat writes amounts in yuan; integer maths, no floats.
    if decimals == 2:
        return f"{fen // 100}.{fen % 100:02d}"
    return f"{fen // 100}.{fen % 100:02d}{'0' * (decimals - 2)}"


def _double(fen: int) -> str:
    # The summary line prints Java doubles: 47 fen -> "0.47", 150 -> "1.5", 0 -> "0.0".
    cents = f"{fen % 100:02d}".rstrip("0") or "0"
    return f"{fen // 100}.{cents}"


def _fee(fen: int) -> int:
    # WeChat's fee at 0.6%, rounded to the fen.
    return (fen * 6 + 500) // 1000


def _bill_fail(message: str, error_code: str = "20001") -> Answer:
    # Bill failures are XML with return_code FAIL and an error_code, never signed.
    body = to_xml({"return_code": "FAIL", "return_msg": message, "error_code": error_code})
    return Answer(200, body)


def _dashed(time_end: str) -> str:
    t = time_end
    return f"{t[:4]}-{t[4:6]}-{t[6:8]} {t[8:10]}:{t[10:12]}:{t[12:14]}"


def _row(ctx: Context, bill_type: str, order: Order, refund: Refund | None) -> str:
    paid = 0 if refund else order.total_fee
    head = [
        refund.success_time if refund and bill_type == "ALL" else _dashed(order.time_end),
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
        _yuan(paid - (0 if refund else order.coupon_fee)),
        _yuan(0 if refund else order.coupon_fee),
    ]
    goods = [order.request["body"], order.request.get("attach", "")]
    fee = [_yuan(0 if refund else _fee(paid), 5), _RATE]
    if bill_type == "SUCCESS":
        cells = [*head, *goods, *fee, _yuan(order.total_fee), ""]
    elif bill_type == "REFUND" and refund is not None:
        cells = [
            *head[:12],
            _yuan(order.total_fee - order.coupon_fee),
            _yuan(order.coupon_fee),
            refund.applied,
            refund.success_time,
            refund.refund_id,
            refund.out_refund_no,
            _yuan(refund.refund_fee),
            "0.00",
            "ORIGINAL",
            refund.status,
            *goods,
            *fee,
        ]
    else:
        refunded = [
            refund.refund_id if refund else "0",
            refund.out_refund_no if refund else "0",
            _yuan(refund.refund_fee) if refund else "0.00",
            "0.00",
            "ORIGINAL" if refund else "",
            refund.status if refund else "",
        ]
        money = [_yuan(paid), _yuan(refund.refund_fee) if refund else "0.00", ""]
        cells = [*head, *refunded, *goods, *fee, *money]
    return ",".join("`" + cell for cell in cells)


def downloadbill(ctx: Context, call: Call) -> Answer:
    """The day's bill as WeChat's backtick-prefixed CSV text; XML FAIL if none."""
    fields = call.fields
    if not fields.get("bill_date"):
        return _bill_fail("missing parameter")
    bill_type = fields.get("bill_type") or "ALL"
    if bill_type not in _BILL_TYPES:
        return _bill_fail("invalid bill_type")
    day = fields["bill_date"]
    try:
        midnight = parse_beijing(day + "000000")
    except ValueError:
        return _bill_fail("invalid bill_date")
    now = ctx.state.now()
    if now < midnight + 24 * 3600:
        return _bill_fail("invalid bill_date")
    if now < midnight + BILL_READY_SECONDS:
        # Generated from 09:00, to be fetched after 10:00 (wechatpay-v2.md section 8);
        # the error_code of this answer is unconfirmed.
        return _bill_fail("Bill Creating")
    rows: list[str] = []
    paid = refunded = fees = 0
    with ctx.state.lock:
        for order in ctx.state.orders.values():
            if order.sandbox != call.sandbox or not order.paid:
                continue
            if bill_type in ("ALL", "SUCCESS") and order.time_end.startswith(day):
                rows.append(_row(ctx, bill_type, order, None))
                paid += order.total_fee
                fees += _fee(order.total_fee)
        for made in ctx.state.refunds.values():
            if made.sandbox != call.sandbox or made.status != "SUCCESS":
                continue
            if bill_type in ("ALL", "REFUND") and made.success_time.replace("-", "")[:8] == day:
                order = ctx.state.orders[(made.sandbox, made.out_trade_no)]
                rows.append(_row(ctx, bill_type, order, made))
                refunded += made.refund_fee
    if not rows:
        return _bill_fail("No Bill Exist", "20002")
    summary = [f"{len(rows)}.0", _double(paid), _double(refunded), "0.0", _double(fees)]
    summary += [_double(paid), _double(refunded)]
    lines = [_COLUMNS.get(bill_type, _COLUMNS["ALL"]), *rows, _SUMMARY]
    text = _BOM + "\n".join([*lines, ",".join("`" + s for s in summary)]) + "\n"
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
