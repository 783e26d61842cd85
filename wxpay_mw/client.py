"""WeChatClient: WeChat's login and Pay v2 API calls over one pooled ``requests.Session``.

Every answer is judged in WeChat's own order: the HTTP transport, then ``return_code``
(did WeChat take the request at all), then the answer's ``sign`` and its ``appid`` /
``mch_id`` (is this really WeChat answering *our* call), and only then ``result_code`` /
``err_code`` (what WeChat decided). A failure at each step has its own exception:

- :class:`~wxpay_mw.errors.WeChatUnavailableError`: no usable answer (could not connect,
  timeout, 5xx, garbled body). ``may_have_acted`` says whether WeChat may have acted on
  the request anyway; when it is True, check with :meth:`WeChatClient.order_query` (or
  ``refund_query``) before doing anything else.
- :class:`~wxpay_mw.errors.ResponseSignatureError` /
  :class:`~wxpay_mw.errors.ResponseMismatchError`: an answer that cannot be trusted.
- :class:`~wxpay_mw.errors.WeChatError` and its subclasses: WeChat said no, with its code.

Only repeats that are certainly safe are made here: a connection that could not be
opened is tried again (nothing was sent). A request that may have reached WeChat is never
repeated by this module, and a timeout is never taken for a success.

Each call is built and its answer judged without I/O in ``_calls`` and ``_paycalls``,
shared with :class:`~wxpay_mw.aclient.AsyncWeChatClient`; this module only sends.
"""

from __future__ import annotations

import datetime as _dt
import threading
from types import TracebackType
from typing import Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as _Urllib3Error
from urllib3.util.retry import Retry

from . import _calls, _paycalls
from ._calls import LOGIN_PATH, HttpRequest, LoginSession
from ._logsafe import install_redaction
from ._transport import translate
from .config import WxPayConfig
from .errors import WeChatUnavailableError

__all__ = ["LOGIN_PATH", "LoginSession", "WeChatClient"]


