"""Code blocks of the README and docs, taken from the files themselves (never copied)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from wxpay_mw import WxPay

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def section(path: str, heading: str, until: str | None = None) -> str:
    """The text of ``path`` from the line ``heading`` up to the line starting ``until``
    (or to the end)."""
    text = (ROOT / path).read_text("utf-8")
    start = text.index(f"\n{heading}\n")
    return text[start : None if until is None else text.index(f"\n{until}", start + 1)]


def python_blocks(text: str) -> list[str]:
    """Every ```python block in ``text``, in order."""
    return _FENCE.findall(text)


def run_blocks(blocks: list[str], filename: str) -> dict[str, Any]:
    """Run ``blocks`` one after another in one namespace, as a reader would; that namespace."""
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    for block in blocks:
        exec(compile(block, filename, "exec"), namespace)  # noqa: S102 - our own docs
    return namespace


def close_shop(wxpay: WxPay) -> None:
    """Close ``wxpay`` and the SQLite connection of each of its plugins."""
    wxpay.close()
    for plugin in wxpay.plugin_manager.get_plugins():
        plugin.db.close()
