"""Fixtures shared by the flow and adapter suites: an in-memory store and a WxPay on it.

``wxpay_config`` comes from wxpay-mw's own pytest plugin: a config pointed at the
simulator.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import MemoryStore
from wxpay_mw import WxPay, WxPayConfig


@pytest.fixture
def store() -> MemoryStore:
    """A fresh in-memory plugin implementing every hook."""
    return MemoryStore()


@pytest.fixture
def wxpay(wxpay_config: WxPayConfig, store: MemoryStore) -> Iterator[WxPay]:
    """WxPay on ``store``, its client talking to the simulator; closed after the test."""
    with WxPay(wxpay_config, store) as app:
        yield app
