"""The FastAPI router: documented in OpenAPI as FastAPI users expect, and it takes payments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fastapi import FastAPI, Header, HTTPException
from wxpay_mw.adapters.fastapi import router

from tests.flow.conftest import pay_params
from tests.support import AsyncMemoryStore, serve_asgi
from wxpay_mw import WxPay, WxPayConfig
from wxpay_mw.simulator import Simulator

TIMEOUT = 10


@pytest.fixture
def schema(wxpay_config: WxPayConfig) -> dict[str, Any]:
    app = FastAPI()
    with WxPay(wxpay_config, AsyncMemoryStore()) as wxpay:
        app.include_router(router(wxpay))
        openapi: dict[str, Any] = app.openapi()
    return openapi


def test_prepay_and_status_are_in_the_schema_with_their_models(schema: dict[str, Any]) -> None:
    prepay = schema["paths"]["/wxpay/prepay"]["post"]
    body = prepay["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["code"]["anyOf"][0] == {"type": "string"}
    ok = prepay["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/PrepayAnswer"}
    answer = schema["components"]["schemas"]["PrepayAnswer"]["properties"]
    assert set(answer) == {
        *("timeStamp", "nonceStr", "package", "signType", "paySign"),
        *("out_trade_no", "status_token"),
    }
    for code in ("400", "401", "409", "502", "503"):
        error = prepay["responses"][code]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorAnswer"}
    status = schema["paths"]["/wxpay/orders/{out_trade_no}"]["get"]
    assert {p["name"] for p in status["parameters"]} == {"out_trade_no", "x-wxpay-token"}
    assert "404" in status["responses"]


def test_the_notify_endpoints_stay_out_of_the_schema(schema: dict[str, Any]) -> None:
    assert set(schema["paths"]) == {"/wxpay/prepay", "/wxpay/orders/{out_trade_no}"}


def current_openid(x_session: str | None = Header(default=None)) -> str:
    """A stand-in for the host's own auth dependency (a session cookie, a JWT...)."""
    if not x_session:
        raise HTTPException(status_code=401, detail="log in first")
    return x_session


@pytest.fixture
def shop(wxpay_simulator: Simulator) -> Iterator[tuple[str, AsyncMemoryStore, Simulator]]:
    late: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await late["app"](scope, receive, send)

    with serve_asgi(app) as base:
        store = AsyncMemoryStore()
        config = wxpay_simulator.config(notify_url=f"{base}/wxpay/notify")
        with WxPay(config, store) as wxpay:
            api = FastAPI()
            api.include_router(router(wxpay))
            api.include_router(router(wxpay, "/as-user", openid=current_openid))
            late["app"] = api
            yield base, store, wxpay_simulator


def test_a_payment_through_the_router(shop: tuple[str, AsyncMemoryStore, Simulator]) -> None:
    base, store, sim = shop
    prepay = requests.post(
        f"{base}/wxpay/prepay", json={"code": sim.login(), "sku": "apple"}, timeout=TIMEOUT
    )
    assert prepay.status_code == 200, prepay.text
    data = prepay.json()
    sim.pay(pay_params(data))
    assert sim.wait_for_notifications(1)[0]["attempts"][0]["acknowledged"] is True
    status = requests.get(
        f"{base}/wxpay/orders/{data['out_trade_no']}",
        headers={"X-WxPay-Token": data["status_token"]},
        timeout=TIMEOUT,
    )
    assert status.json()["status"] == "paid"
    assert store.paid_reactions == [data["out_trade_no"]]


def test_errors_keep_wxpay_mw_s_shape_not_fastapi_s_422(
    shop: tuple[str, AsyncMemoryStore, Simulator],
) -> None:
    base, _, _ = shop
    bad = requests.post(
        f"{base}/wxpay/prepay",
        data=b"[1]",
        headers={"content-type": "application/json"},
        timeout=TIMEOUT,
    )
    assert bad.status_code == 400
    assert bad.json() == {"error": "bad_request", "message": "the body must be a JSON object"}
    hidden = requests.get(f"{base}/wxpay/orders/T1", timeout=TIMEOUT)
    assert hidden.status_code == 404 and hidden.json()["error"] == "unknown_order"


def test_the_openid_comes_from_the_hosts_auth_dependency(
    shop: tuple[str, AsyncMemoryStore, Simulator],
) -> None:
    base, store, sim = shop
    anonymous = requests.post(f"{base}/as-user/prepay", json={"sku": "apple"}, timeout=TIMEOUT)
    assert anonymous.status_code == 401  # the dependency's own answer
    sim.login("oSessionUser1")  # the simulator knows this mini-program user
    paid = requests.post(
        f"{base}/as-user/prepay",
        json={"sku": "apple"},  # no wx.login code needed
        headers={"x-session": "oSessionUser1"},
        timeout=TIMEOUT,
    )
    assert paid.status_code == 200, paid.text
    stored = store.get(paid.json()["out_trade_no"])
    assert stored is not None and stored.openid == "oSessionUser1"
    assert store.called("wxpay_user_logged_in") == []  # no code was exchanged
