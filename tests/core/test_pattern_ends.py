"""Patterns that validate whole values end at \\Z: a trailing newline is refused."""

from __future__ import annotations

import re

import pytest

from wxpay_mw import _verify
from wxpay_mw.v3 import calls, keys, settings


@pytest.mark.parametrize(
    ("pattern", "valid"),
    [
        (_verify._FEN, "100"),
        (settings._SERIAL, "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"),
        (calls._V2_TIME, "20261201120000"),
        (calls._RFC3339, "2026-12-01T12:00:00+08:00"),
        (keys.PUBLIC_KEY_ID, "PUB_KEY_ID_0114232134912410000000000000"),
    ],
    ids=["fen", "v3-serial", "v2-time", "rfc3339", "public-key-id"],
)
def test_a_trailing_newline_is_refused(pattern: re.Pattern[str], valid: str) -> None:
    assert pattern.match(valid)
    assert not pattern.match(valid + "\n")
