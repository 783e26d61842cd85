"""Order's own checks: what the host's wxpay_create_order returns is refused early."""

from __future__ import annotations

import re

import pytest

from wxpay_mw import Order
from wxpay_mw._checks import OUT_REFUND_NO, OUT_TRADE_NO


@pytest.mark.parametrize("number", ["ORDER1\n", "ORDER1\r\n", "\nORDER1", "ORDER\n1"])
def test_an_order_number_with_a_newline_is_refused(number: str) -> None:
    with pytest.raises(ValueError, match=r"out_trade_no .* is not valid"):
        Order(out_trade_no=number, total_fee=100, body="shop-item")


def test_a_time_expire_with_a_trailing_newline_is_refused() -> None:
    assert Order("ORDER1", 100, "shop-item", time_expire="20240101120000").time_expire
    with pytest.raises(ValueError, match="time_expire must be yyyyMMddHHmmss"):
        Order("ORDER1", 100, "shop-item", time_expire="20240101120000\n")


@pytest.mark.parametrize("pattern", [OUT_TRADE_NO, OUT_REFUND_NO], ids=["trade", "refund"])
def test_the_shared_number_patterns_stop_at_the_end_of_the_string(
    pattern: re.Pattern[str],
) -> None:
    # The flow looks numbers up with these directly (order status, notifications).
    assert pattern.match("ORDER1")
    assert not pattern.match("ORDER1\n")
