"""The packaged store (wxpay_mw.store) on SQLite, PostgreSQL and MariaDB, hook by hook.

The exactly-once checks through the whole flow are in test_kit.py; these pin each hook's
rules: conflicts, the fulfilment's transaction, refunds' sums, reconciliation's claims,
the bounded notification log and the schema's versions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
import sqlalchemy as sa

from tests.support import payment_notification
from wxpay_mw import Order, OutTradeNoUsedError, Refund, WxPay, WxPayConfig, hookimpl, xmlmsg
from wxpay_mw.cli import main
from wxpay_mw.errors import RefundRefusedError, UnknownOrderError
from wxpay_mw.store import (
    SCHEMA_VERSION,
    OrderStore,
    SchemaError,
    current_version,
    make_engine,
    upgrade,
)
from wxpay_mw.store.tables import SCHEMA_VERSION_TABLE

from ._shop import Shop, host_for, shipments


@pytest.fixture
def store(store_url: str) -> Iterator[OrderStore]:
    """A store on fresh tables (and the shop's), disposed after the test."""
    host_for(store_url)
    made = OrderStore(store_url)
    yield made
    made.dispose()


def order(no: str = "S1", fee: int = 1000, body: str = "tea") -> Order:
    return Order(out_trade_no=no, total_fee=fee, body=body)


def notify(wxpay: WxPay, config: WxPayConfig, placed: Order) -> tuple[bytes, str]:
    body = payment_notification(
        appid=config.appid,
        mch_id=config.mch_id,
        key=config.api_key,
        out_trade_no=placed.out_trade_no,
        total_fee=placed.total_fee,
    )
    return body, xmlmsg.from_xml(wxpay.notify(body))["return_code"]


def refund(no: str, fee: int, status: str = "SUCCESS", trade: str = "S1") -> Refund:
    return Refund(
        out_trade_no=trade,
        out_refund_no=no,
        refund_id=f"50{no}",
        refund_fee=fee,
        total_fee=1000,
        refund_status=status,
    )


def paid(store: OrderStore, wxpay: WxPay, config: WxPayConfig, fee: int = 1000) -> Order:
    placed = order(fee=fee)
    store.wxpay_order_created(order=placed)
    assert notify(wxpay, config, placed)[1] == "SUCCESS"
    return placed


# -- orders ---------------------------------------------------------------------------------


def test_order_created_keeps_it_and_answers_the_stored_one(store: OrderStore) -> None:
    placed = order(body="乌龙茶")
    assert store.wxpay_order_created(order=placed) is None
    stored = store.get("S1")
    assert stored == placed  # the Chinese body too, on every database
    store.wxpay_order_prepaid(
        order=replace(placed, openid="o1", prepay_expires_at=9e9, sign_type="MD5"),
        prepay_id="wx1",
    )
    again = store.wxpay_order_created(order=placed)
    assert again is not None and (again.prepay_id, again.openid) == ("wx1", "o1")
    with pytest.raises(OutTradeNoUsedError, match="S1 for 1000 fen"):
        store.wxpay_order_created(order=order(fee=999))
    assert store.wxpay_load_order(out_trade_no="nope") is None


def test_prepaid_stores_an_order_no_hook_created(store: OrderStore) -> None:
    placed = Order(
        out_trade_no="S2",
        total_fee=5,
        body="b",
        openid="o2",
        prepay_expires_at=123.5,
        sign_type="HMAC-SHA256",
        extra={"goods_tag": "x"},
    )
    store.wxpay_order_prepaid(order=placed, prepay_id="wx2")
    stored = store.get("S2")
    assert stored is not None
    assert (stored.prepay_id, stored.prepay_expires_at, stored.sign_type) == (
        "wx2",
        123.5,
        "HMAC-SHA256",
    )
    assert stored.extra == {"goods_tag": "x"} and stored.status == "pending"


def test_a_failing_fulfilment_rolls_everything_back_and_the_retry_counts(
    store: OrderStore, store_url: str, wxpay_config: WxPayConfig
) -> None:
    shop = Shop(fail_fulfilment=1)
    with WxPay(wxpay_config, store, shop) as wxpay:
        placed = order()
        store.wxpay_order_created(order=placed)
        body, answer = notify(wxpay, wxpay_config, placed)
        assert answer == "FAIL"  # WeChat will retry
        assert store.get("S1").status == "pending"  # type: ignore[union-attr]
        assert shipments(store_url) == []  # the shop's row rolled back with it
        assert xmlmsg.from_xml(wxpay.notify(body))["return_code"] == "SUCCESS"
        assert xmlmsg.from_xml(wxpay.notify(body))["return_code"] == "SUCCESS"
    transaction_id = xmlmsg.from_xml(body)["transaction_id"]
    assert shop.fulfilled == ["S1"]
    assert shipments(store_url) == [("S1", transaction_id)]
    stored = store.get("S1")
    assert stored is not None and (stored.status, stored.transaction_id) == (
        "paid",
        transaction_id,
    )
    (logged,) = store.notifications(kind="payment")
    assert (logged["ref"], logged["deliveries"], logged["answer"]) == ("S1", 2, "SUCCESS")
    assert logged["fields"]["transaction_id"] == transaction_id
    assert store.notification(logged["id"]) == logged
    assert store.notification(10**9) is None


def test_a_store_must_be_registered_with_one_wxpay(
    store: OrderStore, wxpay_config: WxPayConfig
) -> None:
    placed = order()
    store.wxpay_order_created(order=placed)
    payment = Shop  # any object: the store refuses before reading it
    with pytest.raises(RuntimeError, match="registered with no WxPay"):
        store.wxpay_order_paid(order=placed, payment=payment)  # type: ignore[arg-type]
    with (
        WxPay(wxpay_config, store, Shop()),
        pytest.raises(RuntimeError, match="one OrderStore per"),
    ):
        WxPay(wxpay_config, store, Shop())


def test_closed_orders_and_a_late_payment(store: OrderStore, wxpay_config: WxPayConfig) -> None:
    with WxPay(wxpay_config, store, Shop()) as wxpay:
        placed = order()
        store.wxpay_order_created(order=placed)
        store.wxpay_order_closed(order=placed, fields={"trade_state": "CLOSED"})
        assert store.get("S1").status == "closed"  # type: ignore[union-attr]
        assert notify(wxpay, wxpay_config, placed)[1] == "SUCCESS"
        store.wxpay_order_closed(order=placed, fields={"trade_state": "CLOSED"})
        assert store.get("S1").status == "paid"  # type: ignore[union-attr]


def test_orders_list_newest_first(store: OrderStore) -> None:
    for no in ("A1", "A2", "A3"):
        store.wxpay_order_created(order=order(no))
    store.wxpay_order_closed(order=order("A2"), fields={})
    assert [o["out_trade_no"] for o in store.orders()] == ["A3", "A2", "A1"]
    assert [o["out_trade_no"] for o in store.orders(status="closed")] == ["A2"]
    assert [o["out_trade_no"] for o in store.orders(limit=1)] == ["A3"]


# -- refunds --------------------------------------------------------------------------------


def test_refund_notifications_are_idempotent_and_complete_the_order(
    store: OrderStore, wxpay_config: WxPayConfig
) -> None:
    with WxPay(wxpay_config, store, Shop()) as wxpay:
        paid(store, wxpay, wxpay_config)
    store.wxpay_refund_notified(refund=refund("R1", 400))
    store.wxpay_refund_notified(refund=refund("R1", 400))  # WeChat's duplicate
    store.wxpay_refund_notified(refund=refund("R2", 600, "CHANGE"))
    assert store.get("S1").status == "paid"  # type: ignore[union-attr]
    store.wxpay_refund_notified(refund=refund("R2", 600))
    assert store.get("S1").status == "refunded"  # type: ignore[union-attr]
    assert [(r.out_refund_no, r.refund_status) for r in store.refunds("S1")] == [
        ("R1", "SUCCESS"),
        ("R2", "SUCCESS"),
    ]
    store.wxpay_refund_notified(refund=refund("R2", 600, "REFUNDCLOSE"))  # final: ignored
    assert store.refunds("S1")[1].refund_status == "SUCCESS"
    logged = store.notifications(kind="refund")
    assert [(n["ref"], n["deliveries"]) for n in logged] == [("R1", 2), ("R2", 3)]


def test_refund_requests_reserve_the_amount_atomically(
    store: OrderStore, wxpay_config: WxPayConfig
) -> None:
    with pytest.raises(UnknownOrderError):
        store.wxpay_refund_requested(
            out_trade_no="S1", out_refund_no="R0", refund_fee=1, reason=None
        )
    store.wxpay_order_created(order=order())
    with pytest.raises(RefundRefusedError, match="pending, not paid") as unpaid:
        store.wxpay_refund_requested(
            out_trade_no="S1", out_refund_no="R0", refund_fee=1, reason=None
        )
    assert unpaid.value.reason == "not_paid"
    with WxPay(wxpay_config, store, Shop()) as wxpay:
        assert notify(wxpay, wxpay_config, order())[1] == "SUCCESS"

    # Eight threads each ask for 300 of the 1000 fen: exactly three can have them.
    results: list[object] = []
    start = threading.Barrier(8)

    def ask(n: int) -> None:
        start.wait()
        try:
            results.append(
                store.wxpay_refund_requested(
                    out_trade_no="S1", out_refund_no=f"T{n}", refund_fee=300, reason="r"
                )
            )
        except RefundRefusedError as exc:
            results.append(exc.reason)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    made = [r for r in results if isinstance(r, Refund)]
    assert len(made) == 3 and results.count("too_much") == 5
    assert all(r.refund_status == "REQUESTED" and r.total_fee == 1000 for r in made)

    first = made[0]
    same = store.wxpay_refund_requested(
        out_trade_no="S1", out_refund_no=first.out_refund_no, refund_fee=300, reason="r"
    )
    assert same == first  # a retry after a timeout is the same refund
    with pytest.raises(ValueError, match="use a new out_refund_no"):
        store.wxpay_refund_requested(
            out_trade_no="S1", out_refund_no=first.out_refund_no, refund_fee=200, reason=None
        )
    # WeChat refuses one: its 300 fen are free again, once.
    refused = replace(first, refund_status="FAILED")
    store.wxpay_refund_updated(refund=refused)
    store.wxpay_refund_updated(refund=refused)
    again = store.wxpay_refund_requested(
        out_trade_no="S1", out_refund_no="T9", refund_fee=300, reason=None
    )
    assert again.refund_status == "REQUESTED"
    with pytest.raises(RefundRefusedError, match="900 fen are already"):
        store.wxpay_refund_requested(
            out_trade_no="S1", out_refund_no="T10", refund_fee=101, reason=None
        )


# -- reconciliation ---------------------------------------------------------------------------


def test_pending_orders_are_claimed_by_one_machine_at_a_time(store_url: str) -> None:
    host_for(store_url)
    one, two = OrderStore(store_url), OrderStore(store_url, claim_seconds=-1)
    try:
        for no in ("P1", "P2", "P3"):
            one.wxpay_order_created(order=order(no))
        for no in ("P1", "P2"):
            one.wxpay_order_prepaid(order=order(no), prepay_id=f"wx{no}")
        cutoff = 9e9
        claimed = [o.out_trade_no for o in one.wxpay_pending_orders(older_than=cutoff, limit=1)]
        assert claimed == ["P1"]
        assert [o.prepay_id for o in two.wxpay_pending_orders(older_than=cutoff, limit=10)] == [
            "wxP2"  # P1 is claimed by the first machine, P3 was never placed with WeChat
        ]
        # The second machine's lease is already over (claim_seconds=-1): P2 is free.
        assert [o.out_trade_no for o in one.wxpay_pending_orders(older_than=cutoff, limit=10)] == [
            "P2"
        ]
        assert one.wxpay_pending_orders(older_than=0, limit=10) == []
    finally:
        one.dispose()
        two.dispose()


# -- the notification log -------------------------------------------------------------------


def test_rejected_notifications_are_bounded(store_url: str) -> None:
    host_for(store_url)
    store = OrderStore(store_url, max_rejected=3, max_rejected_bytes=100)
    try:
        for n in range(6):
            store.wxpay_notify_rejected(reason="bad_sign", fields={"out_trade_no": f"F{n}"})
        huge = {"out_trade_no": "F9", "junk": "假" * 10_000}
        store.wxpay_notify_rejected(reason="bad_xml", fields=huge)
        kept = store.notifications(kind="rejected")
        assert [n["out_trade_no"] for n in kept] == ["F4", "F5", "F9"]
        cut = kept[-1]
        assert cut["truncated"] and len(cut["fields"].encode()) <= 100
        whole = json.dumps(huge, ensure_ascii=False, sort_keys=True)
        assert cut["size"] == len(whole.encode()) and cut["answer"] == "FAIL"
        assert kept[0]["fields"] == {"out_trade_no": "F4"} and not kept[0]["truncated"]
    finally:
        store.dispose()


def test_failed_payments_are_logged_once_per_order(store: OrderStore) -> None:
    fields = {"out_trade_no": "S1", "err_code": "NOTENOUGH"}
    store.wxpay_payment_failed(order=order(), fields=fields)
    store.wxpay_payment_failed(order=order(), fields=fields)
    (logged,) = store.notifications()
    assert (logged["kind"], logged["reason"], logged["deliveries"]) == (
        "payment_failed",
        "NOTENOUGH",
        2,
    )


def test_a_log_that_fails_never_fails_the_payment(
    store: OrderStore, wxpay_config: WxPayConfig, caplog: pytest.LogCaptureFixture
) -> None:
    with store.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE wxpay_notifications"))
    with WxPay(wxpay_config, store, Shop()) as wxpay:
        placed = order()
        store.wxpay_order_created(order=placed)
        assert notify(wxpay, wxpay_config, placed)[1] == "SUCCESS"
    assert store.get("S1").status == "paid"  # type: ignore[union-attr]
    assert "could not log the payment notification for S1" in caplog.text


# -- engines and the schema -------------------------------------------------------------------


def test_upgrade_is_idempotent_and_refuses_a_newer_schema(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        assert upgrade(engine) == (0, SCHEMA_VERSION)
        assert upgrade(engine) == (SCHEMA_VERSION, SCHEMA_VERSION)
        with engine.begin() as connection:
            assert current_version(connection) == SCHEMA_VERSION
            connection.execute(sa.update(SCHEMA_VERSION_TABLE).values(version=99))
        with pytest.raises(SchemaError, match="newer than this wxpay-mw's"):
            upgrade(engine)
    finally:
        engine.dispose()


def test_db_command_creates_and_reports_the_schema(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "version", "--url", store_url]) == 1
    assert json.loads(capsys.readouterr().out) == {"version": 0, "package_version": 1}
    assert main(["db", "upgrade", "--url", store_url]) == 0
    assert json.loads(capsys.readouterr().out) == {"version_before": 0, "version": 1}
    assert main(["db", "version", "--url", store_url]) == 0
    assert main(["db", "upgrade"]) == 2
    assert "pass --url or set WXPAY_DB_URL" in capsys.readouterr().err


def test_engines_for_each_backend() -> None:
    pg = make_engine("postgresql://u@h/db")
    my = make_engine("mysql://u@h/db")
    try:
        assert pg.url.drivername == "postgresql+psycopg"
        assert my.url.drivername == "mysql+pymysql" and my.url.query["charset"] == "utf8mb4"
    finally:
        pg.dispose()
        my.dispose()
    with pytest.raises(ValueError, match="unsupported database 'oracle'"):
        make_engine("oracle://u@h/db")


def test_a_store_on_the_hosts_engine_leaves_it_open(store_url: str) -> None:
    engine = make_engine(store_url)
    store = OrderStore(engine).create_all()
    store.dispose()
    with engine.connect() as connection:  # still usable
        assert current_version(connection) == SCHEMA_VERSION
    assert "OrderStore(" in repr(store) and "password" not in repr(store)
    engine.dispose()


def test_an_async_fulfilment_on_the_sync_store_fails_loudly(
    store: OrderStore, wxpay_config: WxPayConfig
) -> None:
    class AsyncShop:
        @hookimpl
        async def wxpay_fulfil_order(
            self, order: Order, payment: object, connection: object
        ) -> None:
            raise AssertionError("never run")

    with WxPay(wxpay_config, store, Shop(ship=False), AsyncShop()) as wxpay:
        placed = order()
        store.wxpay_order_created(order=placed)
        assert notify(wxpay, wxpay_config, placed)[1] == "FAIL"
    assert store.get("S1").status == "pending"  # type: ignore[union-attr]
