"""WxPay: one object per host app, holding the plugins, the WeChat client and the flow.

``WxPay.handle`` is the sans-IO core every adapter calls: a plain
:class:`~wxpay_mw.sansio.Request` in, a plain :class:`~wxpay_mw.sansio.Response` out.
Routing, body caps, content types and error mapping live here, so each adapter is a
few lines of translation and all of them behave the same.

Routes, relative to the adapter's prefix (default ``/wxpay``):

========================  ======  ================================================
``/prepay``               POST    JSON in, wx.requestPayment parameters out
``/notify``               POST    WeChat's payment notification (v2 XML, v3 JSON)
``/refund-notify``        POST    WeChat's refund notification (v2 XML, v3 JSON)
``/orders/{out_trade_no}`` GET    the order's status (JSON)
========================  ======  ================================================
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import functools
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar

import pluggy

from ._drive import Offload, Steps, run_async, run_sync
from ._plugins import Plugins
from ._verify import fail
from .config import WxPayConfig
from .errors import SetupError, WeChatError, WeChatUnavailableError, WxPayError
from .flow import Flow, PayClient, ReconcileSummary, client_error
from .models import Refund
from .operations import Bill, Operations
from .sansio import Request, Response

if TYPE_CHECKING:
    from .client import WeChatClient

__all__ = ["DEFAULT_MAX_BODY_BYTES", "WxPay"]

T = TypeVar("T")

log = logging.getLogger("wxpay_mw.app")

#: WeChat's messages and a prepay JSON are a few KiB; 64 KiB leaves room, refuses floods.
DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024

#: Threads for plain hooks under the async adapters: at most this many wait on a
#: database or WeChat at once (anyio's default limit).
MAX_THREADS: Final = 40
_NOTIFY_PATHS: Final = ("/notify", "/refund-notify")
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

    ``plugins`` are objects (classes, instances or modules) whose ``wxpay_*`` methods
    implement the hooks; more can be added with :meth:`register`. When plugins are given
    here, the required hooks are checked here (else on the first request): a missing one
    is a :class:`~wxpay_mw.errors.SetupError` naming each and what breaks without it.

    ``client`` defaults to a :class:`~wxpay_mw.client.WeChatClient` for ``config``, closed
    by :meth:`close`; a client passed in stays the caller's to close. ``aclient`` is an
    async client the async entry points await instead. Bodies over ``max_body_bytes``
    get 413. The order-status endpoint asks WeChat about one pending order at most once
    every ``status_query_interval`` seconds, and about at most
    ``status_query_concurrency`` orders at once (per process).

    Thread-safe: one instance serves every request of the host app, in any thread.
    """

    def __init__(
        self,
        config: WxPayConfig,
        *plugins: object,
        client: PayClient | None = None,
        aclient: Any = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        status_query_interval: float = 5.0,
        status_query_concurrency: int = 4,
    ) -> None:
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
            raise TypeError("max_body_bytes must be an int")
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        self.config = config
        self.max_body_bytes = max_body_bytes
        self.plugins = Plugins()
        self._owns_client = client is None
        if config.api_version == "v3" and aclient is not None:
            raise ValueError(
                "aclient is a v2 client and WXPAY_API_VERSION is v3: leave aclient out "
                "(the v3 calls run in worker threads on async hosts)"
            )
        if client is None:
            client = _default_client(config)
        self.client: PayClient = client
        self.aclient = aclient
        self.flow = Flow(config, self.plugins.hook, status_query_interval, status_query_concurrency)
        self._lock = threading.Lock()
        self._ready = False
        self._executor: ThreadPoolExecutor | None = None
        for plugin in plugins:
            self.register(plugin)
        # Historic: plugins registered later get it on registration.
        self.plugin_manager.hook.wxpay_registered.call_historic(kwargs={"wxpay": self})
        if plugins:
            self.check()

    def __repr__(self) -> str:
        return f"WxPay(appid={self.config.appid!r}, mch_id={self.config.mch_id!r})"

    @property
    def hook(self) -> Any:
        """The pluggy hook relay: ``wxpay.hook.wxpay_load_order(out_trade_no=...)``."""
        return self.plugins.hook

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The pluggy plugin manager of this object (one per WxPay, never shared)."""
        return self.plugins.manager

    def register(self, plugin: object, name: str | None = None) -> None:
        """Add a plugin. A ``wxpay_*`` name that matches no hook is a SetupError here."""
        self.plugins.register(plugin, name=name)

    def check(self) -> None:
        """Raise :class:`SetupError` unless every required hook is implemented.

        Done once by the constructor (when given plugins) or by the first request; logs
        at INFO which plugin implements which hook.
        """
        self.plugins.validate()
        self._ready = True

    def require_sync(self, adapter: str) -> None:
        """For synchronous adapters: refuse ``async def`` hooks, registered now or later."""
        self.plugins.require_sync(adapter)

    def status_token(self, out_trade_no: str) -> str:
        """The token that lets a client see ``out_trade_no``'s status (prepay returns it)."""
        from ._status import status_token

        return status_token(self.config.token_key, out_trade_no)

    def close(self) -> None:
        """Close the WeChat client if this object created it, and its worker threads."""
        if self._owns_client:
            closer = getattr(self.client, "close", None)
            if callable(closer):
                closer()
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- running the flow ---------------------------------------------------------------

    def _run(self, steps: Steps[T]) -> T:
        if not self._ready:
            self.check()
        return run_sync(steps, self.hook, self.client)

    async def _arun(self, steps: Steps[T], offload: Offload | None = None) -> T:
        if not self._ready:
            self.check()
        return await run_async(
            steps, self.hook, self.client, self.aclient, offload or self.run_in_thread
        )

    async def run_in_thread(self, fn: Any) -> Any:
        """``fn()`` in one of this object's worker threads (asyncio), context copied."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="wxpay-mw")
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._executor, context.run, fn)

    # -- the Python API, for hosts that wire the endpoints themselves -------------------

    def prepay(
        self, payload: dict[str, Any], client_ip: str = "", request: Request | None = None
    ) -> dict[str, str]:
        """wx.requestPayment parameters + ``out_trade_no`` and ``status_token``.

        Raises ``WxPayError``; ``client_error(exc)`` (in :mod:`wxpay_mw.flow`) gives the
        status and JSON for it.
        """
        return self._run(self.flow.prepay(payload, client_ip, request))

    async def aprepay(
        self, payload: dict[str, Any], client_ip: str = "", request: Request | None = None
    ) -> dict[str, str]:
        """:meth:`prepay` for async hosts: async hooks awaited, plain ones in a thread."""
        return await self._arun(self.flow.prepay(payload, client_ip, request))

    def notify(self, body: bytes) -> bytes:
        """Handle a v2 payment notification body; the XML answer for WeChat.

        v3 notifications are signed in their headers and answered by status: pass the
        whole request to :meth:`handle` (path ``/notify``) instead; a JSON body here is a
        SetupError.
        """
        self._v2_only("notify", body)
        return self._run(self.flow.notify(body))

    async def anotify(self, body: bytes) -> bytes:
        """:meth:`notify` for async hosts."""
        self._v2_only("anotify", body)
        return await self._arun(self.flow.notify(body))

    def refund_notify(self, body: bytes) -> bytes:
        """Handle a v2 refund notification body; the XML answer for WeChat (v3: see
        :meth:`notify`)."""
        self._v2_only("refund_notify", body)
        return self._run(self.flow.refund_notify(body))

    async def arefund_notify(self, body: bytes) -> bytes:
        """:meth:`refund_notify` for async hosts."""
        self._v2_only("arefund_notify", body)
        return await self._arun(self.flow.refund_notify(body))

    def _v2_only(self, method: str, body: bytes) -> None:
        if self.config.api_version == "v3" and not body.lstrip().startswith(b"<"):
            # Answering a v3 message with XML at status 200 would tell WeChat "received".
            # (A v2 message still comes for orders placed before the switch.)
            raise SetupError(
                f"WxPay.{method}(body) takes v2 XML; WXPAY_API_VERSION is v3, whose "
                "notifications are checked with their headers and answered by HTTP status: "
                "pass the request to wxpay.handle(Request('POST', '/notify', headers, body)) "
                "(or ahandle), as the adapters do"
            )

    def order_status(self, out_trade_no: str) -> dict[str, Any]:
        """The order's status (reconciled with WeChat while pending); raises if unknown.

        No token is asked for: this is the server's own call, not a client's request.
        """
        return self._run(self.flow.order_status(out_trade_no))

    async def aorder_status(self, out_trade_no: str) -> dict[str, Any]:
        """:meth:`order_status` for async hosts."""
        return await self._arun(self.flow.order_status(out_trade_no))

    def reconcile(self, older_than: float | None = None, limit: int = 100) -> ReconcileSummary:
        """Ask WeChat about pending orders placed before ``older_than`` (default: 10 min ago).

        Needs the ``wxpay_pending_orders`` hook: without it, a SetupError.
        """
        cutoff = time.time() - 600 if older_than is None else older_than
        return self._run(self.flow.reconcile(cutoff, limit))

    async def areconcile(
        self, older_than: float | None = None, limit: int = 100
    ) -> ReconcileSummary:
        """:meth:`reconcile` for async hosts."""
        cutoff = time.time() - 600 if older_than is None else older_than
        return await self._arun(self.flow.reconcile(cutoff, limit))

    # -- the sans-IO core ---------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one HTTP request whose path is relative to the mount prefix."""
        try:
            view = self._view(request)
            if isinstance(view, Response):
                return view
            return self._run(view)
        except Exception as exc:
            return self._failure(request, exc)

    async def ahandle(self, request: Request, offload: Offload | None = None) -> Response:
        """:meth:`handle` for the async adapters: the event loop never waits on a hook.

        ``async def`` hooks (and the async client) are awaited on the running loop; plain
        hooks run through ``offload`` (default: this object's worker threads). Without any
        async hook the whole request makes one hop to a worker thread.
        """
        offload = offload or self.run_in_thread
        if not self.plugins.has_async and self.aclient is None:
            response: Response = await offload(partial(self.handle, request))
            return response
        try:
            view = self._view(request)
            if isinstance(view, Response):
                return view
            return await self._arun(view, offload)
        except Exception as exc:
            return self._failure(request, exc)

    def too_large(self, request: Request) -> bool:
        """True when the declared or received body is over ``max_body_bytes``."""
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_body_bytes:
            return True
        return len(request.body) > self.max_body_bytes

    def _view(self, request: Request) -> Response | Steps[Response]:
        """The answer, or the steps that make it, for one request; routing and limits."""
        path = request.path
        if path == "/prepay":
            return self._checked(request, _POST) or self._prepay(request)
        if path == "/notify":
            return self._checked(request, _POST) or self._notify(request)
        if path == "/refund-notify":
            return self._checked(request, _POST) or self._refund_notify(request)
        if path.startswith("/orders/") and path.count("/") == 2 and len(path) > 8:
            return self._checked(request, _GET) or self._order_status(request)
        return _error(404, "not_found", f"no wxpay-mw endpoint at {path or '/'}")

    def _checked(self, request: Request, allowed: tuple[str, ...]) -> Response | None:
        if request.method not in allowed:
            response = _error(405, "method_not_allowed", f"use {', '.join(allowed)}")
            return Response(405, [*response.headers, ("allow", ", ".join(allowed))], response.body)
        if self.too_large(request):
            return _error(413, "payload_too_large", f"the body is over {self.max_body_bytes} bytes")
        return None

    def _failure(self, request: Request, exc: Exception) -> Response:
        """The answer for ``exc`` raised while handling ``request``; logged where it must be."""
        if isinstance(exc, SetupError):
            # The host's wiring is wrong: loud, and never a SUCCESS to WeChat.
            log.error("%s %s failed: %s", request.method, request.path, exc)
            if request.path in _NOTIFY_PATHS and self.config.api_version == "v3":
                # WeChat judges v3 answers by status: a 200 would count as received.
                return Response.json(500, {"code": "FAIL", "message": "internal error"})
            if request.path in _NOTIFY_PATHS:
                return Response.xml(200, fail("internal error"))
            return _error(500, "internal_error", "the server failed to handle the request")
        if isinstance(exc, WxPayError):
            status, body = client_error(exc)
            # WeChat's failures were logged by the flow with their context.
            if status >= 500 and not isinstance(exc, WeChatError | WeChatUnavailableError):
                log.warning("%s %s: %s", request.method, request.path, exc)
            return _json(status, body)
        log.error("%s %s failed", request.method, request.path, exc_info=exc)
        return _error(500, "internal_error", "the server failed to handle the request")

    def _prepay(self, request: Request) -> Steps[Response]:
        if not _is_json(request.headers.get("content-type", "")):
            return _error(415, "unsupported_media_type", "send the order as application/json")
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: deeply nested JSON is malformed input, not a server fault.
            return _error(400, "bad_request", "the body is not valid JSON")
        if not isinstance(payload, dict):
            return _error(400, "bad_request", "the body must be a JSON object")
        params = yield from self.flow.prepay(payload, request.client_ip, request)
        return _json(200, params)

    def _notify(self, request: Request) -> Steps[Response]:
        return (yield from self.flow.notify_answer(request))

    def _refund_notify(self, request: Request) -> Steps[Response]:
        return (yield from self.flow.refund_notify_answer(request))

    def _order_status(self, request: Request) -> Steps[Response]:
        out_trade_no = request.path.removeprefix("/orders/")
        return _json(200, (yield from self.flow.order_status(out_trade_no, request)))

    # -- money operations (wxpay_mw.operations), recorded through the store's hooks ------

    @functools.cached_property
    def operations(self) -> Operations:
        """Refunds, closing, queries and bills for this merchant, as steps to drive."""
        return Operations(self.config, self.flow)

    def refund(
        self,
        out_trade_no: str,
        refund_fee: int,
        reason: str | None = None,
        out_refund_no: str | None = None,
    ) -> Refund:
        """Refund ``refund_fee`` fen; idempotent on ``out_refund_no`` (see Operations)."""
        return self._run(self.operations.refund(out_trade_no, refund_fee, reason, out_refund_no))

    async def arefund(
        self,
        out_trade_no: str,
        refund_fee: int,
        reason: str | None = None,
        out_refund_no: str | None = None,
    ) -> Refund:
        """:meth:`refund` for async hosts (AsyncOrderStore, AsyncWeChatClient)."""
        steps = self.operations.refund(out_trade_no, refund_fee, reason, out_refund_no)
        return await self._arun(steps)

    def refund_query(
        self, *, out_trade_no: str | None = None, out_refund_no: str | None = None
    ) -> list[Refund]:
        """The refunds WeChat knows of, recorded in the store."""
        return self._run(
            self.operations.refund_query(out_trade_no=out_trade_no, out_refund_no=out_refund_no)
        )

    async def arefund_query(
        self, *, out_trade_no: str | None = None, out_refund_no: str | None = None
    ) -> list[Refund]:
        """:meth:`refund_query` for async hosts."""
        return await self._arun(
            self.operations.refund_query(out_trade_no=out_trade_no, out_refund_no=out_refund_no)
        )

    def close_order(self, out_trade_no: str) -> str:
        """Close an unpaid order (``close()`` closes this object's client)."""
        return self._run(self.operations.close(out_trade_no))

    async def aclose_order(self, out_trade_no: str) -> str:
        """:meth:`close_order` for async hosts."""
        return await self._arun(self.operations.close(out_trade_no))

    def query(self, out_trade_no: str) -> dict[str, str]:
        """WeChat's orderquery answer; the store follows it."""
        return self._run(self.operations.query(out_trade_no))

    async def aquery(self, out_trade_no: str) -> dict[str, str]:
        """:meth:`query` for async hosts."""
        return await self._arun(self.operations.query(out_trade_no))

    def download_bill(self, bill_date: str | datetime.date, bill_type: str = "ALL") -> Bill:
        """The day's bill (``yyyyMMdd`` or a date), parsed."""
        return self._run(self.operations.download_bill(bill_date, bill_type))

    async def adownload_bill(self, bill_date: str | datetime.date, bill_type: str = "ALL") -> Bill:
        """:meth:`download_bill` for async hosts."""
        return await self._arun(self.operations.download_bill(bill_date, bill_type))


def _default_client(config: WxPayConfig) -> PayClient:
    """The client for the configured API version (v3's needs ``cryptography``)."""
    if config.api_version == "v3":
        from .v3.payclient import V3PayClient

        return V3PayClient(config)
    from .client import WeChatClient

    return WeChatClient(config)


def _client_type_check(client: WeChatClient) -> PayClient:
    # Keeps mypy honest: the real client must satisfy what the flow expects.
    return client
