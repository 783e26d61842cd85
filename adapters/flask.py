"""Flask extension: ``init_app(app)`` registers wxpay-mw's blueprint.

::

    wxpay_ext = WxPayFlask(wxpay=WxPay(config, MyStore()))
    wxpay_ext.init_app(app)          # or WxPayFlask(app, wxpay=...)

Without ``wxpay=``, one is built per app from ``WXPAY_*`` keys in ``app.config`` (the
same names as the environment variables) and ``plugins``. The state lives in
``app.extensions["wxpay"]``; the URL prefix is ``WXPAY_URL_PREFIX`` (default
``/wxpay``). The client IP is ``request.remote_addr``: behind a reverse proxy, wrap the
app in werkzeug's ``ProxyFix`` so that it is the user's.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, Flask, current_app, request
from flask import Response as FlaskResponse

from wxpay_mw.app import WxPay
from wxpay_mw.config import ENV_NAMES, WxPayConfig
from wxpay_mw.sansio import Request, normalize_prefix

from .wsgi import read_body, wsgi_headers

__all__ = ["WxPayFlask"]

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _config_from_app(app: Flask) -> WxPayConfig:
    environ: dict[str, str] = {}
    for name in ENV_NAMES:
        value = app.config.get(name)
        if value is None:
            continue
        # from_env parses strings; Flask config may hold real bools and numbers.
        environ[name] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return WxPayConfig.from_env(environ)


def _view(subpath: str) -> FlaskResponse:
    wxpay: WxPay = current_app.extensions["wxpay"]
    sansio = Request(
        method=request.method,
        path="/" + subpath,
        headers=wsgi_headers(request.environ),
        body=read_body(request.environ, wxpay.max_body_bytes),
        client_ip=request.remote_addr or "",
        native=request._get_current_object(),  # type: ignore[attr-defined]
    )
    response = wxpay.handle(sansio)
    return FlaskResponse(response.body, status=response.status, headers=response.headers)


class WxPayFlask:
    """The wxpay-mw Flask extension; one instance may serve several apps."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        wxpay: WxPay | None = None,
        plugins: Sequence[object] = (),
    ) -> None:
        self._wxpay = wxpay
        self._plugins = tuple(plugins)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register the blueprint under ``WXPAY_URL_PREFIX`` and store the WxPay object."""
        prefix = normalize_prefix(str(app.config.setdefault("WXPAY_URL_PREFIX", "/wxpay")))
        wxpay = self._wxpay
        if wxpay is None:
            wxpay = WxPay(_config_from_app(app), *self._plugins)
        # Flask calls views from synchronous code: an async def hook would never run.
        wxpay.require_sync("the Flask adapter")
        app.extensions["wxpay"] = wxpay
        blueprint = Blueprint("wxpay", __name__)
        blueprint.add_url_rule(
            "/<path:subpath>", "endpoint", _view, methods=_METHODS, provide_automatic_options=False
        )
        app.register_blueprint(blueprint, url_prefix=prefix)

    @staticmethod
    def wxpay(app: Flask | None = None) -> WxPay:
        """The WxPay object of ``app`` (default: the current app)."""
        target = current_app if app is None else app
        found: WxPay = target.extensions["wxpay"]
        return found
