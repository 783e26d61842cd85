"""The hooks a host app implements: where orders are stored and what happens when paid.

Implement any of them in a plain class or module, decorate each with
``@wxpay_mw.hookimpl``, and register it with ``WxPay(config, plugin)``. Hooks are plain
synchronous functions, called with keyword arguments; async adapters call them in a
worker thread, so a slow database never blocks the event loop.

Two hooks are required for payments: ``wxpay_create_order`` and ``wxpay_load_order``.
``wxpay_order_prepaid`` and ``wxpay_order_paid`` are how a store learns of progress.
"""

from __future__ import annotations

from typing import Any

import pluggy

from .models import Order, Payment, Refund
from .sansio import Request

PROJECT = "wxpay_mw"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["PROJECT", "hookimpl", "hookspec"]


@hookspec(firstresult=True)
def wxpay_create_order(openid: str, payload: dict[str, Any]) -> Order | None:
    """Build the order to pay from the client's JSON; the price is yours, never the client's.

    Called by ``POST {prefix}/prepay`` once the user's openid is known. ``payload`` is the
    client's JSON without the wx.login ``code``: read from it only *what* is bought (a
    product id, a cart id, your own order number), and take the amount from your own
    prices. Return an :class:`~wxpay_mw.models.Order` with a unique ``out_trade_no``
    and ``total_fee`` in integer fen.

    To let a user retry payment of the same order, return the stored order (same
    ``out_trade_no``, with the ``prepay_id``, ``prepay_expires_at`` and ``sign_type``
    you stored): a still-valid prepay_id is reused instead of placing it again.

    Raise :class:`~wxpay_mw.errors.OrderRejectedError` (or ``ValueError``) with a message
    the user may see to refuse the order (out of stock, unknown product): the client gets
    HTTP 400 ``order_rejected``. Returning None does the same with a generic message. Any
    other exception is a server error (500, ``internal_error``), logged with its traceback.
    """


@hookspec
def wxpay_order_prepaid(order: Order, prepay_id: str) -> None:
    """Persist the prepay_id WeChat gave for ``order`` (valid two hours).

    ``order`` already carries ``prepay_id``, ``prepay_expires_at``, ``openid`` and the
    ``sign_type`` the order was placed with: store all of them, since the notification
    for this order is verified with that sign type. If this raises, the client gets a
    500 and no payment parameters; the order stays unpaid and can be retried.
    """


@hookspec(firstresult=True)
def wxpay_load_order(out_trade_no: str) -> Order | None:
    """The stored order with this out_trade_no, or None if there is none.

    Called for every payment notification (to compare the amount), by
    ``GET {prefix}/orders/{out_trade_no}``, and by reconciliation. Must reflect the
    latest status (``paid`` once :func:`wxpay_order_paid` has run).
    """


@hookspec
def wxpay_order_paid(order: Order, payment: Payment) -> None:
    """React to a verified payment: signature, appid, mch_id and amount all checked.

    WeChat delivers the same notification again and again, possibly at the same moment to
    several workers, and the order-status path may confirm the same payment too: this
    hook is called for every one of them. Its effect must happen **exactly once per
    order**: mark the order paid with one conditional update (``UPDATE orders SET
    status='paid' ... WHERE out_trade_no=? AND status='pending'``) and, only when that
    update changed a row, fulfil the order, all in the same transaction. The reference
    store in ``examples/`` does exactly that.

    If any implementation raises, the notification is answered FAIL, so WeChat retries it
    later: nothing is lost, provided the transaction rolled back.
    """


@hookspec
def wxpay_payment_failed(order: Order, fields: dict[str, str]) -> None:
    """A verified notification saying the payment failed (``result_code`` FAIL).

    It is acknowledged with SUCCESS, so WeChat does not resend it for a day. ``fields``
    holds WeChat's err_code and err_code_des. The order stays pending: the user may pay
    again with the same prepay_id.
    """


@hookspec
def wxpay_notify_rejected(reason: str, fields: dict[str, str]) -> None:
    """A notification failed verification: your alerting point. It changes nothing.

    ``reason`` is a stable code: ``bad_xml``, ``bad_sign``, ``wrong_appid``,
    ``wrong_mch_id``, ``unknown_order``, ``amount_mismatch``, ``return_fail`` or
    ``bad_fields``; ``fields`` is what could be parsed (empty for unparsable bodies). The
    notification is answered FAIL. Exceptions raised here are logged and ignored.
    """


@hookspec
def wxpay_order_closed(order: Order, fields: dict[str, str]) -> None:
    """WeChat reports ``order`` closed (orderquery trade_state CLOSED): it can't be paid.

    Mark it closed in your store. Called by the order-status path and reconciliation.
    """


