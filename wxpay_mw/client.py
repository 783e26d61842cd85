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
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Self
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as _Urllib3Error
from urllib3.util.retry import Retry

from . import signing
from ._answers import LOGIN_CLASSES, check_result, check_return, summary
from ._checks import OUT_REFUND_NO, fen, out_no, text
from ._logsafe import install_redaction
from ._transport import bad_status, garbled, translate
from .config import WxPayConfig
from .errors import (
    ConfigError,
    ResponseMismatchError,
    ResponseSignatureError,
    WeChatError,
    WeChatUnavailableError,
    XMLError,
)
from .xmlmsg import from_xml, to_xml

__all__ = ["LOGIN_PATH", "LoginSession", "WeChatClient"]

_LOG = logging.getLogger("wxpay_mw.client")

LOGIN_PATH: Final = "/sns/jscode2session"
_SANDBOX_PREFIX: Final = "/sandboxnew"
_GETSIGNKEY: Final = "/sandboxnew/pay/getsignkey"

_TIME_EXPIRE = re.compile(r"^\d{14}\Z")
_BILL_DATE = re.compile(r"^\d{8}\Z")
_BILL_TYPES: Final = ("ALL", "SUCCESS", "REFUND", "RECHARGE_REFUND")
# Set by the client on every request; a caller's ``extra`` may not override them.
_RESERVED: Final = frozenset({"appid", "mch_id", "nonce_str", "sign", "sign_type"})
Param = str | int | None


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginSession:
    """What jscode2session returns for a wx.login code.

    ``session_key`` decrypts the user's wx data; it must stay on the server, so it is
    left out of ``repr``. ``unionid`` is set only when the mini program is bound to an
    Open Platform account.
    """

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None


# --- argument checks (bad input is a ValueError before anything is sent) -------------


def _extra(extra: Mapping[str, object]) -> dict[str, Param]:
    out: dict[str, Param] = {}
    for name, value in extra.items():
        if name in _RESERVED:
            raise ValueError(f"{name} is set by the client; do not pass it")
        if isinstance(value, bool) or not isinstance(value, str | int | None):
            raise ValueError(f"{name} must be a string or an int, not {type(value).__name__}")
        out[name] = value
    return out


