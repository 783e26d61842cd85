"""AsyncOrderStore on SQLite (aiosqlite), PostgreSQL (psycopg async) and MariaDB
(aiomysql): the same tables and rules as OrderStore, with async hooks awaited directly."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from wxpay_mw import Order, Payment, Refund, WxPay, WxPayConfig, hookimpl, xmlmsg
from wxpay_mw._kit import PAY_KEYS
from wxpay_mw.errors import RefundRefusedError
from wxpay_mw.sansio import Request
from wxpay_mw.simulator import Simulator
from wxpay_mw.store import AsyncOrderStore, make_async_engine

from ._shop import SHIPMENTS, host_for, shipments

T = TypeVar("T")


class AsyncShop:
    """An async host: its fulfilment writes through the paid transaction's connection."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.fulfilled: list[str] = []

    @hookimpl
    async def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Order:
        return Order(out_trade_no=payload["order_no"], total_fee=1000, body="b")

    @hookimpl
    async def wxpay_fulfil_order(self, order: Order, payment: Payment, connection: Any) -> None:
        await connection.execute(
            sa.insert(SHIPMENTS).values(
                out_trade_no=order.out_trade_no, transaction_id=payment.transaction_id
            )
        )
        if self.fail:
            self.fail -= 1
            raise RuntimeError("the warehouse is down")
        self.fulfilled.append(order.out_trade_no)


def payment(no: str = "A1", fee: int = 1000, transaction_id: str = "4200A1") -> Payment:
    return Payment(
        out_trade_no=no,
        transaction_id=transaction_id,
        total_fee=fee,
        openid="o",
        time_end="20240101120000",
        fields={"out_trade_no": no, "sign": "S"},
    )


def run(
    store_url: str, config: WxPayConfig, test: Callable[[AsyncOrderStore, AsyncShop], Awaitable[T]]
) -> T:
    """Run ``test`` against a store on fresh tables, wired to a WxPay with an async shop."""
    host_for(store_url)  # the tables, created by the synchronous store

    async def main() -> T:
        store, shop = AsyncOrderStore(store_url), AsyncShop()
        try:
            with WxPay(config, store, shop):
                return await test(store, shop)
        finally:
            await store.dispose()

    return asyncio.run(main())


def test_many_concurrent_paid_calls_fulfil_once(store_url: str, wxpay_config: WxPayConfig) -> None:
    async def test(store: AsyncOrderStore, shop: AsyncShop) -> Order | None:
        order = Order(out_trade_no="A1", total_fee=1000, body="茶")
        assert await store.wxpay_order_created(order=order) is None
        await asyncio.gather(
            *(store.wxpay_order_paid(order=order, payment=payment()) for _ in range(16))
        )
        assert shop.fulfilled == ["A1"]
        (logged,) = await store.notifications(kind="payment")
        assert logged["deliveries"] == 16
        return await store.get("A1")

    stored = run(store_url, wxpay_config, test)
    assert stored is not None and (stored.status, stored.transaction_id) == ("paid", "4200A1")
    assert shipments(store_url) == [("A1", "4200A1")]


def test_a_failing_async_fulfilment_rolls_back(store_url: str, wxpay_config: WxPayConfig) -> None:
    async def test(store: AsyncOrderStore, shop: AsyncShop) -> None:
        shop.fail = 1
        order = Order(out_trade_no="A1", total_fee=1000, body="b")
        await store.wxpay_order_created(order=order)
        with pytest.raises(RuntimeError, match="warehouse"):
            await store.wxpay_order_paid(order=order, payment=payment())
        assert (await store.get("A1")).status == "pending"  # type: ignore[union-attr]
        await store.wxpay_order_paid(order=order, payment=payment())
        await store.wxpay_order_paid(order=order, payment=payment())
        assert shop.fulfilled == ["A1"]

    run(store_url, wxpay_config, test)
    assert shipments(store_url) == [("A1", "4200A1")]


