"""AsyncWeChatClient: WeChatClient's calls as coroutines, over one pooled aiohttp session.

For async hosts (FastAPI, Starlette, any ASGI app on asyncio): WeChat is called on the
event loop, with no worker thread. The behaviour is
:class:`~wxpay_mw.client.WeChatClient`'s, call for call: the same arguments, answers,
checks, typed errors and ``may_have_acted``, because both build their requests and judge
the answers with the same sans-IO code (``_calls``, ``_paycalls``); only the sending
differs. Needs the ``async`` extra (``pip install 'wxpay-mw[async]'``).

Only repeats that are certainly safe are made: a connection that could not be opened is
tried again (nothing was sent). A request that may have reached WeChat is never
repeated, and a timeout is never taken for a success.

Why aiohttp and not httpx: httpx's connection pool (httpcore 1.0.9, its latest release)
matches waiting requests to connections in quadratic time, which at the concurrency of
an async payment backend costs more than the calls themselves. 200 concurrent POSTs to a
server answering in 100 ms, on two shared cores: httpx 0.28.1 4.3 s (2.4 s of client
CPU), aiohttp 3.14 0.14 s (22 ms). aiohttp runs on asyncio only.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from types import TracebackType
from typing import Self

try:
    from ._aiosend import AioSender
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        f"AsyncWeChatClient needs aiohttp ({exc}): pip install 'wxpay-mw[async]'"
    ) from None

from . import _calls, _paycalls
from ._calls import LoginSession
from ._logsafe import install_redaction
from .config import WxPayConfig

__all__ = ["AsyncWeChatClient"]


class AsyncWeChatClient:
    """WeChat's login and Pay v2 API calls for one merchant configuration, as coroutines.

    One client owns one ``aiohttp.ClientSession`` (made on the first call, in the event
    loop it then belongs to: use the client on that loop only) whose connector opens up
    to ``max_connections`` connections at once and keeps idle ones for reuse (256 by
    default: at WeChat's usual 100-200 ms a call that is over a thousand calls a second,
    so that one worker's CPU, not the pool, bounds a burst of payments). The client
    itself may be made before the loop runs, at import time. Refunds present the
    merchant certificate (WXPAY_CERT_PATH / WXPAY_KEY_PATH, loaded on the first refund)
    on connections of their own in the same pool. For asyncio; on trio, use
    :class:`~wxpay_mw.client.WeChatClient`.

    Create one per process (at start-up or in the app's lifespan) and share it between
    tasks; calls keep no per-call state on the instance and the sandbox key is fetched
    once under a lock. :meth:`aclose` it, or use ``async with``. Timeouts are the
    config's ``connect_timeout`` (per connection attempt) and ``read_timeout`` (per read);
    a call that finds no free connection within both together fails with nothing sent.
    ``connect_retries`` bounds how often a connection that could not be opened is tried
    again.

    Every method returns WeChat's verified answer as ``dict[str, str]`` (except as noted)
    and raises :class:`~wxpay_mw.errors.WeChatError` (WeChat said no),
    :class:`~wxpay_mw.errors.WeChatUnavailableError` (no usable answer) or, for bad
    arguments, ``ValueError`` / :class:`~wxpay_mw.errors.ConfigError` before sending.
    """

    def __init__(
        self, config: WxPayConfig, *, max_connections: int = 256, connect_retries: int = 2
    ) -> None:
        _calls.client_options(max_connections, connect_retries, pool_name="max_connections")
        self.config = config
        self._sender = AioSender(
            config, max_connections=max_connections, connect_retries=connect_retries
        )
        self._sandbox_key: str | None = None
        self._sandbox_lock = asyncio.Lock()
        install_redaction()

    # -- lifecycle

    async def aclose(self) -> None:
        """Close the pooled connections. The client must not be used afterwards."""
        await self._sender.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return _calls.describe(self, self.config)

    # -- keys

    async def signing_key(self) -> str:
        """The key requests are signed with: the sandbox key in sandbox mode, else the API key.

        Notifications for orders placed through this client are signed with the same key,
        so verify them with this one.
        """
        return await self.sandbox_signkey() if self.config.sandbox else self.config.api_key

    async def sandbox_signkey(self) -> str:
        """The sandbox signing key, from ``/sandboxnew/pay/getsignkey`` (fetched once).

        Sandbox mode (WXPAY_SANDBOX) is for the simulator only: WeChat took its
        ``/sandboxnew`` service offline in 2022.

        The request is signed with the production API key (MD5), as WeChat requires.
        Concurrent first calls wait for one fetch.
        """
        key = self._sandbox_key
        if key is not None:
            return key
        async with self._sandbox_lock:
            if self._sandbox_key is None:
                status, content = await self._sender.send(_calls.signkey(self.config))
                self._sandbox_key = _calls.judge_signkey(self.config, status, content)
            return self._sandbox_key

    # -- login

    async def code2session(self, code: str) -> LoginSession:
        """Turn a ``wx.login()`` code into the user's openid (jscode2session).

        As :meth:`WeChatClient.code2session <wxpay_mw.client.WeChatClient.code2session>`:
        never repeated once it may have reached WeChat (a code is single use).
        """
        status, content = await self._sender.send(_calls.login(self.config, code))
        return _calls.judge_login(status, content)

    # -- pay

    async def unified_order(
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

        As :meth:`WeChatClient.unified_order <wxpay_mw.client.WeChatClient.unified_order>`.
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
        return await self._call(call)

    async def order_query(
        self, *, out_trade_no: str | None = None, transaction_id: str | None = None
    ) -> dict[str, str]:
        """The order's state (``/pay/orderquery``): see ``trade_state`` (SUCCESS = paid)."""
        return await self._call(_paycalls.order_query(out_trade_no, transaction_id))

    async def close_order(self, out_trade_no: str) -> dict[str, str]:
        """Close an unpaid order (``/pay/closeorder``); see ``WeChatClient.close_order``."""
        return await self._call(_paycalls.close_order(out_trade_no))

    async def refund(
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

        As :meth:`WeChatClient.refund <wxpay_mw.client.WeChatClient.refund>`: after a
        failure or an unknown outcome, retry with the *same* ``out_refund_no``.
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
        return await self._call(call)

    async def refund_query(
        self,
        *,
        out_refund_no: str | None = None,
        refund_id: str | None = None,
        out_trade_no: str | None = None,
        transaction_id: str | None = None,
        offset: int | None = None,
    ) -> dict[str, str]:
        """Refunds of an order (``/pay/refundquery``); see ``WeChatClient.refund_query``."""
        call = _paycalls.refund_query(
            out_refund_no=out_refund_no,
            refund_id=refund_id,
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            offset=offset,
        )
        return await self._call(call)

    async def download_bill(self, bill_date: str | _dt.date, bill_type: str = "ALL") -> str:
        """The day's transaction bill (``/pay/downloadbill``) as WeChat's text table."""
        call = _paycalls.download_bill(bill_date, bill_type)
        key = await self.signing_key()
        status, content = await self._sender.send(_paycalls.signed(self.config, call, key))
        return _paycalls.judge_bill(status, content)

    # -- sending (_aiosend): the only part that differs from WeChatClient

    async def _call(self, call: _paycalls.PayCall) -> dict[str, str]:
        key = await self.signing_key()
        status, content = await self._sender.send(_paycalls.signed(self.config, call, key))
        return _paycalls.judge(self.config, call, key, status, content)
