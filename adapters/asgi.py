"""Pure ASGI middleware: serve wxpay-mw under a prefix, pass everything else through.

Works with any ASGI framework (FastAPI, Starlette, Quart, Litestar, Django's ASGI app)::

    app = WxPayMiddleware(app, wxpay, prefix="/wxpay")

``async def`` hooks are awaited on the event loop; plain hooks run in a worker thread
(see ``_threads``), so the event loop never waits on WeChat or a database. The
client IP is the ASGI peer address (``scope["client"]``): behind a reverse proxy, run
the server with its proxy-headers option (uvicorn ``--proxy-headers
--forwarded-allow-ips``) so that it is the user's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from wxpay_mw.app import WxPay
from wxpay_mw.sansio import Request, Response, normalize_prefix

from ._threads import handle

__all__ = ["WxPayMiddleware", "normalize_prefix"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _route_path(scope: Scope) -> str:
    # When mounted (root_path set), scope["path"] still holds the full path; the part
    # after root_path is ours to route on (starlette's get_route_path does the same).
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _content_length(headers: dict[str, str]) -> int | None:
    value = headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else None


async def _read_body(receive: Receive, cap: int) -> bytes | None:
    """The body, stopping past ``cap`` (the core answers 413); None if the client left."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > cap or not message.get("more_body", False):
            return b"".join(chunks)[: cap + 1]


async def send_response(send: Send, response: Response) -> None:
    """Send a sans-IO response through ASGI."""
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


class WxPayMiddleware:
    """ASGI middleware serving wxpay-mw's endpoints at ``prefix``.

    Stateless per request: everything it keeps is set once in ``__init__``.
    """

    def __init__(self, app: ASGIApp, wxpay: WxPay, prefix: str = "/wxpay") -> None:
        self.app = app
        self.wxpay = wxpay
        self.prefix = normalize_prefix(prefix)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        cap = self.wxpay.max_body_bytes
        declared = _content_length(headers)
        body: bytes | None = b""
        # A declared body over the cap is refused without reading it.
        if declared is None or declared <= cap:
            body = await _read_body(receive, cap)
        if body is None:
            return
        client = scope.get("client")
        request = Request(
            method=scope["method"],
            path=path[len(self.prefix) :],
            headers=headers,
            body=body,
            client_ip=client[0] if client else "",
            native=scope,
        )
        response = await handle(self.wxpay, request)
        await send_response(send, response)
