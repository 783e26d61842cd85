"""v3 notifications as WeChat sends them, for tests: sealed with the APIv3 key and signed
with WeChat's key, using WeChat's side of ``wxpay_mw.v3`` and a v3 simulator's keys."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from wxpay_mw.simulator import Simulator
from wxpay_mw.v3 import signing
from wxpay_mw.v3.notify import seal_notification

__all__ = ["signed_notification", "transaction"]


def transaction(sim: Simulator, out_trade_no: str, total: int, **changes: Any) -> dict[str, Any]:
    """A paid v3 Transaction for ``out_trade_no``, as WeChat's notification carries it."""
    tx: dict[str, Any] = {
        "appid": sim.merchant.appid,
        "mchid": sim.merchant.mch_id,
        "out_trade_no": out_trade_no,
        "transaction_id": "4200" + secrets.token_hex(12)[:24],
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": "2026-12-01T10:00:00+08:00",
        "payer": {"openid": "o" + "x" * 27},
        "amount": {"total": total, "payer_total": total, "currency": "CNY"},
    }
    tx.update(changes)
    return tx


def signed_notification(
    sim: Simulator,
    resource: dict[str, Any],
    *,
    event_type: str = "TRANSACTION.SUCCESS",
    timestamp: float | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
    key: Any = None,
    serial: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a notification sealed with the APIv3 key and signed under the
    WeChat Pay public key; ``edit`` changes the envelope before it is signed."""
    body = seal_notification(
        sim.v3_keys.apiv3_key,
        resource,
        event_type=event_type,
        summary="支付成功",
        notification_id=secrets.token_hex(8),
        create_time="2026-12-01T10:00:01+08:00",
        nonce=secrets.token_hex(6),
    )
    if edit is not None:
        envelope = json.loads(body)
        edit(envelope)
        body = json.dumps(envelope, separators=(",", ":")).encode()
    headers = signing.sign_answer(
        key or sim.v3_keys.wechat_key,
        serial or sim.v3_keys.public_key_id,
        body,
        timestamp=str(int(time.time() if timestamp is None else timestamp)),
    )
    return {**headers, "Content-Type": "application/json"}, body
