"""v3 notifications: the resource sealed with the APIv3 key (AES-256-GCM), the body signed
afresh for each attempt, and WeChat's signature probes.

Payment notifications are ``TRANSACTION.SUCCESS`` only (WeChat notifies successful
payments); refunds notify ``REFUND.SUCCESS``, ``REFUND.ABNORMAL`` or ``REFUND.CLOSED``
(wechatpay-v3.md section 8). The host's answer is judged by HTTP status alone, see
``_delivery.py``. A probe carries a ``WECHATPAY/SIGNTEST/`` signature over a real
notification: a host must answer it with a 4xx or 5xx; it is sent once and logged as
kind ``probe``, with what the host answered.
"""

from __future__ import annotations

import datetime as _dt
import secrets
import uuid
from collections.abc import Callable
from typing import Any, Final

from ..v3 import signing
from ..v3.notify import seal_notification
from ..v3.verify import PROBE_PREFIX
from ._context import Context
from ._delivery import Notification
from ._v3wire import V3Wechat

__all__ = ["REFUND_EVENTS", "notify_payment", "notify_refund", "probe"]

#: v3 refund status -> (event_type, summary) of its notification.
REFUND_EVENTS: Final = {
    "SUCCESS": ("REFUND.SUCCESS", "退款成功"),
    "ABNORMAL": ("REFUND.ABNORMAL", "退款异常"),
    "CLOSED": ("REFUND.CLOSED", "退款关闭"),
}
_BEIJING: Final = _dt.timezone(_dt.timedelta(hours=8))


def _seal(v3: V3Wechat, resource: dict[str, Any], event_type: str, summary: str) -> bytes:
    now = _dt.datetime.now(_BEIJING).replace(microsecond=0)
    return seal_notification(
        v3.keys.apiv3_key,
        resource,
        event_type=event_type,
        summary=summary,
        notification_id=str(uuid.uuid4()),
        create_time=now.isoformat(),
        nonce=secrets.token_hex(6),
    )


def _signer(v3: V3Wechat, body: bytes, *, probe: bool = False) -> Callable[[], dict[str, str]]:
    # WeChat picks the key per notification; each attempt gets a fresh timestamp and nonce,
    # or retries after five minutes would fail every host's replay window.
    key, serial = v3.notify_key()

    def headers() -> dict[str, str]:
        signed = signing.sign_answer(key, serial, body)
        if probe:
            # WeChat's probe: the prefix, then what looks like a signature (it need not
            # be Base64); it must fail every verifier (wechatpay-v3.md section 3).
            signed["Wechatpay-Signature"] = PROBE_PREFIX + signed["Wechatpay-Signature"]
        return signed

    return headers


def notify_payment(ctx: Context, v3: V3Wechat, transaction: dict[str, Any], url: str) -> None:
    """Deliver a ``TRANSACTION.SUCCESS`` notification for a paid order."""
    body = _seal(v3, transaction, "TRANSACTION.SUCCESS", "支付成功")
    ctx.deliveries.send(
        "payment", url, body, transaction["out_trade_no"], headers=_signer(v3, body)
    )


def notify_refund(ctx: Context, v3: V3Wechat, resource: dict[str, Any], url: str) -> None:
    """Deliver the notification of a refund that settled (``refund_status`` in resource)."""
    event_type, summary = REFUND_EVENTS[resource["refund_status"]]
    body = _seal(v3, resource, event_type, summary)
    ctx.deliveries.send(
        "refund",
        url,
        body,
        resource["out_trade_no"],
        resource["out_refund_no"],
        headers=_signer(v3, body),
    )


def probe(ctx: Context, v3: V3Wechat, transaction: dict[str, Any], url: str) -> Notification:
    """Send one signature probe: an order's notification under a ``WECHATPAY/SIGNTEST/``
    signature. The log entry (kind ``probe``) shows whether the host refused it."""
    body = _seal(v3, transaction, "TRANSACTION.SUCCESS", "支付成功")
    return ctx.deliveries.send(
        "probe",
        url,
        body,
        transaction["out_trade_no"],
        headers=_signer(v3, body, probe=True),
        retry=False,
    )
