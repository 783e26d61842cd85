"""v3 notifications, and v3 transactions and refunds as the protocol-neutral models.

:func:`parse_notification` takes the request headers and the raw body, verifies the
signature before anything else, then opens the AES-256-GCM resource. The ``*_fields``
functions translate a v3 Transaction or Refund into the field names v2 gives
(``total_fee``, ``cash_fee``, ``time_end``, ``mch_id``, refund_status ``CHANGE``...), so
the same merchant, amount and order checks, and the host's hooks, work for both
versions; WeChat's decrypted JSON stays available verbatim as ``fields["resource"]``.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ..models import Payment, Refund
from .aead import ALGORITHM, decrypt_resource, encrypt
from .errors import DecryptError
from .keys import VerifierKeys
from .settings import DEFAULT_CLOCK_WINDOW
from .verify import verify_signed

__all__ = [
    "REFUND_STATUS_V2",
    "Notification",
    "parse_notification",
    "payment_from_transaction",
    "refund_fields",
    "refund_from_resource",
    "seal_notification",
    "transaction_fields",
    "v2_time",
]

_BEIJING: Final = _dt.timezone(_dt.timedelta(hours=8))
#: v3 refund status -> the refund_status v2 gives for the same outcome.
REFUND_STATUS_V2: Final[dict[str, str]] = {
    "SUCCESS": "SUCCESS",
    "ABNORMAL": "CHANGE",
    "CLOSED": "REFUNDCLOSE",
    "PROCESSING": "PROCESSING",
}


@dataclass(frozen=True)
class Notification:
    """A verified, decrypted notification.

    ``event_type`` is ``TRANSACTION.SUCCESS``, ``REFUND.SUCCESS``, ``REFUND.ABNORMAL`` or
    ``REFUND.CLOSED``; ``resource`` the decrypted object; ``plaintext`` its exact bytes.
    """

    id: str
    event_type: str
    resource_type: str
    original_type: str
    create_time: str
    summary: str
    resource: dict[str, Any] = field(repr=False)
    plaintext: bytes = field(repr=False)


def _str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name, "")
    return value if isinstance(value, str) else ""


def parse_notification(
    headers: Mapping[str, str],
    body: bytes,
    keys: VerifierKeys,
    apiv3_key: bytes | str,
    *,
    now: float | None = None,
    window: int = DEFAULT_CLOCK_WINDOW,
) -> Notification:
    """Verify and decrypt a payment or refund notification.

    Raises a :class:`~wxpay_mw.v3.errors.V3SignatureError` subclass (answer it with a
    4xx, and WeChat sends it again) or ConfigError for an APIv3 key of the wrong size.
    """
    verify_signed(headers, body, keys, now=now, window=window)
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("resource"), Mapping):
        raise DecryptError("the notification has no resource object")
    resource = envelope["resource"]
    plaintext = decrypt_resource(resource, apiv3_key)
    try:
        opened = json.loads(plaintext)
    except ValueError:
        opened = None
    if not isinstance(opened, dict):
        raise DecryptError("the resource does not decrypt to a JSON object")
    return Notification(
        id=_str(envelope, "id"),
        event_type=_str(envelope, "event_type"),
        resource_type=_str(envelope, "resource_type"),
        original_type=_str(resource, "original_type"),
        create_time=_str(envelope, "create_time"),
        summary=_str(envelope, "summary"),
        resource=opened,
        plaintext=plaintext,
    )


def seal_notification(
    apiv3_key: bytes | str,
    resource: Mapping[str, Any],
    *,
    event_type: str,
    summary: str,
    notification_id: str,
    create_time: str,
    nonce: str,
) -> bytes:
    """A notification body as WeChat sends it, ``resource`` sealed with the APIv3 key
    (for the simulator and tests; sign it with :func:`~wxpay_mw.v3.signing.sign_answer`).

    ``nonce`` is 12 characters; the associated data is the resource's original type,
    ``transaction`` or ``refund``, as WeChat's real notifications carry.
    """
    original = "refund" if event_type.startswith("REFUND.") else "transaction"
    plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
    envelope = {
        "id": notification_id,
        "create_time": create_time,
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {
            "original_type": original,
            "algorithm": ALGORITHM,
            "ciphertext": encrypt(apiv3_key, nonce, original, plaintext),
            "associated_data": original,
            "nonce": nonce,
        },
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def v2_time(value: str, layout: str = "%Y%m%d%H%M%S") -> str:
    """An RFC 3339 time as v2 writes it, in Beijing time; "" if it is not RFC 3339."""
    try:
        when = _dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return ""
    if when.tzinfo is None:
        return ""
    return when.astimezone(_BEIJING).strftime(layout)


def _flat(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    return None


def _scalars(data: Mapping[str, Any]) -> dict[str, str]:
    """The top-level string and number fields, as v2's flat fields are."""
    return {k: v for k, v in ((k, _flat(v)) for k, v in data.items()) if v is not None}


