"""docs/v3.md: its examples run as written (the public API imports, and a v3 payment at
the simulator with our v3 client)."""

from __future__ import annotations

import pytest

from tests.docs.snippets import ROOT, python_blocks, run_blocks

BLOCKS = python_blocks((ROOT / "docs" / "v3.md").read_text("utf-8"))


def test_the_v3_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(BLOCKS) == 2
    run_blocks(BLOCKS, "docs/v3.md")
    assert capsys.readouterr().out.split() == ["v3", "T000001"]
