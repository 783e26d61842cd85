"""Hostile payment notifications against ``{prefix}/notify``, over HTTP, through every adapter.

The notify endpoint is unauthenticated and faces the internet. Each case below is sent
to a real server running the host app in each adapter style (tests/conformance) with
the reference order store (examples/store.py, SQLite) holding a pending order. Every
one must get a defined answer (WeChat's FAIL, or a 4xx before the flow), never reach
the paid hook, leave the orders and fulfilments tables exactly as they were, and, when
it got as far as the flow, reach the rejected hook with a stable reason.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from examples.catalogue import Catalogue
from examples.store import OrderStore
from tests.conformance.conftest import ASYNC_STYLES, PREFIX, STYLES, build_app
from tests.support import payment_notification, resign, tamper
from wxpay_mw import Order, Payment, WxPay, hookimpl, signing, xmlmsg
from wxpay_mw.app import DEFAULT_MAX_BODY_BYTES
from wxpay_mw.simulator import Merchant

TIMEOUT = 10
MERCHANT = Merchant()
PRICE = 1280


class Listener:
    """A TCP port that records every connection: an XXE target that must stay silent."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.contacts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.contacts += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@dataclass
class Spy:
    """Records which outcome hooks a notification reached."""

    paid: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.paid.clear()
        self.failed.clear()
        self.rejected.clear()

    @hookimpl
    def wxpay_order_paid(self, order: Order, payment: Payment) -> None:
        self.paid.append(order.out_trade_no)

    @hookimpl
    def wxpay_payment_failed(self, order: Order, fields: dict[str, str]) -> None:
        self.failed.append(order.out_trade_no)

    @hookimpl
    def wxpay_notify_rejected(self, reason: str, fields: dict[str, str]) -> None:
        self.rejected.append(reason)


class AsyncSpy(Spy):
    """The same, ``async def``: the notification then runs on the async driver."""

    async def wxpay_order_paid(self, order: Order, payment: Payment) -> None:  # type: ignore[override]
        self.paid.append(order.out_trade_no)

    async def wxpay_payment_failed(self, order: Order, fields: dict[str, str]) -> None:  # type: ignore[override]
        self.failed.append(order.out_trade_no)

    async def wxpay_notify_rejected(self, reason: str, fields: dict[str, str]) -> None:  # type: ignore[override]
        self.rejected.append(reason)


@dataclass
class Host:
    style: str
    base: str
    store: OrderStore
    db_path: Path
    spy: Spy
    listener: Listener
    secret_file: Path
    _numbers: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**6)))

    @property
    def notify_url(self) -> str:
        return f"{self.base}{PREFIX}/notify"

    def pending_order(self, sign_type: signing.SignType = "MD5") -> Order:
        """A fresh order, placed with WeChat (prepay_id, sign type stored), unpaid."""
        order = Order(
            out_trade_no=f"H{self.style[:4]}{next(self._numbers):06d}",
            total_fee=PRICE,
            body="hostile-test",
            openid="oHostile",
            prepay_id="wx" + "0" * 30,
            prepay_expires_at=4102444800.0,
            sign_type=sign_type,
        )
        self.store.add_order(order)
        self.store.wxpay_order_prepaid(order=order, prepay_id=order.prepay_id or "")
        return order

    def snapshot(self) -> list[tuple[Any, ...]]:
        """Every row that a payment could change (the notification log is an audit trail)."""
        with sqlite3.connect(self.db_path) as conn:
            rows: list[tuple[Any, ...]] = []
            for table in ("orders", "fulfilments", "refunds"):
                query = f"SELECT * FROM {table} ORDER BY 1"  # noqa: S608 - fixed names
                rows += [(table, *r) for r in conn.execute(query)]
            return rows


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    listening = Listener()
    yield listening
    listening.close()


