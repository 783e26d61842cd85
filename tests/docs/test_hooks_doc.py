"""docs/hooks.md's complete plugin runs as written, and takes a payment exactly once."""

from __future__ import annotations

from typing import Any

from tests.docs.snippets import close_shop, python_blocks, run_blocks, section
from tests.flow.test_hooks_documented import HOOKS
from wxpay_mw import WxPay, WxPayConfig, xmlmsg
from wxpay_mw.simulator import Simulator


def test_the_minimal_plugin_takes_a_payment(wxpay_env: None, wxpay_simulator: Simulator) -> None:
    (block,) = python_blocks(section("docs/hooks.md", "## A complete minimal plugin", "Then mount"))
    namespace: dict[str, Any] = run_blocks([block], "docs/hooks.md")
    wxpay: WxPay = namespace["wxpay"]
    try:
        answer = wxpay.prepay({"code": wxpay_simulator.login(), "item": "coffee"})
        params = {k: v for k, v in answer.items() if k not in ("out_trade_no", "status_token")}
        assert wxpay_simulator.pay(params)["errMsg"] == "requestPayment:ok"
        (sent,) = wxpay_simulator.wait_for_notifications(lambda log: len(log) == 1)
        assert xmlmsg.from_xml(wxpay.notify(sent["body"].encode()))["return_code"] == "SUCCESS"
        assert wxpay.order_status(answer["out_trade_no"])["status"] == "paid"
    finally:
        close_shop(wxpay)


def test_every_hook_is_shown_in_its_async_form(wxpay_config: WxPayConfig) -> None:
    (block,) = python_blocks(section("docs/hooks.md", "# Every hook in its async form"))
    namespace = run_blocks([block], "docs/hooks.md")
    shown = {name for name in vars(namespace["AsyncHost"]) if name.startswith("wxpay_")}
    assert shown == set(HOOKS)
    # It registers as written: async hooks are allowed until a synchronous adapter says no.
    with WxPay(wxpay_config, namespace["AsyncHost"]()) as wxpay:
        assert wxpay.plugins.has_async
