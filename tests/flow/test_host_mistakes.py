"""The mistakes host developers make, each ending loudly: never a silent SUCCESS.

Every case is a plugin (or wiring) a newcomer could plausibly write. Each must end in
an error at start-up, or in a FAIL / 4xx / 5xx answer with a log line, and never in a
SUCCESS to WeChat without the payment recorded in the host's store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask

from adapters.flask import WxPayFlask
from adapters.wsgi import WxPayWSGIMiddleware
from tests.flow.conftest import answer, post_json
from tests.support import MemoryStore, payment_notification
from wxpay_mw import Order, Payment, WxPay, WxPayConfig, hookimpl, xmlmsg
from wxpay_mw.errors import SetupError
from wxpay_mw.simulator import Simulator

NO = "MISTAKE1"


def pending(store: MemoryStore) -> Order:
    """A placed, unpaid order in ``store``."""
    order = Order(
        out_trade_no=NO,
        total_fee=100,
        body="测试商店-apple",
        openid="oMistake",
        prepay_id="wx_prepay_1",
        prepay_expires_at=4e9,
        sign_type="MD5",
    )
    store.put(order)
    return order


def genuine(config: WxPayConfig) -> bytes:
    """A correctly signed notification that NO was paid in full."""
    return payment_notification(
        appid=config.appid, mch_id=config.mch_id, key=config.api_key, out_trade_no=NO, total_fee=100
    )


def return_code(answer_xml: bytes) -> str:
    return xmlmsg.from_xml(answer_xml)["return_code"]


def assert_not_acknowledged(
    answer_xml: bytes, store: MemoryStore, caplog: pytest.LogCaptureFixture, logged: str
) -> None:
    """FAIL to WeChat, nothing recorded, and an ERROR line that says why."""
    assert return_code(answer_xml) == "FAIL"
    stored = store.get(NO)
    assert stored is not None and stored.status == "pending"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(logged in message for message in errors), errors


# -- hooks written wrongly ------------------------------------------------------------


class AsyncPaid(MemoryStore):
    """FastAPI habits: ``async def`` by reflex."""

    async def wxpay_order_paid(self, order: Order, payment: Payment) -> None:  # type: ignore[override]
        MemoryStore.wxpay_order_paid(self, order, payment)


class ForgotDecorator:
    """Every hook without @hookimpl: still hooks, since they are named wxpay_*."""

    def __init__(self) -> None:
        self.store = MemoryStore()

    def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Order | None:
        return self.store.wxpay_create_order(openid, payload)

    def wxpay_order_prepaid(self, order: Order, prepay_id: str) -> None:
        self.store.wxpay_order_prepaid(order, prepay_id)

    def wxpay_load_order(self, out_trade_no: str) -> Order | None:
        return self.store.wxpay_load_order(out_trade_no)

    def wxpay_order_paid(self, order: Order, payment: Payment) -> None:
        self.store.wxpay_order_paid(order, payment)


class PaidDoesNothing(MemoryStore):
    """A paid hook that forgot to write anything (or wrote to another database)."""

    def wxpay_order_paid(self, order: Order, payment: Payment) -> None:
        """Does nothing."""


class LoaderReturnsDict(MemoryStore):
    """A loader that returns the row instead of an Order."""

    def wxpay_load_order(self, out_trade_no: str) -> Any:
        order = self.get(out_trade_no)
        return None if order is None else {"out_trade_no": order.out_trade_no}


class StoreIsDown(MemoryStore):
    """The database is unreachable while the notification arrives."""

    def wxpay_order_paid(self, order: Order, payment: Payment) -> None:
        raise ConnectionError("could not connect to the database")


def test_an_async_paid_hook_under_synchronous_code_is_never_a_silent_success(
    wxpay_config: WxPayConfig, caplog: pytest.LogCaptureFixture
) -> None:
    store = AsyncPaid()
    pending(store)
    with WxPay(wxpay_config, store) as wxpay:
        answer_xml = wxpay.notify(genuine(wxpay_config))
    assert_not_acknowledged(answer_xml, store, caplog, "wxpay_order_paid returned an awaitable")


@pytest.mark.parametrize("adapter", ["flask", "wsgi"])
def test_an_async_hook_is_refused_at_start_up_by_a_synchronous_adapter(
    wxpay_config: WxPayConfig, adapter: str
) -> None:
    with WxPay(wxpay_config, AsyncPaid()) as wxpay, pytest.raises(SetupError) as raised:
        if adapter == "flask":
            WxPayFlask(Flask(__name__), wxpay=wxpay)
        else:
            WxPayWSGIMiddleware(lambda environ, start: [], wxpay)
    assert "AsyncPaid.wxpay_order_paid is 'async def'" in str(raised.value)
    assert "write it as a plain 'def'" in str(raised.value)


def test_an_async_hook_registered_after_a_synchronous_adapter_is_refused(
    wxpay_config: WxPayConfig,
) -> None:
    with WxPay(wxpay_config) as wxpay:
        WxPayWSGIMiddleware(lambda environ, start: [], wxpay)
        with pytest.raises(SetupError, match="the WSGI adapter calls hooks from synchronous"):
            wxpay.register(AsyncPaid())
        # Refused whole: nothing of it stays registered.
        assert wxpay.plugin_manager.get_plugins() == set()


def test_hooks_without_the_decorator_are_hooks(wxpay_config: WxPayConfig) -> None:
    plugin = ForgotDecorator()
    pending(plugin.store)
    with WxPay(wxpay_config, plugin) as wxpay:
        assert return_code(wxpay.notify(genuine(wxpay_config))) == "SUCCESS"
    assert plugin.store.paid_reactions == [NO]


def test_a_paid_hook_that_records_nothing_is_answered_fail(
    wxpay_config: WxPayConfig, caplog: pytest.LogCaptureFixture
) -> None:
    store = PaidDoesNothing()
    pending(store)
    with WxPay(wxpay_config, store) as wxpay:
        answer_xml = wxpay.notify(genuine(wxpay_config))
        assert_not_acknowledged(answer_xml, store, caplog, "the payment was not recorded")
        # The status endpoint does not paper over it with what WeChat said either.
        assert wxpay.order_status(NO)["status"] == "pending"


@pytest.mark.parametrize(
    ("plugin", "logged"),
    [
        (LoaderReturnsDict, "wxpay_load_order returned dict, expected a wxpay_mw.Order"),
        (StoreIsDown, "payment notification for 'MISTAKE1' failed"),
    ],
    ids=["loader-returns-dict", "store-is-down"],
)
def test_a_broken_store_is_answered_fail_and_logged(
    wxpay_config: WxPayConfig,
    caplog: pytest.LogCaptureFixture,
    plugin: Callable[[], MemoryStore],
    logged: str,
) -> None:
    store = plugin()
    pending(store)
    with WxPay(wxpay_config, store) as wxpay:
        answer_xml = wxpay.notify(genuine(wxpay_config))
    assert_not_acknowledged(answer_xml, store, caplog, logged)


# -- wiring written wrongly -----------------------------------------------------------


class OnlyPricing:
    """A plugin with prices and nothing else: no store at all."""

    @hookimpl
    def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Order:
        return Order(out_trade_no="P1", total_fee=100, body="shop-item")


def test_missing_required_hooks_fail_at_start_up_each_named(wxpay_config: WxPayConfig) -> None:
    with pytest.raises(SetupError) as raised:
        WxPay(wxpay_config, OnlyPricing())
    message = str(raised.value)
    assert message.startswith("wxpay-mw cannot take payments: no registered plugin implements")
    for hook in ("wxpay_load_order", "wxpay_order_prepaid", "wxpay_order_paid"):
        assert f"  - {hook}: without it, " in message
    assert "wxpay_create_order" not in message


def test_the_wired_hooks_are_logged_at_start_up(
    wxpay_config: WxPayConfig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wxpay_mw.app")
    with WxPay(wxpay_config, MemoryStore()):
        pass
    (line,) = [r.getMessage() for r in caplog.records if "hooks wired" in r.getMessage()]
    assert "wxpay_order_paid (tests.support.store.MemoryStore)" in line


def test_a_forgotten_register_fails_the_first_notification_loudly(
    wxpay_config: WxPayConfig, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore()  # built, never registered
    pending(store)
    with WxPay(wxpay_config) as wxpay:
        response = wxpay.handle(_notify_request(genuine(wxpay_config)))
    assert_not_acknowledged(response.body, store, caplog, "no registered plugin implements")


def test_a_misspelt_hook_name_is_refused_at_registration(wxpay_config: WxPayConfig) -> None:
    class Typo(MemoryStore):
        def wxpay_order_payed(self, order: Order, payment: Payment) -> None:
            """Would silently never be called."""

    with pytest.raises(SetupError, match="has wxpay_order_payed, which is no wxpay-mw hook"):
        WxPay(wxpay_config, Typo())


def test_a_prefix_that_swallows_the_host_app_is_refused(wxpay_config: WxPayConfig) -> None:
    with WxPay(wxpay_config, MemoryStore()) as wxpay:
        with pytest.raises(ValueError, match="would make wxpay-mw answer every path"):
            WxPayWSGIMiddleware(lambda environ, start: [], wxpay, prefix="/")
        app = Flask(__name__)
        app.config["WXPAY_URL_PREFIX"] = "/"
        with pytest.raises(ValueError, match="would make wxpay-mw answer every path"):
            WxPayFlask(app, wxpay=wxpay)


def test_reconcile_without_pending_orders_hook_is_an_error(wxpay_config: WxPayConfig) -> None:
    with WxPay(wxpay_config, ForgotDecorator()) as wxpay, pytest.raises(SetupError) as raised:
        wxpay.reconcile()
    assert "reconciliation needs the wxpay_pending_orders hook" in str(raised.value)


def test_a_refund_notification_without_a_refund_hook_is_answered_fail(
    wxpay_config: WxPayConfig, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support import refund_notification

    plugin = ForgotDecorator()
    body = refund_notification(
        appid=wxpay_config.appid,
        mch_id=wxpay_config.mch_id,
        key=wxpay_config.api_key,
        out_trade_no=NO,
        total_fee=100,
        refund_fee=100,
    )
    with WxPay(wxpay_config, plugin) as wxpay:
        assert return_code(wxpay.refund_notify(body)) == "FAIL"
    assert "no plugin implements wxpay_refund_notified" in caplog.text


# -- errors the shopper sees ------------------------------------------------------------


class Careless(MemoryStore):
    """Host code that raises ValueError itself, or prices in yuan floats."""

    def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Order | None:
        quantity = int(payload["qty"])  # "many" -> ValueError: the host's bug, not the shopper's
        return Order(out_trade_no="C1", total_fee=payload.get("price", 100) * quantity, body="x")


@pytest.mark.parametrize(
    "payload",
    [{"qty": "many"}, {"qty": 1, "price": 9.9}],
    ids=["value-error-in-host-code", "float-price"],
)
def test_a_host_bug_in_create_order_is_a_logged_500_never_shown(
    wxpay_config: WxPayConfig,
    wxpay_simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    payload: dict[str, Any],
) -> None:
    with WxPay(wxpay_config, Careless()) as wxpay:
        response = post_json(wxpay, {"code": wxpay_simulator.login(), **payload})
    assert response.status == 500
    assert answer(response) == {
        "error": "internal_error",
        "message": "the server failed to handle the request",
    }
    assert "POST /prepay failed" in caplog.text
    assert caplog.records[-1].exc_info is not None  # with its traceback


class CreatesDict(MemoryStore):
    def wxpay_create_order(self, openid: str, payload: dict[str, Any]) -> Any:
        return {"out_trade_no": "D1", "total_fee": 100}


def test_create_order_returning_the_wrong_type_is_a_logged_500(
    wxpay_config: WxPayConfig, wxpay_simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    with WxPay(wxpay_config, CreatesDict()) as wxpay:
        response = post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple"})
    assert response.status == 500
    assert "wxpay_create_order returned dict, expected a wxpay_mw.Order" in caplog.text


def test_pay_again_cannot_take_over_another_users_order(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    first = answer(post_json(wxpay, {"code": wxpay_simulator.login("oOwner01"), "sku": "apple"}))
    stored = store.get(first["out_trade_no"])
    assert stored is not None
    for owner in ("oOwner01", None):  # stored with its openid, or a store that lost it
        store.put(replace(stored, openid=owner))
        taken = post_json(
            wxpay, {"code": wxpay_simulator.login("oThief01"), "order_no": first["out_trade_no"]}
        )
        assert taken.status == 400
        assert answer(taken)["message"] == "this order belongs to another user: place a new order"
    assert len(store.called("wxpay_order_prepaid")) == 1


def _notify_request(body: bytes) -> Any:
    from wxpay_mw.sansio import Request

    return Request("POST", "/notify", {"content-type": "text/xml"}, body, "127.0.0.1")
