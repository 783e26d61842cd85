"""WeChat's daily bill (``/pay/downloadbill``) parsed: a header, rows, a summary.

The bill is text: a header line of column names, one line per transaction whose every
cell starts with a backtick, then a summary header and its one line of values. Amounts
are in yuan (the one place WeChat does not use fen): :func:`yuan_to_fen` converts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Bill", "parse_bill", "yuan_to_fen"]


@dataclass(frozen=True)
class Bill:
    """A day's bill: the column names, one dict per row, and the summary line.

    Values are WeChat's text as given (amounts in yuan, e.g. ``"12.80"``); see
    :func:`yuan_to_fen`.
    """

    header: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    summary: dict[str, str] = field(default_factory=dict)


def _cells(line: str) -> list[str]:
    # Each cell starts with a backtick, so a comma inside a cell (a product name) does
    # not split it: split on ",`" only.
    return line.removeprefix("`").split(",`")


def parse_bill(text: str) -> Bill:
    """Parse WeChat's bill: a header line, backtick-prefixed rows, a summary header and
    its values."""
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines:
        return Bill()
    header = lines[0].split(",")
    rows: list[dict[str, str]] = []
    summary: dict[str, str] = {}
    for index, line in enumerate(lines[1:], start=1):
        if not line.startswith("`"):
            # The summary's own header, then its one line of values.
            names = line.split(",")
            values = _cells(lines[index + 1]) if index + 1 < len(lines) else []
            summary = dict(zip(names, values, strict=False))
            break
        rows.append(dict(zip(header, _cells(line), strict=False)))
    return Bill(header=header, rows=rows, summary=summary)


def yuan_to_fen(amount: str) -> int:
    """``"12.80"`` -> 1280: a bill's yuan as integer fen, without floats."""
    whole, _, cents = amount.strip().partition(".")
    if not whole.lstrip("-").isdigit() or (cents and not cents.isdigit()) or len(cents) > 2:
        raise ValueError(f"{amount!r} is not an amount in yuan")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int(cents.ljust(2, "0") or 0))