class WeChatClient:
    """WeChat's login and Pay v2 API calls for one merchant configuration.

    One client owns one ``requests.Session`` whose connection pool holds up to
    ``pool_maxsize`` connections per host. A client is safe to share between threads:
    calls keep no per-call state on the instance, the session is only used to send
    requests (no cookies or auth are set on it), and the sandbox key is fetched once
    under a lock. Create one per process and share it; :meth:`close` it (or use it as a
    context manager) when done.

    ``connect_retries`` bounds how often a connection that could not be opened is tried
    again; nothing is ever repeated once a request may have been sent.

    Every method returns WeChat's verified answer as ``dict[str, str]`` (except as noted)
    and raises :class:`~wxpay_mw.errors.WeChatError` (WeChat said no),
    :class:`~wxpay_mw.errors.WeChatUnavailableError` (no usable answer) or, for bad
    arguments, ``ValueError`` / :class:`~wxpay_mw.errors.ConfigError` before sending.
    """

    def __init__(
        self, config: WxPayConfig, *, pool_maxsize: int = 32, connect_retries: int = 2
    ) -> None:
        _calls.client_options(pool_maxsize, connect_retries)
        self.config = config
        self._timeout = (config.connect_timeout, config.read_timeout)
        self._sandbox_key: str | None = None
        self._sandbox_lock = threading.Lock()
        install_redaction()
        # Connect errors only: the request was never sent, so repeating is safe even for
        # a POST. read=False re-raises a read error at once (never a second send, and a
        # read timeout stays a ReadTimeout); status=0 with no forcelist and no
        # Retry-After means a 5xx is handed back, not repeated.
        retry = Retry(
            total=None,
            connect=connect_retries,
            read=False,
            redirect=0,
            status=0,
            other=0,
            backoff_factor=0.1,
            respect_retry_after_header=False,
            raise_on_status=False,
            raise_on_redirect=False,
        )
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=retry)
        self._session = requests.Session()
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = "wxpay-mw"

    # -- lifecycle

    def close(self) -> None:
        """Close the pooled connections. The client must not be used afterwards."""
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return _calls.describe(self, self.config)

    # -- keys

    def signing_key(self) -> str:
        """The key requests are signed with: the sandbox key in sandbox mode, else the API key.

        Notifications for orders placed through this client are signed with the same key,
        so verify them with this one.
        """
        return self.sandbox_signkey() if self.config.sandbox else self.config.api_key

    def sandbox_signkey(self) -> str:
        """The sandbox signing key, from ``/sandboxnew/pay/getsignkey`` (fetched once).

        Sandbox mode (WXPAY_SANDBOX) is for the simulator only: WeChat took its
        ``/sandboxnew`` service offline in 2022.

        The request is signed with the production API key (MD5), as WeChat requires.
        Concurrent first calls wait for one fetch.
        """
        key = self._sandbox_key
        if key is not None:
            return key
        with self._sandbox_lock:
            if self._sandbox_key is None:
                self._sandbox_key = self._fetch_sandbox_key()
            return self._sandbox_key

    def _fetch_sandbox_key(self) -> str:
        status, content = self._send(_calls.signkey(self.config))
        return _calls.judge_signkey(self.config, status, content)

    # -- login

    def code2session(self, code: str) -> LoginSession:
        """Turn a ``wx.login()`` code into the user's openid (jscode2session).

        A code is single use: this call is never repeated once it may have reached
        WeChat, so a read timeout means asking the mini program for a new code.
        Raises :class:`~wxpay_mw.errors.LoginError` for an invalid, used or blocked code,
        :class:`~wxpay_mw.errors.RateLimitedError` for 45011, ``WeChatError`` otherwise.
        """
        status, content = self._send(_calls.login(self.config, code))
        return _calls.judge_login(status, content)

    # -- pay

    def unified_order(
        self,
        *,
        out_trade_no: str,
        total_fee: int,
        body: str,
        openid: str | None,
        spbill_create_ip: str,
        trade_type: str = "JSAPI",
        attach: str | None = None,
        time_expire: str | None = None,
        notify_url: str | None = None,
        **extra: str | int | None,
    ) -> dict[str, str]:
        """Place an order (``/pay/unifiedorder``); the answer holds ``prepay_id``.

        ``total_fee`` is an int of fen. ``openid`` is required for JSAPI (mini program)
        orders. ``time_expire`` is ``yyyyMMddHHmmss`` Beijing time. ``notify_url``
        defaults to the configured one. ``extra`` fields (``detail``, ``goods_tag``...)
        are sent and signed as given. Raises :class:`~wxpay_mw.errors.OrderPaidError`,
        :class:`~wxpay_mw.errors.OrderClosedError`,
        :class:`~wxpay_mw.errors.OutTradeNoUsedError` or ``WeChatError``.
        """
        call = _paycalls.unified_order(
            self.config,
            out_trade_no=out_trade_no,
            total_fee=total_fee,
            body=body,
            openid=openid,
            spbill_create_ip=spbill_create_ip,
            trade_type=trade_type,
            attach=attach,
            time_expire=time_expire,
            notify_url=notify_url,
            extra=extra,
        )
        return self._call(call)

    def order_query(
        self, *, out_trade_no: str | None = None, transaction_id: str | None = None
    ) -> dict[str, str]:
        """The order's state (``/pay/orderquery``): see ``trade_state`` (SUCCESS = paid).

        Give ``out_trade_no`` or ``transaction_id`` (WeChat prefers the latter if both).
        """
        return self._call(_paycalls.order_query(out_trade_no, transaction_id))

    def close_order(self, out_trade_no: str) -> dict[str, str]:
        """Close an unpaid order (``/pay/closeorder``).

        WeChat has no minimum age for closing: an order may be closed at once. Raises
        :class:`~wxpay_mw.errors.OrderPaidError` if it was paid meanwhile (treat as paid)
        and :class:`~wxpay_mw.errors.OrderClosedError` if already closed.
        """
        return self._call(_paycalls.close_order(out_trade_no))

    def refund(
        self,
        *,
        out_refund_no: str,
        total_fee: int,
        refund_fee: int,
        out_trade_no: str | None = None,
        transaction_id: str | None = None,
        refund_desc: str | None = None,
        notify_url: str | None = None,
    ) -> dict[str, str]:
        """Ask for a refund (``/secapi/pay/refund``, mutual TLS with the merchant certificate).

        Success only means WeChat accepted it: follow it with :meth:`refund_query` or the
        refund notification. After a failure or an unknown outcome, retry with the *same*
        ``out_refund_no``: WeChat refunds one out_refund_no only once. ``notify_url``
        defaults to WXPAY_REFUND_NOTIFY_URL. Needs WXPAY_CERT_PATH / WXPAY_KEY_PATH, except
        against a plain-http api_base (the simulator) or in sandbox mode (simulator only).
        """
        call = _paycalls.refund(
            self.config,
            out_refund_no=out_refund_no,
            total_fee=total_fee,
            refund_fee=refund_fee,
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            refund_desc=refund_desc,
            notify_url=notify_url,
        )
        return self._call(call)

    def refund_query(
        self,
        *,
        out_refund_no: str | None = None,
        refund_id: str | None = None,
        out_trade_no: str | None = None,
        transaction_id: str | None = None,
        offset: int | None = None,
    ) -> dict[str, str]:
        """Refunds of an order (``/pay/refundquery``); give one id (WeChat's precedence:
        refund_id, out_refund_no, transaction_id, out_trade_no).

        Per-refund fields are indexed from 0 (``refund_status_0``...). An order without
        refunds raises ``WeChatError`` with code REFUNDNOTEXIST.
        """
        call = _paycalls.refund_query(
            out_refund_no=out_refund_no,
            refund_id=refund_id,
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            offset=offset,
        )
        return self._call(call)

    def download_bill(self, bill_date: str | _dt.date, bill_type: str = "ALL") -> str:
        """The day's transaction bill (``/pay/downloadbill``) as WeChat's text table.

        ``bill_date`` is ``yyyyMMdd`` or a date; bills exist from 10:00 the next day and for
        three months. Amounts in the table are in yuan. A day without payments raises
        ``WeChatError`` code ``FAIL`` with description ``No Bill Exist``. The table is not
        signed by WeChat; only TLS vouches for it.
        """
        call = _paycalls.download_bill(bill_date, bill_type)
        status, content = self._send(_paycalls.signed(self.config, call, self.signing_key()))
        return _paycalls.judge_bill(status, content)

    # -- sending: the only part that differs from AsyncWeChatClient

    def _call(self, call: _paycalls.PayCall) -> dict[str, str]:
        key = self.signing_key()
        status, content = self._send(_paycalls.signed(self.config, call, key))
        return _paycalls.judge(self.config, call, key, status, content)

    def _send(self, request: HttpRequest) -> tuple[int, bytes]:
        request.log_sent()
        failure: WeChatUnavailableError | None = None
        status, content = 0, b""
        try:
            response = self._session.request(
                request.method,
                request.url,
                params=request.query,
                data=request.body or None,
                headers=request.headers,
                timeout=self._timeout,
                cert=request.cert,
                allow_redirects=False,
            )
            status, content = response.status_code, response.content
            response.close()
        except (requests.RequestException, _Urllib3Error, OSError) as exc:
            failure = translate(exc, request.endpoint, self.config)
            if not request.secret:
                raise failure from exc
        if failure is not None:
            # Raised outside the except block so that the requests error, whose text
            # holds the URL and so the app secret, is neither the cause nor the context.
            raise failure
        request.log_received(status, content)
        return status, content
