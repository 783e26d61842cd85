"""GET /orders/{no} is not public: the status token or the host decides, and polls are cheap."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.flow.conftest import answer, call, post_json, status
from tests.support import MemoryStore
from wxpay_mw import WxPay, WxPayConfig
from wxpay_mw.sansio import Request
from wxpay_mw.simulator import Simulator

NOT_FOUND = {"error": "unknown_order", "message": "no order 'P1'"}


@pytest.fixture
def placed(wxpay: WxPay, wxpay_simulator: Simulator) -> dict[str, Any]:
    """A placed, unpaid order P1: the prepay answer."""
    data = answer(
        post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple", "order_no": "P1"})
    )
    assert data["out_trade_no"] == "P1"
    return data


def test_the_prepay_token_shows_the_order(wxpay: WxPay, placed: dict[str, Any]) -> None:
    shown = status(wxpay, "P1", placed["status_token"])
    assert shown.status == 200
    assert answer(shown) == {"out_trade_no": "P1", "status": "pending", "total_fee": 100}


@pytest.mark.parametrize(
    "token",
    [None, "", "not-a-token", "P1"],
    ids=["no-header", "empty", "wrong", "order-number"],
)
def test_without_the_token_the_order_does_not_exist(
    wxpay: WxPay, placed: dict[str, Any], token: str | None
) -> None:
    headers = {} if token is None else {"x-wxpay-token": token}
    response = call(wxpay, "GET", "/orders/P1", headers=headers)
    unknown = call(wxpay, "GET", "/orders/NOSUCH", headers={"x-wxpay-token": "x"})
    assert response.status == unknown.status == 404
    assert answer(response) == NOT_FOUND


def test_another_orders_token_does_not_open_this_one(
    wxpay: WxPay, placed: dict[str, Any], wxpay_simulator: Simulator
) -> None:
    other = answer(post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "pear"}))
    assert status(wxpay, "P1", other["status_token"]).status == 404
    assert status(wxpay, other["out_trade_no"], other["status_token"]).status == 200


def test_tokens_differ_per_merchant_key(wxpay: WxPay, wxpay_config: WxPayConfig) -> None:
    other_key = wxpay_config.with_changes(api_key="k" * 32)
    with WxPay(other_key, MemoryStore()) as other:
        assert other.status_token("P1") != wxpay.status_token("P1")
    assert len(wxpay.status_token("P1")) == 22


class SessionAccess(MemoryStore):
    """A host with its own login: the order's openid against the session's."""

    def wxpay_may_view_order(self, out_trade_no: str, request: Request) -> bool | None:
        user = request.headers.get("x-session-openid")
        if user is None:
            return None  # no session: fall back to the token
        order = self.get(out_trade_no)
        return order is not None and order.openid == user


def test_wxpay_may_view_order_decides_for_hosts_with_sessions(
    wxpay_config: WxPayConfig, wxpay_simulator: Simulator
) -> None:
    store = SessionAccess()
    with WxPay(wxpay_config, store) as wxpay:
        code = wxpay_simulator.login("oSession01")
        data = answer(post_json(wxpay, {"code": code, "sku": "apple", "order_no": "P1"}))

        def get(headers: dict[str, str]) -> int:
            return call(wxpay, "GET", "/orders/P1", headers=headers).status

        assert get({"x-session-openid": "oSession01"}) == 200
        # The hook's False wins over a valid token.
        assert get({"x-session-openid": "oOther", "x-wxpay-token": data["status_token"]}) == 404
        assert get({"x-wxpay-token": data["status_token"]}) == 200  # None: the token decides
        assert get({}) == 404


def test_a_pending_order_is_asked_about_once_per_interval(
    wxpay: WxPay,
    placed: dict[str, Any],
    wxpay_simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Each orderquery that reaches the simulator fails and is logged: count the lines.
    wxpay_simulator.add_fault("/pay/orderquery", "http_500", count=50)
    for _ in range(20):
        assert answer(status(wxpay, "P1"))["status"] == "pending"
    asked = [r for r in caplog.records if r.getMessage().startswith("orderquery P1 failed")]
    assert len(asked) == 1


def test_with_no_interval_every_poll_asks(
    wxpay_config: WxPayConfig, wxpay_simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    with WxPay(wxpay_config, MemoryStore(), status_query_interval=0) as wxpay:
        answer(
            post_json(wxpay, {"code": wxpay_simulator.login(), "sku": "apple", "order_no": "P1"})
        )
        wxpay_simulator.add_fault("/pay/orderquery", "http_500", count=50)
        for _ in range(5):
            status(wxpay, "P1")
    asked = [r for r in caplog.records if r.getMessage().startswith("orderquery P1 failed")]
    assert len(asked) == 5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"status_query_interval": -1}, "status_query_interval must be zero or more seconds"),
        ({"status_query_concurrency": 0}, "status_query_concurrency must be at least 1"),
    ],
)
def test_bad_status_query_limits_are_refused(
    wxpay_config: WxPayConfig, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        WxPay(wxpay_config, MemoryStore(), **options)


def test_concurrent_polls_ask_wechat_once(
    wxpay: WxPay,
    placed: dict[str, Any],
    wxpay_simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 80 polls at once of one pending order (an attacker's own, say): one orderquery
    # goes out, the other polls are answered from the store.
    wxpay_simulator.add_fault("/pay/orderquery", "http_500", count=100)
    with ThreadPoolExecutor(80) as pool:
        answers = list(pool.map(lambda _: status(wxpay, "P1").status, range(80)))
    assert answers == [200] * 80
    asked = [r for r in caplog.records if r.getMessage().startswith("orderquery P1 failed")]
    assert len(asked) == 1
