"""The FastAPI apps: bare, wxpay-mw's APIRouter, and the by-hand wechatpy endpoint.

Apart from the other frameworks' apps because FastAPI reads each endpoint's annotations
to decide what a parameter is: ``Request`` must resolve in this module's globals (the
other modules import their framework inside the factory), else it becomes a required
query parameter and every notification a 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse

from . import _apps, _bare, _byhand

__all__ = ["bare", "byhand", "wxpay"]


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    @app.get("/ping")
    async def health() -> Response:
        return PlainTextResponse("ok")

    return app


def bare() -> Any:
    """One async route that reads the body and answers SUCCESS."""
    app = _app()

    @app.post("/wxpay/notify")
    async def notify(request: Request) -> Response:
        await request.body()
        return Response(_bare.ANSWER, media_type="application/xml")

    return app


def wxpay() -> Any:
    """wxpay-mw's APIRouter (``wxpay_mw.adapters.fastapi.router``) under /wxpay."""
    from wxpay_mw.adapters.fastapi import router

    app = _app()
    app.include_router(router(_apps.wxpay()))
    return app


def byhand() -> Any:
    """An async route on wechatpy's parse_payment_result and the same in-memory update."""
    app = _app()
    plugin = _byhand.async_plugin()

    @app.post("/wxpay/notify")
    async def notify(request: Request) -> Response:
        body = await _byhand.async_notify(plugin, await request.body())
        return Response(body, media_type="text/xml")

    return app
