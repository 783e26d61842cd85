"""The hooks a host app implements: where orders are stored and what happens when paid.

Implement them as methods of a plain class (or functions of a module) and register it
with ``WxPay(config, plugin)``. A method named ``wxpay_*`` is a hook implementation with
or without ``@wxpay_mw.hookimpl`` (the decorator is needed only for options such as
``tryfirst``), and a ``wxpay_*`` name that is no hook below is an error, so a typo never
disables a hook in silence. Hooks are called with keyword arguments.

Four hooks are required, and checked before the first payment: ``wxpay_create_order``,
``wxpay_load_order``, ``wxpay_order_prepaid`` and ``wxpay_order_paid`` (the packaged store,
:mod:`wxpay_mw.store`, implements all but the first). ``wxpay-mw reconcile`` also needs
``wxpay_pending_orders``, and refund notifications ``wxpay_refund_notified``.

Hooks may be plain functions or, under the ASGI and Starlette adapters, ``async def``
(awaited on the event loop; plain ones run in a worker thread there, so a slow database
never blocks the loop). The Flask and WSGI adapters refuse ``async def`` hooks at start-up.
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

    Raise :class:`~wxpay_mw.errors.OrderRejectedError` with a message the user may see to
    refuse the order (out of stock, unknown product): the client gets HTTP 400
    ``order_rejected`` with that message. Returning None does the same with a generic
    message. Any other exception (a ``ValueError`` from your own parsing included) is a
    server error: a 500 ``internal_error``, logged with its traceback, its text never
    shown to the shopper.
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

    Afterwards :func:`wxpay_load_order` must show the order ``paid``: only then is WeChat
    answered SUCCESS. If any implementation raises, or the order still shows pending, the
    notification is answered FAIL and the failure logged, so WeChat retries it later:
    nothing is lost, provided the transaction rolled back.
    """


@hookspec
def wxpay_payment_failed(order: Order, fields: dict[str, str]) -> None:
    """A verified notification saying the payment failed (``result_code`` FAIL). Rare.

    For mini-program (JSAPI) payments WeChat notifies successful payments only: a failing
    card is handled inside WeChat's payment sheet, and the mini program sees
    ``requestPayment:fail``. This hook exists so that a verified FAIL notice, should one
    come, is handled safely: it is acknowledged with SUCCESS, so WeChat does not resend it.
    ``fields`` holds WeChat's err_code and err_code_des. The order stays pending.
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


@hookspec(firstresult=True)
def wxpay_order_created(order: Order) -> Order | None:
    """The order ``wxpay_create_order`` built, before it is placed with WeChat.

    For stores that keep orders for the host (the packaged store): persist ``order``. For
    an ``out_trade_no`` already stored, return the stored order (so that pay-again reuses
    its prepay_id), or raise :class:`~wxpay_mw.errors.OutTradeNoUsedError` when the stored
    one differs (amount, body). Return None to go on with ``order`` as it is. Hosts whose
    ``wxpay_create_order`` stores the order itself need not implement this.
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
def wxpay_may_view_order(out_trade_no: str, request: Request) -> bool | None:
    """Whether the sender of ``request`` may see ``out_trade_no``'s status.

    ``GET {prefix}/orders/{out_trade_no}`` answers only the holder of the order's status
    token (the ``status_token`` prepay returned, sent back in the ``X-WxPay-Token``
    header) unless this hook decides: return True or False from your own session (the
    order's openid against the logged-in user's), or None to fall back to the token.
    Anyone not allowed gets the same 404 as for an order that does not exist.
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
