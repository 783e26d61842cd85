"""WxPay.handle's HTTP layer: routes, methods, content types, body caps, plugin manager."""

from __future__ import annotations

import pytest

from tests.flow.conftest import answer, call, post_json
from tests.support import MemoryStore
from wxpay_mw import WxPay, WxPayConfig, hookimpl
from wxpay_mw.errors import SetupError
from wxpay_mw.simulator import Simulator


def test_unknown_path_is_a_json_404(wxpay: WxPay) -> None:
    response = call(wxpay, "GET", "/nowhere")
    assert response.status == 404
    assert answer(response)["error"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/prepay", "POST"),
        ("PUT", "/notify", "POST"),
        ("GET", "/refund-notify", "POST"),
        ("POST", "/orders/T1", "GET"),
        ("DELETE", "/orders/T1", "GET"),
    ],
    ids=["get-prepay", "put-notify", "get-refund-notify", "post-order", "delete-order"],
)
def test_wrong_method_is_405_with_allow(wxpay: WxPay, method: str, path: str, allowed: str) -> None:
    response = call(wxpay, method, path)
    assert response.status == 405
    assert ("allow", allowed) in response.headers
    assert answer(response)["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    "content_type", ["", "text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_prepay_needs_json(wxpay: WxPay, content_type: str) -> None:
    response = call(wxpay, "POST", "/prepay", b'{"code": "x"}', {"content-type": content_type})
    assert response.status == 415
    assert answer(response)["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "body",
    [b"{", b"\xff\xfe", b"[1, 2]", b'"code"', b"null"],
    ids=["truncated", "binary", "array", "string", "null"],
)
def test_prepay_body_must_be_a_json_object(wxpay: WxPay, body: bytes) -> None:
    headers = {"content-type": "application/json; charset=utf-8"}
    response = call(wxpay, "POST", "/prepay", body, headers)
    assert response.status == 400
    assert answer(response)["error"] == "bad_request"


def test_body_over_the_cap_is_413(wxpay_config: WxPayConfig) -> None:
    with WxPay(wxpay_config, MemoryStore(), max_body_bytes=100) as small:
        over = call(small, "POST", "/notify", b"x" * 101)
        declared = call(small, "POST", "/prepay", b"", {"content-length": "5000"})
        at_cap = call(small, "POST", "/notify", b"<xml></xml>".ljust(100))
    assert over.status == 413 and declared.status == 413
    assert answer(over)["error"] == "payload_too_large"
    assert at_cap.status == 200


def test_json_answers_are_not_cached(wxpay: WxPay) -> None:
    assert ("cache-control", "no-store") in call(wxpay, "GET", "/orders/none").headers


def test_each_wxpay_has_its_own_plugin_manager(wxpay_config: WxPayConfig) -> None:
    first, second = MemoryStore(), MemoryStore()
    with WxPay(wxpay_config, first) as a, WxPay(wxpay_config, second) as b:
        assert a.plugin_manager is not b.plugin_manager
        assert a.plugin_manager.is_registered(first)
        assert not b.plugin_manager.is_registered(first)


def test_a_misspelt_hook_is_refused_at_registration(wxpay: WxPay) -> None:
    class Typo:
        @hookimpl
        def wxpay_order_payed(self, order: object, payment: object) -> None:
            """Misspelt: would silently never be called."""

    with pytest.raises(SetupError, match="wxpay_order_payed, which is no wxpay-mw hook"):
        wxpay.register(Typo())


def test_without_create_order_prepay_is_a_logged_500(
    wxpay_config: WxPayConfig, wxpay_simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    with WxPay(wxpay_config) as bare:
        response = post_json(bare, {"code": wxpay_simulator.login(), "sku": "apple"})
    assert response.status == 500
    assert "no registered plugin implements" in caplog.text
    assert "wxpay_create_order: without it, POST /prepay cannot build an order" in caplog.text
    assert answer(response) == {
        "error": "internal_error",
        "message": "the server failed to handle the request",
    }


def test_close_closes_only_a_client_it_created(wxpay_config: WxPayConfig) -> None:
    from wxpay_mw.client import WeChatClient

    client = WeChatClient(wxpay_config)
    try:
        with WxPay(wxpay_config, client=client) as app:
            assert app.client is client
        # Still usable: the caller owns it.
        assert client.signing_key() == wxpay_config.api_key
    finally:
        client.close()