def _put(out: dict[str, str], name: str, value: Any) -> None:
    flat = _flat(value)
    if flat:
        out[name] = flat


def _obj(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    return value if isinstance(value, Mapping) else {}


def transaction_fields(tx: Mapping[str, Any], raw: bytes | None = None) -> dict[str, str]:
    """A v3 Transaction as v2's flat fields, plus its own top-level fields and
    ``resource`` (the JSON as WeChat sent it)."""
    out = _scalars(tx)
    amount, payer = _obj(tx, "amount"), _obj(tx, "payer")
    _put(out, "mch_id", tx.get("mchid"))
    _put(out, "openid", payer.get("openid"))
    _put(out, "total_fee", amount.get("total"))
    _put(out, "cash_fee", amount.get("payer_total"))
    _put(out, "fee_type", amount.get("currency"))
    _put(out, "cash_fee_type", amount.get("payer_currency"))
    _put(out, "time_end", v2_time(_str(tx, "success_time")))
    out["resource"] = (raw or json.dumps(tx, ensure_ascii=False).encode()).decode()
    return out


def refund_fields(rf: Mapping[str, Any], raw: bytes | None = None) -> dict[str, str]:
    """A v3 refund (notification resource or API answer) as v2's flat fields, plus its own
    top-level fields and ``resource``."""
    out = _scalars(rf)
    amount = _obj(rf, "amount")
    status = _str(rf, "refund_status") or _str(rf, "status")
    _put(out, "mch_id", rf.get("mchid"))
    _put(out, "total_fee", amount.get("total"))
    _put(out, "refund_fee", amount.get("refund"))
    _put(out, "settlement_refund_fee", amount.get("settlement_refund"))
    _put(out, "refund_recv_accout", rf.get("user_received_account"))  # v2's spelling
    _put(out, "refund_status", REFUND_STATUS_V2.get(status, status))
    _put(out, "success_time", v2_time(_str(rf, "success_time"), "%Y-%m-%d %H:%M:%S"))
    out["resource"] = (raw or json.dumps(rf, ensure_ascii=False).encode()).decode()
    return out


def payment_from_transaction(
    tx: Mapping[str, Any],
    source: Literal["notify", "query"] = "notify",
    raw: bytes | None = None,
) -> Payment:
    """The Payment of a paid v3 Transaction (``trade_state`` SUCCESS).

    Raises ValueError naming what is missing; the caller still compares appid, mchid and
    the amount with the stored order, as for v2.
    """
    fields = transaction_fields(tx, raw)
    if fields.get("trade_state") != "SUCCESS":
        raise ValueError(f"trade_state is {fields.get('trade_state')!r}, not SUCCESS: not paid")
    for name in ("out_trade_no", "transaction_id", "total_fee", "time_end"):
        if not fields.get(name):
            raise ValueError(f"a paid transaction without {name}")
    cash = fields.get("cash_fee")
    return Payment(
        out_trade_no=fields["out_trade_no"],
        transaction_id=fields["transaction_id"],
        total_fee=int(fields["total_fee"]),
        openid=fields.get("openid", ""),
        time_end=fields["time_end"],
        cash_fee=int(cash) if cash else None,
        bank_type=fields.get("bank_type") or None,
        attach=fields.get("attach") or None,
        source=source,
        fields=fields,
    )


def refund_from_resource(rf: Mapping[str, Any], raw: bytes | None = None) -> Refund:
    """The Refund of a v3 refund notification's resource (v2's status names)."""
    fields = refund_fields(rf, raw)
    for name in ("out_trade_no", "out_refund_no", "refund_fee", "total_fee", "refund_status"):
        if not fields.get(name):
            raise ValueError(f"a refund without {name}")
    return Refund(
        out_trade_no=fields["out_trade_no"],
        out_refund_no=fields["out_refund_no"],
        refund_id=fields.get("refund_id", ""),
        refund_fee=int(fields["refund_fee"]),
        total_fee=int(fields["total_fee"]),
        refund_status=fields["refund_status"],
        success_time=fields.get("success_time") or None,
        fields=fields,
    )
