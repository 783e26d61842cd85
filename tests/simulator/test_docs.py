"""docs/simulator.md: it names every control endpoint, fault kind, trigger event and
fixture in the code, and its host-test examples run as written (taken from the page)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from wxpay_mw.simulator import FAULT_KINDS, pytest_plugin
from wxpay_mw.simulator._console import CONSOLE_ROUTES
from wxpay_mw.simulator._trigger import EVENTS
from wxpay_mw.simulator._v3control import KEYS_PATH, PROBE_PATH

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "simulator.md").read_text()
PACKAGE = ROOT / "wxpay_mw" / "simulator"


def _control_routes() -> set[str]:
    """Every ``METHOD /simulator/...`` the code routes, read from its source."""
    routes = set(CONSOLE_ROUTES)
    routes |= {f"GET {KEYS_PATH}", f"POST {KEYS_PATH}", f"POST {PROBE_PATH}"}
    for source in PACKAGE.glob("*.py"):
        text = source.read_text()
        routes |= {
            f"{m} {p}"
            for m, p in re.findall(r'\("(GET|POST|DELETE)", "(/simulator/[^"]*)"\)', text)
        }
        # Endpoints taking several methods are routed by path alone (in _control.py; the
        # v3 mode's dispatch on /simulator/pay and /simulator/reset is no endpoint).
        if source.name != "_control.py":
            continue
        for path in re.findall(r'request\.path == "(/simulator/[^"]*)"', text):
            routes |= {f"{m} {path}" for m in re.findall(r'request\.method == "(\w+)"', text)}
            routes.add(f"GET {path}")
    return routes


def test_the_code_has_the_endpoints_this_test_looks_for() -> None:
    routes = _control_routes()
    # The test's own reading of the source must find the known ones, or it checks nothing.
    assert {"POST /simulator/login", "DELETE /simulator/faults", "GET /simulator/orders"} <= routes


def test_every_control_endpoint_is_documented() -> None:
    missing = sorted(r for r in _control_routes() if f"`{r}" not in DOC)
    assert not missing, f"add these to docs/simulator.md: {missing}"


def test_every_fault_kind_is_documented() -> None:
    missing = [kind for kind in FAULT_KINDS if f"| `{kind}` |" not in DOC]
    assert not missing, f"add these fault kinds to docs/simulator.md: {missing}"


def test_every_trigger_event_and_fixture_is_documented() -> None:
    fixtures = [name for name in vars(pytest_plugin) if name.startswith("wxpay_")]
    missing = [name for name in (*EVENTS, *fixtures) if f"`{name}`" not in DOC]
    assert not missing, f"add these to docs/simulator.md: {missing}"


def _examples() -> dict[str, str]:
    return dict(re.findall(r"<!-- test: ([\w ]+) -->\n```python\n(.*?)```", DOC, re.S))


def test_the_page_has_both_host_examples() -> None:
    assert set(_examples()) == {"asgi host", "wsgi host"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["asgi host", "wsgi host"])
def test_host_example_runs_as_written(name: str, tmp_path: Path) -> None:
    test_file = tmp_path / f"test_{name.replace(' ', '_')}.py"
    test_file.write_text(_examples()[name])
    # Our pyproject (the project root on sys.path for examples/, warnings as errors); the
    # fixtures come from the installed plugin, as in any host's run.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "-q", str(test_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
