"""The payment flow: prepay, notify, refund notify, order status and reconciliation.

Framework-neutral: written in terms of a WeChat client and the host's pluggy hooks, so
every adapter (and a host wiring things by hand) gets the same behaviour. Three trust
rules shape the code:

- the price comes from ``wxpay_create_order``, never from the client's JSON;
- a notification reaches ``wxpay_order_paid`` only after its sign, appid, mch_id and
  amount are checked, and is answered SUCCESS only when every step (hooks included)
  succeeded, so that WeChat retries anything that did not;
- WeChat's raw error text and hints go to the log (``wxpay_mw.flow``), the client gets a
  stable code and a plain message; no secret (API key, app secret, session_key) is
  ever logged or answered.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Protocol

from . import signing, xmlmsg
from ._checks import OUT_TRADE_NO
from ._verify import (
    SUCCESS,
    Rejected,
    check_merchant,
    fail,
    guess_sign_type,
    payment,
    refund,
)
from .config import WxPayConfig
from .errors import (
    BadRequestError,
    LoginError,
    OrderClosedError,
    OrderPaidError,
    OrderRejectedError,
    UnknownOrderError,
    WeChatError,
    WeChatUnavailableError,
    WxPayError,
    XMLError,
)
from .models import PREPAY_TTL_SECONDS, Order
from .refundcrypto import decrypt_req_info
from .sansio import Request

__all__ = [
    "BadRequestError",
    "Flow",
    "PayClient",
    "ReconcileSummary",
    "UnknownOrderError",
    "client_error",
]

log = logging.getLogger("wxpay_mw.flow")

_FALLBACK_IP: Final = "127.0.0.1"

# What the mini program is told, per stable code. WeChat's own text never goes here.
_MESSAGES: Final[dict[str, str]] = {
    "bad_request": "the request is malformed",
    "invalid_code": "the wx.login code is missing, invalid or expired: call wx.login again",
    "order_rejected": "the order was refused",
    "order_paid": "this order is already paid",
    "order_closed": "this order is closed and can no longer be paid: place a new order",
    "order_conflict": "this order number was already used for a different order",
    "wechat_unavailable": "WeChat Pay is unavailable right now: please retry in a moment",
    "rate_limited": "too many attempts: please wait a minute and retry",
    "wechat_error": "WeChat Pay refused the order: please try again later",
    "unknown_order": "there is no such order",
    "internal_error": "the server failed to handle the request",
}


# Errors whose message we (or the host, for OrderRejectedError) wrote for the client.
_OWN_MESSAGES = (BadRequestError, UnknownOrderError, OrderRejectedError)


def client_error(exc: WxPayError) -> tuple[int, dict[str, str]]:
    """The HTTP status and JSON body a client gets for ``exc``: a stable code, no secrets."""
    code = exc.client_code
    message = str(exc) if isinstance(exc, _OWN_MESSAGES) and str(exc) else None
    body = {"error": code, "message": message or _MESSAGES.get(code, code)}
    if exc.out_trade_no:
        body["out_trade_no"] = exc.out_trade_no
    return exc.status, body


class LoginSessionLike(Protocol):
    """What ``code2session`` returns (``client.LoginSession``)."""

    @property
    def openid(self) -> str: ...
    @property
    def session_key(self) -> str: ...
    @property
    def unionid(self) -> str | None: ...


class PayClient(Protocol):
    """The part of :class:`~wxpay_mw.client.WeChatClient` the flow uses."""

    def code2session(self, code: str) -> LoginSessionLike: ...

    def unified_order(
        self,
        *,
        out_trade_no: str,
        total_fee: int,
        body: str,
        openid: str,
        spbill_create_ip: str,
        attach: str | None = None,
        time_expire: str | None = None,
        notify_url: str | None = None,
        **extra: str,
    ) -> dict[str, str]: ...

    def order_query(
        self, *, out_trade_no: str | None = None, transaction_id: str | None = None
    ) -> dict[str, str]: ...

    def signing_key(self) -> str: ...


@dataclass(frozen=True)
class ReconcileSummary:
    """What one reconciliation run found, counted by outcome."""

    checked: int = 0
    paid: int = 0
    closed: int = 0
    pending: int = 0
    unavailable: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict (for JSON or a log line)."""
        return asdict(self)


