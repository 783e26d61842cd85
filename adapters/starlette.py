"""Starlette and FastAPI: wxpay-mw's endpoints as routes or one Mount.

::

    app = Starlette(routes=[..., mount(wxpay, "/wxpay")])
    # FastAPI
    app.router.routes.append(mount(wxpay, "/wxpay"))

Each route hands the method check, body cap and error mapping to ``WxPay.ahandle`` (so
a wrong method gets the same JSON 405 as under every other adapter): ``async def`` hooks
are awaited on the event loop, plain ones run in a worker thread, so the event loop
never waits on WeChat or a database. The
client IP is ``request.client.host``; behind a proxy, use uvicorn's ``--proxy-headers``.
A client that leaves before its body is read gets nothing, as under the ASGI middleware:
nothing is handled, answered or logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from wxpay_mw.app import WxPay
from wxpay_mw.sansio import Request, normalize_prefix

from ._threads import handle

__all__ = ["mount", "routes"]

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _Nothing(StarletteResponse):
    """No answer at all: the client left before its body was read.

    A dropped connection is routine, not a server error: letting ClientDisconnect out
    of the endpoint would have Starlette log a traceback and try to send a 500. The
    server sees an app that sent nothing to a client that is gone, and logs nothing.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return


def _endpoint(
    wxpay: WxPay, template: str
) -> Callable[[StarletteRequest], Awaitable[StarletteResponse]]:
    """The endpoint for one wxpay-mw path; ``template`` may hold ``{out_trade_no}``."""

    # A plain function, not a callable object: Starlette treats objects as raw ASGI apps.
    async def endpoint(request: StarletteRequest) -> StarletteResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        cap = wxpay.max_body_bytes
        declared = headers.get("content-length", "")
        body = bytearray()
        # A declared body over the cap is refused (413) without reading it.
        if not (declared.isascii() and declared.isdigit() and int(declared) > cap):
            try:
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > cap:
                        break
            except ClientDisconnect:
                return _Nothing()
        sansio = Request(
            method=request.method,
            path=template.format(**request.path_params),
            headers=headers,
            body=bytes(body[: cap + 1]),
            client_ip=request.client.host if request.client else "",
            native=request,
        )
        response = await handle(wxpay, sansio)
        return StarletteResponse(
            content=response.body, status_code=response.status, headers=dict(response.headers)
        )

    return endpoint


def routes(wxpay: WxPay, prefix: str = "") -> list[Route]:
    """The four wxpay-mw routes, each path starting with ``prefix`` (none by default)."""
    base = normalize_prefix(prefix, whole_app=False)
    templates = ("/prepay", "/notify", "/refund-notify", "/orders/{out_trade_no}")
    return [
        Route(base + t, _endpoint(wxpay, t), methods=_METHODS, name=f"wxpay:{t}") for t in templates
    ]


def mount(wxpay: WxPay, path: str = "/wxpay") -> Mount:
    """A Mount serving wxpay-mw's routes under ``path``.

    Everything under ``path`` is wxpay-mw's: an unknown path there gets the same JSON 404
    as under every other adapter.
    """
    rest = Route("/{path:path}", _endpoint(wxpay, "/{path}"), methods=_METHODS)
    return Mount(normalize_prefix(path), routes=[*routes(wxpay), rest], name="wxpay")
