"""The console's JSON endpoints over HTTP: orders, paying and refunding from the console,
redelivering a notification, the log of calls to WeChat (secrets hidden), the page."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from wxpay_mw import signing
from wxpay_mw.simulator import FAULT_KINDS, Simulator
from wxpay_mw.xmlmsg import from_xml, to_xml

from .conftest import FAIL_XML, SUCCESS_XML, Receiver, call, place, post


def _get(sim: Simulator, path: str) -> Any:
    response = requests.get(f"{sim.base_url}/simulator/{path}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _post(sim: Simulator, path: str, body: object = None) -> requests.Response:
    return requests.post(f"{sim.base_url}/simulator/{path}", json=body, timeout=10)


def test_orders_lists_what_the_host_placed(sim: Simulator) -> None:
    params, _ = place(sim, body="<b>tea</b>", total_fee="250")
    (order,) = _get(sim, "orders")["orders"]
    assert order["out_trade_no"] == params["out_trade_no"]
    assert order["body"] == "<b>tea</b>"
    assert order["total_fee"] == 250
    assert order["state"] == "NOTPAY"
    assert order["refunds"] == []


def test_pay_from_the_console_pays_and_notifies(sim: Simulator, receiver: Receiver) -> None:
    params, _ = place(sim, receiver.url)
    response = _post(sim, f"orders/{params['out_trade_no']}/pay", {"outcome": "ok"})
    assert response.status_code == 200, response.text
    assert response.json()["errMsg"] == "requestPayment:ok"
    sim.wait_for_notifications(1)
    assert from_xml(receiver.received[0].body)["out_trade_no"] == params["out_trade_no"]
    (order,) = _get(sim, "orders")["orders"]
    assert order["state"] == "SUCCESS"
    assert order["transaction_id"] == response.json()["transaction_id"]


def test_pay_from_the_console_refuses_unknown_and_paid_orders(sim: Simulator) -> None:
    assert _post(sim, "orders/NOPE/pay").status_code == 404
    params, _ = place(sim)
    assert _post(sim, f"orders/{params['out_trade_no']}/pay").status_code == 200
    again = _post(sim, f"orders/{params['out_trade_no']}/pay")
    assert again.status_code == 409
    assert "已支付" in again.json()["errMsg"]
    bad = _post(sim, f"orders/{params['out_trade_no']}/pay", {"outcome": "maybe"})
    assert bad.status_code == 400


def test_refund_from_the_console_is_a_merchant_platform_refund(
    sim: Simulator, receiver: Receiver
) -> None:
    params, _ = place(sim, total_fee="300")
    assert _post(sim, f"orders/{params['out_trade_no']}/pay").status_code == 200
    partial = _post(sim, f"orders/{params['out_trade_no']}/refund", {"refund_fee": 100})
    assert partial.status_code == 200, partial.text
    assert partial.json()["refund"]["refund_fee"] == "100"
    rest = _post(sim, f"orders/{params['out_trade_no']}/refund", {"notify_url": receiver.url})
    assert rest.json()["refund"]["refund_fee"] == "200"  # default: what is left
    # The refund with a notify_url is notified there once it settles.
    sim.wait_for_notifications(lambda log: any(n["kind"] == "refund" for n in log))
    (order,) = _get(sim, "orders")["orders"]
    assert order["refunded_fee"] == 300
    assert {r["refund_fee"] for r in order["refunds"]} == {100, 200}
    too_much = _post(sim, f"orders/{params['out_trade_no']}/refund", {"refund_fee": 1})
    assert too_much.status_code == 409
    assert "refused" in too_much.json()["error"]


def test_refund_from_the_console_checks_its_input(sim: Simulator) -> None:
    params, _ = place(sim)
    assert _post(sim, "orders/NOPE/refund").status_code == 404
    for body in ({"refund_fee": "1"}, {"refund_fee": 0}, {"notify_url": 5}):
        response = _post(sim, f"orders/{params['out_trade_no']}/refund", body)
        assert response.status_code == 400, body
    garbled = requests.post(
        f"{sim.base_url}/simulator/orders/{params['out_trade_no']}/refund", data=b"[1]", timeout=5
    )
    assert garbled.status_code == 400


def test_redeliver_posts_again_now_and_records_the_hosts_answer(sim: Simulator) -> None:
    answers = [(500, b"<html>oops</html>"), (200, SUCCESS_XML)]
    receiver = Receiver(answer=lambda n: answers[min(n, 1)]).start()
    # A slow schedule: the first retry would come only after 15 s.
    try:
        with Simulator(sim.merchant, time_factor=1.0) as slow:
            params, _ = place(slow, receiver.url)
            assert _post(slow, f"orders/{params['out_trade_no']}/pay").status_code == 200
            slow.wait_for_notifications(lambda log: len(log[0]["attempts"]) == 1)
            response = _post(slow, "notifications/1/redeliver")
            assert response.status_code == 200
            note = response.json()["notification"]
            assert note["acknowledged"] is True
            first, second = note["attempts"]
            assert (first["status"], first["manual"], first["answer"]) == (
                500,
                False,
                "<html>oops</html>",
            )
            assert (second["status"], second["manual"]) == (200, True)
            assert len(receiver.received) == 2
    finally:
        receiver.stop()


def test_redeliver_of_an_unknown_notification(sim: Simulator) -> None:
    assert _post(sim, "notifications/7/redeliver").status_code == 404
    assert _post(sim, "notifications/x/redeliver").status_code == 400


def test_calls_log_shows_the_hosts_calls_with_secrets_hidden(sim: Simulator) -> None:
    code = sim.login()
    login = requests.get(
        f"{sim.base_url}/sns/jscode2session",
        params={
            "appid": sim.merchant.appid,
            "secret": sim.merchant.app_secret,
            "js_code": code,
            "grant_type": "authorization_code",
        },
        timeout=5,
    )
    session_key = login.json()["session_key"]
    params, _ = place(sim)
    sim.add_fault("/pay/orderquery", "http_500", count=1)
    requests.post(f"{sim.base_url}/pay/orderquery", data=b"<xml/>", timeout=5)
    calls = _get(sim, "calls")["calls"]
    assert [c["path"] for c in calls] == [
        "/sns/jscode2session",
        "/pay/unifiedorder",
        "/pay/orderquery",
    ]
    first, second, third = calls
    assert first["request"]["secret"] == "***"
    assert first["answer"]["session_key"] == "***"
    text = str(calls)
    assert sim.merchant.app_secret not in text
    assert session_key not in text
    assert sim.merchant.api_key not in text
    assert second["request"]["out_trade_no"] == params["out_trade_no"]
    assert second["request"]["sign"] == "***"
    assert second["answer"]["result_code"] == "SUCCESS"
    assert (third["fault"], third["status"]) == ("http_500", 500)
    assert third["answer"].startswith("<html>")
    assert _get(sim, f"calls?since={second['id']}")["calls"] == [third]
    assert requests.get(f"{sim.base_url}/simulator/calls?since=x", timeout=5).status_code == 400


def test_a_dropped_connection_is_logged(sim: Simulator) -> None:
    sim.add_fault("/pay/closeorder", "reset", count=1)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{sim.base_url}/pay/closeorder", data=b"<xml/>", timeout=5)
    (logged,) = _get(sim, "calls")["calls"]
    assert (logged["fault"], logged["status"]) == ("reset", None)


def test_reset_forgets_the_calls(sim: Simulator) -> None:
    call(sim, "/pay/orderquery", {"out_trade_no": "X1"})
    assert _get(sim, "calls")["calls"]
    sim.reset()
    assert _get(sim, "calls")["calls"] == []


def test_info_names_the_merchant_and_the_fault_kinds_but_no_secret(sim: Simulator) -> None:
    info = _get(sim, "info")
    assert (info["appid"], info["mch_id"]) == (sim.merchant.appid, sim.merchant.mch_id)
    assert info["fault_kinds"] == list(FAULT_KINDS)
    assert "/pay/unifiedorder" in info["wechat_paths"]
    assert sim.merchant.api_key not in str(info)
    assert sim.merchant.app_secret not in str(info)


def test_the_console_page_and_its_files_are_served(sim: Simulator) -> None:
    page = requests.get(f"{sim.base_url}/simulator/", timeout=5)
    assert page.headers["content-type"].startswith("text/html")
    assert "/simulator/console.js" in page.text
    script = requests.get(f"{sim.base_url}/simulator/console.js", timeout=5)
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text  # hosts' data is only ever set as text
    style = requests.get(f"{sim.base_url}/simulator/console.css", timeout=5)
    assert style.headers["content-type"].startswith("text/css")
    assert requests.get(f"{sim.base_url}/simulator/secret.txt", timeout=5).status_code == 404


def test_a_failing_host_answer_is_kept_for_the_console(sim: Simulator) -> None:
    receiver = Receiver(answer=lambda n: (200, FAIL_XML)).start()
    try:
        params, _ = place(sim, receiver.url)
        _post(sim, f"orders/{params['out_trade_no']}/pay")
        log = sim.wait_for_notifications(lambda log: len(log[0]["attempts"]) >= 2)
        assert "busy" in log[0]["attempts"][0]["answer"]
        assert not log[0]["acknowledged"]
    finally:
        receiver.stop()


def test_calls_log_hides_the_sandbox_sign_key(sim: Simulator) -> None:
    message = {"mch_id": sim.merchant.mch_id, "nonce_str": signing.make_nonce()}
    message["sign"] = signing.sign(message, sim.merchant.api_key)
    answer = post(sim, "/sandboxnew/pay/getsignkey", to_xml(message))
    assert from_xml(answer.content)["sandbox_signkey"] == sim.merchant.sandbox_key
    (logged,) = _get(sim, "calls")["calls"]
    assert logged["answer"]["sandbox_signkey"] == "***"
    assert sim.merchant.sandbox_key not in str(logged)


def test_orders_lists_the_newest_first_up_to_a_limit(sim: Simulator) -> None:
    numbers = [place(sim)[0]["out_trade_no"] for _ in range(3)]
    listed = _get(sim, "orders?limit=2")
    assert listed["total"] == 3
    assert [o["out_trade_no"] for o in listed["orders"]] == numbers[:0:-1]
    assert len(_get(sim, "orders")["orders"]) == 3
    bad = requests.get(f"{sim.base_url}/simulator/orders?limit=-1", timeout=5)
    assert bad.status_code == 400
