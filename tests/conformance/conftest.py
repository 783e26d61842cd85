"""One host app per adapter style, each on a real server, all wired to the simulator.

The ``host`` fixture is parametrized over the four styles, and the two async ones again
with a plugin whose hooks are all ``async def`` (``+async``); every conformance test runs
against each, with the same assertions. The host app has its own ``/hello`` route beside
wxpay-mw's endpoints, which are mounted at ``/wxpay``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from wxpay_mw.adapters.asgi import WxPayMiddleware
from wxpay_mw.adapters.flask import WxPayFlask
from wxpay_mw.adapters.starlette import mount
from wxpay_mw.adapters.wsgi import WxPayWSGIMiddleware

from tests.support import AsyncMemoryStore, MemoryStore, serve_asgi, serve_wsgi
from wxpay_mw import WxPay
from wxpay_mw.simulator import Simulator

PREFIX = "/wxpay"
STYLES = ["asgi-middleware", "starlette-mount", "flask-extension", "wsgi-middleware"]
#: The async adapters again, with every hook ``async def`` (awaited on the event loop).
ASYNC_STYLES = ["asgi-middleware+async", "starlette-mount+async"]


@dataclass
class Host:
    """A running host app: its URL, its store and WxPay, and the simulator it pays at."""

    style: str
    base: str
    store: MemoryStore
    wxpay: WxPay
    sim: Simulator

    def url(self, path: str) -> str:
        """The URL of a wxpay-mw endpoint (``/prepay``...) in this host."""
        return f"{self.base}{PREFIX}{path}"


async def _hello(request: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse("hello from the host")


def _hello_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    if environ["PATH_INFO"] == "/hello":
        start_response("200 OK", [("content-type", "text/plain")])
        return [b"hello from the host"]
    start_response("404 Not Found", [("content-type", "text/plain")])
    return [b"host 404"]


def build_app(style: str, wxpay: WxPay) -> tuple[Any, Callable[[Any], AbstractContextManager[str]]]:
    """The host app in ``style`` with wxpay-mw at PREFIX, and the server to run it."""
    style = style.removesuffix("+async")
    if style == "asgi-middleware":
        inner = Starlette(routes=[Route("/hello", _hello)])
        return WxPayMiddleware(inner, wxpay, prefix=PREFIX), serve_asgi
    if style == "starlette-mount":
        api = FastAPI()
        api.add_api_route("/hello", _hello)
        api.router.routes.append(mount(wxpay, PREFIX))
        return api, serve_asgi
    if style == "flask-extension":
        flask_app = Flask("host")
        flask_app.add_url_rule("/hello", "hello", lambda: "hello from the host")
        WxPayFlask(flask_app, wxpay=wxpay)
        return flask_app, serve_wsgi
    if style == "wsgi-middleware":
        return WxPayWSGIMiddleware(_hello_wsgi, wxpay, prefix=PREFIX), serve_wsgi
    raise ValueError(style)


class _Late:
    """Serves an app set after the server started (the notify_url needs the port)."""

    def __init__(self, asgi: bool) -> None:
        self.app: Any = None
        self.asgi = asgi

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.app(environ, start_response)

    async def asgi_app(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def is_asgi(style: str) -> bool:
    """True for the styles served by an ASGI server."""
    return style.removesuffix("+async") in ("asgi-middleware", "starlette-mount")


@pytest.fixture(params=STYLES + ASYNC_STYLES)
def host(request: pytest.FixtureRequest, wxpay_simulator: Simulator) -> Iterator[Host]:
    style: str = request.param
    asgi = is_asgi(style)
    late = _Late(asgi)
    serve = serve_asgi if asgi else serve_wsgi
    with serve(late.asgi_app if asgi else late.wsgi) as base:
        store = AsyncMemoryStore() if style.endswith("+async") else MemoryStore()
        config = wxpay_simulator.config(notify_url=f"{base}{PREFIX}/notify")
        with WxPay(config, store) as wxpay:
            late.app, _ = build_app(style, wxpay)
            yield Host(style, base, store, wxpay, wxpay_simulator)
