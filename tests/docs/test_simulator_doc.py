"""docs/simulator.md's "In Python" example runs as written and says what it promises.

(The page's two host-test examples are run by tests/simulator/test_docs.py.)
"""

from __future__ import annotations

import pytest

from tests.docs.snippets import python_blocks, run_blocks, section


def test_the_in_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = python_blocks(section("docs/simulator.md", "## In Python", "## "))
    run_blocks([block], "docs/simulator.md")
    printed = capsys.readouterr().out.split(maxsplit=1)
    assert printed[0] == "T1" and "Connection refused" in printed[1]
