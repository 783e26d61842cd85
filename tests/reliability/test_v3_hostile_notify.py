"""Hostile v3 payment notifications against ``{prefix}/notify``, over HTTP, through every
adapter, with the reference order store (examples/store.py, SQLite) holding a pending
order, the host configured as a v3 merchant (no v2 key).

Each must be refused with a 4xx/5xx (WeChat judges v3 answers by status: a 200 would be
"received") carrying WeChat's JSON ``{"code": "FAIL", "message": ...}`` when it reached
the flow, never reach the paid hook, leave the tables exactly as they were, and reach
the rejected hook with a stable reason. The genuine message, the control, is accepted.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from examples.catalogue import Catalogue
from examples.store import OrderStore
from tests.conformance.conftest import ASYNC_STYLES, PREFIX, STYLES, build_app
from tests.support.v3messages import signed_notification, transaction
from wxpay_mw import Order, WxPay, WxPayConfig
from wxpay_mw.app import DEFAULT_MAX_BODY_BYTES
from wxpay_mw.simulator import Simulator

from .test_hostile_notify import AsyncSpy, Spy

TIMEOUT = 10
PRICE = 1280
Note = tuple[dict[str, str], bytes]


@dataclass
class Host:
    style: str
    base: str
    sim: Simulator
    store: OrderStore
    db_path: Path
    spy: Spy
    _numbers: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**6)))

    @property
    def notify_url(self) -> str:
        return f"{self.base}{PREFIX}/notify"

    def pending_order(self) -> Order:
        """A fresh order, placed with WeChat (prepay_id stored), unpaid."""
        order = Order(
            out_trade_no=f"V{self.style[:4]}{next(self._numbers):06d}",
            total_fee=PRICE,
            body="hostile-v3",
            openid="oHostile",
            prepay_id="wx" + "0" * 30,
            prepay_expires_at=4102444800.0,
        )
        self.store.add_order(order)
        self.store.wxpay_order_prepaid(order=order, prepay_id=order.prepay_id or "")
        return order

    def snapshot(self) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path) as conn:
            rows: list[tuple[Any, ...]] = []
            for table in ("orders", "fulfilments", "refunds"):
                query = f"SELECT * FROM {table} ORDER BY 1"  # noqa: S608 - fixed names
                rows += [(table, *r) for r in conn.execute(query)]
            return rows


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(api="v3", time_factor=0.001) as simulator:
        yield simulator


@pytest.fixture(scope="module", params=STYLES + ASYNC_STYLES)
def host(
    request: pytest.FixtureRequest, sim: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Host]:
    style: str = request.param
    db_path = tmp_path_factory.mktemp(style) / "orders.db"
    store = OrderStore(f"sqlite:///{db_path}")
    spy = AsyncSpy() if style.endswith("+async") else Spy()
    env = sim.v3_env("http://127.0.0.1:9/wxpay/notify")
    del env["WXPAY_API_KEY"]
    with WxPay(WxPayConfig.from_env(env), store, Catalogue(store), spy) as wxpay:
        app, serve = build_app(style, wxpay)
        with serve(app) as base:
            yield Host(style, base, sim, store, db_path, spy)


@dataclass(frozen=True)
class Attack:
    """What is sent (headers and body for a pending order), and what must come back."""

    note: Callable[[Host, Order], Note]
    status: int = 401
    #: The rejected hook's reason (None: answered before the flow, no hook).
    reason: str | None = "bad_sign"
    method: str = "POST"


def _tx(host: Host, order: Order, **changes: Any) -> dict[str, Any]:
    return transaction(host.sim, order.out_trade_no, order.total_fee) | changes


def genuine(host: Host, order: Order, **changes: Any) -> Note:
    """The notification WeChat would send for ``order`` (``changes`` to its resource)."""
    return signed_notification(host.sim, _tx(host, order, **changes))


def _stranger() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _edited(change: Callable[[dict[str, Any]], None]) -> Callable[[Host, Order], Note]:
    return lambda h, o: signed_notification(h.sim, _tx(h, o), edit=change)


def _header(name: str, value: str | None) -> Callable[[Host, Order], Note]:
    def build(host: Host, order: Order) -> Note:
        headers, body = genuine(host, order)
        headers = {k: v for k, v in headers.items() if k != name}
        if value is not None:
            headers[name] = value.format(signature=genuine(host, order)[0][name])
        return headers, body

    return build


def _reserialised(host: Host, order: Order) -> Note:
    # What a framework that parses and dumps the JSON again would hand on.
    headers, body = genuine(host, order)
    return headers, json.dumps(json.loads(body), indent=1).encode()


def _set(path: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(envelope: dict[str, Any]) -> None:
        envelope["resource"][path] = value

    return change


def _flip_ciphertext(envelope: dict[str, Any]) -> None:
    text = envelope["resource"]["ciphertext"]
    envelope["resource"]["ciphertext"] = ("B" if text[0] == "A" else "A") + text[1:]


def _over_cap(host: Host, order: Order) -> Note:
    headers, body = genuine(host, order)
    return headers, body + b" " * DEFAULT_MAX_BODY_BYTES


ATTACKS: dict[str, Attack] = {
    "bad-signature": Attack(lambda h, o: signed_notification(h.sim, _tx(h, o), key=_stranger())),
    "unknown-serial": Attack(
        lambda h, o: signed_notification(
            h.sim, _tx(h, o), key=_stranger(), serial="PUB_KEY_ID_0000000000000000"
        )
    ),
    "stale-timestamp": Attack(
        lambda h, o: signed_notification(h.sim, _tx(h, o), timestamp=time.time() - 3600)
    ),
    "future-timestamp": Attack(
        lambda h, o: signed_notification(h.sim, _tx(h, o), timestamp=time.time() + 3600)
    ),
    "probe-signature": Attack(_header("Wechatpay-Signature", "WECHATPAY/SIGNTEST/{signature}")),
    "no-signature": Attack(_header("Wechatpay-Signature", None)),
    "other-algorithm": Attack(_header("Wechatpay-Signature-Type", "WECHATPAY2-SM2-WITH-SM3")),
    "tampered-ciphertext": Attack(_edited(_flip_ciphertext)),
    "wrong-associated-data": Attack(_edited(_set("associated_data", "certificate"))),
    "wrong-nonce": Attack(_edited(_set("nonce", "000000000000"))),
    "reserialised-body": Attack(_reserialised),
    "wrong-mchid": Attack(
        lambda h, o: genuine(h, o, mchid="1900000999"), status=400, reason="wrong_mch_id"
    ),
    "wrong-appid": Attack(
        lambda h, o: genuine(h, o, appid="wx0000000000000000"), status=400, reason="wrong_appid"
    ),
    "amount-mismatch": Attack(
        lambda h, o: genuine(h, o, amount={"total": 1, "payer_total": 1, "currency": "CNY"}),
        status=400,
        reason="amount_mismatch",
    ),
    "not-paid": Attack(
        lambda h, o: genuine(h, o, trade_state="NOTPAY"), status=400, reason="bad_fields"
    ),
    "unknown-order": Attack(
        lambda h, o: genuine(h, o, out_trade_no="NOSUCHORDER01"),
        status=400,
        reason="unknown_order",
    ),
    "refund-event": Attack(
        lambda h, o: signed_notification(
            h.sim,
            {"mchid": h.sim.merchant.mch_id, "out_trade_no": o.out_trade_no},
            event_type="REFUND.SUCCESS",
        ),
        status=400,
        reason="bad_fields",
    ),
    "over-the-cap": Attack(_over_cap, status=413, reason=None),
    "method-GET": Attack(genuine, status=405, reason=None, method="GET"),
}


@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
def test_a_hostile_v3_notification_changes_nothing(host: Host, attack: Attack) -> None:
    order = host.pending_order()
    headers, body = attack.note(host, order)
    before = host.snapshot()
    host.spy.clear()

    response = requests.request(
        attack.method, host.notify_url, data=body, headers=headers, timeout=TIMEOUT
    )

    assert response.status_code == attack.status, response.text
    if attack.reason is not None:
        assert response.json() == {"code": "FAIL", "message": attack.reason}
    assert host.spy.paid == []
    assert host.snapshot() == before
    assert (host.store.get(order.out_trade_no) or order).status == "pending"
    assert host.spy.rejected == ([] if attack.reason is None else [attack.reason])


def test_the_genuine_v3_notification_is_accepted_once(host: Host) -> None:
    # The control: the same setup accepts what WeChat really sends, so every refusal
    # above is the attack's doing, not a broken host.
    order = host.pending_order()
    host.spy.clear()
    headers, body = genuine(host, order)
    for _ in range(2):
        response = requests.post(host.notify_url, data=body, headers=headers, timeout=TIMEOUT)
        assert (response.status_code, response.content) == (204, b"")
    paid = host.store.get(order.out_trade_no)
    assert paid is not None and paid.status == "paid"
    # The paid hook hears each delivery; the store fulfils the order once.
    assert host.spy.paid == [order.out_trade_no, order.out_trade_no]
    fulfilled = [f for f in host.store.fulfilments() if f[0] == order.out_trade_no]
    assert len(fulfilled) == 1 and fulfilled[0][1] == paid.transaction_id
    assert host.spy.rejected == []
