"""What only one adapter has to get right: scopes, root_path, SCRIPT_NAME, Flask config."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import requests
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from wxpay_mw.adapters.asgi import WxPayMiddleware, normalize_prefix
from wxpay_mw.adapters.flask import WxPayFlask
from wxpay_mw.adapters.starlette import routes
from wxpay_mw.adapters.wsgi import WxPayWSGIMiddleware

from tests.support import MemoryStore, serve_asgi, serve_wsgi
from wxpay_mw import WxPay, WxPayConfig
from wxpay_mw.simulator import Simulator

TIMEOUT = 10


async def _hello(request: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse(f"hello {request.scope.get('root_path', '')}")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("/wxpay", "/wxpay"), ("wxpay/", "/wxpay"), ("/a/b/", "/a/b")],
)
def test_prefixes_are_normalized(given: str, expected: str) -> None:
    assert normalize_prefix(given) == expected


@pytest.mark.parametrize("given", ["/", "", " / "])
def test_a_prefix_that_would_swallow_the_host_app_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="would make wxpay-mw answer every path of your app"):
        normalize_prefix(given)
    # The Starlette routes list serves four named paths only: no prefix is fine there.
    assert normalize_prefix(given, whole_app=False) == ""


@pytest.mark.parametrize("scope_type", ["lifespan", "websocket"])
def test_asgi_middleware_passes_other_scopes_through(wxpay: WxPay, scope_type: str) -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def nothing() -> dict[str, Any]:
        return {}

    async def ignore(message: Any) -> None:
        return None

    scope = {"type": scope_type, "path": "/wxpay/notify"}
    anyio.run(WxPayMiddleware(inner, wxpay), scope, nothing, ignore)
    assert seen == [scope_type]


def test_asgi_middleware_respects_root_path(wxpay: WxPay) -> None:
    inner = Starlette(routes=[Route("/hello", _hello)])
    shop = Starlette(routes=[Mount("/shop", app=WxPayMiddleware(inner, wxpay))])
    with serve_asgi(shop) as base:
        status = requests.get(f"{base}/shop/wxpay/orders/NOPE", timeout=TIMEOUT)
        hello = requests.get(f"{base}/shop/hello", timeout=TIMEOUT)
    assert (status.status_code, status.json()["error"]) == (404, "unknown_order")
    assert (hello.status_code, hello.text) == (200, "hello /shop")


def test_starlette_routes_can_sit_at_any_prefix(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    app = Starlette(routes=[*routes(wxpay, prefix="/api/pay"), Route("/hello", _hello)])
    with serve_asgi(app) as base:
        body = {"code": wxpay_simulator.login(), "sku": "apple"}
        prepay = requests.post(f"{base}/api/pay/prepay", json=body, timeout=TIMEOUT)
        wrong = requests.get(f"{base}/api/pay/notify", timeout=TIMEOUT)
    assert prepay.status_code == 200
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
    (seen,) = store.called("wxpay_openid_from_request")
    assert isinstance(seen["request"].native, StarletteRequest)


def test_wsgi_middleware_shifts_script_name_and_path_info(
    wxpay: WxPay, store: MemoryStore, wxpay_simulator: Simulator
) -> None:
    app = WxPayWSGIMiddleware(lambda environ, start_response: [], wxpay, prefix="/pay/")
    with serve_wsgi(app) as base:
        body = {"code": wxpay_simulator.login(), "sku": "apple"}
        assert requests.post(f"{base}/pay/prepay", json=body, timeout=TIMEOUT).status_code == 200
    (seen,) = store.called("wxpay_openid_from_request")
    native = seen["request"].native
    assert (native["SCRIPT_NAME"], native["PATH_INFO"]) == ("/pay", "/prepay")


def test_flask_extension_builds_wxpay_from_app_config(
    wxpay_config: WxPayConfig, wxpay_simulator: Simulator
) -> None:
    store = MemoryStore()
    app = Flask("configured")
    app.config.update(
        WXPAY_APPID=wxpay_config.appid,
        WXPAY_MCH_ID=wxpay_config.mch_id,
        WXPAY_API_KEY=wxpay_config.api_key,
        WXPAY_APP_SECRET=wxpay_config.app_secret,
        WXPAY_NOTIFY_URL="https://shop.example/pay/notify",
        WXPAY_API_BASE=wxpay_config.api_base,
        WXPAY_LOGIN_BASE=wxpay_config.login_base,
        WXPAY_SANDBOX=False,
        WXPAY_READ_TIMEOUT=5,
        WXPAY_URL_PREFIX="/pay",
    )
    ext = WxPayFlask(plugins=[store])
    ext.init_app(app)
    wxpay = app.extensions["wxpay"]
    try:
        assert isinstance(wxpay, WxPay) and WxPayFlask.wxpay(app) is wxpay
        assert wxpay.config.notify_url == "https://shop.example/pay/notify"
        assert not hasattr(ext, "app")
        with serve_wsgi(app) as base:
            body = {"code": wxpay_simulator.login(), "sku": "apple"}
            prepay = requests.post(f"{base}/pay/prepay", json=body, timeout=TIMEOUT)
            default = requests.get(f"{base}/wxpay/orders/1", timeout=TIMEOUT)
        assert prepay.status_code == 200
        assert default.status_code == 404 and "unknown_order" not in default.text
        (seen,) = store.called("wxpay_openid_from_request")
        assert seen["request"].native.path == "/pay/prepay"
    finally:
        wxpay.close()


def test_flask_extension_serves_several_apps(wxpay: WxPay) -> None:
    ext = WxPayFlask(wxpay=wxpay)
    first, second = Flask("first"), Flask("second")
    second.config["WXPAY_URL_PREFIX"] = "/payments"
    ext.init_app(first)
    ext.init_app(second)
    assert first.extensions["wxpay"] is second.extensions["wxpay"] is wxpay
    assert first.config["WXPAY_URL_PREFIX"] == "/wxpay"
    rules = {r.rule for r in second.url_map.iter_rules()}
    assert "/payments/<path:subpath>" in rules
