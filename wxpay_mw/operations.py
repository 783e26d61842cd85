"""The money operations a shop needs: refund, refund query, close, query, bills.

:class:`Operations` wraps the WeChat client's raw calls with the rules that keep money
right, and records each step through the store's hooks:

- a refund is recorded (``wxpay_refund_requested``, which reserves its amount, never
  past the order's total) *before* WeChat is asked, and keyed on ``out_refund_no``, so
  asking again after a timeout is the same refund, never a second one;
- WeChat's refusals become :class:`~wxpay_mw.errors.RefundFailedError` with an
  ``action`` saying what to do; definite ones give the reserved amount back;
- refundquery's answer updates the store (``wxpay_refund_updated``).

Each operation is written once, as steps (:mod:`wxpay_mw._drive`): ``WxPay.refund`` and
its siblings run them synchronously, ``WxPay.arefund`` and the other ``a*`` twins on the
event loop (async hooks awaited: :class:`~wxpay_mw.store.AsyncOrderStore` works there).
"""

from __future__ import annotations

import datetime as _dt
import logging
import secrets
from collections.abc import Mapping
from typing import Any, Final, Protocol

from ._drive import HookCall, Steps, WeChatCall
from ._verify import fen
from .bills import Bill, parse_bill, yuan_to_fen
from .config import WxPayConfig
from .errors import (
    OrderClosedError,
    OrderPaidError,
    RateLimitedError,
    RefundFailedError,
    RefundRefusedError,
    UnknownOrderError,
    WeChatError,
    WeChatUnavailableError,
)
from .models import Order, Refund

__all__ = ["Bill", "MoneyClient", "Operations", "parse_bill", "refund_action", "yuan_to_fen"]

log = logging.getLogger("wxpay_mw.operations")

# err_code -> action, for the refund call. Anything not listed is a definite refusal.
_REFUND_ACTIONS: Final[dict[str, str]] = {
    "SYSTEMERROR": "retry",
    "BIZERR_NEED_RETRY": "retry",
    "FREQUENCY_LIMITED": "retry_later",
    "INVALID_REQ_TOO_MUCH": "retry_later",
    "NOTENOUGH": "top_up",
    "USER_ACCOUNT_ABNORMAL": "refund_offline",
    # API v3's codes of the same meaning.
    "SYSTEM_ERROR": "retry",
    "NOT_ENOUGH": "top_up",
}
_FINAL: Final = ("SUCCESS", "REFUNDCLOSE", "FAILED")


class MoneyClient(Protocol):
    """The part of :class:`~wxpay_mw.client.WeChatClient` the operations use."""

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
    ) -> dict[str, str]: ...

    def refund_query(
        self,
        *,
        out_refund_no: str | None = None,
        refund_id: str | None = None,
        out_trade_no: str | None = None,
        transaction_id: str | None = None,
        offset: int | None = None,
    ) -> dict[str, str]: ...

    def close_order(self, out_trade_no: str) -> dict[str, str]: ...

    def order_query(
        self, *, out_trade_no: str | None = None, transaction_id: str | None = None
    ) -> dict[str, str]: ...

    def download_bill(self, bill_date: str | _dt.date, bill_type: str = "ALL") -> str: ...


def refund_action(exc: WeChatError | WeChatUnavailableError) -> str:
    """What to do after the refund call raised ``exc`` (see RefundFailedError)."""
    if isinstance(exc, WeChatUnavailableError):
        return "retry"
    if isinstance(exc, RateLimitedError):
        return "retry_later"
    return _REFUND_ACTIONS.get(exc.code, "refused")


def _refunds_of(fields: Mapping[str, str]) -> list[Refund]:
    """The refunds in a refundquery answer (per-refund fields indexed from 0)."""
    count = fen(fields, "refund_count") or 0
    total = fen(fields, "total_fee") or 0
    found = []
    for n in range(count):
        refund_fee = fen(fields, f"refund_fee_{n}")
        if refund_fee is None or not fields.get(f"out_refund_no_{n}"):
            continue
        found.append(
            Refund(
                out_trade_no=fields.get("out_trade_no", ""),
                out_refund_no=fields[f"out_refund_no_{n}"],
                refund_id=fields.get(f"refund_id_{n}", ""),
                refund_fee=refund_fee,
                total_fee=total,
                refund_status=fields.get(f"refund_status_{n}", ""),
                success_time=fields.get(f"refund_success_time_{n}") or None,
                fields=dict(fields),
            )
        )
    return found


