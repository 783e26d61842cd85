"""v3 mode keeps one WeChat: v2 and v3 see the same orders, and the app runs under any WSGI
server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from wxpay_mw.simulator import Merchant, Simulator
from wxpay_mw.simulator._app import SimulatorApp
from wxpay_mw.v3 import calls
from wxpay_mw.xmlmsg import from_xml

from ._v3help import client, number, openid, place_and_pay, receiving
from .conftest import SUCCESS_XML, call, pay_params, place


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(api="v3", time_factor=0.001) as simulator:
        yield simulator


def test_a_v3_order_is_seen_by_v2_orderquery(sim: Simulator) -> None:
    with client(sim) as c:
        no, paid = place_and_pay(sim, c, total=205)
    answer = call(sim, "/pay/orderquery", {"out_trade_no": no})
    assert answer["trade_state"] == "SUCCESS"
    assert answer["transaction_id"] == paid["transaction_id"]
    assert answer["total_fee"] == "205"


def test_v2_still_works_in_v3_mode_and_v3_sees_its_orders(sim: Simulator) -> None:
    with receiving(lambda hit: (200, SUCCESS_XML)) as host:
        params, answer = place(sim, host.url)
        paid = sim.pay(pay_params(sim, answer["prepay_id"]))
        sim.wait_for_notifications(1)
        # A v2 order's notification stays v2 (XML), v3 mode or not.
        assert from_xml(host.hits[0].body)["result_code"] == "SUCCESS"
    with client(sim) as c:
        tx = c.query_order(out_trade_no=params["out_trade_no"])
    assert (tx["trade_state"], tx["transaction_id"]) == ("SUCCESS", paid["transaction_id"])


def test_platform_refunds_of_v3_orders(sim: Simulator) -> None:
    with client(sim) as c:
        no, _ = place_and_pay(sim, c, total=100)
        with pytest.raises(ValueError, match="refund_fee"):
            sim.platform_refund(no, 101)
        with pytest.raises(ValueError, match="out_trade_no"):
            unpaid = number()
            c.jsapi_order(out_trade_no=unpaid, total=100, description="A", openid=openid(sim))
            sim.platform_refund(unpaid)
        made = sim.platform_refund(no)  # no refund notify URL configured: no notification
        sim.wait_for_notifications(
            lambda log: c.refund_query(made["out_refund_no"])["status"] == "SUCCESS"
        )
    assert [n["kind"] for n in sim.notifications()] == ["payment"]


def test_v3_env_names_the_refund_notify_url_and_migration_certificates() -> None:
    merchant = Merchant(refund_notify_url="http://127.0.0.1:9/refund")
    with Simulator(merchant, api="v3", v3_mode="both") as sim:
        env = sim.v3_env()
    assert env["WXPAY_REFUND_NOTIFY_URL"] == "http://127.0.0.1:9/refund"
    assert env["WXPAY_PLATFORM_CERT_PATHS"].endswith(".pem")


def test_the_app_under_a_wsgi_server_without_request_uri(sim: Simulator) -> None:
    # Other WSGI servers give PATH_INFO (decoded) and QUERY_STRING, not the raw target.
    no = "T" + number()
    with client(sim) as c:
        c.jsapi_order(out_trade_no=no, total=101, description="A", openid=openid(sim))
    req = calls.query_order(sim.merchant.mch_id, out_trade_no=no)
    settings = sim.v3_settings()
    headers = req.headers(
        settings.private_key, mchid=sim.merchant.mch_id, serial_no=settings.cert_serial
    )
    path, _, query = req.path.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "wsgi.input": io.BytesIO(b""),
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    }
    setup_testing_defaults(environ)
    seen: list[str] = []
    body = b"".join(SimulatorApp(sim._ctx)(environ, lambda status, headers: seen.append(status)))
    assert seen == ["200 OK"], body
    assert no.encode() in body