@pytest.fixture(scope="module", params=STYLES + ASYNC_STYLES)
def host(
    request: pytest.FixtureRequest,
    listener: Listener,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Host]:
    style: str = request.param
    tmp = tmp_path_factory.mktemp(style)
    secret_file = tmp / "secret.txt"
    secret_file.write_text("XXE-MARKER-file-content-must-never-be-read")
    db_path = tmp / "orders.db"
    store = OrderStore(f"sqlite:///{db_path}")
    spy = AsyncSpy() if style.endswith("+async") else Spy()
    # WeChat is never called on the notify path: api_base points at a closed port.
    config = MERCHANT.as_config(notify_url="http://127.0.0.1:9/wxpay/notify")
    with WxPay(config, store, Catalogue(store), spy) as wxpay:
        app, serve = build_app(style, wxpay)
        with serve(app) as base:
            yield Host(style, base, store, db_path, spy, listener, secret_file)


# -- the cases --------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    """What is sent, and what must come back."""

    #: (host, order) -> body; the order is pending and placed with ``sign_type``.
    body: Callable[[Host, Order], bytes | Iterator[bytes]]
    #: "FAIL" for WeChat's FAIL answer, else the HTTP status.
    answer: str | int = "FAIL"
    #: The rejected hook's reason (None: answered before the flow, no hook).
    reason: str | None = None
    method: str = "POST"
    sign_type: signing.SignType = "MD5"
    #: (answer, reason) under the WSGI styles, when they differ.
    wsgi: tuple[str | int, str | None] | None = None
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "text/xml"})


def genuine(host: Host, order: Order, **kwargs: Any) -> bytes:
    """The notification WeChat would send for ``order``."""
    params: dict[str, Any] = {
        "appid": MERCHANT.appid,
        "mch_id": MERCHANT.mch_id,
        "key": MERCHANT.api_key,
        "out_trade_no": order.out_trade_no,
        "total_fee": order.total_fee,
        "sign_type": order.sign_type or "MD5",
        **kwargs,
    }
    return payment_notification(**params)


def _other_key() -> str:
    return Merchant().api_key


def _fields(host: Host, order: Order, **changes: str | None) -> bytes:
    return tamper(genuine(host, order), **changes)


def _doctype(decl: str, content: str = "&x;") -> Callable[[Host, Order], bytes]:
    def build(host: Host, order: Order) -> bytes:
        body = genuine(host, order).decode()
        inner = body.removeprefix("<xml>")
        text = decl.format(port=host.listener.port, file=host.secret_file)
        return f'<?xml version="1.0"?>{text}<xml><attach>{content}</attach>{inner}'.encode()

    return build


