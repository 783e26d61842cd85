"""Simulator: the offline WeChat on a background thread, and its Python API."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

from ..config import WxPayConfig
from ..errors import WxPayError
from ._app import SimulatorApp
from ._context import Context
from ._control import request_payment, reset
from ._delivery import Deliveries
from ._faults import Fault, Faults
from ._httpd import ThreadingWSGIServer, make_server
from ._login import issue_code
from ._merchant import Merchant
from ._pay import order_fields
from ._refund import platform_refund
from ._state import State
from ._tls import TLSFiles, make_tls_files, server_context
from ._tls import remove as remove_tls_files
from ._v3server import V3Methods

__all__ = ["PaymentRefused", "Simulator", "run_simulator"]

logger = logging.getLogger("wxpay_mw.simulator")


class PaymentRefused(WxPayError):
    """:meth:`Simulator.pay` did not pay: ``err_msg`` is what wx.requestPayment reported."""

    def __init__(self, status: int, err_msg: str) -> None:
        self.status = status
        self.err_msg = err_msg
        super().__init__(err_msg)


class Simulator(V3Methods):
    """An offline WeChat (login and pay hosts) for one merchant, served over HTTP.

    ``time_factor`` scales WeChat's delays (notification retries: 0.001 turns 15 s into
    15 ms). ``duplicate`` sends every notification attempt twice at once.
    ``delivery_timeout`` is the (connect, read) timeout of each notification POST.
    With ``tls`` it serves HTTPS with a test CA made at start, and the refund path
    demands the merchant's client certificate as WeChat's does (HTTP 400 "No required
    SSL certificate was sent" without one): see :attr:`tls_files`; :meth:`config` then
    sets WXPAY_CERT_PATH / WXPAY_KEY_PATH, and the host must trust
    ``tls_files.ca_cert`` (e.g. ``REQUESTS_CA_BUNDLE``).
    With ``api="v3"`` it also speaks WeChat Pay API v3 (``/v3/...``, see ``_v3app.py``):
    RSA keys for the merchant and for WeChat are made at start (or kept in ``v3_dir``),
    and WeChat signs as ``v3_mode`` says: ``"public_key"`` (a ``PUB_KEY_ID_...``),
    ``"certificate"`` (platform certificates from ``/v3/certificates``) or ``"both"`` (a
    migration); :meth:`v3_settings` and :meth:`v3_env` hand a host its v3 settings.
    Use it as a context manager, or call :meth:`start` and :meth:`stop`. Thread-safe.
    """

    def __init__(
        self,
        merchant: Merchant | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        time_factor: float = 1.0,
        duplicate: bool = False,
        delivery_timeout: tuple[float, float] = (2.0, 5.0),
        tls: bool = False,
        api: str = "v2",
        v3_mode: str = "public_key",
        v3_dir: str | None = None,
    ) -> None:
        if not time_factor > 0:
            raise ValueError("time_factor must be positive")
        if api not in ("v2", "v3"):
            raise ValueError("api must be 'v2' or 'v3'")
        if v3_mode not in ("public_key", "certificate", "both"):
            raise ValueError("v3_mode must be 'public_key', 'certificate' or 'both'")
        self.api = api
        self._v3_options = (v3_mode, v3_dir)
        self._tls = tls
        #: The test PKI's PEM files while a TLS simulator runs, else None.
        self.tls_files: TLSFiles | None = None
        self.merchant = merchant if merchant is not None else Merchant()
        self._ctx = Context(
            merchant=self.merchant,
            state=State(),
            deliveries=Deliveries(
                time_factor=time_factor, duplicate=duplicate, timeout=delivery_timeout
            ),
            faults=Faults(),
            stopping=threading.Event(),
            time_factor=time_factor,
        )
        self._host, self._port = host, port
        self._server: ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind and serve on a background thread; returns self."""
        if self._server is not None or self._ctx.stopping.is_set():
            raise RuntimeError("a simulator starts once: make a new one")
        context = None
        if self._tls:
            self.tls_files = make_tls_files(self.merchant.mch_id, self._host)
            context = server_context(self.tls_files)
        if self.api == "v3":
            self._start_v3(*self._v3_options)
        self._server = make_server(self._host, self._port, SimulatorApp(self._ctx), context)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="wxpay-simulator",
            daemon=True,
        )
        self._thread.start()
        logger.info("WeChat simulator at %s for mch_id %s", self.base_url, self.merchant.mch_id)
        return self

    def stop(self) -> None:
        """Stop serving and delivering; waits briefly for background threads."""
        if self._server is None:
            return
        self._ctx.stopping.set()
        self._ctx.deliveries.cancel_all(forget=False)
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._ctx.deliveries.join(timeout=10.0)
        self._server = self._thread = None
        if self.tls_files is not None:
            remove_tls_files(self.tls_files)
            self.tls_files = None
        if self._ctx.v3 is not None:
            self._ctx.v3.keys.remove_files()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: point WXPAY_API_BASE and WXPAY_LOGIN_BASE here."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() first")
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self._server.server_name}:{self._server.server_port}"

    # -- what the mini program and WeChat's user do ------------------------------

    def login(self, openid: str | None = None, *, user: str | None = None) -> str:
        """What wx.login does: a fresh code for ``openid``, or for test user ``user``.

        With neither, the default test user; each user's openid is stable.
        """
        return issue_code(self._ctx, openid=openid, user=user)

    def pay(
        self,
        params: Mapping[str, str],
        *,
        outcome: str = "ok",
        check: bool = True,
        coupon_fee: int | None = None,
    ) -> dict[str, str]:
        """What wx.requestPayment does with the five prepay parameters.

        ``outcome`` is ``"ok"``, ``"coupon"`` (``coupon_fee`` of it paid by a coupon),
        ``"cancel"``, ``"fail"`` (no notification, as for real mini-program payments) or
        ``"fail_notice"`` (a signed result_code=FAIL notification too); see
        ``/simulator/pay``. Returns ``{"errMsg": "requestPayment:ok", "out_trade_no",
        "transaction_id"}``; a refusal raises :class:`PaymentRefused`, or with
        ``check=False`` is returned.
        """
        extra: dict[str, Any] = {"outcome": outcome}
        if coupon_fee is not None:
            extra["coupon_fee"] = coupon_fee
        if self._ctx.v3 is not None and params.get("signType") == "RSA":
            status, answer = self._pay_v3({**params, **extra})
        else:
            status, answer = request_payment(self._ctx, {**params, **extra})
        if check and status != 200:
            raise PaymentRefused(status, answer["errMsg"])
        return answer

    def platform_refund(
        self, out_trade_no: str, refund_fee: int | None = None, *, sandbox: bool = False
    ) -> dict[str, str]:
        """A refund made by hand in the merchant platform, not through the API.

        The host never created its ``out_refund_no``; it hears of the refund from the
        notification (``refund_request_source`` VENDOR_PLATFORM) sent to the merchant's
        ``refund_notify_url``. ``refund_fee`` defaults to what is left to refund.
        Returns ``{"out_refund_no", "refund_id"}``; ValueError if it cannot be refunded.
        """
        if self._ctx.v3 is not None and not sandbox and self._is_v3_order(out_trade_no):
            return self._platform_refund_v3(out_trade_no, refund_fee)
        made = platform_refund(self._ctx, out_trade_no, refund_fee, sandbox=sandbox)
        return {"out_refund_no": made.out_refund_no, "refund_id": made.refund_id}

    # -- inspection and control ---------------------------------------------------

    def notifications(self) -> list[dict[str, Any]]:
        """The delivery log (the JSON of ``GET /simulator/notifications``)."""
        return self._ctx.deliveries.log()

    def wait_for_notifications(
        self,
        condition: int | Callable[[list[dict[str, Any]]], bool] = 1,
        *,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:
        """Block until ``condition`` holds, then return the log; TimeoutError if it never does.

        An int ``n``: at least n notifications acknowledged. A callable gets the log.
        """
        return self._ctx.deliveries.wait(condition, timeout)

    def order(self, out_trade_no: str, *, sandbox: bool = False) -> dict[str, Any] | None:
        """What WeChat knows of an order (orderquery's fields), or None."""
        with self._ctx.state.lock:
            order = self._ctx.state.orders.get((sandbox, out_trade_no))
            if order is None:
                return None
            fields = {k: v for k, v in order_fields(order).items() if v is not None}
            fields["prepay_id"] = order.prepay_id
            fields["refunded_fee"] = order.refunded_fee
            return fields

    def add_fault(
        self,
        endpoint: str,
        kind: str,
        *,
        seconds: float | None = None,
        count: int | None = None,
        code: str | None = None,
    ) -> None:
        """Inject a fault (see :mod:`wxpay_mw.simulator._faults` for the kinds).

        ``code`` is the err_code (or login errcode) of a ``wechat_error`` fault.
        """
        data: dict[str, Any] = {"endpoint": endpoint, "kind": kind, "count": count}
        if seconds is not None:
            data["seconds"] = seconds
        if code is not None:
            data["code"] = code
        self._ctx.faults.add(Fault.from_dict(data))

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._ctx.faults.clear()

    def advance_clock(self, seconds: float) -> None:
        """Move the simulator's clock forward: expires codes (5 min) and prepay_ids (2 h)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._ctx.state.lock:
            self._ctx.state.clock_offset += seconds

    @property
    def duplicate(self) -> bool:
        """Whether each notification attempt is sent twice at once."""
        return self._ctx.deliveries.duplicate

    @duplicate.setter
    def duplicate(self, value: bool) -> None:
        self._ctx.deliveries.duplicate = value

    def reset(self) -> None:
        """Forget orders, codes, refunds, notifications and faults (test users stay); in
        v3 mode also go back to the signing mode and certificates of the start."""
        reset(self._ctx)
        if self._ctx.v3 is not None:
            self._ctx.v3.reset()

    def config(self, notify_url: str, **overrides: Any) -> WxPayConfig:
        """A :class:`~wxpay_mw.config.WxPayConfig` for this merchant, pointed here.

        With TLS, its cert_path / key_path are the merchant's client certificate.
        """
        if self.tls_files is not None:
            overrides.setdefault("cert_path", self.tls_files.client_cert)
            overrides.setdefault("key_path", self.tls_files.client_key)
        return self.merchant.as_config(notify_url=notify_url, api_base=self.base_url, **overrides)


@contextlib.contextmanager
def run_simulator(merchant: Merchant | None = None, **options: Any) -> Iterator[Simulator]:
    """Run a :class:`Simulator` for the ``with`` block; ``options`` as for Simulator."""
    with Simulator(merchant, **options) as simulator:
        yield simulator
