"""The bare endpoints: the same framework, server and workers, no wxpay-mw.

Each reads the whole body and answers a constant XML, which is the least any notify
endpoint can do; the wxpay-mw figures are divided by these. Every app also answers
``GET /health`` (the readiness probe).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["ANSWER", "asgi", "flask", "starlette", "wsgi"]

ANSWER = (
    b"<xml><return_code><![CDATA[SUCCESS]]></return_code>"
    b"<return_msg><![CDATA[OK]]></return_msg></xml>"
)
_XML_HEADERS = [(b"content-type", b"application/xml; charset=utf-8")]


def asgi() -> Callable[..., Any]:
    """A raw ASGI app (what the ASGI middleware would wrap)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        body = ANSWER if scope["method"] == "POST" else b"ok"
        headers = [*_XML_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def starlette() -> Any:
    """A Starlette app with one async route under the same path."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def notify(request: Request) -> Response:
        await request.body()
        return Response(ANSWER, media_type="application/xml")

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
    """A Flask app with one view under the same path."""
    from flask import Flask, request

    app = Flask("bench_bare")

    @app.post("/wxpay/notify")
    def notify() -> tuple[bytes, int, dict[str, str]]:
        request.get_data()
        return ANSWER, 200, {"content-type": "application/xml; charset=utf-8"}

    @app.get("/health")
    def health() -> str:
        return "ok"

    return app


def wsgi() -> Callable[..., Iterable[bytes]]:
    """A plain WSGI callable (what the WSGI middleware would wrap)."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            environ["wsgi.input"].read(length)
        body = ANSWER if environ["REQUEST_METHOD"] == "POST" else b"ok"
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/xml; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]

    return app
