"""The values that pass between wxpay-mw and the host's hooks: Order, Payment, Refund.

Plain dataclasses with no behaviour beyond validation, so a host can store them however
it likes. Amounts are integer fen everywhere; a float never gets in.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Final, Literal

from ._checks import fen, out_no
from .signing import SIGN_TYPES, SignType

__all__ = ["ORDER_STATUSES", "PREPAY_TTL_SECONDS", "Order", "OrderStatus", "Payment", "Refund"]

OrderStatus = Literal["pending", "paid", "closed", "refunded"]
ORDER_STATUSES: Final[tuple[OrderStatus, ...]] = ("pending", "paid", "closed", "refunded")

#: WeChat's prepay_id is valid for two hours; reuse it a little less than that, so the
#: mini program never receives one that expires while the user is entering a password.
PREPAY_TTL_SECONDS: Final = 2 * 3600 - 300

_TIME = re.compile(r"^\d{14}\Z")


@dataclass
class Order:
    """An order to pay, as the host's ``wxpay_create_order`` hook builds it.

    ``total_fee`` is in integer fen and comes from the host's own prices, never from the
    client. ``body`` is what the user sees ("商家名称-销售商品类目", at most 128
    characters). ``time_expire`` is ``yyyyMMddHHmmss`` Beijing time, if any.

    wxpay-mw fills ``openid``, ``prepay_id``, ``prepay_expires_at`` and ``sign_type``
    when it places the order with WeChat; the host stores them (``wxpay_order_prepaid``)
    and gives them back from ``wxpay_load_order`` and ``wxpay_create_order``, so that a
    repeated prepay reuses a still-valid prepay_id and a notification is verified with
    the sign type the order was placed with.
    """

    out_trade_no: str
    total_fee: int
    body: str
    openid: str | None = None
    attach: str | None = None
    time_expire: str | None = None
    status: OrderStatus = "pending"
    prepay_id: str | None = None
    prepay_expires_at: float | None = None
    sign_type: SignType | None = None
    transaction_id: str | None = None
    #: Other unifiedorder parameters the host wants sent (goods_tag, detail, ...).
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        out_no("out_trade_no", self.out_trade_no)
        fen("total_fee", self.total_fee)
        if not isinstance(self.body, str) or not self.body.strip():
            raise ValueError("body must be a non-empty description, e.g. '商家名称-商品类目'")
        if len(self.body) > 128:
            raise ValueError(f"body is {len(self.body)} characters; WeChat allows 128")
        if self.attach is not None and len(self.attach) > 127:
            raise ValueError(f"attach is {len(self.attach)} characters; WeChat allows 127")
        if self.time_expire is not None and not _TIME.match(self.time_expire):
            raise ValueError("time_expire must be yyyyMMddHHmmss (Beijing time)")
        if self.status not in ORDER_STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {ORDER_STATUSES}")
        if self.sign_type is not None and self.sign_type not in SIGN_TYPES:
            raise ValueError(f"sign_type {self.sign_type!r} is not MD5 or HMAC-SHA256")

    def prepay_valid(self, now: float | None = None) -> bool:
        """True when the stored prepay_id can still be handed to wx.requestPayment."""
        if not self.prepay_id or self.prepay_expires_at is None:
            return False
        return (time.time() if now is None else now) < self.prepay_expires_at


@dataclass(frozen=True)
class Payment:
    """A payment WeChat confirmed: signature, appid, mch_id and amount already checked.

    ``fields`` holds every field WeChat sent (verified), including ones added after this
    library was written.
    """

    out_trade_no: str
    transaction_id: str
    total_fee: int
    openid: str
    time_end: str
    cash_fee: int | None = None
    bank_type: str | None = None
    attach: str | None = None
    #: "notify" when it came from WeChat's notification, "query" from orderquery.
    source: Literal["notify", "query"] = "notify"
    fields: dict[str, str] = field(default_factory=dict)
    #: Paid by coupons (cash_fee is what the user paid); None without a coupon.
    coupon_fee: int | None = None
    #: total_fee less non-recharge coupons: what is settled to the merchant, if sent.
    settlement_total_fee: int | None = None


@dataclass(frozen=True)
class Refund:
    """A refund notification, decrypted with the merchant's key (its proof of origin)."""

    out_trade_no: str
    out_refund_no: str
    refund_id: str
    refund_fee: int
    total_fee: int
    #: SUCCESS, CHANGE (needs manual handling) or REFUNDCLOSE (failed).
    refund_status: str
    success_time: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
