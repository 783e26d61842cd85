"""WxPay: one object per host app, holding the plugins, the WeChat client and the flow.

``WxPay.handle`` is the sans-IO core every adapter calls: a plain
:class:`~wxpay_mw.sansio.Request` in, a plain :class:`~wxpay_mw.sansio.Response` out.
Routing, body caps, content types and error mapping live here, so each adapter is a
few lines of translation and all of them behave the same.

Routes, relative to the adapter's prefix (default ``/wxpay``):

========================  ======  ================================================
``/prepay``               POST    JSON in, wx.requestPayment parameters out
``/notify``               POST    WeChat's payment notification (XML)
``/refund-notify``        POST    WeChat's refund notification (XML)
``/orders/{out_trade_no}`` GET    the order's status (JSON)
========================  ======  ================================================
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, cast

import pluggy

from . import hookspecs
from .config import WxPayConfig
from .errors import WeChatError, WeChatUnavailableError, WxPayError
from .flow import Flow, PayClient, ReconcileSummary, client_error
from .models import Refund
from .operations import Bill, MoneyClient, Operations
from .sansio import Request, Response

if TYPE_CHECKING:
    from .client import WeChatClient

__all__ = ["DEFAULT_MAX_BODY_BYTES", "WxPay"]

log = logging.getLogger("wxpay_mw.app")

#: WeChat's messages and a prepay JSON are a few KiB; 64 KiB leaves room, refuses floods.
DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024

_POST: Final = ("POST",)
_GET: Final = ("GET",)
_NO_STORE: Final = ("cache-control", "no-store")


def _json(status: int, data: dict[str, Any]) -> Response:
    # Payment parameters and order states are per user and change: never cache them.
    response = Response.json(status, data)
    return Response(response.status, [*response.headers, _NO_STORE], response.body)


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, {"error": code, "message": message})


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class WxPay:
    """wxpay-mw for one host app and one merchant.

    ``plugins`` are objects (classes, instances or modules) with ``@wxpay_mw.hookimpl``
    functions; more can be added with :meth:`register`. ``client`` defaults to a
    :class:`~wxpay_mw.client.WeChatClient` for ``config``, closed by :meth:`close`; a
    client passed in stays the caller's to close. Bodies over ``max_body_bytes`` get 413.

    Thread-safe: one instance serves every request of the host app, in any thread.
    """

    def __init__(
        self,
        config: WxPayConfig,
        *plugins: object,
        client: PayClient | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
            raise TypeError("max_body_bytes must be an int")
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        self.config = config
        self.max_body_bytes = max_body_bytes
        # One manager per WxPay object: two apps in one process never share plugins.
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.plugin_manager.add_hookspecs(hookspecs)
        self._owns_client = client is None
        if client is None:
            from .client import WeChatClient

            client = WeChatClient(config)
        self.client: PayClient = client
        self.flow = Flow(config, client, self.plugin_manager.hook)
        for plugin in plugins:
            self.register(plugin)
        # Historic: plugins registered later get it on registration.
        self.plugin_manager.hook.wxpay_registered.call_historic(kwargs={"wxpay": self})

    def __repr__(self) -> str:
        return f"WxPay(appid={self.config.appid!r}, mch_id={self.config.mch_id!r})"

    @property
    def hook(self) -> Any:
        """The pluggy hook relay: ``wxpay.hook.wxpay_load_order(out_trade_no=...)``."""
        return self.plugin_manager.hook

    def register(self, plugin: object, name: str | None = None) -> None:
        """Add a plugin. A ``wxpay_*`` hookimpl that matches no hook is an error here."""
        self.plugin_manager.register(plugin, name=name)
        # A typo in a hook name would otherwise be silently never called.
        self.plugin_manager.check_pending()

    def close(self) -> None:
        """Close the WeChat client if this object created it."""
        if self._owns_client:
            closer = getattr(self.client, "close", None)
            if callable(closer):
                closer()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the Python API, for hosts that wire the endpoints themselves -------------------

    def prepay(
        self, payload: dict[str, Any], client_ip: str = "", request: Request | None = None
    ) -> dict[str, str]:
        """wx.requestPayment parameters + ``out_trade_no``; raises ``WxPayError``.

        ``client_error(exc)`` (in :mod:`wxpay_mw.flow`) gives the status and JSON for it.
        """
        return self.flow.prepay(payload, client_ip, request)

    def notify(self, body: bytes) -> bytes:
        """Handle a payment notification body; the XML answer for WeChat."""
        return self.flow.notify(body)

    def refund_notify(self, body: bytes) -> bytes:
        """Handle a refund notification body; the XML answer for WeChat."""
        return self.flow.refund_notify(body)

    def order_status(self, out_trade_no: str) -> dict[str, Any]:
        """The order's status (reconciled with WeChat while pending); raises if unknown."""
        return self.flow.order_status(out_trade_no)

    def reconcile(self, older_than: float | None = None, limit: int = 100) -> ReconcileSummary:
        """Ask WeChat about pending orders placed before ``older_than`` (default: 10 min ago)."""
        cutoff = time.time() - 600 if older_than is None else older_than
        return self.flow.reconcile(cutoff, limit)

    # -- the sans-IO core ---------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one HTTP request whose path is relative to the mount prefix."""
        path = request.path
        if path == "/prepay":
            return self._route(request, _POST, self._prepay)
        if path == "/notify":
            return self._route(request, _POST, self._notify)
        if path == "/refund-notify":
            return self._route(request, _POST, self._refund_notify)
        if path.startswith("/orders/") and path.count("/") == 2 and len(path) > 8:
            return self._route(request, _GET, self._order_status)
        return _error(404, "not_found", f"no wxpay-mw endpoint at {path or '/'}")

    def too_large(self, request: Request) -> bool:
        """True when the declared or received body is over ``max_body_bytes``."""
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_body_bytes:
            return True
        return len(request.body) > self.max_body_bytes

    def _route(self, request: Request, allowed: tuple[str, ...], view: Any) -> Response:
        if request.method not in allowed:
            response = _error(405, "method_not_allowed", f"use {', '.join(allowed)}")
            return Response(405, [*response.headers, ("allow", ", ".join(allowed))], response.body)
        if self.too_large(request):
            return _error(413, "payload_too_large", f"the body is over {self.max_body_bytes} bytes")
        try:
            result: Response = view(request)
            return result
        except WxPayError as exc:
            status, body = client_error(exc)
            # WeChat's failures were logged by the flow with their context.
            if status >= 500 and not isinstance(exc, WeChatError | WeChatUnavailableError):
                log.warning("%s %s: %s", request.method, request.path, exc)
            return _json(status, body)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return _error(500, "internal_error", "the server failed to handle the request")

    def _prepay(self, request: Request) -> Response:
        if not _is_json(request.headers.get("content-type", "")):
            return _error(415, "unsupported_media_type", "send the order as application/json")
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "bad_request", "the body is not valid JSON")
        if not isinstance(payload, dict):
            return _error(400, "bad_request", "the body must be a JSON object")
        return _json(200, self.flow.prepay(payload, request.client_ip, request))

    def _notify(self, request: Request) -> Response:
        return Response.xml(200, self.flow.notify(request.body))

    def _refund_notify(self, request: Request) -> Response:
        return Response.xml(200, self.flow.refund_notify(request.body))

    def _order_status(self, request: Request) -> Response:
        return _json(200, self.flow.order_status(request.path.removeprefix("/orders/")))

    # -- money operations (wxpay_mw.operations), recorded through the store's hooks ------

    @functools.cached_property
    def operations(self) -> Operations:
        """Refunds, closing, queries and bills for this merchant."""
        return Operations(self.config, cast(MoneyClient, self.client), self.hook, self.order_status)

    def refund(
        self,
        out_trade_no: str,
        refund_fee: int,
        reason: str | None = None,
        out_refund_no: str | None = None,
    ) -> Refund:
        """Refund ``refund_fee`` fen; idempotent on ``out_refund_no`` (see Operations)."""
        return self.operations.refund(out_trade_no, refund_fee, reason, out_refund_no)

    def refund_query(
        self, *, out_trade_no: str | None = None, out_refund_no: str | None = None
    ) -> list[Refund]:
        """The refunds WeChat knows of, recorded in the store."""
        return self.operations.refund_query(out_trade_no=out_trade_no, out_refund_no=out_refund_no)

    def close_order(self, out_trade_no: str) -> str:
        """Close an unpaid order (``close()`` closes this object's client)."""
        return self.operations.close(out_trade_no)

    def query(self, out_trade_no: str) -> dict[str, str]:
        """WeChat's orderquery answer; the store follows it."""
        return self.operations.query(out_trade_no)

    def download_bill(self, bill_date: str | datetime.date, bill_type: str = "ALL") -> Bill:
        """The day's bill (``yyyyMMdd`` or a date), parsed."""
        return self.operations.download_bill(bill_date, bill_type)


def _client_type_check(client: WeChatClient) -> PayClient:
    # Keeps mypy honest: the real client must satisfy what the flow expects.
    return client
