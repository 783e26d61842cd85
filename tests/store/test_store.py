"""The reference order store on real SQLite and PostgreSQL: exactly-once, prepay, audit."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from examples.catalogue import PRODUCTS, Catalogue
from examples.store import OrderStore
from tests.store._workers import deliver_paid
from wxpay_mw import Order, OrderRejectedError, Payment, Refund
from wxpay_mw.store import OrderStore as PackagedStore


def make_order(store: OrderStore, no: str = "T20240101000001", fee: int = 1280) -> Order:
    return store.add_order(Order(out_trade_no=no, total_fee=fee, body="demo-tea", openid="o-1"))


def payment_for(order: Order, transaction_id: str = "4200000001") -> Payment:
    fields = {
        "out_trade_no": order.out_trade_no,
        "transaction_id": transaction_id,
        "total_fee": str(order.total_fee),
        "result_code": "SUCCESS",
        "sign": "ABC",
    }
    return Payment(
        out_trade_no=order.out_trade_no,
        transaction_id=transaction_id,
        total_fee=order.total_fee,
        openid="o-1",
        time_end="20240101120000",
        fields=fields,
    )


def test_paid_reaction_once_under_concurrent_threads(db_url: str) -> None:
    reactions: list[str] = []
    store = OrderStore(db_url, on_paid=lambda order, payment: reactions.append(order.out_trade_no))
    order = make_order(store)
    payment = payment_for(order)
    threads_n = 24
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def deliver() -> None:
        barrier.wait()
        try:
            store.wxpay_order_paid(order=order, payment=payment)
        except BaseException as exc:  # collected: a failure in a thread must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert reactions == [order.out_trade_no]
    assert store.fulfilments() == [(order.out_trade_no, "4200000001")]
    stored = store.get(order.out_trade_no)
    assert stored is not None and stored.status == "paid"
    assert stored.transaction_id == "4200000001"
    # Every delivery is in the audit log, each acknowledged.
    log = store.notifications()
    assert [(e["kind"], e["answer"]) for e in log] == [("paid", "SUCCESS")] * threads_n


def test_paid_reaction_once_across_processes(db_url: str) -> None:
    store = OrderStore(db_url)
    order = make_order(store)
    payment = payment_for(order)
    ctx = multiprocessing.get_context("spawn")
    processes_n, times = 4, 5
    barrier = ctx.Barrier(processes_n)
    workers = [
        ctx.Process(target=deliver_paid, args=(db_url, barrier, order, payment, times))
        for _ in range(processes_n)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * processes_n
    assert store.fulfilments() == [(order.out_trade_no, "4200000001")]
    assert len(store.notifications()) == processes_n * times
    stored = store.get(order.out_trade_no)
    assert stored is not None and stored.status == "paid"


def test_failing_paid_reaction_rolls_back_so_the_retry_counts(db_url: str) -> None:
    calls: list[int] = []

    def flaky(order: Order, payment: Payment) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("warehouse down")

    store = OrderStore(db_url, on_paid=flaky)
    order = make_order(store)
    with pytest.raises(RuntimeError, match="warehouse down"):
        store.wxpay_order_paid(order=order, payment=payment_for(order))
    stored = store.get(order.out_trade_no)
    assert stored is not None and stored.status == "pending"
    assert store.fulfilments() == [] and store.notifications() == []

    store.wxpay_order_paid(order=order, payment=payment_for(order))  # WeChat's retry
    store.wxpay_order_paid(order=order, payment=payment_for(order))  # and a duplicate
    assert len(calls) == 2
    assert store.fulfilments() == [(order.out_trade_no, "4200000001")]


def test_prepay_id_persisted_and_reused(db_url: str) -> None:
    store = OrderStore(db_url)
    catalogue = Catalogue(store)
    order = catalogue.wxpay_create_order(openid="o-1", payload={"product_id": "dumplings"})
    order.prepay_id, order.prepay_expires_at = "wx-prepay-1", time.time() + 7000
    order.sign_type = "HMAC-SHA256"
    store.wxpay_order_prepaid(order=order, prepay_id="wx-prepay-1")

    loaded = store.wxpay_load_order(out_trade_no=order.out_trade_no)
    assert loaded is not None
    assert (loaded.prepay_id, loaded.sign_type, loaded.status) == (
        "wx-prepay-1",
        "HMAC-SHA256",
        "pending",
    )
    assert loaded.prepay_valid()
    # Paying the same order again hands back the stored order, prepay_id and all.
    again = catalogue.wxpay_create_order(openid="o-1", payload={"out_trade_no": order.out_trade_no})
    assert again == loaded


def test_prepaid_stores_an_order_the_catalogue_never_added(db_url: str) -> None:
    store = OrderStore(db_url)
    order = Order(
        out_trade_no="EXT1",
        total_fee=5,
        body="host-own",
        openid="o-9",
        prepay_id="wx-p",
        prepay_expires_at=time.time() + 60,
        sign_type="MD5",
    )
    store.wxpay_order_prepaid(order=order, prepay_id="wx-p")
    assert store.get("EXT1") == order


def test_catalogue_sets_the_price_and_refuses_strangers(tmp_path: Path) -> None:
    # The example shops' catalogue prices orders; the packaged store keeps them.
    store = PackagedStore(f"sqlite:///{tmp_path / 'shop.db'}").create_all()
    catalogue = Catalogue(store)
    order = catalogue.wxpay_create_order(
        openid="o-1", payload={"product_id": "mooncake", "total_fee": 1}
    )
    assert order.total_fee == PRODUCTS["mooncake"].price  # never the client's total_fee
    assert store.wxpay_order_created(order=order) is None  # stored as built
    assert catalogue.wxpay_create_order(
        openid="o-1", payload={"out_trade_no": order.out_trade_no}
    ) == store.get(order.out_trade_no)
    with pytest.raises(OrderRejectedError, match="unknown product"):
        catalogue.wxpay_create_order(openid="o-1", payload={"product_id": "caviar"})
    with pytest.raises(OrderRejectedError, match="no such order"):
        catalogue.wxpay_create_order(openid="o-2", payload={"out_trade_no": order.out_trade_no})
    store.dispose()


def test_pending_orders_lists_only_old_prepaid_pending_ones(db_url: str) -> None:
    store = OrderStore(db_url)
    orders = {no: make_order(store, no) for no in ("OLD1", "OLD2", "NOPREPAY", "PAID", "NEW")}
    for no in ("OLD1", "OLD2", "PAID"):
        store.wxpay_order_prepaid(order=orders[no], prepay_id=f"wx-{no}")
    store.wxpay_order_paid(order=orders["PAID"], payment=payment_for(orders["PAID"]))
    cutoff = time.time()
    while time.time() <= cutoff:  # prepaid_at of NEW must be strictly after the cutoff
        time.sleep(0.001)
    store.wxpay_order_prepaid(order=orders["NEW"], prepay_id="wx-NEW")

    pending = store.wxpay_pending_orders(older_than=cutoff, limit=10)
    assert [(o.out_trade_no, o.prepay_id) for o in pending] == [
        ("OLD1", "wx-OLD1"),
        ("OLD2", "wx-OLD2"),
    ]
    assert [o.out_trade_no for o in store.wxpay_pending_orders(older_than=cutoff, limit=1)] == [
        "OLD1"
    ]


def test_closed_order_and_a_late_verified_payment(db_url: str) -> None:
    store = OrderStore(db_url)
    order = make_order(store)
    store.wxpay_order_closed(order=order, fields={"trade_state": "CLOSED"})
    assert store.get(order.out_trade_no).status == "closed"  # type: ignore[union-attr]
    # WeChat's verified word that the money moved wins over our own close.
    store.wxpay_order_paid(order=order, payment=payment_for(order))
    assert store.get(order.out_trade_no).status == "paid"  # type: ignore[union-attr]
    store.wxpay_order_closed(order=order, fields={"trade_state": "CLOSED"})
    assert store.get(order.out_trade_no).status == "paid"  # type: ignore[union-attr]


def test_refunds_are_idempotent_and_a_full_refund_marks_the_order(db_url: str) -> None:
    store = OrderStore(db_url)
    order = make_order(store, fee=1000)
    store.wxpay_order_paid(order=order, payment=payment_for(order))

    def refund(no: str, fee: int, status: str = "SUCCESS") -> Refund:
        return Refund(
            out_trade_no=order.out_trade_no,
            out_refund_no=no,
            refund_id=f"r{no}",
            refund_fee=fee,
            total_fee=1000,
            refund_status=status,
        )

    store.wxpay_refund_notified(refund=refund("R1", 400))
    store.wxpay_refund_notified(refund=refund("R1", 400))  # WeChat's duplicate
    assert store.get(order.out_trade_no).status == "paid"  # type: ignore[union-attr]
    store.wxpay_refund_notified(refund=refund("R2", 600, "CHANGE"))
    assert store.get(order.out_trade_no).status == "paid"  # type: ignore[union-attr]
    store.wxpay_refund_notified(refund=refund("R2", 600))
    assert store.get(order.out_trade_no).status == "refunded"  # type: ignore[union-attr]


def test_notification_log_records_every_kind_with_its_answer(db_url: str) -> None:
    store = OrderStore(db_url)
    order = make_order(store)
    failed = {"out_trade_no": order.out_trade_no, "result_code": "FAIL", "err_code": "NOTENOUGH"}
    store.wxpay_payment_failed(order=order, fields=failed)
    store.wxpay_notify_rejected(
        reason="bad_sign",
        fields={"out_trade_no": order.out_trade_no, "sign": "FORGED", "body": "支付"},
    )
    store.wxpay_notify_rejected(reason="bad_xml", fields={})
    store.wxpay_order_paid(order=order, payment=payment_for(order))
    store.wxpay_refund_notified(
        refund=Refund(
            out_trade_no=order.out_trade_no,
            out_refund_no="R1",
            refund_id="r1",
            refund_fee=1,
            total_fee=order.total_fee,
            refund_status="SUCCESS",
        )
    )

    log = store.notifications()
    assert [(e["kind"], e["reason"], e["answer"], e["out_trade_no"]) for e in log] == [
        ("failed", "NOTENOUGH", "SUCCESS", order.out_trade_no),
        ("rejected", "bad_sign", "FAIL", order.out_trade_no),
        ("rejected", "bad_xml", "FAIL", None),
        ("paid", "notify", "SUCCESS", order.out_trade_no),
        ("refund", "SUCCESS", "SUCCESS", order.out_trade_no),
    ]
    assert log[0]["fields"] == failed
    assert log[1]["fields"]["body"] == "支付"  # kept as received, for replay
    assert log[3]["fields"]["sign"] == "ABC"
    assert all(e["received_at"] <= time.time() for e in log)


def test_unknown_database_url_is_refused() -> None:
    with pytest.raises(ValueError, match="sqlite:/// or postgresql://"):
        OrderStore("mysql://localhost/shop")


def test_forged_traffic_cannot_fill_the_disk(db_url: str) -> None:
    store = OrderStore(db_url, rejected_kept=5)
    huge = {"out_trade_no": "X" * 5000, "junk": "垃圾" * 20_000}
    for n in range(12):
        store.wxpay_notify_rejected(reason="bad_sign", fields={**huge, "n": str(n)})
    store.wxpay_notify_rejected(reason="bad_xml", fields={"n": "small"})
    rejected = [r for r in store.notifications() if r["kind"] == "rejected"]
    assert len(rejected) == 5  # the newest five, however many arrived
    assert rejected[-1]["fields"] == {"n": "small"}  # a small one is kept whole
    for row in rejected[:-1]:
        assert set(row["fields"]) == {"truncated", "sha256"}  # the size and a hash, no payload
        assert len(row["out_trade_no"]) == 64