class Operations:
    """Refunds, closing, queries and bills for one merchant, recorded through hooks.

    ``flow`` is the payment flow (:class:`~wxpay_mw.flow.Flow`): after a query or a close
    finds the stored order behind WeChat, the store is brought up to date through its
    order-status path, with the same checks as for a notification. Each method returns
    steps for a driver (see the module docstring).
    """

    def __init__(self, config: WxPayConfig, flow: Any) -> None:
        self.config = config
        self.flow = flow

    def _order(self, out_trade_no: str) -> Steps[Order]:
        order = yield HookCall("wxpay_load_order", {"out_trade_no": out_trade_no})
        if not isinstance(order, Order):
            raise UnknownOrderError(f"no order {out_trade_no!r} in the store")
        return order

    # -- refunds ------------------------------------------------------------------------

    def refund(
        self,
        out_trade_no: str,
        refund_fee: int,
        reason: str | None = None,
        out_refund_no: str | None = None,
    ) -> Steps[Refund]:
        """Refund ``refund_fee`` fen of a paid order; the refund as recorded.

        Keep the returned ``out_refund_no``: calling again with it (after a timeout, a
        ``retry`` action) is the same refund. The answer's ``refund_status`` is
        PROCESSING until the refund notification or :meth:`refund_query` says SUCCESS.
        """
        number = out_refund_no or f"R{secrets.token_hex(12)}"
        recorded: Refund | None = yield HookCall(
            "wxpay_refund_requested",
            {
                "out_trade_no": out_trade_no,
                "out_refund_no": number,
                "refund_fee": refund_fee,
                "reason": reason,
            },
        )
        if recorded is not None and not isinstance(recorded, Refund):
            raise TypeError(
                f"wxpay_refund_requested returned {type(recorded).__name__}, expected Refund"
            )
        if recorded is None:  # no store records refunds: WeChat's own checks only
            order = yield from self._order(out_trade_no)
            if order.status not in ("paid", "refunded"):
                raise RefundRefusedError("not_paid", f"order {out_trade_no} is {order.status}")
            recorded = Refund(out_trade_no, number, "", refund_fee, order.total_fee, "REQUESTED")
        if recorded.refund_status in _FINAL:
            return recorded  # settled already: asking again changes nothing
        try:
            answer = yield WeChatCall(
                "refund",
                {
                    "out_refund_no": number,
                    "total_fee": recorded.total_fee,
                    "refund_fee": refund_fee,
                    "out_trade_no": out_trade_no,
                    "refund_desc": reason,
                },
            )
        except (WeChatError, WeChatUnavailableError) as exc:
            raise (yield from self._refund_failed(recorded, exc)) from exc
        made = Refund(
            out_trade_no=out_trade_no,
            out_refund_no=number,
            refund_id=answer.get("refund_id", ""),
            refund_fee=refund_fee,
            total_fee=recorded.total_fee,
            refund_status="PROCESSING",
            fields=dict(answer),
        )
        yield HookCall("wxpay_refund_updated", {"refund": made})
        return made

    def _refund_failed(
        self, recorded: Refund, exc: WeChatError | WeChatUnavailableError
    ) -> Steps[RefundFailedError]:
        action = refund_action(exc)
        code = exc.code if isinstance(exc, WeChatError) else "UNAVAILABLE"
        log.warning("refund %s: %s (%s)", recorded.out_refund_no, exc, action)
        if action == "refused":
            failed = Refund(
                out_trade_no=recorded.out_trade_no,
                out_refund_no=recorded.out_refund_no,
                refund_id="",
                refund_fee=recorded.refund_fee,
                total_fee=recorded.total_fee,
                refund_status="FAILED",
                fields={"err_code": code},
            )
            yield HookCall("wxpay_refund_updated", {"refund": failed})
        detail = exc.description if isinstance(exc, WeChatError) else str(exc)
        return RefundFailedError(action, code, recorded.out_refund_no, detail or str(exc))

    def refund_query(
        self, *, out_trade_no: str | None = None, out_refund_no: str | None = None
    ) -> Steps[list[Refund]]:
        """The refunds WeChat knows of (an order's, or one), recorded in the store."""
        try:
            fields = yield WeChatCall(
                "refund_query", {"out_trade_no": out_trade_no, "out_refund_no": out_refund_no}
            )
        except WeChatError as exc:
            if exc.code in ("REFUNDNOTEXIST", "RESOURCE_NOT_EXISTS"):  # v2, v3
                return []
            raise
        refunds = _refunds_of(fields)
        for found in refunds:
            yield HookCall("wxpay_refund_updated", {"refund": found})
        return refunds

    # -- orders ---------------------------------------------------------------------------

    def query(self, out_trade_no: str) -> Steps[dict[str, str]]:
        """WeChat's verified orderquery answer; a stored pending order it says is paid or
        closed is updated (through the order-status path's checks)."""
        fields: dict[str, str] = yield WeChatCall("order_query", {"out_trade_no": out_trade_no})
        order = yield HookCall("wxpay_load_order", {"out_trade_no": out_trade_no})
        behind = isinstance(order, Order) and order.status == "pending"
        if behind and fields.get("trade_state") in ("SUCCESS", "REFUND", "CLOSED"):
            yield from self.flow.order_status(out_trade_no)
        return fields

    def close(self, out_trade_no: str) -> Steps[str]:
        """Close an unpaid order at WeChat and in the store; the order's status after.

        ``"closed"``; or ``"paid"`` when WeChat says it was paid meanwhile (the payment is
        recorded, exactly once, as for a notification).
        """
        order = yield from self._order(out_trade_no)
        try:
            fields = yield WeChatCall("close_order", {"out_trade_no": out_trade_no})
        except OrderPaidError:
            return str((yield from self.flow.order_status(out_trade_no))["status"])
        except OrderClosedError as exc:
            fields = exc.fields
        yield HookCall("wxpay_order_closed", {"order": order, "fields": dict(fields)})
        stored = yield HookCall("wxpay_load_order", {"out_trade_no": out_trade_no})
        return stored.status if isinstance(stored, Order) else "closed"

    # -- bills ----------------------------------------------------------------------------

    def download_bill(self, bill_date: str | _dt.date, bill_type: str = "ALL") -> Steps[Bill]:
        """The day's bill, parsed; an empty Bill for a day without transactions."""
        try:
            text = yield WeChatCall(
                "download_bill", {"bill_date": bill_date, "bill_type": bill_type}
            )
        except WeChatError as exc:
            if "no bill exist" in exc.description.lower():
                return Bill()
            raise
        return parse_bill(text)
