"""The simulator's memory: login codes, orders and refunds, behind one lock.

Every handler takes ``State.lock`` for the whole of its check-then-change, so concurrent
requests (the server is threaded) never see a half-made order or refund twice.

Time comes from :meth:`State.now`, the wall clock plus an offset that tests move with
``advance_clock`` to expire codes and prepay_ids without sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

__all__ = [
    "CODE_TTL",
    "PREPAY_TTL",
    "LoginCode",
    "Order",
    "Refund",
    "State",
    "beijing",
    "stable_openid",
]

#: wx.login codes live five minutes; prepay_ids two hours (WeChat's documented values).
CODE_TTL: Final = 5 * 60.0
PREPAY_TTL: Final = 2 * 60 * 60.0

_BEIJING: Final = timezone(timedelta(hours=8))


def beijing(epoch: float, fmt: str = "%Y%m%d%H%M%S") -> str:
    """``epoch`` as WeChat writes times: Beijing time, ``yyyyMMddHHmmss`` by default."""
    return datetime.fromtimestamp(epoch, UTC).astimezone(_BEIJING).strftime(fmt)


def parse_beijing(text: str) -> float:
    """The epoch of a ``yyyyMMddHHmmss`` Beijing time; ValueError if malformed."""
    if len(text) != 14 or not text.isdigit():
        raise ValueError(text)
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=_BEIJING).timestamp()


def stable_openid(appid: str, user: str) -> str:
    """The openid of test user ``user`` under ``appid``: the same on every run."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(f"{appid}:{user}".encode()).digest())
    return "oSim" + digest.decode()[:24]


@dataclass
class LoginCode:
    """A wx.login code: single use, five minutes."""

    openid: str
    unionid: str | None
    issued: float
    used: bool = False


@dataclass
class Order:
    """An order placed with unifiedorder."""

    out_trade_no: str
    sandbox: bool
    request: dict[str, str]
    fingerprint: dict[str, str]
    sign_type: str
    prepay_id: str
    prepay_expires: float
    created: float
    state: str = "NOTPAY"  # NOTPAY, SUCCESS, REFUND, CLOSED
    transaction_id: str = ""
    time_end: str = ""
    refunded_fee: int = 0
    refunds: list[str] = field(default_factory=list)
    #: Paid by a coupon (the rest, cash_fee, by the user).
    coupon_fee: int = 0
    coupon_id: str = ""

    @property
    def total_fee(self) -> int:
        """The order's amount in fen (validated when the order was placed)."""
        return int(self.request["total_fee"])

    @property
    def paid(self) -> bool:
        """True once paid, refunded or not."""
        return self.state in ("SUCCESS", "REFUND")


@dataclass
class Refund:
    """A refund request, PROCESSING until it settles."""

    out_refund_no: str
    refund_id: str
    out_trade_no: str
    sandbox: bool
    refund_fee: int
    total_fee: int
    notify_url: str | None
    request: dict[str, str]
    status: str = "PROCESSING"  # PROCESSING, then SUCCESS, REFUNDCLOSE or CHANGE
    success_time: str = ""
    #: When it was asked for, ``yyyy-MM-dd HH:mm:ss`` Beijing.
    applied: str = ""
    #: The status it settles with.
    settle_as: str = "SUCCESS"
    #: "API", or "VENDOR_PLATFORM" for a refund made in the merchant platform.
    source: str = "API"


class State:
    """Codes, orders and refunds of one simulator; every access under ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clock_offset = 0.0
        self.codes: dict[str, LoginCode] = {}
        # Keyed by (sandbox, number): the sandbox is a separate system at WeChat.
        self.orders: dict[tuple[bool, str], Order] = {}
        self.refunds: dict[tuple[bool, str], Refund] = {}
        # openids survive reset(), as WeChat accounts outlive a test.
        self.known_openids: set[str] = set()

    def now(self) -> float:
        """The simulator's clock: wall time plus the test-controlled offset."""
        return time.time() + self.clock_offset

    def reset(self) -> None:
        """Forget codes, orders and refunds; put the clock back."""
        with self.lock:
            self.clock_offset = 0.0
            self.codes.clear()
            self.orders.clear()
            self.refunds.clear()

    def order_by(self, sandbox: bool, fields: dict[str, str]) -> Order | None:
        """The order named by ``transaction_id`` (which wins) or ``out_trade_no``."""
        transaction_id = fields.get("transaction_id", "")
        if transaction_id:
            for order in self.orders.values():
                if order.sandbox == sandbox and order.transaction_id == transaction_id:
                    return order
            return None
        return self.orders.get((sandbox, fields.get("out_trade_no", "")))

    def order_by_prepay_id(self, prepay_id: str) -> Order | None:
        """The order a ``prepay_id`` was issued for, if any."""
        for order in self.orders.values():
            if order.prepay_id == prepay_id:
                return order
        return None


def new_prepay_id(now: float) -> str:
    """A prepay_id shaped like WeChat's: ``wx`` + Beijing time + 22 hex digits."""
    return "wx" + beijing(now) + secrets.token_hex(11)


def new_transaction_id(now: float) -> str:
    """A 28-digit transaction_id like WeChat's (``4200...`` + date + random digits)."""
    return "4200000" + beijing(now, "%Y%m%d") + f"{secrets.randbelow(10**13):013d}"


def new_refund_id(now: float) -> str:
    """A 29-digit refund_id like WeChat's (``50300...``)."""
    return "50300" + beijing(now, "%Y%m%d") + f"{secrets.randbelow(10**16):016d}"


def new_code() -> str:
    """A wx.login code: 32 random URL-safe characters."""
    return secrets.token_urlsafe(24)


def new_session_key() -> str:
    """A session_key: base64 of 16 random bytes, fresh on every login."""
    return base64.b64encode(secrets.token_bytes(16)).decode()
