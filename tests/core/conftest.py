"""The ``kind`` fixture: client tests run against WeChatClient and AsyncWeChatClient."""

from __future__ import annotations

import pytest

from ._clients import KINDS, Kind


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    """Which client the test runs against: "sync" (requests) or "async" (aiohttp)."""
    return request.param  # type: ignore[no-any-return]
