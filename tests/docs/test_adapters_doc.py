"""docs/adapters.md: every example runs as written, in order, and serves what it says."""

from __future__ import annotations

from typing import Any

from tests.docs.snippets import ROOT, python_blocks, run_blocks
from wxpay_mw import WxPay

BLOCKS = python_blocks((ROOT / "docs" / "adapters.md").read_text("utf-8"))


def test_the_adapter_examples_run_and_serve(wxpay_env: None) -> None:
    assert len(BLOCKS) == 6
    namespace: dict[str, Any] = run_blocks(BLOCKS, "docs/adapters.md")
    wxpay: WxPay = namespace["wxpay"]
    try:
        # FastAPI: the two routers, in the schema without the notify endpoints.
        paths = set(namespace["api"].openapi()["paths"])
        assert paths == {
            "/wxpay/prepay",
            "/wxpay/orders/{out_trade_no}",
            "/as-user/prepay",
            "/as-user/orders/{out_trade_no}",
        }
        # Flask, both styles: the blueprint answers under /wxpay.
        for app in (namespace["flask_app"], namespace["create_app"]()):
            answer = app.test_client().get("/wxpay/orders/NOPE")
            assert answer.status_code == 404 and answer.json["error"] == "unknown_order"
        # WSGI: the host app still answers its own paths.
        seen: list[str] = []
        environ = {"PATH_INFO": "/", "REQUEST_METHOD": "GET"}
        body = namespace["application"](environ, lambda *args: seen.append(args[0]))
        assert b"".join(body) == b"my shop" and seen == ["200 OK"]
    finally:
        wxpay.close()
