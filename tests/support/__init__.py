"""Shared test helpers: real servers in threads, an in-memory order store, messages.

Reusable by any suite (flow, conformance, reliability, benchmarks)::

    from tests.support import MemoryStore, serve_asgi, serve_wsgi

``serve_asgi(app, lifespan="off") -> ContextManager[str]``
    uvicorn (h11, asyncio) on a free port in a thread; yields the base URL
    ``http://127.0.0.1:PORT``; stops and joins the server on exit.

``serve_wsgi(app) -> ContextManager[str]``
    a threading wsgiref server (a thread per request, joined on close) on a free port;
    yields the base URL.

``MemoryStore()``
    a wxpay-mw plugin implementing every hook: orders in a dict behind a lock, priced
    from a catalogue (``{"sku": "apple"}`` costs 100 fen; ``"order_no"`` names or
    re-uses an order; ``"reject"`` / ``"invalid"`` / ``"none"`` make create_order refuse);
    the paid reaction is a conditional pending -> paid transition recorded in
    ``paid_reactions`` (once per order). ``calls`` / ``called(hook)`` record every hook
    call, ``rejections`` the rejected notifications, ``refunds`` the refunds.
    ``fail_paid = True`` makes the paid hook raise; ``trust_openid_header = True`` makes
    ``wxpay_openid_from_request`` return the ``x-test-openid`` header (``OPENID_HEADER``).

``AsyncMemoryStore()``
    the same store with every hook ``async def`` (each awaits the loop once), for the
    async path of the ASGI adapters.

``payment_notification(...)``, ``refund_notification(...)``,
``resign(body, key, sign_with="MD5", **changes)``, ``tamper(body, **changes)``
    build WeChat notifications signed with a given key, re-sign a real one with changed
    fields (what a wrong amount from a trusted sender looks like), or change fields while
    keeping the old sign (a forgery).
"""

from __future__ import annotations

from .async_store import AsyncMemoryStore
from .messages import payment_notification, refund_notification, resign, tamper
from .servers import serve_asgi, serve_wsgi
from .store import OPENID_HEADER, MemoryStore

__all__ = [
    "OPENID_HEADER",
    "AsyncMemoryStore",
    "MemoryStore",
    "payment_notification",
    "refund_notification",
    "resign",
    "serve_asgi",
    "serve_wsgi",
    "tamper",
]
