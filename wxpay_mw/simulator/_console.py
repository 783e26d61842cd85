"""The console at ``/simulator/`` and the JSON endpoints it (and a host's tests) use.

* ``GET /simulator/`` -> the console page (``console.html``, ``.js``, ``.css`` here)
* ``GET /simulator/info`` -> ``{"appid", "mch_id", "fault_kinds", "wechat_paths"}``
* ``GET /simulator/orders?limit=N`` -> ``{"orders": [...], "total"}``: the newest N
  (default 200), each with its refunds
* ``POST /simulator/orders/{out_trade_no}/pay``: ``{"outcome"?}`` -> as ``/simulator/pay``;
  the user pays (or fails to) without the prepay parameters
* ``POST /simulator/orders/{out_trade_no}/refund``: ``{"refund_fee"?, "notify_url"?}`` ->
  ``{"refund": {...}}``; a refund started in the merchant platform, not by the host
* ``GET /simulator/calls?since=ID`` -> ``{"calls": [...]}``: the host's calls to WeChat
* ``POST /simulator/notifications/{id}/redeliver`` -> ``{"notification": {...}}``: POST it
  once more, now, and wait for the host's answer

Anything else under /simulator/ falls through to :mod:`._control`.
"""

from __future__ import annotations

import heapq
import json
import secrets
from importlib.resources import files
from typing import Any, Final

from .. import signing
from ..errors import XMLError
from ..xmlmsg import from_xml
from ._context import Context
from ._control import request_payment
from ._faults import FAULT_KINDS
from ._state import Order, beijing
from ._wire import Answer, Call, Request, json_answer

__all__ = ["CONSOLE_ROUTES", "console"]

#: Every endpoint this module answers, as documented in docs/simulator.md.
CONSOLE_ROUTES: Final = (
    "GET /simulator/",
    "GET /simulator/info",
    "GET /simulator/orders",
    "POST /simulator/orders/{out_trade_no}/pay",
    "POST /simulator/orders/{out_trade_no}/refund",
    "GET /simulator/calls",
    "POST /simulator/notifications/{id}/redeliver",
)

