"""Sending an HttpRequest over aiohttp, for AsyncWeChatClient (imported only by it).

The one part of an async WeChat call that is not shared with WeChatClient: the pooled
session, timeouts, the client certificate, repeating a connect that failed (nothing was
sent), and turning aiohttp's exceptions into WeChatUnavailableError with the right
``may_have_acted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from typing import NamedTuple

import aiohttp
import certifi
from aiohttp.helpers import basicauth_from_netrc, get_env_proxy_for_url, netrc_from_env
from yarl import URL

from ._calls import HttpRequest
from ._transport import unavailable
from .config import WxPayConfig
from .errors import WeChatUnavailableError

__all__ = ["AioSender"]

_LOG = logging.getLogger("wxpay_mw.client")

# Raised before anything was sent: the connection could not be opened (refused, DNS, a
# failed TLS handshake, no free connection in time), so the call may be repeated.
_CONNECT_FAILED = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# Not sent either: a URL aiohttp cannot send to. Anything else (a reset or a
# disconnect, a read timeout, a broken body...) may come after WeChat read the request.
_NOT_SENT = (*_CONNECT_FAILED, aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)
# Seconds before the first repeat of a failed connect, doubling after; urllib3's
# backoff for the synchronous client is alike.
_BACKOFF = 0.1


def _translate(exc: Exception, endpoint: str, config: WxPayConfig) -> WeChatUnavailableError:
    return unavailable(
        endpoint,
        config,
        exc,
        sent=not isinstance(exc, _NOT_SENT),
        timed_out=isinstance(exc, aiohttp.SocketTimeoutError),
    )


class _FromEnv(NamedTuple):
    """What aiohttp's ``trust_env`` finds for one origin: its proxy and .netrc login."""

    proxy: URL | None
    #: Proxy-Authorization, from the proxy URL or the .netrc entry for the proxy's host.
    proxy_authorization: str | None
    #: The Authorization header for the .netrc login, if there is one for the host.
    authorization: str | None


def _from_env(url: URL) -> _FromEnv:
    """HTTP(S)_PROXY / NO_PROXY and the .netrc entries for ``url``, as aiohttp reads them
    per request with ``trust_env`` (reads files: run in a thread)."""
    proxy, proxy_authorization = None, None
    with contextlib.suppress(LookupError):  # no proxy for the URL's scheme, or NO_PROXY
        proxy, proxy_auth = get_env_proxy_for_url(url)
        if proxy_auth is not None:
            proxy_authorization = proxy_auth.encode()
    authorization = None
    if url.host is not None:
        with contextlib.suppress(LookupError):  # no .netrc, or no entry for the host
            authorization = basicauth_from_netrc(netrc_from_env(), url.host).encode()
    return _FromEnv(proxy, proxy_authorization, authorization)


def _trusted() -> ssl.SSLContext:
    """The CAs a server certificate must chain to: SSL_CERT_FILE / SSL_CERT_DIR when set
    (as OpenSSL reads them), else certifi's, as requests uses."""
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        cafile = certifi.where()
    return ssl.create_default_context(cafile=cafile, capath=capath)


class AioSender:
    """One aiohttp session (made on the first send, in the running loop) for one config."""

    def __init__(self, config: WxPayConfig, *, max_connections: int, connect_retries: int) -> None:
        self.config = config
        self._max_connections = max_connections
        self._retries = connect_retries
        self._timeout = aiohttp.ClientTimeout(
            # connect: waiting for a free connection and opening it; sock_connect: one
            # attempt at opening it; sock_read: each wait for data from WeChat.
            connect=config.connect_timeout + config.read_timeout,
            sock_connect=config.connect_timeout,
            sock_read=config.read_timeout,
        )
        self._trusted = _trusted()
        self._with_cert: ssl.SSLContext | None = None
        self._session: aiohttp.ClientSession | None = None
        self._env: dict[URL, _FromEnv] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _tls(self, cert: tuple[str, str] | None) -> ssl.SSLContext:
        if cert is None:
            return self._trusted
        if self._with_cert is None:
            # Loaded on the first refund, as requests loads the files per request: a
            # broken certificate fails the refund (nothing sent), not the client.
            context = _trusted()
            context.load_cert_chain(*cert)
            self._with_cert = context
        return self._with_cert

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=self._timeout,
                headers={"User-Agent": "wxpay-mw"},
            )
        return self._session

    async def _env_for(self, url: URL) -> _FromEnv:
        """Proxies from HTTP(S)_PROXY, as requests does: read once per origin.

        aiohttp's ``trust_env`` reads them (and ~/.netrc) on every request, in two
        worker-thread hops per WeChat call: four per prepay, and most of the app's own
        time in a storm of concurrent prepays. The environment is not expected to change
        while the process runs.
        """
        origin = url.origin()
        found = self._env.get(origin)
        if found is None:
            found = self._env[origin] = await asyncio.to_thread(_from_env, url)
        return found

    async def _exchange(self, request: HttpRequest, tls: ssl.SSLContext) -> tuple[int, bytes]:
        """One request and its whole answer; a failed connect is tried again."""
        attempt = 0
        url = URL(request.url)
        env = await self._env_for(url)
        headers, proxy_headers = dict(request.headers), None
        if env.authorization is not None:
            headers["Authorization"] = env.authorization
        if env.proxy_authorization is not None:
            # Where aiohttp puts a proxy_auth (deprecated as an argument): on the CONNECT
            # for HTTPS, on the request itself through a plain HTTP proxy.
            if url.scheme == "https":
                proxy_headers = {"Proxy-Authorization": env.proxy_authorization}
            else:
                headers["Proxy-Authorization"] = env.proxy_authorization
        while True:
            try:
                async with self._pool().request(
                    request.method,
                    url,
                    params=request.query,
                    data=request.body or None,
                    headers=headers,
                    ssl=tls,
                    allow_redirects=False,
                    proxy=env.proxy,
                    proxy_headers=proxy_headers,
                ) as response:
                    return response.status, await response.read()
            except _CONNECT_FAILED as exc:
                if attempt == self._retries:
                    raise
                attempt += 1
                # Nothing was sent: repeating is safe even for a POST.
                _LOG.warning(
                    "%s: could not connect (%s); trying again (%d of %d)",
                    request.endpoint,
                    type(exc).__name__,
                    attempt,
                    self._retries,
                )
                await asyncio.sleep(_BACKOFF * 2 ** (attempt - 1))

    async def send(self, request: HttpRequest) -> tuple[int, bytes]:
        """Status and body of WeChat's answer, or WeChatUnavailableError."""
        request.log_sent()
        try:
            tls = self._tls(request.cert)
        except OSError as exc:  # ssl.SSLError too: a certificate file that cannot be used
            raise unavailable(
                request.endpoint, self.config, exc, sent=False, timed_out=False
            ) from exc
        failure: WeChatUnavailableError | None = None
        status, content = 0, b""
        try:
            status, content = await self._exchange(request, tls)
        except aiohttp.ClientError as exc:
            failure = _translate(exc, request.endpoint, self.config)
            if not request.secret:
                raise failure from exc
        if failure is not None:
            # Raised outside the except block so that aiohttp's error, which may name
            # the URL with the app secret, is neither the cause nor the context.
            raise failure
        request.log_received(status, content)
        return status, content
