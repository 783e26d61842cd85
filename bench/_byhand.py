"""What a host writes without wxpay-mw: a notify endpoint on wechatpy, in each framework.

The comparison the issue asks for ("against what a host writes without wxpay-mw"): the
same framework, server and workers as the wxpay-mw app, a handler that calls wechatpy's
``WeChatPay.parse_payment_result`` (its XML parse and sign check), checks the merchant,
the result and the amount against the stored order, and makes the same in-memory update
as the bench plugin (``MinimalPlugin.mark_paid``; on the async frameworks through the
async plugin's own hooks, awaited, as an async host would). No thread hop: a host that
writes this by hand calls wechatpy straight from its async endpoint.

Answers are the same SUCCESS / FAIL XML, so the load generator checks them alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from wechatpy.exceptions import InvalidSignatureException
from wechatpy.pay import WeChatPay

from . import _apps, _bare
from ._data import API_KEY, APPID, MCH_ID

__all__ = ["asgi", "async_notify", "async_plugin", "flask", "starlette", "wsgi"]

FAIL = (
    b"<xml><return_code><![CDATA[FAIL]]></return_code>"
    b"<return_msg><![CDATA[invalid]]></return_msg></xml>"
)


#: Made at import (in the server, before any request thread): a first import of wechatpy
#: in several request threads at once can fail half-initialised.
_PAY = WeChatPay(APPID, API_KEY, MCH_ID)


def _checked(body: bytes) -> dict[str, Any] | None:
    """The verified notification's fields, or None when it must be refused."""
    try:
        data: dict[str, Any] = _PAY.parse_payment_result(body)
    except InvalidSignatureException:
        return None
    if data.get("appid") != APPID or data.get("mch_id") != MCH_ID:
        return None
    if data.get("return_code") != "SUCCESS" or data.get("result_code") != "SUCCESS":
        return None
    return data


def _sync_notify(plugin: _apps.MinimalPlugin, body: bytes) -> bytes:
    data = _checked(body)
    if data is None:
        return FAIL
    order = plugin.wxpay_load_order(data["out_trade_no"])
    if order is None or order.total_fee != data["total_fee"]:
        return FAIL
    plugin.mark_paid(order.out_trade_no)
    return _bare.ANSWER


async def async_notify(plugin: _apps.AsyncMinimalPlugin, body: bytes) -> bytes:
    data = _checked(body)
    if data is None:
        return FAIL
    order = await plugin.wxpay_load_order(data["out_trade_no"])
    if order is None or order.total_fee != data["total_fee"]:
        return FAIL
    await plugin.wxpay_order_paid(order, None)
    return _bare.ANSWER


def async_plugin() -> _apps.AsyncMinimalPlugin:
    plugin = _apps.plugin("amemory")
    assert isinstance(plugin, _apps.AsyncMinimalPlugin)
    return plugin


def asgi() -> Callable[..., Any]:
    """A raw ASGI app with a wechatpy notify endpoint (beside the ASGI middleware)."""
    plugin = async_plugin()
    headers = [(b"content-type", b"application/xml; charset=utf-8")]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        if scope["method"] == "POST" and scope["path"] == "/wxpay/notify":
            body = await async_notify(plugin, b"".join(chunks))
        else:
            body = b"ok"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def starlette() -> Any:
    """A Starlette app with a wechatpy notify route (beside the Starlette mount)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    plugin = async_plugin()

    async def notify(request: Request) -> Response:
        return Response(await async_notify(plugin, await request.body()), media_type="text/xml")

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/wxpay/notify", notify, methods=["POST"]),
            Route("/health", health),
            Route("/ping", health),
        ]
    )


def flask() -> Any:
    """A Flask app with a wechatpy notify view (beside the Flask extension)."""
    from flask import Flask, request

    plugin = _apps.plugin("memory")
    app = Flask("bench_byhand")

    @app.post("/wxpay/notify")
    def notify() -> tuple[bytes, int, dict[str, str]]:
        answer = _sync_notify(plugin, request.get_data())
        return answer, 200, {"content-type": "application/xml; charset=utf-8"}

    @app.get("/health")
    def health() -> str:
        return "ok"

    return app


def wsgi() -> Callable[..., Iterable[bytes]]:
    """A plain WSGI callable with a wechatpy notify endpoint (beside the WSGI middleware)."""
    plugin = _apps.plugin("memory")

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/wxpay/notify":
            answer = _sync_notify(plugin, body)
        else:
            answer = b"ok"
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/xml; charset=utf-8"),
                ("Content-Length", str(len(answer))),
            ],
        )
        return [answer]

    return app
