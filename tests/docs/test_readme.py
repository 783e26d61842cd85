"""The README's integration example runs as written, and takes a payment."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.docs.snippets import ROOT, close_shop, python_blocks, run_blocks, section
from wxpay_mw import WxPay, xmlmsg
from wxpay_mw.simulator import Simulator

BLOCKS = python_blocks(section("README.md", "## Integrate it", "### Run the examples"))


@pytest.fixture
def readme(wxpay_env: None) -> Iterator[dict[str, Any]]:
    """The namespace left by running every block of "Integrate it", in order."""
    namespace = run_blocks(BLOCKS, "README.md")
    yield namespace
    close_shop(namespace["wxpay"])


def test_the_readme_shows_the_plugin_and_every_adapter() -> None:
    assert len(BLOCKS) == 6
    assert "class Shop" in BLOCKS[0]


def test_the_readme_shop_takes_a_payment(
    readme: dict[str, Any], wxpay_simulator: Simulator
) -> None:
    wxpay: WxPay = readme["wxpay"]
    answer = wxpay.prepay({"code": wxpay_simulator.login(), "product_id": "dumplings"})
    no = answer["out_trade_no"]
    params = {k: v for k, v in answer.items() if k not in ("out_trade_no", "status_token")}
    assert wxpay_simulator.pay(params)["errMsg"] == "requestPayment:ok"
    log = wxpay_simulator.wait_for_notifications(lambda log: len(log) == 1)
    body = log[0]["body"].encode()
    for _ in range(2):  # a duplicate is acknowledged too, and changes nothing
        assert xmlmsg.from_xml(wxpay.notify(body))["return_code"] == "SUCCESS"
    status = wxpay.order_status(no)
    assert status["status"] == "paid" and status["total_fee"] == 1280


def test_the_readme_adapters_serve_the_endpoints(readme: dict[str, Any]) -> None:
    client = readme["flask_app"].test_client()
    refused = client.post("/wxpay/prepay", json={"code": "x", "product_id": "caviar"})
    assert refused.status_code == 401  # the code is checked before anything is priced
    assert client.get("/wxpay/orders/nope").status_code == 404
    # The WSGI middleware passes the rest of the app through.
    seen: list[str] = []
    body = readme["application"](
        {"PATH_INFO": "/", "REQUEST_METHOD": "GET"}, lambda *a: seen.append(a[0])
    )
    assert b"".join(body) == b"my shop" and seen == ["200 OK"]


@pytest.mark.slow
def test_the_readme_host_test_runs_as_written(tmp_path: Path) -> None:
    (block,) = python_blocks(
        section("README.md", "## The simulator in your own tests", "As a server")
    )
    test_file = tmp_path / "test_readme_checkout.py"
    test_file.write_text(block, "utf-8")
    # Our pyproject (warnings as errors); the fixtures come from the installed plugin,
    # as in any host's own run.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "-q", str(test_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
