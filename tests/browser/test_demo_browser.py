"""The demo page in Debian's Chromium: buy, pay on WeChat's sheet, see "Paid".

Never downloads a browser: it drives /usr/bin/chromium (``apt-get install chromium``).
The demo runs as `make demo` runs it, in a subprocess, on a free port.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The demo on a free port (--port 0); its base URL and its SQLite database."""
    data = tmp_path / "demo-data"
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.demo", "--port", "0", "--data", str(data)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        url = None
        for line in process.stdout:  # the banner is printed once the port is bound
            found = re.search(r"demo shop:\s+(http://\S+)", line)
            if found:
                url = found.group(1).rstrip("/")
                break
        assert url, "the demo exited without printing its URL"
        yield url, data / "orders.db"
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.fixture
def page(browser: Browser, demo: tuple[str, Path]) -> Page:
    """A fresh page of Debian's Chromium on the demo's shop."""
    page = browser.new_page(viewport={"width": 1100, "height": 820})
    page.goto(demo[0] + "/")
    return page


def test_buy_and_pay_through_the_demo_page(
    page: Page, demo: tuple[str, Path], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    database = demo[1]
    expect(page.get_by_test_id("product-dumplings")).to_contain_text("¥12.80")
    page.get_by_test_id("buy-dumplings").click()

    sheet = page.get_by_test_id("pay-sheet")
    expect(sheet).to_be_visible()
    expect(page.get_by_test_id("sheet-amount")).to_have_text("¥12.80")
    expect(page.get_by_test_id("sheet-merchant")).to_have_text("wxpay-mw demo shop")
    page.screenshot(path=str(tmp_path / "sheet.png"), animations="disabled")
    page.get_by_test_id("confirm-pay").click()

    expect(page.get_by_test_id("status")).to_have_text("Paid", timeout=20_000)
    expect(page.get_by_test_id("paid-amount")).to_have_text("¥12.80")
    transaction_id = page.get_by_test_id("transaction-id").inner_text()
    out_trade_no = page.get_by_test_id("out-trade-no").inner_text()
    assert re.fullmatch(r"\d{20,32}", transaction_id)
    page.screenshot(path=str(tmp_path / "paid.png"), animations="disabled")

    # A paid order offers no "Pay again", and no failure covers the paid screen.
    expect(page.get_by_test_id("pay-again")).to_be_hidden()
    expect(page.get_by_test_id("error")).to_be_hidden()

    # Behind the scenes: the server's calls to WeChat and WeChat's notification too.
    steps = page.get_by_test_id("steps")
    expect(steps).to_contain_text("server → WeChat /sns/jscode2session")
    expect(steps).to_contain_text("server → WeChat /pay/unifiedorder")
    expect(steps).to_contain_text("payment notification → your server answered SUCCESS")
    # The page names what confirmed the payment: whichever of the notification and an
    # orderquery answering SUCCESS came first, by the simulator's own logs.
    calls = requests.get(f"{demo[0]}/simulator/calls", timeout=5).json()["calls"]
    notes = requests.get(f"{demo[0]}/simulator/notifications", timeout=5).json()
    queried = [
        c["time"]
        for c in calls
        if c["path"] == "/pay/orderquery" and c["answer"].get("trade_state") == "SUCCESS"
    ]
    (note,) = notes["notifications"]
    notified = min(a["time"] for a in note["attempts"] if a["acknowledged"])
    expected = "orderquery" if queried and min(queried) < notified else "notification"
    expect(page.get_by_test_id("confirmed-by")).to_contain_text(expected)

    with closing(sqlite3.connect(database)) as db:
        row = db.execute(
            "SELECT status, total_fee, transaction_id FROM wxpay_orders WHERE out_trade_no = ?",
            (out_trade_no,),
        ).fetchone()
        fulfilled = db.execute("SELECT COUNT(*) FROM shipments").fetchone()[0]
    assert row == ("paid", 1280, transaction_id)
    assert fulfilled == 1
    assert (tmp_path / "paid.png").stat().st_size > 0


def test_wechat_down_shows_a_readable_message(page: Page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.get_by_text("Try a failure").click()
    page.get_by_test_id("fault-wechat-down").check()
    expect(page.get_by_test_id("steps")).to_contain_text("HTTP 500")
    page.get_by_test_id("buy-tea").click()
    expect(page.get_by_test_id("error-message")).to_contain_text("not answering")
    expect(page.get_by_test_id("error-code")).to_contain_text("wechat_unavailable")
    expect(page.get_by_test_id("pay-sheet")).to_be_hidden()
    page.screenshot(path=str(tmp_path / "wechat-down.png"), animations="disabled")

    # WeChat back: the next attempt goes through to the payment sheet.
    page.get_by_test_id("fault-wechat-down").uncheck()
    expect(page.get_by_test_id("steps")).to_contain_text("back")
    page.get_by_test_id("buy-tea").click()
    expect(page.get_by_test_id("sheet-amount")).to_have_text("¥0.01")


def test_expired_login_code_shows_a_readable_message(page: Page) -> None:
    from playwright.sync_api import expect

    page.get_by_test_id("buy-tea").click()  # uses a code
    page.get_by_test_id("cancel-pay").click()
    page.get_by_text("Try a failure").click()
    page.get_by_test_id("fault-expired-code").check()
    page.get_by_test_id("buy-tea").click()  # replays the used code
    expect(page.get_by_test_id("error-message")).to_contain_text("login has expired")
    expect(page.get_by_test_id("error-code")).to_contain_text("invalid_code")


def test_the_page_names_what_confirmed_a_payment(page: Page) -> None:
    """Which came first by the simulator's logs: the orderquery that saw the order paid,
    or WeChat's acknowledged notification (the page once said "paid once WeChat notified"
    for an order orderquery had confirmed)."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("product-tea")).to_be_visible()  # app.js has run
    confirmed_by = page.evaluate(
        """() => {
        const query = (time, no, trade_state) => ({ time, path: "/pay/orderquery",
          request: { out_trade_no: no }, answer: { trade_state } });
        const note = (no, times) => ({ out_trade_no: no, kind: "payment",
          attempts: times.map(([time, acknowledged]) => ({ time, acknowledged })) });
        seen.calls = [
          query(10, "A", "NOTPAY"), query(12, "A", "SUCCESS"), query(5, "B", "SUCCESS")];
        seen.notifications = [note("A", [[11, false], [13, true]]), note("B", [[4, true]])];
        const answers = [confirmedBy("A"), confirmedBy("B")];
        seen.calls = [];
        answers.push(confirmedBy("A"));
        seen.notifications = [];
        answers.push(confirmedBy("A"));
        return answers;
    }"""
    )
    assert confirmed_by == [
        "orderquery (before WeChat's notification arrived)",
        "WeChat's signed notification",
        "WeChat's signed notification",
        "—",
    ]