def _client_ip(value: str) -> str:
    # WeChat refuses a unifiedorder without a valid spbill_create_ip; a missing or odd
    # peer address (a unix socket, a test client) must not stop a payment.
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return _FALLBACK_IP


class Flow:
    """The payment flow for one merchant: a config, a WeChat client and the hook relay.

    Thread-safe as long as the client and the hooks are: it holds no per-request state.
    """

    def __init__(self, config: WxPayConfig, client: PayClient, hook: Any) -> None:
        self.config = config
        self.client = client
        self.hook = hook

    # -- prepay -----------------------------------------------------------------------

    def prepay(
        self, payload: Mapping[str, Any], client_ip: str = "", request: Request | None = None
    ) -> dict[str, str]:
        """The wx.requestPayment parameters plus ``out_trade_no`` for the client's order.

        Raises a :class:`~wxpay_mw.errors.WxPayError` whose ``client_code`` / ``status``
        say what the client is told (see :func:`client_error`).
        """
        if not isinstance(payload, Mapping):
            raise BadRequestError("the body must be a JSON object")
        openid = self._openid(payload, request)
        order = self._create_order(openid, {k: v for k, v in payload.items() if k != "code"})
        if order.status in ("paid", "refunded"):
            raise OrderPaidError("ORDERPAID", "the host's store says paid")
        if order.status == "closed":
            raise OrderClosedError("ORDERCLOSED", "the host's store says closed")
        sign_type = self.config.sign_type
        reusable = order.prepay_valid() and order.sign_type == sign_type and order.openid == openid
        if reusable and order.prepay_id:
            prepay_id = order.prepay_id
            log.info("prepay %s: reusing the stored prepay_id", order.out_trade_no)
        else:
            try:
                prepay_id = self._unified_order(order, openid, _client_ip(client_ip))
            except WxPayError as exc:
                # The host already stored the order: tell the client its number, so a
                # retry pays this order instead of creating another.
                exc.out_trade_no = order.out_trade_no
                raise
            order = replace(
                order,
                openid=openid,
                prepay_id=prepay_id,
                prepay_expires_at=time.time() + PREPAY_TTL_SECONDS,
                sign_type=sign_type,
            )
            self.hook.wxpay_order_prepaid(order=order, prepay_id=prepay_id)
        params = signing.request_payment_params(
            appid=self.config.appid,
            key=self.client.signing_key(),
            prepay_id=prepay_id,
            sign_type=sign_type,
        )
        return {**params, "out_trade_no": order.out_trade_no}

    def _openid(self, payload: Mapping[str, Any], request: Request | None) -> str:
        if request is not None:
            known = self.hook.wxpay_openid_from_request(request=request)
            if isinstance(known, str) and known:
                return known
        code = payload.get("code")
        if not isinstance(code, str) or not code.strip() or len(code) > 256:
            raise LoginError("NO_CODE", "the request carried no usable wx.login code")
        try:
            session = self.client.code2session(code)
        except WeChatError as exc:
            log.warning("code2session refused the code: %s", exc)
            if exc.code == "-1":  # "system busy": not the client's fault, retry later
                raise WeChatUnavailableError("code2session: WeChat is busy") from exc
            raise
        except WeChatUnavailableError as exc:
            log.warning("code2session unavailable: %s", exc)
            raise
        self.hook.wxpay_user_logged_in(
            openid=session.openid, unionid=session.unionid, session_key=session.session_key
        )
        return session.openid

    def _create_order(self, openid: str, payload: dict[str, Any]) -> Order:
        if not self.hook.wxpay_create_order.get_hookimpls():
            raise RuntimeError("no plugin implements wxpay_create_order: register one with WxPay")
        try:
            order = self.hook.wxpay_create_order(openid=openid, payload=payload)
        except OrderRejectedError:
            raise
        except ValueError as exc:
            raise OrderRejectedError(str(exc)) from exc
        if order is None:
            raise OrderRejectedError("")
        if not isinstance(order, Order):
            raise TypeError(
                f"wxpay_create_order returned {type(order).__name__}, expected wxpay_mw.Order"
            )
        # A store keeps the new order, or answers the one it holds under that number.
        stored = self.hook.wxpay_order_created(order=order)
        if stored is not None and not isinstance(stored, Order):
            raise TypeError(
                f"wxpay_order_created returned {type(stored).__name__}, expected wxpay_mw.Order"
            )
        return stored or order

    def _unified_order(self, order: Order, openid: str, ip: str) -> str:
        try:
            answer = self.client.unified_order(
                out_trade_no=order.out_trade_no,
                total_fee=order.total_fee,
                body=order.body,
                openid=openid,
                spbill_create_ip=ip,
                attach=order.attach,
                time_expire=order.time_expire,
                **order.extra,
            )
        except WeChatError as exc:
            # The err_code and its hint are for the merchant, not for the user.
            log.warning("unifiedorder %s refused: %s", order.out_trade_no, exc)
            raise
        except WeChatUnavailableError as exc:
            log.warning("unifiedorder %s: WeChat unavailable: %s", order.out_trade_no, exc)
            raise
        prepay_id = answer.get("prepay_id", "")
        if not prepay_id:
            raise WeChatUnavailableError("unifiedorder answered SUCCESS without a prepay_id")
        return prepay_id

    # -- payment notification -----------------------------------------------------------

    def notify(self, body: bytes) -> bytes:
        """Handle WeChat's payment notification; the XML answer (SUCCESS or FAIL).

        SUCCESS only when the notification was verified and every hook succeeded (or it
        was a verified failed-payment notice, which is acknowledged).
        """
        return self._answer("payment", body, self._notify)

    def _answer(self, kind: str, body: bytes, handle: Callable[[dict[str, str]], bytes]) -> bytes:
        """Parse ``body`` and ``handle`` it; every failure becomes a FAIL answer.

        A rejection reaches ``wxpay_notify_rejected``; anything else (a store that is
        down, a bug in a hook) is logged: either way WeChat retries, nothing is lost.
        """
        fields: dict[str, str] = {}
        try:
            try:
                fields = xmlmsg.from_xml(body)
            except XMLError as exc:
                raise Rejected("bad_xml") from exc
            return handle(fields)
        except Rejected as rejection:
            self._rejected(rejection.reason, rejection.fields or fields)
            return fail(rejection.reason)
        except Exception:
            log.exception("%s notification for %r failed", kind, fields.get("out_trade_no"))
            return fail("internal error")

    def _notify(self, fields: dict[str, str]) -> bytes:
        if fields.get("return_code") != "SUCCESS":
            raise Rejected("return_fail")
        out_trade_no = fields.get("out_trade_no", "")
        order = self._load(out_trade_no) if OUT_TRADE_NO.match(out_trade_no) else None
        # The sign is checked before anything depends on whether the order exists, so a
        # forger cannot probe for order numbers: the sign type comes from the order when
        # known, else from the message itself.
        fallback = guess_sign_type(fields, self.config.sign_type)
        try:
            sign_type = signing.sign_type_of(fields, (order and order.sign_type) or fallback)
        except ValueError as exc:
            raise Rejected("bad_sign") from exc
        if not signing.verify(fields, self.client.signing_key(), sign_type):
            raise Rejected("bad_sign")
        check_merchant(self.config, fields)
        if order is None:
            raise Rejected("unknown_order")
        result = fields.get("result_code")
        if result == "FAIL":
            log.info(
                "payment for %s failed: %s %s",
                out_trade_no,
                fields.get("err_code", ""),
                fields.get("err_code_des", ""),
            )
            self.hook.wxpay_payment_failed(order=order, fields=dict(fields))
            return SUCCESS
        if result != "SUCCESS":
            raise Rejected("bad_fields")
        paid = payment(order, fields, "notify")
        self.hook.wxpay_order_paid(order=order, payment=paid)
        return SUCCESS

    def _load(self, out_trade_no: str) -> Order | None:
        order = self.hook.wxpay_load_order(out_trade_no=out_trade_no)
        if order is not None and not isinstance(order, Order):
            raise TypeError(
                f"wxpay_load_order returned {type(order).__name__}, expected wxpay_mw.Order"
            )
        return order

    def _rejected(self, reason: str, fields: Mapping[str, str]) -> None:
        log.warning(
            "notification rejected (%s) for out_trade_no=%r", reason, fields.get("out_trade_no")
        )
        try:
            self.hook.wxpay_notify_rejected(reason=reason, fields=dict(fields))
        except Exception:
            # An alerting hook that fails must not turn a rejection into anything else.
            log.exception("wxpay_notify_rejected raised; ignored")

    # -- refund notification ------------------------------------------------------------

    def refund_notify(self, body: bytes) -> bytes:
        """Handle WeChat's refund notification; the XML answer (SUCCESS or FAIL).

        It carries no sign: decrypting ``req_info`` with the merchant key is the proof.
        """
        return self._answer("refund", body, self._refund_notify)

    def _refund_notify(self, fields: dict[str, str]) -> bytes:
        if fields.get("return_code") != "SUCCESS":
            raise Rejected("return_fail")
        check_merchant(self.config, fields)
        try:
            info = decrypt_req_info(fields.get("req_info", ""), self.client.signing_key())
        except WxPayError as exc:
            raise Rejected("bad_sign") from exc
        self.hook.wxpay_refund_notified(refund=refund(info, fields))
        return SUCCESS

    # -- order status and reconciliation ------------------------------------------------

    def order_status(self, out_trade_no: str) -> dict[str, Any]:
        """The order's status for the client; asks WeChat first while it is pending.

        Raises :class:`UnknownOrderError` when no such order is stored. A slow or failing
        WeChat never fails this: the stored status is answered instead.
        """
        order = self._load(out_trade_no) if OUT_TRADE_NO.match(out_trade_no) else None
        if order is None:
            raise UnknownOrderError(f"no order {out_trade_no!r}")
        if order.status == "pending" and order.prepay_id:
            order = self._sync(order)[0]
        answer: dict[str, Any] = {
            "out_trade_no": order.out_trade_no,
            "status": order.status,
            "total_fee": order.total_fee,
        }
        if order.status in ("paid", "refunded") and order.transaction_id:
            answer["transaction_id"] = order.transaction_id
        return answer

    def _sync(self, order: Order) -> tuple[Order, str]:
        """Ask orderquery about a pending order; the (possibly updated) order and outcome."""
        try:
            fields = self.client.order_query(out_trade_no=order.out_trade_no)
        except (WeChatError, WeChatUnavailableError) as exc:
            log.warning(
                "orderquery %s failed; keeping the stored status: %s", order.out_trade_no, exc
            )
            return order, "unavailable"
        state = fields.get("trade_state", "")
        try:
            if state == "SUCCESS":
                check_merchant(self.config, fields)
                if fields.get("out_trade_no", order.out_trade_no) != order.out_trade_no:
                    raise Rejected("bad_fields")
                paid = payment(order, fields, "query")
                self.hook.wxpay_order_paid(order=order, payment=paid)
                reloaded = self._load(order.out_trade_no) or order
                if reloaded.status == "pending":
                    # A store that has not caught up still shows what WeChat confirmed.
                    reloaded = replace(reloaded, status="paid")
                if reloaded.transaction_id is None:
                    reloaded = replace(reloaded, transaction_id=paid.transaction_id)
                return reloaded, "paid"
            if state == "CLOSED":
                self.hook.wxpay_order_closed(order=order, fields=dict(fields))
                reloaded = self._load(order.out_trade_no) or order
                return replace(reloaded, status="closed"), "closed"
        except Rejected as rejection:
            log.error("orderquery %s: answer refused (%s)", order.out_trade_no, rejection.reason)
            return order, "failed"
        except Exception:
            log.exception("orderquery %s: a hook failed", order.out_trade_no)
            return order, "failed"
        return order, "pending"

    def reconcile(self, older_than: float, limit: int = 100) -> ReconcileSummary:
        """Ask WeChat about pending orders placed before ``older_than`` (epoch seconds)."""
        orders = self.hook.wxpay_pending_orders(older_than=older_than, limit=limit) or []
        counts = dict.fromkeys(("paid", "closed", "pending", "unavailable", "failed"), 0)
        checked = 0
        for order in orders[:limit]:
            if not isinstance(order, Order) or order.status != "pending" or not order.prepay_id:
                continue
            checked += 1
            counts[self._sync(order)[1]] += 1
        summary = ReconcileSummary(checked=checked, **counts)
        log.info("reconciled: %s", summary.as_dict())
        return summary