def _chunked_over_cap(host: Host, order: Order) -> Iterator[bytes]:
    # No Content-Length: the cap must hold on what is read, not only on what is declared.
    yield b"<xml><attach>"
    for _ in range(DEFAULT_MAX_BODY_BYTES // 4096 + 2):
        yield b"x" * 4096
    yield b"</attach></xml>"


ATTACKS: dict[str, Attack] = {
    # -- signatures
    "sign-missing": Attack(lambda h, o: _fields(h, o, sign=None), reason="bad_sign"),
    "sign-empty": Attack(lambda h, o: _fields(h, o, sign=""), reason="bad_sign"),
    "sign-wrong-key": Attack(lambda h, o: resign(genuine(h, o), _other_key()), reason="bad_sign"),
    "sign-garbage": Attack(lambda h, o: _fields(h, o, sign="签名<>&\"'"), reason="bad_sign"),
    "sign-lower-case": Attack(
        lambda h, o: _fields(h, o, sign=xmlmsg.from_xml(genuine(h, o))["sign"].lower()),
        reason="bad_sign",
    ),
    "sign-type-unknown": Attack(lambda h, o: _fields(h, o, sign_type="RSA"), reason="bad_sign"),
    "sign-type-unknown-signed": Attack(
        lambda h, o: resign(genuine(h, o), MERCHANT.api_key, sign_type="SHA1"), reason="bad_sign"
    ),
    "sign-hmac-for-an-md5-order": Attack(
        lambda h, o: resign(genuine(h, o), MERCHANT.api_key, "HMAC-SHA256"), reason="bad_sign"
    ),
    "sign-md5-for-an-hmac-order": Attack(
        lambda h, o: resign(genuine(h, o), MERCHANT.api_key, "MD5"),
        reason="bad_sign",
        sign_type="HMAC-SHA256",
    ),
    "sign-declares-md5-signed-hmac": Attack(
        lambda h, o: resign(genuine(h, o), MERCHANT.api_key, "HMAC-SHA256", sign_type="MD5"),
        reason="bad_sign",
    ),
    # -- tampered fields, old sign kept
    "tampered-total_fee": Attack(lambda h, o: _fields(h, o, total_fee="1"), reason="bad_sign"),
    "tampered-out_trade_no": Attack(
        lambda h, o: _fields(h, o, out_trade_no=h.pending_order().out_trade_no),
        reason="bad_sign",
    ),
    "tampered-appid": Attack(
        lambda h, o: _fields(h, o, appid="wx0000000000000bad"), reason="bad_sign"
    ),
    "tampered-mch_id": Attack(lambda h, o: _fields(h, o, mch_id="1234567890"), reason="bad_sign"),
    "added-field": Attack(lambda h, o: _fields(h, o, coupon_fee="1279"), reason="bad_sign"),
    # -- signed with the merchant key, but not a payment of this order by this merchant
    "signed-wrong-total_fee": Attack(
        lambda h, o: genuine(h, o, total_fee=1), reason="amount_mismatch"
    ),
    "signed-total_fee-not-a-number": Attack(
        lambda h, o: resign(genuine(h, o), MERCHANT.api_key, total_fee="1280.00"),
        reason="bad_fields",
    ),
    "signed-wrong-appid": Attack(
        lambda h, o: genuine(h, o, appid="wx0000000000000bad"), reason="wrong_appid"
    ),
    "signed-wrong-mch_id": Attack(
        lambda h, o: genuine(h, o, mch_id="1234567890"), reason="wrong_mch_id"
    ),
    "signed-unknown-order": Attack(
        lambda h, o: genuine(h, o, out_trade_no="NOSUCHORDER42"), reason="unknown_order"
    ),
    "signed-no-transaction_id": Attack(
        lambda h, o: resign(genuine(h, o), MERCHANT.api_key, transaction_id=None),
        reason="bad_fields",
    ),
    "signed-result_code-missing": Attack(
        lambda h, o: resign(genuine(h, o), MERCHANT.api_key, result_code=None),
        reason="bad_fields",
    ),
    "return_code-FAIL": Attack(
        lambda h, o: resign(genuine(h, o), MERCHANT.api_key, return_code="FAIL"),
        reason="return_fail",
    ),
    "forged-result_code-FAIL": Attack(
        lambda h, o: _fields(h, o, result_code="FAIL"), reason="bad_sign"
    ),
    # -- XML attacks (CVE-2018-13439 and friends)
    "xxe-local-file": Attack(
        _doctype('<!DOCTYPE xml [<!ENTITY x SYSTEM "file://{file}">]>'), reason="bad_xml"
    ),
    "xxe-url": Attack(
        _doctype('<!DOCTYPE xml [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/steal">]>'),
        reason="bad_xml",
    ),
    "xxe-parameter-entity": Attack(
        _doctype('<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/x.dtd"> %p;]>', ""),
        reason="bad_xml",
    ),
    "external-dtd": Attack(
        _doctype('<!DOCTYPE xml SYSTEM "http://127.0.0.1:{port}/x.dtd">', ""), reason="bad_xml"
    ),
    "billion-laughs": Attack(
        _doctype(
            '<!DOCTYPE xml [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY x "&c;&c;&c;&c;&c;&c;">]>'
        ),
        reason="bad_xml",
    ),
    "internal-dtd-no-entities": Attack(_doctype("<!DOCTYPE xml []>", ""), reason="bad_xml"),
    # A comment or processing instruction used to be skipped: "12<!---->80" read as
    # "1280" and the sign still held. Refused like a DTD.
    "comment-in-a-value": Attack(
        lambda h, o: genuine(h, o).replace(b"[1280]]><", b"[12]]><!----><![CDATA[80]]><"),
        reason="bad_xml",
    ),
    "comment-between-fields": Attack(
        lambda h, o: genuine(h, o).replace(b"</xml>", b"<!-- x --></xml>"), reason="bad_xml"
    ),
    "processing-instruction": Attack(
        lambda h, o: genuine(h, o).replace(b"<xml>", b"<?pi x?><xml>"), reason="bad_xml"
    ),
    "xml-stylesheet": Attack(
        lambda h, o: (
            f'<?xml-stylesheet href="http://127.0.0.1:{h.listener.port}/x.xsl"?>'.encode()
            + genuine(h, o)
        ),
        reason="bad_xml",
    ),
    "xinclude": Attack(
        lambda h, o: (
            genuine(h, o)
            .replace(b"<xml>", b'<xml xmlns:xi="http://www.w3.org/2001/XInclude">', 1)
            .replace(
                b"</xml>",
                f'<xi:include href="http://127.0.0.1:{h.listener.port}/x"/></xml>'.encode(),
            )
        ),
        reason="bad_xml",
    ),
    # -- malformed bodies
    "body-over-cap": Attack(
        lambda h, o: genuine(h, o).replace(
            b"</xml>", b"<pad>" + b"x" * DEFAULT_MAX_BODY_BYTES + b"</pad></xml>"
        ),
        answer=413,
    ),
    # A WSGI server without chunked support (wsgiref) gives no way to tell where such a
    # body ends (PEP 3333), so it is never read: the flow sees an empty body.
    "body-over-cap-chunked": Attack(_chunked_over_cap, answer=413, wsgi=("FAIL", "bad_xml")),
    "not-utf8": Attack(
        lambda h, o: genuine(h, o, attach="腾讯-游戏").decode().encode("gb18030"),
        reason="bad_xml",
    ),
    "declares-gbk": Attack(
        lambda h, o: b'<?xml version="1.0" encoding="GBK"?>' + genuine(h, o), reason="bad_xml"
    ),
    "truncated": Attack(lambda h, o: genuine(h, o)[:-20], reason="bad_xml"),
    "duplicated-total_fee": Attack(
        lambda h, o: genuine(h, o).replace(b"</xml>", b"<total_fee>1</total_fee></xml>"),
        reason="bad_xml",
    ),
    "nested-elements": Attack(
        lambda h, o: genuine(h, o).replace(
            b"</xml>", b"<detail><total_fee>1</total_fee></detail></xml>"
        ),
        reason="bad_xml",
    ),
    "wrong-root": Attack(
        lambda h, o: genuine(h, o).replace(b"<xml>", b"<root>").replace(b"</xml>", b"</root>"),
        reason="bad_xml",
    ),
    "bare-text": Attack(
        lambda h, o: genuine(h, o).replace(b"<xml>", b"<xml>hello"), reason="bad_xml"
    ),
    "json": Attack(
        lambda h, o: (
            b'{"return_code": "SUCCESS", "result_code": "SUCCESS", "out_trade_no": "'
            + o.out_trade_no.encode()
            + b'", "total_fee": 1280}'
        ),
        reason="bad_xml",
        headers={"content-type": "application/json"},
    ),
    "form-encoded": Attack(
        lambda h, o: b"return_code=SUCCESS&out_trade_no=" + o.out_trade_no.encode(),
        reason="bad_xml",
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    "empty": Attack(lambda h, o: b"", reason="bad_xml"),
    "nul-byte": Attack(
        lambda h, o: genuine(h, o).replace(b"</xml>", b"<x>a\x00b</x></xml>"), reason="bad_xml"
    ),
    # -- not a POST
    "method-GET": Attack(lambda h, o: b"", answer=405, method="GET"),
    "method-PUT": Attack(genuine, answer=405, method="PUT"),
    "method-DELETE": Attack(lambda h, o: b"", answer=405, method="DELETE"),
}


@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
def test_a_hostile_notification_changes_nothing(host: Host, attack: Attack) -> None:
    order = host.pending_order(attack.sign_type)
    body = attack.body(host, order)
    before = host.snapshot()
    contacts = host.listener.contacts
    host.spy.clear()

    response = requests.request(
        attack.method, host.notify_url, data=body, headers=attack.headers, timeout=TIMEOUT
    )

    expected, reason = attack.answer, attack.reason
    if attack.wsgi and host.style in ("flask-extension", "wsgi-middleware"):
        expected, reason = attack.wsgi
    if expected == "FAIL":
        assert response.status_code == 200, response.text
        answer = xmlmsg.from_xml(response.content)
        assert answer["return_code"] == "FAIL"
        assert answer.get("return_msg"), "a FAIL must say why (WeChat shows it to the merchant)"
    else:
        assert response.status_code == expected, response.text
    assert b"XXE-MARKER" not in response.content
    assert host.spy.paid == []
    assert host.spy.failed == []
    assert host.snapshot() == before
    assert (host.store.get(order.out_trade_no) or order).status == "pending"
    assert host.listener.contacts == contacts, "the server fetched an attacker's URL"
    assert host.spy.rejected == ([] if reason is None else [reason])


def test_a_verified_failed_payment_is_acknowledged_and_nothing_paid(host: Host) -> None:
    # result_code FAIL, genuinely signed: WeChat must stop resending it (SUCCESS), the
    # order stays pending for the user to pay again, the failed hook hears of it.
    order = host.pending_order()
    before = host.snapshot()
    host.spy.clear()
    body = genuine(host, order, result_code="FAIL")
    response = requests.post(host.notify_url, data=body, timeout=TIMEOUT)
    assert xmlmsg.from_xml(response.content)["return_code"] == "SUCCESS"
    assert host.spy.paid == []
    assert host.spy.failed == [order.out_trade_no]
    assert host.spy.rejected == []
    assert host.snapshot() == before


@pytest.mark.parametrize("sign_type", signing.SIGN_TYPES)
def test_the_genuine_notification_is_accepted_once(host: Host, sign_type: signing.SignType) -> None:
    # The control: the same setup does accept what WeChat really sends, so every
    # refusal above is the attack's doing, not a broken host.
    order = host.pending_order(sign_type)
    host.spy.clear()
    body = genuine(host, order)
    for _ in range(2):
        response = requests.post(host.notify_url, data=body, timeout=TIMEOUT)
        assert xmlmsg.from_xml(response.content)["return_code"] == "SUCCESS"
    assert host.spy.paid == [order.out_trade_no] * 2  # the hook is told each time...
    assert host.store.fulfilments().count((order.out_trade_no, _txn(body))) == 1  # ...once
    assert host.store.get(order.out_trade_no).status == "paid"  # type: ignore[union-attr]


def _txn(body: bytes) -> str:
    return xmlmsg.from_xml(body)["transaction_id"]


def test_a_genuine_notification_with_an_xml_declaration_is_accepted(host: Host) -> None:
    # Comments and processing instructions are refused; the declaration is not one.
    order = host.pending_order()
    host.spy.clear()
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + genuine(host, order)
    response = requests.post(host.notify_url, data=body, timeout=TIMEOUT)
    assert xmlmsg.from_xml(response.content)["return_code"] == "SUCCESS"
    assert host.spy.paid == [order.out_trade_no]
    assert host.store.get(order.out_trade_no).status == "paid"  # type: ignore[union-attr]