def test_orders_refunds_claims_and_the_log(store_url: str, wxpay_config: WxPayConfig) -> None:
    async def test(store: AsyncOrderStore, shop: AsyncShop) -> None:
        order = Order(out_trade_no="A1", total_fee=1000, body="b")
        await store.wxpay_order_created(order=order)
        same = await store.wxpay_order_created(order=order)
        assert same is not None and same.out_trade_no == "A1"
        await store.wxpay_order_prepaid(order=order, prepay_id="wxA1")
        (claimed,) = await store.wxpay_pending_orders(older_than=9e9, limit=5)
        assert claimed.prepay_id == "wxA1"
        assert await store.wxpay_pending_orders(older_than=9e9, limit=5) == []  # leased
        await store.wxpay_order_paid(order=order, payment=payment())

        asked = await asyncio.gather(
            *(
                store.wxpay_refund_requested(
                    out_trade_no="A1", out_refund_no=f"R{n}", refund_fee=400, reason=None
                )
                for n in range(4)
            ),
            return_exceptions=True,
        )
        assert sum(isinstance(a, Refund) for a in asked) == 2
        assert sum(isinstance(a, RefundRefusedError) for a in asked) == 2
        for made in [a for a in asked if isinstance(a, Refund)]:
            await store.wxpay_refund_notified(
                refund=Refund("A1", made.out_refund_no, "r", 400, 1000, "SUCCESS")
            )
        await store.wxpay_refund_updated(refund=Refund("A1", "R9", "r", 200, 1000, "SUCCESS"))
        assert (await store.get("A1")).status == "refunded"  # type: ignore[union-attr]
        assert [r.refund_status for r in await store.refunds("A1")] == ["SUCCESS"] * 3

        await store.wxpay_order_closed(order=order, fields={})  # paid stays paid
        await store.wxpay_payment_failed(order=order, fields={"err_code": "NOTENOUGH"})
        for n in range(3):
            await store.wxpay_notify_rejected(reason="bad_sign", fields={"n": str(n)})
        store.max_rejected = 1
        await store.wxpay_notify_rejected(reason="bad_xml", fields={})
        rejected = await store.notifications(kind="rejected")
        assert [r["reason"] for r in rejected] == ["bad_xml"]  # only the newest one kept
        assert "AsyncOrderStore(" in repr(store)

    run(store_url, wxpay_config, test)


def test_create_all_and_an_unregistered_store(tmp_path: Any) -> None:
    async def main() -> None:
        engine = make_async_engine(f"sqlite:///{tmp_path}/a.db")
        store = await AsyncOrderStore(engine).create_all()
        order = Order(out_trade_no="A1", total_fee=1, body="b")
        await store.wxpay_order_created(order=order)
        with pytest.raises(RuntimeError, match="registered with no WxPay"):
            await store.wxpay_order_paid(order=order, payment=payment(fee=1))
        await store.dispose()  # the engine is the caller's: still usable
        assert (await store.get("A1")) is not None
        await engine.dispose()

    asyncio.run(main())


def test_an_async_host_takes_a_payment_and_refunds_half_without_a_thread(
    store_url: str, wxpay_simulator: Simulator
) -> None:
    # Async hooks, the async store, the async client: prepay, notify and the money
    # operations all run on the event loop (offloading anything is an error here).
    from wxpay_mw.aclient import AsyncWeChatClient

    config = wxpay_simulator.config(notify_url="http://127.0.0.1:9/wxpay/notify")
    host_for(store_url)

    async def no_threads(fn: Any) -> Any:
        raise AssertionError(f"offloaded to a thread: {fn}")

    async def main() -> tuple[list[Refund], str, dict[str, str]]:
        store, shop = AsyncOrderStore(store_url), AsyncShop()
        aclient = AsyncWeChatClient(config)
        try:
            with WxPay(config, store, shop, aclient=aclient) as wxpay:
                # ahandle with an offload that refuses: nothing may leave the loop.
                async def prepay(order_no: str) -> dict[str, str]:
                    body = json.dumps({"order_no": order_no, "code": wxpay_simulator.login()})
                    request = Request(
                        "POST", "/prepay", {"content-type": "application/json"}, body.encode()
                    )
                    answer = await wxpay.ahandle(request, no_threads)
                    assert answer.status == 200, answer.body
                    data: dict[str, str] = json.loads(answer.body)
                    return data

                params = await prepay("AS1")
                await asyncio.to_thread(wxpay_simulator.pay, {k: params[k] for k in PAY_KEYS})
                log = await asyncio.to_thread(
                    wxpay_simulator.wait_for_notifications, lambda log: len(log) == 1
                )
                note = Request("POST", "/notify", {}, log[0]["body"].encode())
                acked = await wxpay.ahandle(note, no_threads)
                assert xmlmsg.from_xml(acked.body)["return_code"] == "SUCCESS"
                half = await wxpay.arefund("AS1", 500, reason="half")
                assert (half.refund_status, half.refund_fee) == ("PROCESSING", 500)
                refunds = await wxpay.arefund_query(out_trade_no="AS1")
                await prepay("AS2")
                closed = await wxpay.aclose_order("AS2")
                queried = await wxpay.aquery("AS1")
                return refunds, closed, queried
        finally:
            await aclient.aclose()
            await store.dispose()

    refunds, closed, queried = asyncio.run(main())
    assert [(r.out_trade_no, r.refund_fee) for r in refunds] == [("AS1", 500)]
    assert closed == "closed"
    assert queried["trade_state"] == "REFUND"
    assert shipments(store_url)[0][0] == "AS1"
