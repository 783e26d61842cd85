"""The simulator's console (/simulator/) in Debian's Chromium: see orders, pay, fail and
refund them, redeliver a notification, switch on a fault; hostile host data stays text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.simulator.conftest import SUCCESS_XML, Receiver, place
from wxpay_mw.simulator import Simulator

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOSTILE_BODY = '<img src=x onerror="window.pwned=1">'
HOSTILE_ANSWER = (
    b"<xml><return_code>FAIL</return_code>"
    b"<return_msg><![CDATA[<script>window.pwned=2</script>]]></return_msg></xml>"
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The host's notify endpoint: a hostile FAIL first, then SUCCESS."""
    r = Receiver(answer=lambda n: (200, HOSTILE_ANSWER if n == 0 else SUCCESS_XML)).start()
    yield r
    r.stop()


def test_console_pays_refunds_redelivers_and_faults(browser: Browser, receiver: Receiver) -> None:
    from playwright.sync_api import expect

    # time_factor 1: the first retry is 15 s away, so only "Redeliver now" can get it through.
    with Simulator(time_factor=1.0) as sim:
        paid, _ = place(sim, receiver.url, body=HOSTILE_BODY, total_fee="500")
        failed, _ = place(sim, receiver.url, body="noodles")
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(sim.base_url + "/simulator/")
        expect(page.get_by_test_id("merchant")).to_contain_text(sim.merchant.mch_id)

        no = paid["out_trade_no"]
        row = page.get_by_test_id(f"order-{no}")
        expect(row).to_contain_text(HOSTILE_BODY)  # shown as text, not parsed
        expect(page.get_by_test_id(f"state-{no}")).to_have_text("NOTPAY")
        page.get_by_test_id(f"pay-{no}").click()
        expect(page.get_by_test_id(f"state-{no}")).to_have_text("SUCCESS")
        expect(page.get_by_test_id("message")).to_contain_text("requestPayment:ok")

        # The host's first answer, hostile markup and all, is shown as text.
        card = page.get_by_test_id("notification-1")
        expect(card).to_contain_text("<script>window.pwned=2</script>")
        expect(card.get_by_test_id("delivery")).to_have_text("retrying")
        page.get_by_test_id("redeliver-1").click()
        expect(card.get_by_test_id("delivery")).to_have_text("acknowledged")
        expect(card.get_by_test_id("attempt")).to_have_count(2)
        expect(card).to_contain_text("redelivered by hand")
        assert len(receiver.received) == 2

        page.get_by_test_id(f"refund-{no}").click()
        expect(page.get_by_test_id("message")).to_contain_text("(500 fen)")
        expect(row).to_contain_text("500 PROCESSING")
        assert sim.order(no)["refunded_fee"] == 500  # type: ignore[index]

        page.get_by_test_id(f"fail-{failed['out_trade_no']}").click()
        expect(page.get_by_test_id("message")).to_contain_text("requestPayment:fail")
        assert sim.order(failed["out_trade_no"])["trade_state"] == "NOTPAY"  # type: ignore[index]

        page.get_by_test_id("fault-endpoint").select_option("/pay/orderquery")
        page.get_by_test_id("fault-kind").select_option("http_500")
        page.get_by_test_id("add-fault").click()
        expect(page.get_by_test_id("faults")).to_contain_text("http_500 on /pay/orderquery")
        assert sim._ctx.faults.list()[0]["kind"] == "http_500"
        expect(page.get_by_test_id("calls")).to_contain_text("/pay/unifiedorder")

        assert page.evaluate("window.pwned") is None
        assert page.locator("img, main script").count() == 0
        page.get_by_test_id("clear-faults").click()
        expect(page.get_by_test_id("fault")).to_have_count(0)