_ORDERS_SHOWN: Final = 200
_STATIC: Final = {
    "console.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}


def _page(name: str) -> Answer:
    body = files(__package__).joinpath(name).read_bytes()
    return Answer(200, body, _STATIC[name])


def _body(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    data = json.loads(request.body)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _order_json(ctx: Context, order: Order) -> dict[str, Any]:
    refunds = []
    for number in order.refunds:
        made = ctx.state.refunds.get((order.sandbox, number))
        if made is not None:
            refunds.append(
                {
                    "out_refund_no": made.out_refund_no,
                    "refund_id": made.refund_id,
                    "refund_fee": made.refund_fee,
                    "status": made.status,
                    "success_time": made.success_time,
                }
            )
    return {
        "out_trade_no": order.out_trade_no,
        "sandbox": order.sandbox,
        "state": order.state,
        "body": order.request.get("body", ""),
        "total_fee": order.total_fee,
        "openid": order.request.get("openid", ""),
        "notify_url": order.request.get("notify_url", ""),
        "created": beijing(order.created, "%Y-%m-%d %H:%M:%S"),
        "transaction_id": order.transaction_id,
        "time_end": order.time_end,
        "refunded_fee": order.refunded_fee,
        "refunds": refunds,
    }


def _find(ctx: Context, out_trade_no: str) -> Order | None:
    # The production system first: the console acts on what the host normally uses.
    return ctx.state.orders.get((False, out_trade_no)) or ctx.state.orders.get((True, out_trade_no))


def _pay(ctx: Context, out_trade_no: str, data: dict[str, Any]) -> Answer:
    with ctx.state.lock:
        order = _find(ctx, out_trade_no)
        if order is None:
            return json_answer(404, {"error": f"no order {out_trade_no!r}: place it first"})
        key = ctx.merchant.sandbox_key if order.sandbox else ctx.merchant.api_key
        prepay_id, sign_type = order.prepay_id, order.sign_type
    # Exactly what the mini program would pass to wx.requestPayment for this order.
    params: dict[str, Any] = signing.request_payment_params(
        appid=ctx.merchant.appid,
        key=key,
        prepay_id=prepay_id,
        sign_type=sign_type,  # type: ignore[arg-type]
    )
    params["outcome"] = data.get("outcome", "ok")
    status, answer = request_payment(ctx, params)
    return json_answer(status, answer)


def _refund(ctx: Context, out_trade_no: str, data: dict[str, Any]) -> Answer:
    from ._refund import refund

    with ctx.state.lock:
        order = _find(ctx, out_trade_no)
        if order is None:
            return json_answer(404, {"error": f"no order {out_trade_no!r}: place it first"})
        refund_fee = data.get("refund_fee", order.total_fee - order.refunded_fee)
        if isinstance(refund_fee, bool) or not isinstance(refund_fee, int) or refund_fee < 1:
            raise ValueError("refund_fee: expected a positive number of fen")
        fields = {
            "appid": ctx.merchant.appid,
            "mch_id": ctx.merchant.mch_id,
            "nonce_str": signing.make_nonce(),
            "out_trade_no": order.out_trade_no,
            "out_refund_no": "P" + beijing(ctx.state.now()) + secrets.token_hex(6),
            "total_fee": str(order.total_fee),
            "refund_fee": str(refund_fee),
        }
        notify_url = data.get("notify_url")
        if notify_url is not None:
            if not isinstance(notify_url, str):
                raise ValueError("notify_url: expected a URL")
            fields["notify_url"] = notify_url
        key = ctx.merchant.sandbox_key if order.sandbox else ctx.merchant.api_key
        call = Call(fields, ctx.merchant, key, order.sign_type, order.sandbox)  # type: ignore[arg-type]
        answer = refund(ctx, call)
    try:
        result = from_xml(answer.body)
    except XMLError:  # pragma: no cover - the refund handler answers XML
        return json_answer(500, {"error": "the refund handler did not answer XML"})
    result.pop("sign", None)
    if result.get("result_code") != "SUCCESS":
        reason = result.get("err_code_des") or result.get("return_msg") or "refused"
        return json_answer(409, {"error": f"WeChat refused the refund: {reason}", "answer": result})
    return json_answer(200, {"refund": result})


def _info(ctx: Context) -> Answer:
    from ._app import ROUTES

    paths = sorted({*ROUTES, "/sns/jscode2session", "/sandboxnew/pay/getsignkey"})
    return json_answer(
        200,
        {
            "appid": ctx.merchant.appid,
            "mch_id": ctx.merchant.mch_id,
            "fault_kinds": list(FAULT_KINDS),
            "wechat_paths": paths,
        },
    )


def _number(request: Request, name: str, default: int) -> int:
    raw = request.query.get(name, str(default))
    if not raw.isascii() or not raw.isdigit():
        raise ValueError(f"{name}: expected a non-negative integer")
    return int(raw)


def console(ctx: Context, request: Request) -> Answer | None:
    """The answer to a console request, or None for the other /simulator/ endpoints."""
    method, parts = request.method, request.path.strip("/").split("/")[1:]
    try:
        if method == "GET" and parts in ([], [""]):
            return _page("console.html")
        if method == "GET" and len(parts) == 1 and parts[0] in _STATIC:
            return _page(parts[0])
        if (method, parts) == ("GET", ["info"]):
            return _info(ctx)
        if (method, parts) == ("GET", ["orders"]):
            limit = _number(request, "limit", _ORDERS_SHOWN)
            with ctx.state.lock:
                # A benchmark leaves 100,000s of orders: the page polls only the newest.
                orders = heapq.nlargest(limit, ctx.state.orders.values(), key=lambda o: o.created)
                return json_answer(
                    200,
                    {
                        "orders": [_order_json(ctx, o) for o in orders],
                        "total": len(ctx.state.orders),
                    },
                )
        if (method, parts) == ("GET", ["calls"]):
            return json_answer(200, {"calls": ctx.calls.list(_number(request, "since", 0))})
        if method == "POST" and len(parts) == 3 and parts[0] == "orders":
            if parts[2] == "pay":
                return _pay(ctx, parts[1], _body(request))
            if parts[2] == "refund":
                return _refund(ctx, parts[1], _body(request))
        if method == "POST" and len(parts) == 3 and parts[0::2] == ["notifications", "redeliver"]:
            if not parts[1].isdigit():
                raise ValueError(
                    "the notification id is a number (see GET /simulator/notifications)"
                )
            note = ctx.deliveries.redeliver(int(parts[1]))
            if note is None:
                return json_answer(404, {"error": f"no notification {parts[1]}"})
            return json_answer(200, {"notification": note})
    except ValueError as exc:  # json.JSONDecodeError included
        return json_answer(400, {"error": str(exc)})
    return None
