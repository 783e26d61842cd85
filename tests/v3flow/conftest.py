"""The flow in API v3: a host's WxPay configured from the simulator's v3 settings.

``hosted`` serves a host app (adapter style as asked) on a real server; its notify URLs
are the app's own, so the simulator's encrypted, signed v3 notifications reach the
adapter over HTTP. ``signed_notification`` (tests/support/v3messages.py) builds one as
WeChat does, for the hostile variants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from starlette.applications import Starlette
from wxpay_mw.adapters.asgi import WxPayMiddleware
from wxpay_mw.adapters.flask import WxPayFlask
from wxpay_mw.adapters.wsgi import WxPayWSGIMiddleware

from tests.support import AsyncMemoryStore, MemoryStore, serve_asgi, serve_wsgi
from tests.support.v3messages import signed_notification, transaction
from wxpay_mw import WxPay, WxPayConfig
from wxpay_mw.simulator import Simulator

PREFIX = "/wxpay"
__all__ = ["Hosted", "hosted", "signed_notification", "store_for", "transaction", "v3_config"]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(api="v3", v3_mode="public_key", time_factor=0.001) as simulator:
        yield simulator


def v3_config(sim: Simulator, base: str, **env: str) -> WxPayConfig:
    """The host's config as a v3 merchant sets it: WXPAY_* variables, no v2 API key."""
    variables = sim.v3_env(f"{base}{PREFIX}/notify")
    variables["WXPAY_REFUND_NOTIFY_URL"] = f"{base}{PREFIX}/refund-notify"
    del variables["WXPAY_API_KEY"]
    variables.update(env)
    return WxPayConfig.from_env(variables)


class _Late:
    """Serves an app set after the server started (the notify URL needs the port)."""

    app: Any = None

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.app(environ, start_response)

    async def asgi(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def _app(style: str, wxpay: WxPay) -> Any:
    if style.startswith("asgi-middleware"):
        return WxPayMiddleware(Starlette(), wxpay, prefix=PREFIX)
    if style == "flask-extension":
        flask_app = Flask("host")
        WxPayFlask(flask_app, wxpay=wxpay)
        return flask_app
    return WxPayWSGIMiddleware(lambda environ, start: [], wxpay, prefix=PREFIX)


@dataclass
class Hosted:
    """A host app on a real server: its URL, WxPay and plugins."""

    base: str
    wxpay: WxPay
    plugins: tuple[object, ...]

    def url(self, path: str) -> str:
        return f"{self.base}{PREFIX}{path}"

    def prepay(self, sim: Simulator, **payload: Any) -> dict[str, Any]:
        """POST /prepay over HTTP with a fresh wx.login code; the JSON answer."""
        answer = requests.post(
            self.url("/prepay"), json={"code": sim.login(), **payload}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data


@contextmanager
def hosted(
    sim: Simulator,
    style: str,
    plugins: tuple[object, ...],
    config: Callable[[str], WxPayConfig] | None = None,
) -> Iterator[Hosted]:
    """Serve a host of ``style`` whose WxPay speaks what ``config(base)`` says (v3 by
    default)."""
    late = _Late()
    asgi = style.startswith("asgi")
    serve: Callable[[Any], AbstractContextManager[str]] = serve_asgi if asgi else serve_wsgi
    with serve(late.asgi if asgi else late.wsgi) as base:
        settings = (config or (lambda b: v3_config(sim, b)))(base)
        with WxPay(settings, *plugins) as wxpay:
            late.app = _app(style, wxpay)
            yield Hosted(base, wxpay, plugins)


def store_for(style: str) -> MemoryStore:
    """The test store; ``+async`` styles get the one whose hooks are ``async def``."""
    return AsyncMemoryStore() if style.endswith("+async") else MemoryStore()
