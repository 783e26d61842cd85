"""FastAPI: wxpay-mw's endpoints as an ``APIRouter``, documented in the app's OpenAPI.

::

    from wxpay_mw.adapters.fastapi import router

    app.include_router(router(wxpay))                          # under /wxpay
    app.include_router(router(wxpay, openid=current_openid))   # your auth dependency

``POST /prepay`` and ``GET /orders/{out_trade_no}`` appear in the schema with their
request and answer models and every error code; the notify endpoints are WeChat's, not
your clients', and stay out of it. Everything else is the Starlette adapter's behaviour:
the same core (``WxPay.ahandle``), the same JSON errors (wxpay-mw's own 400, not
FastAPI's 422), ``async def`` hooks awaited on the event loop.

``openid`` is a FastAPI dependency (anything ``Depends`` takes) returning the logged-in
user's openid from your own authentication: prepay then needs no wx.login code. It is
run by FastAPI, so it can raise ``HTTPException(401)`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Header
from fastapi import Request as FastAPIRequest
from fastapi import Response as FastAPIResponse
from pydantic import BaseModel, ConfigDict

from wxpay_mw.app import WxPay
from wxpay_mw.sansio import Request, normalize_prefix

from ._threads import handle

__all__ = ["ErrorAnswer", "OrderStatus", "PrepayAnswer", "PrepayRequest", "router"]


class PrepayRequest(BaseModel):
    """What the mini program posts: a wx.login code and whatever your order needs."""

    model_config = ConfigDict(extra="allow")

    code: str | None = None


class PrepayAnswer(BaseModel):
    """The five wx.requestPayment parameters, the order number and its status token."""

    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str
    out_trade_no: str
    status_token: str


class OrderStatus(BaseModel):
    """An order's status, as its token's holder sees it."""

    out_trade_no: str
    status: str
    total_fee: int
    transaction_id: str | None = None


class ErrorAnswer(BaseModel):
    """Every error: a stable code, a message for the user, the order if one was made."""

    error: str
    message: str
    out_trade_no: str | None = None


_PREPAY_ERRORS = {
    400: "bad_request, order_rejected",
    401: "invalid_code: call wx.login again",
    409: "order_paid, order_closed, order_conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    502: "wechat_error, wechat_unavailable",
    503: "wechat_unavailable: retry in a moment",
}


def _documented(errors: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorAnswer, "description": text} for code, text in errors.items()}


async def _answer(wxpay: WxPay, request: FastAPIRequest, path: str, openid: str | None) -> Any:
    body = await request.body()
    sansio = Request(
        method=request.method,
        path=path,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body[: wxpay.max_body_bytes + 1],
        client_ip=request.client.host if request.client else "",
        native=request,
        openid=openid,
    )
    response = await handle(wxpay, sansio)
    return FastAPIResponse(
        content=response.body, status_code=response.status, headers=dict(response.headers)
    )


def router(
    wxpay: WxPay, prefix: str = "/wxpay", *, openid: Callable[..., Any] | None = None
) -> APIRouter:
    """An APIRouter with wxpay-mw's four endpoints under ``prefix``."""
    api = APIRouter(prefix=normalize_prefix(prefix), tags=["wxpay"])
    prepay_doc: dict[str, Any] = {
        "response_model": PrepayAnswer,
        "responses": _documented(_PREPAY_ERRORS),
        "summary": "Place the order with WeChat Pay: the wx.requestPayment parameters",
        "openapi_extra": {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PrepayRequest.model_json_schema()}},
            }
        },
    }
    if openid is None:

        @api.post("/prepay", **prepay_doc)
        async def prepay(request: FastAPIRequest) -> Any:
            return await _answer(wxpay, request, "/prepay", None)

    else:

        @api.post("/prepay", **prepay_doc)
        async def prepay_as_user(request: FastAPIRequest, user: str = Depends(openid)) -> Any:
            return await _answer(wxpay, request, "/prepay", user)

    @api.get(
        "/orders/{out_trade_no}",
        response_model=OrderStatus,
        responses=_documented({404: "unknown_order: no such order, or not yours to see"}),
        summary="An order's status (pending, paid, closed, refunded)",
    )
    async def order_status(
        out_trade_no: str,
        request: FastAPIRequest,
        x_wxpay_token: str | None = Header(
            default=None, description="the status_token prepay returned for this order"
        ),
    ) -> Any:
        return await _answer(wxpay, request, f"/orders/{out_trade_no}", None)

    for path in ("/notify", "/refund-notify"):
        api.add_api_route(path, _notify(wxpay, path), methods=["POST"], include_in_schema=False)
    return api


def _notify(wxpay: WxPay, path: str) -> Callable[[FastAPIRequest], Any]:
    # A closure, not a default argument: FastAPI would read that as a query parameter.
    async def notify(request: FastAPIRequest) -> Any:
        return await _answer(wxpay, request, path, None)

    return notify