@hookspec
def wxpay_refund_notified(refund: Refund) -> None:
    """A refund notification, decrypted with the merchant key (its proof of origin).

    ``refund.refund_status`` is SUCCESS, CHANGE (handle it in the merchant platform) or
    REFUNDCLOSE. Called for every delivery of the same notification: be idempotent
    (key on ``out_refund_no``). If it raises, the answer is FAIL and WeChat retries.
    """


@hookspec(firstresult=True)
def wxpay_openid_from_request(request: Request) -> str | None:
    """The paying user's openid from your own login, instead of a wx.login code.

    For hosts whose mini program already has a session with them. ``request.native``
    is the framework's request object. Return None to fall back to the ``code`` in the
    JSON body. Never trust an openid the client sends in the body.
    """


@hookspec
def wxpay_user_logged_in(openid: str, unionid: str | None, session_key: str) -> None:
    """A wx.login code was exchanged for an openid (during prepay).

    ``session_key`` decrypts the user's wx.getUserInfo / phone-number data. It is a
    secret: keep it on the server, never log it, never send it to the client.
    """


@hookspec(firstresult=True)
def wxpay_pending_orders(older_than: float, limit: int) -> list[Order] | None:
    """Orders still pending that were placed with WeChat before ``older_than`` (epoch s).

    Used by reconciliation (``wxpay-mw reconcile`` and :meth:`WxPay.reconcile`) to ask
    WeChat about orders whose notification never arrived. Return at most ``limit``,
    oldest first; only orders that have a prepay_id matter.
    """


# --- the packaged order store (wxpay_mw.store) and money operations --------------------
# Hooks added with the packaged store; a host with its own tables may implement them too.


@hookspec(historic=True)
def wxpay_registered(wxpay: Any) -> None:
    """This plugin was registered with ``wxpay`` (a :class:`~wxpay_mw.WxPay`).

    Historic: a plugin registered after the WxPay was created is called at registration.
    A plugin that calls other hooks itself (the packaged store calls
    :func:`wxpay_fulfil_order`) keeps ``wxpay.hook`` from here.
    """


@hookspec(firstresult=True)
def wxpay_order_created(order: Order) -> Order | None:
    """The order the host's ``wxpay_create_order`` built, before it is placed with WeChat.

    A store persists it here. For an ``out_trade_no`` it already holds, it returns the
    stored order (so a repeated prepay reuses the stored prepay_id), or raises
    :class:`~wxpay_mw.errors.OutTradeNoUsedError` when the stored one differs (amount,
    body): the client gets 409 ``order_conflict``. None keeps the given order.
    """


@hookspec
def wxpay_fulfil_order(order: Order, payment: Payment, connection: Any) -> None:
    """The host's reaction to a payment: ship, credit, e-mail. Exactly once per order.

    Called by the packaged store only (:class:`wxpay_mw.store.OrderStore`), inside the
    transaction of the paid transition, and only when that transition changed the row.
    ``connection`` is that transaction's SQLAlchemy ``Connection`` (an
    ``AsyncConnection`` for :class:`~wxpay_mw.store.AsyncOrderStore`): write your own
    rows with it, and they commit or roll back with the payment. If this raises, the
    transaction rolls back, the notification is answered FAIL, and WeChat's retry runs
    it again.
    """


@hookspec(firstresult=True)
def wxpay_refund_requested(
    out_trade_no: str, out_refund_no: str, refund_fee: int, reason: str | None
) -> Refund | None:
    """Record a refund before WeChat is asked for it; the recorded :class:`Refund`.

    Called by :meth:`WxPay.refund`. Idempotent on ``out_refund_no``: the same number
    with the same order and amount returns the refund already recorded (a retry after a
    timeout is the same refund, never a second one); with another order or amount it
    raises ``ValueError``. The store must refuse, atomically, a refund that would take
    the order's refunds past its total (raise :class:`~wxpay_mw.errors.RefundRefusedError`),
    and refunds of orders that are not paid. The returned Refund's ``total_fee`` is the
    order's total and ``refund_status`` its state (``REQUESTED`` for a new one).
    """


@hookspec
def wxpay_refund_updated(refund: Refund) -> None:
    """What WeChat said about a refund this app asked for: its answer or refundquery's.

    ``refund.refund_status`` is PROCESSING, SUCCESS, CHANGE, REFUNDCLOSE or FAILED
    (WeChat refused the request: the amount it reserved is free again). A final state
    (SUCCESS, REFUNDCLOSE, FAILED) is never changed afterwards; when the successful
    refunds reach the order's total, the order becomes ``refunded``.
    """
