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
from functools import partial
from typing import Any, Final, Protocol

from . import signing, xmlmsg
from ._checks import OUT_TRADE_NO
from ._drive import HookCall, Steps, WeChatCall
from ._status import TOKEN_HEADER, QueryGate, status_token, token_matches
from ._verify import (
    SUCCESS,
    Rejected,
    check_merchant,
    check_sign,
    fail,
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
    SetupError,
    SignatureError,
    UnknownOrderError,
    WeChatError,
    WeChatUnavailableError,
    WxPayError,
    XMLError,
)
from .models import PREPAY_TTL_SECONDS, Order, Payment, Refund
from .refundcrypto import decrypt_req_info
from .sansio import Request, Response

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
#: Rejections of a v3 message's signature layer: answered 401, the rest 400.
_SIGNATURE_REASONS: Final = frozenset({"bad_sign"})
#: A refusal to answer: the HTTP status a v3 answer gets, and the message.
Failure = tuple[int, str]

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

    Each public method returns :data:`~wxpay_mw._drive.Steps`, a generator that yields
    the hook and WeChat calls it needs; ``WxPay`` drives it synchronously or on an event
    loop. Holds no per-request state.
    """

    def __init__(
        self,
        config: WxPayConfig,
        hook: Any,
        status_query_interval: float = 5.0,
        status_query_concurrency: int = 4,
    ) -> None:
        self.config = config
        self.hook = hook
        #: v3 mode: the client is a V3PayClient, notifications are JSON answered by status.
        self.v3 = config.api_version == "v3"
        self.gate = QueryGate(status_query_interval, status_query_concurrency)

    def _key(self) -> Steps[str]:
        """The key that signs and verifies: the API key, or the sandbox's (asked once)."""
        if not self.config.sandbox:
            if not self.config.api_key:
                # v3 mode without the v2 key: nothing can check a v2 message.
                raise Rejected(
                    "bad_sign",
                    detail="a v2 message arrived, but WXPAY_API_KEY is not set (v3 mode): "
                    "set it while orders placed in v2 may still be notified",
                )
            return self.config.api_key  # no call to make: no thread hop on async hosts
        key: str = yield WeChatCall("signing_key", {})
        return key

    # -- prepay -----------------------------------------------------------------------

    def prepay(
        self, payload: Mapping[str, Any], client_ip: str = "", request: Request | None = None
    ) -> Steps[dict[str, str]]:
        """The wx.requestPayment parameters, ``out_trade_no`` and ``status_token``.

        Raises a :class:`~wxpay_mw.errors.WxPayError` whose ``client_code`` / ``status``
        say what the client is told (see :func:`client_error`).
        """
        if not isinstance(payload, Mapping):
            raise BadRequestError("the body must be a JSON object")
        openid = yield from self._openid(payload, request)
        order = yield from self._create_order(
            openid, {k: v for k, v in payload.items() if k != "code"}
        )
        if order.status in ("paid", "refunded"):
            raise OrderPaidError("ORDERPAID", "the host's store says paid")
        if order.status == "closed":
            raise OrderClosedError("ORDERCLOSED", "the host's store says closed")
        if (order.openid or order.prepay_id) and order.openid != openid:
            # Placed for someone else (or for nobody we can tell): paying it again with
            # this user's openid would hand them another user's order.
            log.warning("prepay %s: the order belongs to another user", order.out_trade_no)
            raise OrderRejectedError("this order belongs to another user: place a new order")
        # v3 orders carry no v2 sign type: a prepay_id placed in the other version is
        # never reused, since the paySign differs.
        sign_type = None if self.v3 else self.config.sign_type
        if order.prepay_valid() and order.sign_type == sign_type and order.prepay_id:
            prepay_id = order.prepay_id
            log.info("prepay %s: reusing the stored prepay_id", order.out_trade_no)
        else:
            try:
                prepay_id = yield from self._unified_order(order, openid, _client_ip(client_ip))
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
            yield HookCall("wxpay_order_prepaid", {"order": order, "prepay_id": prepay_id})
        params = yield from self._pay_params(prepay_id, sign_type)
        return {
            **params,
            "out_trade_no": order.out_trade_no,
            "status_token": status_token(self.config.token_key, order.out_trade_no),
        }

    def _pay_params(
        self, prepay_id: str, sign_type: signing.SignType | None
    ) -> Steps[dict[str, str]]:
        """The wx.requestPayment parameters: v3 signs them with the merchant's RSA key
        (signType RSA) in the client, v2 with the API key here."""
        if self.v3 or sign_type is None:
            params: dict[str, str] = yield WeChatCall("pay_params", {"prepay_id": prepay_id})
            return params
        key = yield from self._key()
        return signing.request_payment_params(
            appid=self.config.appid, key=key, prepay_id=prepay_id, sign_type=sign_type
        )

    def _openid(self, payload: Mapping[str, Any], request: Request | None) -> Steps[str]:
        if request is not None and request.openid:
            return request.openid  # the host's own authentication said so
        if request is not None:
            known = yield HookCall("wxpay_openid_from_request", {"request": request})
            if isinstance(known, str) and known:
                return known
        code = payload.get("code")
        if not isinstance(code, str) or not code.strip() or len(code) > 256:
            raise LoginError("NO_CODE", "the request carried no usable wx.login code")
        try:
            session = yield WeChatCall("code2session", {"code": code})
        except WeChatError as exc:
            log.warning("code2session refused the code: %s", exc)
            if exc.code == "-1":  # "system busy": not the client's fault, retry later
                raise WeChatUnavailableError("code2session: WeChat is busy") from exc
            raise
        except WeChatUnavailableError as exc:
            log.warning("code2session unavailable: %s", exc)
            raise
        yield HookCall(
            "wxpay_user_logged_in",
            {
                "openid": session.openid,
                "unionid": session.unionid,
                "session_key": session.session_key,
            },
        )
        openid: str = session.openid
        return openid

    def _create_order(self, openid: str, payload: dict[str, Any]) -> Steps[Order]:
        # Only OrderRejectedError is the host's word to the shopper; any other exception
        # (a ValueError from the host's own parsing included) is a logged server error.
        built = yield HookCall("wxpay_create_order", {"openid": openid, "payload": payload})
        if built is None:
            raise OrderRejectedError("")
        order = _check_type("wxpay_create_order", built)
        stored = yield HookCall("wxpay_order_created", {"order": order})
        return order if stored is None else _check_type("wxpay_order_created", stored)

    def _unified_order(self, order: Order, openid: str, ip: str) -> Steps[str]:
        try:
            answer = yield WeChatCall(
                "unified_order",
                {
                    "out_trade_no": order.out_trade_no,
                    "total_fee": order.total_fee,
                    "body": order.body,
                    "openid": openid,
                    "spbill_create_ip": ip,
                    "attach": order.attach,
                    "time_expire": order.time_expire,
                    **order.extra,
                },
            )
        except WeChatError as exc:
            # The err_code and its hint are for the merchant, not for the user.
            log.warning("unifiedorder %s refused: %s", order.out_trade_no, exc)
            raise
        except WeChatUnavailableError as exc:
            log.warning("unifiedorder %s: WeChat unavailable: %s", order.out_trade_no, exc)
            raise
        prepay_id: str = answer.get("prepay_id", "")
        if not prepay_id:
            raise WeChatUnavailableError("unifiedorder answered SUCCESS without a prepay_id")
        return prepay_id

    # -- payment notification -----------------------------------------------------------

    def notify(self, body: bytes) -> Steps[bytes]:
        """Handle WeChat's v2 payment notification; the XML answer (SUCCESS or FAIL).

        SUCCESS only when the notification was verified and the host's store shows the
        order paid afterwards (or it was a verified failed-payment notice, acknowledged).
        """
        failure = yield from self._outcome("payment", self._v2_fields(body), self._notify)
        return _v2_answer(failure)

    def notify_answer(self, request: Request) -> Steps[Response]:
        """Handle a payment notification in either version; the HTTP answer.

        v2 (XML): status 200 and SUCCESS or FAIL. v3 (JSON, signed in the headers):
        204 when received, else a 4xx/5xx with ``{"code": "FAIL", "message": ...}``,
        since WeChat judges a v3 answer by its status alone.
        """
        if not self._is_v3_message(request.body):
            return Response.xml(200, (yield from self.notify(request.body)))
        opened = self._v3_fields(request, "transaction")
        failure = yield from self._outcome("payment", opened, partial(self._notify, verified=True))
        return _v3_answer(failure)

    def _is_v3_message(self, body: bytes) -> bool:
        # In v3 mode, orders placed before the switch are still notified in v2 XML.
        return self.v3 and not body.lstrip().startswith(b"<")

    def _v2_fields(self, body: bytes) -> Steps[dict[str, str]]:
        try:
            return xmlmsg.from_xml(body)
        except XMLError as exc:
            raise Rejected("bad_xml", detail=str(exc)) from exc
        yield from ()  # a step like the v3 one, which asks the client

    def _v3_fields(self, request: Request, original_type: str) -> Steps[dict[str, str]]:
        """The verified, decrypted v3 message as v2-named fields (``event_type`` too)."""
        try:
            fields: dict[str, str] = yield WeChatCall(
                "open_notification", {"headers": request.headers, "body": request.body}
            )
        except SignatureError as exc:
            # Signature, probe, timestamp, serial or ciphertext: all say "not WeChat's".
            raise Rejected("bad_sign", detail=str(exc)) from exc
        if fields.get("original_type") != original_type:
            raise Rejected(
                "bad_fields",
                fields,
                detail=f"a {fields.get('event_type')!r} notification at the "
                f"{original_type} endpoint",
            )
        return fields

    def _outcome(
        self,
        kind: str,
        opened: Steps[dict[str, str]],
        handle: Callable[[dict[str, str]], Steps[None]],
    ) -> Steps[Failure | None]:
        """Open the message and ``handle`` it; None when it is received, else why not.

        A rejection is logged with its detail and reaches ``wxpay_notify_rejected``;
        anything else (a store that is down, a bug in a hook) is logged as an error:
        either way WeChat retries, nothing is lost.
        """
        fields: dict[str, str] = {}
        try:
            fields = yield from opened
            yield from handle(fields)
            return None
        except Rejected as rejection:
            yield from self._rejected(kind, rejection, rejection.fields or fields)
            status = 401 if rejection.reason in _SIGNATURE_REASONS else 400
            return status, rejection.reason
        except SetupError as exc:
            log.error("%s notification for %r failed: %s", kind, fields.get("out_trade_no"), exc)
            return 500, "internal error"
        except Exception:
            log.exception("%s notification for %r failed", kind, fields.get("out_trade_no"))
            return 500, "internal error"

    def _notify(self, fields: dict[str, str], verified: bool = False) -> Steps[None]:
        """The checks of a payment notification; ``verified``: a v3 message, whose
        signature and encryption the client already checked."""
        if not verified and fields.get("return_code") != "SUCCESS":
            raise Rejected("return_fail", detail=f"return_code is {fields.get('return_code')!r}")
        out_trade_no = fields.get("out_trade_no", "")
        order = (yield from self._load(out_trade_no)) if OUT_TRADE_NO.match(out_trade_no) else None
        if not verified:
            # The sign is checked before anything depends on whether the order exists, so
            # a forger cannot probe for order numbers: the sign type comes from the order
            # when known, else from the message itself.
            key = yield from self._key()
            check_sign(fields, key, order.sign_type if order else None, self.config.sign_type)
        check_merchant(self.config, fields)
        if order is None:
            raise Rejected("unknown_order", detail=f"no stored order {out_trade_no!r}")
        # v3 notifies successful payments only (TRANSACTION.SUCCESS), with a trade_state.
        result = _v3_result(fields) if verified else fields.get("result_code")
        if result == "FAIL":
            log.info(
                "payment for %s failed: %s %s",
                out_trade_no,
                fields.get("err_code", ""),
                fields.get("err_code_des", ""),
            )
            yield HookCall("wxpay_payment_failed", {"order": order, "fields": dict(fields)})
            return
        if result != "SUCCESS":
            raise Rejected("bad_fields", detail=f"result_code is {result!r}")
        yield from self._record_paid(order, payment(order, fields, "notify"))

    def _record_paid(self, order: Order, paid: Payment) -> Steps[Order]:
        """Hand ``paid`` to the store, then make sure the store shows the order paid."""
        yield HookCall("wxpay_order_paid", {"order": order, "payment": paid})
        stored = yield from self._load(order.out_trade_no)
        if stored is None or stored.status not in ("paid", "refunded"):
            now = "no order" if stored is None else f"status {stored.status!r}"
            raise SetupError(
                f"wxpay_order_paid ran for {order.out_trade_no}, but wxpay_load_order then "
                f"returned {now}: the payment was not recorded, so WeChat is not told "
                "SUCCESS and will deliver it again. Make wxpay_order_paid set the order's "
                "status to 'paid' in the store that wxpay_load_order reads"
            )
        return stored

    def _load(self, out_trade_no: str) -> Steps[Order | None]:
        order = yield HookCall("wxpay_load_order", {"out_trade_no": out_trade_no})
        if order is not None:
            _check_type("wxpay_load_order", order)
        loaded: Order | None = order
        return loaded

    def _rejected(self, kind: str, rejection: Rejected, fields: Mapping[str, str]) -> Steps[None]:
        log.warning(
            "%s notification rejected (%s) for out_trade_no=%r: %s",
            kind,
            rejection.reason,
            fields.get("out_trade_no"),
            rejection.detail,
        )
        try:
            yield HookCall(
                "wxpay_notify_rejected", {"reason": rejection.reason, "fields": dict(fields)}
            )
        except Exception:
            # An alerting hook that fails must not turn a rejection into anything else.
            log.exception("wxpay_notify_rejected raised; ignored")

    # -- refund notification ------------------------------------------------------------

    def refund_notify(self, body: bytes) -> Steps[bytes]:
        """Handle WeChat's v2 refund notification; the XML answer (SUCCESS or FAIL).

        It carries no sign: decrypting ``req_info`` with the merchant key is the proof.
        """
        failure = yield from self._outcome("refund", self._v2_fields(body), self._refund_notify)
        return _v2_answer(failure)

    def refund_notify_answer(self, request: Request) -> Steps[Response]:
        """Handle a refund notification in either version; the HTTP answer (as for
        :meth:`notify_answer`)."""
        if not self._is_v3_message(request.body):
            return Response.xml(200, (yield from self.refund_notify(request.body)))
        opened = self._v3_fields(request, "refund")
        return _v3_answer((yield from self._outcome("refund", opened, self._v3_refund_notify)))

    def _v3_refund_notify(self, fields: dict[str, str]) -> Steps[None]:
        # A v3 refund carries the mchid but no appid; signature and ciphertext were the proof.
        if fields.get("mch_id") != self.config.mch_id:
            raise Rejected("wrong_mch_id", detail=f"mch_id is {fields.get('mch_id')!r}, not ours")
        yield from self._record_refund(refund(fields, fields))

    def _refund_notify(self, fields: dict[str, str]) -> Steps[None]:
        if fields.get("return_code") != "SUCCESS":
            raise Rejected("return_fail", detail=f"return_code is {fields.get('return_code')!r}")
        check_merchant(self.config, fields)
        key = yield from self._key()
        try:
            info = decrypt_req_info(fields.get("req_info", ""), key)
        except SignatureError as exc:
            raise Rejected("bad_sign", detail=str(exc)) from exc
        yield from self._record_refund(refund(info, fields))

    def _record_refund(self, notified: Refund) -> Steps[None]:
        if not self.hook.wxpay_refund_notified.get_hookimpls():
            raise SetupError(
                f"a refund notification for {notified.out_trade_no} arrived, but no plugin "
                "implements wxpay_refund_notified: it is answered FAIL (WeChat retries for "
                "a day) until one records it"
            )
        yield HookCall("wxpay_refund_notified", {"refund": notified})

    # -- order status and reconciliation ------------------------------------------------

    def order_status(
        self, out_trade_no: str, request: Request | None = None
    ) -> Steps[dict[str, Any]]:
        """The order's status; asks WeChat first while it is pending (now and then).

        With ``request`` (an HTTP request), only a holder of the order's status token or
        whom ``wxpay_may_view_order`` lets in sees it; anyone else gets the same
        :class:`UnknownOrderError` as for an order that does not exist. A slow or
        failing WeChat never fails this: the stored status is answered instead.
        """
        unknown = UnknownOrderError(f"no order {out_trade_no!r}")
        if not OUT_TRADE_NO.match(out_trade_no):
            raise unknown
        if request is not None:
            allowed = yield HookCall(
                "wxpay_may_view_order", {"out_trade_no": out_trade_no, "request": request}
            )
            if allowed is None:
                token = request.headers.get(TOKEN_HEADER, "")
                allowed = token_matches(self.config.token_key, out_trade_no, token)
            if allowed is not True:
                raise unknown
        order = yield from self._load(out_trade_no)
        if order is None:
            raise unknown
        if order.status == "pending" and order.prepay_id and self.gate.claim(out_trade_no):
            try:
                order = (yield from self._sync(order))[0]
            finally:
                self.gate.release()
        answer: dict[str, Any] = {
            "out_trade_no": order.out_trade_no,
            "status": order.status,
            "total_fee": order.total_fee,
        }
        if order.status in ("paid", "refunded") and order.transaction_id:
            answer["transaction_id"] = order.transaction_id
        return answer

    def _sync(self, order: Order) -> Steps[tuple[Order, str]]:
        """Ask orderquery about a pending order; the (possibly updated) order and outcome."""
        try:
            fields = yield WeChatCall("order_query", {"out_trade_no": order.out_trade_no})
        except (WeChatError, WeChatUnavailableError) as exc:
            log.warning(
                "orderquery %s failed; keeping the stored status: %s", order.out_trade_no, exc
            )
            return order, "unavailable"
        state = fields.get("trade_state", "")
        try:
            # REFUND: paid, then (partly) refunded; the refund notification records that.
            if state in ("SUCCESS", "REFUND"):
                check_merchant(self.config, fields)
                if fields.get("out_trade_no", order.out_trade_no) != order.out_trade_no:
                    raise Rejected("bad_fields", detail="the answer is for another order")
                paid = payment(order, fields, "query")
                return (yield from self._record_paid(order, paid)), "paid"
            if state == "CLOSED":
                yield HookCall("wxpay_order_closed", {"order": order, "fields": dict(fields)})
                reloaded = yield from self._load(order.out_trade_no)
                return replace(reloaded or order, status="closed"), "closed"
        except Rejected as rejection:
            log.error(
                "orderquery %s: answer refused (%s): %s",
                order.out_trade_no,
                rejection.reason,
                rejection.detail,
            )
            return order, "failed"
        except SetupError as exc:
            log.error("orderquery %s: %s", order.out_trade_no, exc)
            return order, "failed"
        except Exception:
            log.exception("orderquery %s: a hook failed", order.out_trade_no)
            return order, "failed"
        return order, "pending"

    def reconcile(self, older_than: float, limit: int = 100) -> Steps[ReconcileSummary]:
        """Ask WeChat about pending orders placed before ``older_than`` (epoch seconds)."""
        if not self.hook.wxpay_pending_orders.get_hookimpls():
            raise SetupError(
                "reconciliation needs the wxpay_pending_orders hook, and no plugin "
                "implements it: without it no pending order is ever checked with WeChat"
            )
        orders = yield HookCall("wxpay_pending_orders", {"older_than": older_than, "limit": limit})
        counts = dict.fromkeys(("paid", "closed", "pending", "unavailable", "failed"), 0)
        checked = 0
        for order in (orders or [])[:limit]:
            _check_type("wxpay_pending_orders", order)
            if order.status != "pending" or not order.prepay_id:
                continue
            checked += 1
            counts[(yield from self._sync(order))[1]] += 1
        summary = ReconcileSummary(checked=checked, **counts)
        log.info("reconciled: %s", summary.as_dict())
        return summary


def _v2_answer(failure: Failure | None) -> bytes:
    return SUCCESS if failure is None else fail(failure[1])


def _v3_answer(failure: Failure | None) -> Response:
    """Received: 204, no body. Refused: a 4xx/5xx with WeChat's JSON, so it is resent."""
    if failure is None:
        return Response(204, [], b"")
    status, message = failure
    return Response.json(status, {"code": "FAIL", "message": message})


def _v3_result(fields: Mapping[str, str]) -> str:
    if fields.get("event_type") != "TRANSACTION.SUCCESS":
        return f"event_type {fields.get('event_type')!r}"
    state = fields.get("trade_state", "")
    return "SUCCESS" if state == "SUCCESS" else f"trade_state {state!r}"


def _check_type(hook: str, value: object) -> Order:
    if not isinstance(value, Order):
        raise SetupError(
            f"{hook} returned {type(value).__name__}, expected a wxpay_mw.Order "
            "(or None where the hook allows it)"
        )
    return value