# --- the client ----------------------------------------------------------------------


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
        if isinstance(pool_maxsize, bool) or not isinstance(pool_maxsize, int) or pool_maxsize < 1:
            raise ValueError("pool_maxsize must be a positive int")
        if (
            isinstance(connect_retries, bool)
            or not isinstance(connect_retries, int)
            or connect_retries < 0
        ):
            raise ValueError("connect_retries must be an int >= 0")
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
        c = self.config
        return (
            f"WeChatClient(appid={c.appid!r}, mch_id={c.mch_id!r}, api_base={c.api_base!r}, "
            f"sign_type={c.sign_type!r}, sandbox={c.sandbox!r})"
        )

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
        params: dict[str, Param] = {
            "mch_id": self.config.mch_id,
            "nonce_str": signing.make_nonce(),
        }
        params["sign"] = signing.sign(params, self.config.api_key, signing.MD5)
        status, content = self._post(_GETSIGNKEY, self.config.api_base + _GETSIGNKEY, params)
        fields = self._parse(_GETSIGNKEY, status, content)
        check_return(_GETSIGNKEY, fields)
        # WeChat's documented answer carries no sign; one that does must be right.
        if "sign" in fields and not signing.verify(fields, self.config.api_key, signing.MD5):
            raise ResponseSignatureError(_GETSIGNKEY)
        if fields.get("mch_id", self.config.mch_id) != self.config.mch_id:
            raise ResponseMismatchError("mch_id", endpoint=_GETSIGNKEY)
        check_result(_GETSIGNKEY, fields)
        key = fields.get("sandbox_signkey", "")
        if not key:
            raise garbled(_GETSIGNKEY, "no sandbox_signkey in a SUCCESS answer")
        _LOG.debug("%s: sandbox key received", _GETSIGNKEY)
        return key

    # -- login

    def code2session(self, code: str) -> LoginSession:
        """Turn a ``wx.login()`` code into the user's openid (jscode2session).

        A code is single use: this call is never repeated once it may have reached
        WeChat, so a read timeout means asking the mini program for a new code.
        Raises :class:`~wxpay_mw.errors.LoginError` for an invalid, used or blocked code,
        :class:`~wxpay_mw.errors.RateLimitedError` for 45011, ``WeChatError`` otherwise.
        """
        secret = self.config.app_secret
        if not secret:
            raise ConfigError(
                "WXPAY_APP_SECRET",
                "is needed to turn wx.login codes into openids: set the mini program's AppSecret",
            )
        js_code = text("code", code)
        endpoint = LOGIN_PATH
        # Never log this URL or the prepared request: the query string holds the secret.
        _LOG.debug("-> GET %s appid=%s", endpoint, self.config.appid)
        failure: WeChatUnavailableError | None = None
        status, content = 0, b""
        try:
            response = self._session.get(
                self.config.login_base + LOGIN_PATH,
                params={
                    "appid": self.config.appid,
                    "secret": secret,
                    "js_code": js_code,
                    "grant_type": "authorization_code",
                },
                timeout=self._timeout,
                allow_redirects=False,
            )
            status, content = response.status_code, response.content
            response.close()
        except (requests.RequestException, _Urllib3Error, OSError) as exc:
            failure = translate(exc, endpoint, self.config)
        if failure is not None:
            # Raised outside the except block so that the requests error, whose text
            # holds the URL and so the secret, is neither the cause nor the context.
            raise failure
        _LOG.debug("<- %s HTTP %s", endpoint, status)
        if status != 200:
            raise bad_status(status, endpoint)
        try:
            data = json.loads(content)
        except ValueError:
            # WeChat sends JSON as text/plain; only the body decides.
            raise garbled(endpoint, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise garbled(endpoint, "the body is not a JSON object")
        errcode = data.get("errcode", 0)
        if errcode not in (0, "0", None):
            code_text = str(errcode)
            errmsg = str(data.get("errmsg", ""))
            _LOG.debug("<- %s errcode=%s", endpoint, code_text)
            cls = LOGIN_CLASSES.get(code_text, WeChatError)
            raise cls(
                code_text,
                errmsg,
                endpoint=endpoint,
                fields={"errcode": code_text, "errmsg": errmsg},
            )
        openid, session_key = data.get("openid"), data.get("session_key")
        if not isinstance(openid, str) or not openid:
            raise garbled(endpoint, "no openid in the answer")
        if not isinstance(session_key, str) or not session_key:
            raise garbled(endpoint, "no session_key in the answer")
        unionid = data.get("unionid")
        return LoginSession(
            openid=openid,
            session_key=session_key,
            unionid=unionid if isinstance(unionid, str) and unionid else None,
        )

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
        params: dict[str, Param] = {
            "out_trade_no": out_no("out_trade_no", out_trade_no),
            "total_fee": fen("total_fee", total_fee),
            "body": text("body", body),
            "spbill_create_ip": text("spbill_create_ip", spbill_create_ip),
            "trade_type": text("trade_type", trade_type),
            "notify_url": notify_url or self.config.notify_url,
        }
        if trade_type == "JSAPI":
            params["openid"] = text("openid (required for JSAPI orders)", openid)
        elif openid:
            params["openid"] = openid
        if attach is not None:
            params["attach"] = attach
        if time_expire is not None:
            if not isinstance(time_expire, str) or not _TIME_EXPIRE.match(time_expire):
                raise ValueError("time_expire must be yyyyMMddHHmmss (Beijing time)")
            params["time_expire"] = time_expire
        params.update(_extra(extra))
        answer = self._call("/pay/unifiedorder", params)
        if trade_type == "JSAPI" and not answer.get("prepay_id"):
            raise garbled("/pay/unifiedorder", "no prepay_id in a SUCCESS answer")
        return answer

    def order_query(
        self, *, out_trade_no: str | None = None, transaction_id: str | None = None
    ) -> dict[str, str]:
        """The order's state (``/pay/orderquery``): see ``trade_state`` (SUCCESS = paid).

        Give ``out_trade_no`` or ``transaction_id`` (WeChat prefers the latter if both).
        """
        params = self._order_ids(out_trade_no, transaction_id)
        return self._call("/pay/orderquery", params)

    def close_order(self, out_trade_no: str) -> dict[str, str]:
        """Close an unpaid order (``/pay/closeorder``).

        WeChat has no minimum age for closing: an order may be closed at once. Raises
        :class:`~wxpay_mw.errors.OrderPaidError` if it was paid meanwhile (treat as paid)
        and :class:`~wxpay_mw.errors.OrderClosedError` if already closed.
        """
        return self._call("/pay/closeorder", {"out_trade_no": out_no("out_trade_no", out_trade_no)})

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
        params = self._order_ids(out_trade_no, transaction_id)
        params["out_refund_no"] = out_no("out_refund_no", out_refund_no, OUT_REFUND_NO)
        params["total_fee"] = fen("total_fee", total_fee)
        params["refund_fee"] = fen("refund_fee", refund_fee)
        if refund_fee > total_fee:
            raise ValueError(f"refund_fee ({refund_fee}) is more than total_fee ({total_fee})")
        if refund_desc is not None:
            params["refund_desc"] = refund_desc
        params["notify_url"] = notify_url or self.config.refund_notify_url
        cert: tuple[str, str] | None = None
        if self.config.cert_path and self.config.key_path:
            cert = (self.config.cert_path, self.config.key_path)
        elif urlsplit(self.config.api_base).scheme == "https" and not self.config.sandbox:
            raise ConfigError(
                "WXPAY_CERT_PATH",
                "refunds need the merchant API certificate (mutual TLS): set WXPAY_CERT_PATH "
                "and WXPAY_KEY_PATH to apiclient_cert.pem and apiclient_key.pem",
            )
        return self._call("/secapi/pay/refund", params, cert=cert)

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
        params: dict[str, Param] = {
            "refund_id": refund_id,
            "out_refund_no": out_refund_no,
            "transaction_id": transaction_id,
            "out_trade_no": out_trade_no,
        }
        if all(v in (None, "") for v in params.values()):
            raise ValueError("give one of refund_id, out_refund_no, transaction_id or out_trade_no")
        if offset is not None:
            params["offset"] = fen("offset", offset, allow_zero=True)
        return self._call("/pay/refundquery", params)

    def download_bill(self, bill_date: str | _dt.date, bill_type: str = "ALL") -> str:
        """The day's transaction bill (``/pay/downloadbill``) as WeChat's text table.

        ``bill_date`` is ``yyyyMMdd`` or a date; bills exist from 10:00 the next day and for
        three months. Amounts in the table are in yuan. A day without payments raises
        ``WeChatError`` code ``FAIL`` with description ``No Bill Exist``. The table is not
        signed by WeChat; only TLS vouches for it.
        """
        if isinstance(bill_date, _dt.date):
            bill_date = bill_date.strftime("%Y%m%d")
        if not isinstance(bill_date, str) or not _BILL_DATE.match(bill_date):
            raise ValueError("bill_date must be yyyyMMdd or a datetime.date")
        if bill_type not in _BILL_TYPES:
            raise ValueError(f"bill_type must be one of {', '.join(_BILL_TYPES)}")
        endpoint = "/pay/downloadbill"
        params: dict[str, Param] = {"bill_date": bill_date, "bill_type": bill_type}
        status, content = self._send(endpoint, params)
        if status != 200:
            raise bad_status(status, endpoint)
        if content.lstrip()[:4] == b"<xml":
            fields = self._parse(endpoint, status, content)
            check_return(endpoint, fields)
            raise garbled(endpoint, "an XML answer with return_code SUCCESS instead of a bill")
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise garbled(endpoint, "the bill is not UTF-8") from None
        _LOG.debug("<- %s HTTP 200, bill of %d lines", endpoint, text.count("\n"))
        return text

    # -- internals

    def _order_ids(self, out_trade_no: str | None, transaction_id: str | None) -> dict[str, Param]:
        if not out_trade_no and not transaction_id:
            raise ValueError("give out_trade_no or transaction_id")
        return {
            "out_trade_no": out_no("out_trade_no", out_trade_no) if out_trade_no else None,
            "transaction_id": text("transaction_id", transaction_id) if transaction_id else None,
        }

    def _url(self, endpoint: str) -> str:
        if not self.config.sandbox:
            return self.config.api_base + endpoint
        # The legacy sandbox has no /secapi: its refund is /sandboxnew/pay/refund.
        path = "/pay/refund" if endpoint == "/secapi/pay/refund" else endpoint
        return self.config.api_base + _SANDBOX_PREFIX + path

    def _send(
        self, endpoint: str, params: dict[str, Param], *, cert: tuple[str, str] | None = None
    ) -> tuple[int, bytes]:
        key = self.signing_key()
        signed: dict[str, Param] = {
            "appid": self.config.appid,
            "mch_id": self.config.mch_id,
            "nonce_str": signing.make_nonce(),
            # Always sent, MD5 too: explicit is what WeChat then signs its answer with,
            # and sign_type is itself part of the signed set.
            "sign_type": self.config.sign_type,
            **{k: v for k, v in params.items() if v is not None},
        }
        signed["sign"] = signing.sign(signed, key, self.config.sign_type)
        return self._post(endpoint, self._url(endpoint), signed, cert=cert)

    def _post(
        self,
        endpoint: str,
        url: str,
        params: Mapping[str, Param],
        *,
        cert: tuple[str, str] | None = None,
    ) -> tuple[int, bytes]:
        _LOG.debug("-> POST %s %s", endpoint, summary(params))
        try:
            response = self._session.post(
                url,
                data=to_xml(params),
                headers={"Content-Type": "text/xml; charset=utf-8"},
                timeout=self._timeout,
                cert=cert,
                allow_redirects=False,
            )
            status, content = response.status_code, response.content
            response.close()
        except (requests.RequestException, _Urllib3Error, OSError) as exc:
            raise translate(exc, endpoint, self.config) from exc
        _LOG.debug("<- %s HTTP %s, %d bytes", endpoint, status, len(content))
        return status, content

    def _call(
        self, endpoint: str, params: dict[str, Param], *, cert: tuple[str, str] | None = None
    ) -> dict[str, str]:
        status, content = self._send(endpoint, params, cert=cert)
        fields = self._parse(endpoint, status, content)
        check_return(endpoint, fields)
        # Only now is the answer trusted enough to read what WeChat decided.
        if not signing.verify(fields, self.signing_key(), self.config.sign_type):
            raise ResponseSignatureError(endpoint)
        for name, ours in (("appid", self.config.appid), ("mch_id", self.config.mch_id)):
            if fields.get(name) != ours:
                raise ResponseMismatchError(name, endpoint=endpoint)
        check_result(endpoint, fields)
        return fields

    def _parse(self, endpoint: str, status: int, content: bytes) -> dict[str, str]:
        if status != 200:
            raise bad_status(status, endpoint)
        try:
            fields = from_xml(content)
        except XMLError as exc:
            raise garbled(endpoint, str(exc)) from None
        _LOG.debug("<- %s %s", endpoint, summary(fields))
        return fields
