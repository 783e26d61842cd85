"""Who may see an order's status, and how often it may cost a call to WeChat.

``GET {prefix}/orders/{out_trade_no}`` is reachable by anyone, so without these an
order number would reveal an order's amount and transaction id, and polling someone's
pending order would make one orderquery call to WeChat per poll (80 polls at once once
delayed a genuine notification by 2.5 s).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from typing import Final

__all__ = ["TOKEN_HEADER", "QueryGate", "status_token", "token_matches"]

#: The request header that carries the token prepay gave for the order.
TOKEN_HEADER: Final = "x-wxpay-token"  # noqa: S105 - a header name
_LABEL: Final = b"wxpay-mw order status token v1\x00"


def _token_key(api_key: str) -> bytes:
    # A key of its own, derived from the API key: the token reveals nothing of it.
    return hashlib.sha256(_LABEL + api_key.encode()).digest()


def status_token(api_key: str, out_trade_no: str) -> str:
    """The unguessable token that lets its holder see ``out_trade_no``'s status.

    Derived (HMAC-SHA256) from the merchant's API key and the order number, so nothing is
    stored and every worker computes the same token; 128 bits, URL-safe.
    """
    digest = hmac.new(_token_key(api_key), out_trade_no.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def token_matches(api_key: str, out_trade_no: str, token: str) -> bool:
    """True when ``token`` is the status token of ``out_trade_no``; constant time."""
    return hmac.compare_digest(status_token(api_key, out_trade_no).encode(), token.encode())


class QueryGate:
    """Allows one orderquery per order every ``interval`` seconds, ``concurrency`` at once.

    Per process; thread-safe and never blocking, so it works from the event loop too. A
    poll that is not let through is answered from the store, as when WeChat is down.
    """

    #: How many orders' last query times are remembered (oldest forgotten first).
    REMEMBERED: Final = 10_000

    def __init__(self, interval: float, concurrency: int) -> None:
        if interval < 0:
            raise ValueError("status_query_interval must be zero or more seconds")
        if concurrency < 1:
            raise ValueError("status_query_concurrency must be at least 1")
        self.interval = interval
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._asked: OrderedDict[str, float] = OrderedDict()

    def claim(self, out_trade_no: str) -> bool:
        """True when a query may start now; then :meth:`release` must follow."""
        now = time.monotonic()
        with self._lock:
            last = self._asked.get(out_trade_no)
            if last is not None and now - last < self.interval:
                return False
            if not self._slots.acquire(blocking=False):
                return False
            self._asked[out_trade_no] = now
            self._asked.move_to_end(out_trade_no)
            while len(self._asked) > self.REMEMBERED:
                self._asked.popitem(last=False)
        return True

    def release(self) -> None:
        """The query that :meth:`claim` let through has finished."""
        self._slots.release()
