"""WeChatPayV3Client: the v3 calls of the mini program flow over one pooled ``requests.Session``.

A thin driver of ``calls.py``: it signs each request over the exact path and bytes sent,
uses ``(connect, read)`` timeouts, verifies every 2xx answer (``verify.py``) before a
judge (``answers.py``) reads it, and raises the v2 client's errors:
``WeChatUnavailableError`` (``may_have_acted``), ``V3ResponseSignatureError`` (not
trusted), ``WeChatError`` and its subclasses (WeChat said no). Nothing that may have
reached WeChat is repeated.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self

import requests
from urllib3.exceptions import HTTPError as _Urllib3Error

from .._logsafe import install_redaction
from .._transport import translate
from ..config import WxPayConfig
from ..errors import WeChatUnavailableError
from . import answers, calls
from ._http import pooled_session
from ._refresh import CertificateRefresher
from .aead import parse_certificates
from .errors import UnknownSerialError, V3ResponseSignatureError, V3SignatureError
from .keys import PlatformCertificate, VerifierKeys
from .notify import Notification, parse_notification
from .settings import V3Settings
from .signing import request_payment
from .verify import verify_signed

__all__ = ["WeChatPayV3Client"]

_LOG = logging.getLogger("wxpay_mw.v3.client")

#: Seconds between the certificate downloads that notifications may trigger: anyone can
#: send one naming a made-up serial, and must not make us call WeChat for each.
NOTIFICATION_REFRESH_GAP = 60.0


class WeChatPayV3Client:
    """WeChat Pay API v3 for one merchant: ``config`` (appid, mch_id, notify URLs, API
    base, timeouts) and ``settings`` (the v3 keys).

    Thread-safe (the session only sends; certificate refreshes are locked): create one per
    process, :meth:`close` it when done. ``clock`` (Unix seconds) checks answers'
    timestamps; ``certificate_refresh_interval``: see ``_refresh.py``;
    ``notification_refresh_gap``: see :meth:`parse_notification`.
    """

    def __init__(
        self,
        config: WxPayConfig,
        settings: V3Settings,
        *,
        pool_maxsize: int = 32,
        connect_retries: int = 2,
        clock: Callable[[], float] = time.time,
        certificate_refresh_interval: float = 12 * 3600,
        notification_refresh_gap: float = NOTIFICATION_REFRESH_GAP,
    ) -> None:
        self.config = config
        self.settings = settings
        self.keys: VerifierKeys = settings.verifier_keys
        self._clock = clock
        self._timeout = (config.connect_timeout, config.read_timeout)
        self._refresher = CertificateRefresher(
            self.keys, self.refresh_certificates, interval=certificate_refresh_interval
        )
        self._notification_gap = notification_refresh_gap
        self._notification_refreshed: float | None = None
        self._notification_lock = threading.Lock()
        install_redaction()
        self._session = pooled_session(pool_maxsize, connect_retries)

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
            f"WeChatPayV3Client(appid={c.appid!r}, mch_id={c.mch_id!r}, "
            f"api_base={c.api_base!r}, serials={list(self.keys.serials)!r})"
        )

    # -- the calls

    def jsapi_order(
        self,
        *,
        out_trade_no: str,
        total: int,
        description: str,
        openid: str,
        attach: str | None = None,
        time_expire: str | _dt.datetime | None = None,
        notify_url: str | None = None,
        **extra: Any,
    ) -> str:
        """Place a mini program order; return its ``prepay_id``.

        Repeating it with the same parameters returns the order's current prepay_id.
        """
        req = calls.jsapi_order(
            appid=self.config.appid,
            mchid=self.config.mch_id,
            description=description,
            out_trade_no=out_trade_no,
            notify_url=notify_url or self.config.notify_url,
            total=total,
            openid=openid,
            attach=attach,
            time_expire=time_expire,
            extra=extra,
        )
        return answers.prepay_id(req, self._call(req))

    def request_payment(self, prepay_id: str) -> dict[str, str]:
        """The ``wx.requestPayment`` parameters for a prepay_id (signType ``RSA``)."""
        return request_payment(self.settings.private_key, self.config.appid, prepay_id)

    def query_order(
        self, *, out_trade_no: str | None = None, transaction_id: str | None = None
    ) -> dict[str, Any]:
        """The order (a v3 Transaction): ``trade_state`` SUCCESS is the only paid state."""
        req = calls.query_order(
            self.config.mch_id, out_trade_no=out_trade_no, transaction_id=transaction_id
        )
        answer = self._call(req)
        answers.check_merchant(req, answer, appid=self.config.appid, mchid=self.config.mch_id)
        return answer

    def close_order(self, out_trade_no: str) -> None:
        """Close an unpaid order (WeChat answers 204). Query before closing: a paid
        order must be treated as paid."""
        req = calls.close_order(self.config.mch_id, out_trade_no)
        self._call(req)

    def refund(
        self,
        *,
        out_refund_no: str,
        refund: int,
        total: int,
        out_trade_no: str | None = None,
        transaction_id: str | None = None,
        reason: str | None = None,
        notify_url: str | None = None,
    ) -> dict[str, Any]:
        """Ask for a refund; the answer's ``status`` is usually PROCESSING.

        After a failure or an unknown outcome, retry with the *same* ``out_refund_no``.
        ``notify_url`` defaults to WXPAY_REFUND_NOTIFY_URL, if set.
        """
        req = calls.refund(
            out_refund_no=out_refund_no,
            refund=refund,
            total=total,
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            reason=reason,
            notify_url=notify_url or self.config.refund_notify_url,
        )
        return self._call(req)

    def refund_query(self, out_refund_no: str) -> dict[str, Any]:
        """One refund by ``out_refund_no``."""
        return self._call(calls.refund_query(out_refund_no))

    def trade_bill(self, bill_date: str | _dt.date, bill_type: str = "ALL") -> dict[str, Any]:
        """Apply for a day's bill: ``download_url`` (valid 5 minutes), ``hash_value``."""
        return self._call(calls.trade_bill(bill_date, bill_type))

    def download_bill(self, bill_date: str | _dt.date, bill_type: str = "ALL") -> bytes:
        """The day's bill file, its SHA-1 checked against what WeChat announced.

        The file itself is not signed by WeChat: the digest from the (verified)
        application answer is what vouches for it.
        """
        info = self.trade_bill(bill_date, bill_type)
        url, hash_type, hash_value = (
            info.get(k) for k in ("download_url", "hash_type", "hash_value")
        )
        if not all(isinstance(v, str) and v for v in (url, hash_type, hash_value)):
            raise WeChatUnavailableError(
                "the bill answer lacks download_url, hash_type or hash_value",
                endpoint="/v3/bill/tradebill",
            )
        req = calls.bill_download(str(url))
        status, _, content = self._send(req)
        if status != 200:
            answers.judge(req, status, content)
        return answers.check_bill(content, str(hash_type), str(hash_value), req.endpoint)

    def refresh_certificates(self) -> list[PlatformCertificate]:
        """Download the platform certificates and trust them for later answers.

        Each certificate is sealed with the APIv3 key (which authenticates it); the answer
        itself is then verified with the certificates it brought plus the keys held.
        """
        req = calls.certificates()
        status, headers, body = self._send(req)
        if status != 200:
            answers.judge(req, status, body, headers.get("Request-ID", ""))
        try:
            certs = parse_certificates(body, self.settings.apiv3_key_bytes)
        except V3SignatureError as exc:
            raise V3ResponseSignatureError(req.endpoint, exc) from None
        self._verify(req, headers, body, self.keys.extended(certs))
        # An expired certificate is never trusted, even if still listed.
        now = _dt.datetime.fromtimestamp(self._clock(), _dt.UTC)
        certs = [c for c in certs if c.not_after >= now]
        for cert in certs:
            self.keys.add_certificate(cert)
        _LOG.info("platform certificates: %s", ", ".join(c.serial_no for c in certs))
        return certs

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify and decrypt a notification with this merchant's keys (see notify.py).

        A serial no key is held for may be a new platform certificate (certificate
        mode): the certificates are downloaded before the message is refused, at most
        once every ``notification_refresh_gap`` seconds (WeChat resends a refused
        notification later; a flood of made-up serials costs one download a minute).
        """
        try:
            return self._parse_notification(headers, body)
        except UnknownSerialError as exc:
            if not self._notification_may_refresh():
                raise
            if not self._refresher.for_unknown_serial(exc.serial):
                raise
            return self._parse_notification(headers, body)

    def _notification_may_refresh(self) -> bool:
        with self._notification_lock:
            now = time.monotonic()
            last = self._notification_refreshed
            if last is not None and now - last < self._notification_gap:
                return False
            self._notification_refreshed = now
            return True

    def _parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        return parse_notification(
            headers,
            body,
            self.keys,
            self.settings.apiv3_key_bytes,
            now=self._clock(),
            window=self.settings.clock_window,
        )

    # -- internals

    def _send(self, req: calls.V3Request) -> tuple[int, Mapping[str, str], bytes]:
        prepared = self._session.prepare_request(
            requests.Request(req.method, req.url(self.config.api_base), data=req.body or None)
        )
        # What is signed must be what is sent: the builders encode paths so requests
        # leaves them alone, and this makes sure.
        if prepared.path_url != req.path or (prepared.body or b"") != req.body:
            raise ValueError(
                f"requests would send another URL or body than the one signed: {req.path!r}"
            )
        prepared.headers.update(
            req.headers(
                self.settings.private_key,
                mchid=self.config.mch_id,
                serial_no=self.settings.cert_serial,
                wechatpay_serial=self.keys.public_key_id,
            )
        )
        _LOG.debug("-> %s %s", req.method, req.endpoint)
        try:
            response = self._session.send(prepared, timeout=self._timeout, allow_redirects=False)
            status, headers, content = response.status_code, response.headers, response.content
            response.close()
        except (requests.RequestException, _Urllib3Error, OSError) as exc:
            raise translate(exc, req.endpoint, self.config) from exc
        _LOG.debug(
            "<- %s HTTP %s, %d bytes, Request-ID %s",
            req.endpoint,
            status,
            len(content),
            headers.get("Request-ID", "-"),
        )
        return status, headers, content

    def _verify(
        self, req: calls.V3Request, headers: Mapping[str, str], body: bytes, keys: VerifierKeys
    ) -> None:
        try:
            verify_signed(headers, body, keys, now=self._clock(), window=self.settings.clock_window)
        except V3SignatureError as exc:
            raise V3ResponseSignatureError(req.endpoint, exc) from None

    def _call(self, req: calls.V3Request) -> dict[str, Any]:
        self._refresher.before_call()
        status, headers, body = self._send(req)
        request_id = headers.get("Request-ID", "")
        if 200 <= status < 300:
            try:
                self._verify(req, headers, body, self.keys)
            except V3ResponseSignatureError as exc:
                # A serial we do not know may be a new platform certificate.
                reason = exc.reason
                if not isinstance(reason, UnknownSerialError):
                    raise
                if not self._refresher.for_unknown_serial(reason.serial):
                    raise
                self._verify(req, headers, body, self.keys)
        return answers.judge(req, status, body, request_id)
