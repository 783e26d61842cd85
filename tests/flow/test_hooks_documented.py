"""Every hook is documented in docs/hooks.md and exercised by a test of its own."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from wxpay_mw import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(
    name
    for name, value in vars(hookspecs).items()
    if name.startswith("wxpay_") and inspect.isfunction(value)
)
DOCS = (ROOT / "docs" / "hooks.md").read_text("utf-8")
TESTS = "\n".join(
    path.read_text("utf-8")
    for suite in ("flow", "conformance")
    for path in (ROOT / "tests" / suite).glob("test_*.py")
    if path.name != Path(__file__).name
)


def test_there_are_hooks() -> None:
    assert len(HOOKS) >= 10


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    # A heading of its own, with the signature's argument names.
    heading = re.search(rf"^## {hook}\((.*?)\)", DOCS, re.MULTILINE)
    assert heading, f"docs/hooks.md has no '## {hook}(...)' section"
    documented = [a.strip() for a in heading.group(1).split(",") if a.strip()]
    spec = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert documented == spec


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook: str) -> None:
    assert hook in TESTS, f"no test in tests/flow or tests/conformance mentions {hook}"
