"""Argument checks shared by the client and the models: bad input is a ValueError
that names the argument, raised before anything is sent to WeChat.
"""

from __future__ import annotations

import re

__all__ = ["OUT_REFUND_NO", "OUT_TRADE_NO", "fen", "out_no", "text"]

# WeChat: 0-9 a-z A-Z _ - | * @; out_trade_no at most 32, out_refund_no at most 64.
# Every pattern ends at \Z: "$" also matches before a final newline ("ORDER1\n").
OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,32}\Z")
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}\Z")


def fen(name: str, value: object, *, allow_zero: bool = False) -> int:
    """``value`` if it is a positive int number of fen (or zero, where allowed)."""
    # bool is an int; a float such as 9.8 * 100 == 980.0000000000001 is the classic
    # wrong amount. WeChat takes integer fen only, so refuse both outright.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"{name} must be an int number of fen (1 CNY = 100 fen), not {type(value).__name__}"
        )
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a positive number of fen, not {value}")
    return value


def text(name: str, value: object) -> str:
    """``value`` if it is a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value


def out_no(name: str, value: object, pattern: re.Pattern[str] = OUT_TRADE_NO) -> str:
    """``value`` if it is an order (or refund) number WeChat accepts."""
    value_text = text(name, value)
    if not pattern.match(value_text):
        longest = 64 if pattern is OUT_REFUND_NO else 32
        raise ValueError(
            f"{name} {value_text!r} is not valid: "
            f"up to {longest} characters of 0-9 a-z A-Z _ - | * @"
        )
    return value_text
