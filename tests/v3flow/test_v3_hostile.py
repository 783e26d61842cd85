"""Hostile v3 notifications through WxPay.handle: each refused with a 4xx/5xx and WeChat's
JSON, nothing recorded, wxpay_notify_rejected told; duplicates recorded once."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support import MemoryStore
from wxpay_mw import WxPay
from wxpay_mw.sansio import Request, Response
from wxpay_mw.simulator import Simulator

from .conftest import hosted, signed_notification, transaction, v3_config

CLOSED = "http://127.0.0.1:9"  # notifications of real payments go nowhere here


@pytest.fixture
def wxpay(sim: Simulator) -> Iterator[tuple[WxPay, MemoryStore]]:
    store = MemoryStore()
    with WxPay(v3_config(sim, CLOSED), store) as wxpay:
        yield wxpay, store


def _order(wxpay: WxPay, sim: Simulator) -> str:
    body = json.dumps({"code": sim.login(), "sku": "pear"}).encode()
    answer = wxpay.handle(
        Request("POST", "/prepay", {"content-type": "application/json"}, body, "203.0.113.7")
    )
    assert answer.status == 200, answer.body
    return str(json.loads(answer.body)["out_trade_no"])


def _post(wxpay: WxPay, note: tuple[dict[str, str], bytes], path: str = "/notify") -> Response:
    headers, body = note
    return wxpay.handle(Request("POST", path, headers, body, "198.51.100.1"))


def _refused(response: Response) -> dict[str, Any]:
    assert 400 <= response.status < 600
    assert ("content-type", "application/json; charset=utf-8") in response.headers
    data: dict[str, Any] = json.loads(response.body)
    assert data["code"] == "FAIL" and data["message"]
    return data


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def _sig_probe(headers: dict[str, str]) -> None:
    headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]


HOSTILE = ["bad_signature", "unknown_serial", "stale", "tampered", "associated_data", "probe"]


@pytest.mark.parametrize("attack", HOSTILE)
def test_a_hostile_v3_notification_is_refused_by_status(
    wxpay: tuple[WxPay, MemoryStore], sim: Simulator, attack: str
) -> None:
    host, store = wxpay
    no = _order(host, sim)
    tx = transaction(sim, no, 250)
    if attack == "bad_signature":
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        note = signed_notification(sim, tx, key=stranger)
    elif attack == "unknown_serial":
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        note = signed_notification(sim, tx, key=stranger, serial="PUB_KEY_ID_0000000000000000")
    elif attack == "stale":
        note = signed_notification(sim, tx, timestamp=time.time() - 3600)
    elif attack == "tampered":

        def tamper(envelope: dict[str, Any]) -> None:
            envelope["resource"]["ciphertext"] = _flip(envelope["resource"]["ciphertext"])

        note = signed_notification(sim, tx, edit=tamper)  # signed after the change
    elif attack == "associated_data":

        def other_ad(envelope: dict[str, Any]) -> None:
            envelope["resource"]["associated_data"] = "certificate"

        note = signed_notification(sim, tx, edit=other_ad)
    else:
        note = signed_notification(sim, tx)
        _sig_probe(note[0])
    refused = _post(host, note)
    assert refused.status == 401
    _refused(refused)
    assert store.get(no).status == "pending"  # type: ignore[union-attr]
    assert store.called("wxpay_order_paid") == []
    assert [reason for reason, _ in store.rejections] == ["bad_sign"]
    # The genuine message is still accepted afterwards: nothing was spoiled.
    assert _post(host, signed_notification(sim, tx)).status == 204
    assert store.get(no).status == "paid"  # type: ignore[union-attr]


def test_a_duplicate_is_recorded_once_and_acknowledged_each_time(
    wxpay: tuple[WxPay, MemoryStore], sim: Simulator
) -> None:
    host, store = wxpay
    no = _order(host, sim)
    tx = transaction(sim, no, 250)
    answers = [_post(host, signed_notification(sim, tx)) for _ in range(3)]
    assert [(a.status, a.body) for a in answers] == [(204, b"")] * 3
    assert store.paid_reactions == [no]
    assert store.rejections == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"mchid": "1900000999"}, "wrong_mch_id"),
        ({"appid": "wx0000000000000000"}, "wrong_appid"),
        ({"amount": {"total": 1, "payer_total": 1, "currency": "CNY"}}, "amount_mismatch"),
        ({"trade_state": "NOTPAY"}, "bad_fields"),
        ({"out_trade_no": "NOSUCHORDER1"}, "unknown_order"),
    ],
)
def test_a_signed_notification_failing_the_order_checks_is_refused(
    wxpay: tuple[WxPay, MemoryStore], sim: Simulator, change: dict[str, Any], reason: str
) -> None:
    host, store = wxpay
    no = _order(host, sim)
    refused = _post(host, signed_notification(sim, transaction(sim, no, 250) | change))
    assert refused.status == 400
    assert _refused(refused)["message"] == reason
    assert store.get(no).status == "pending"  # type: ignore[union-attr]
    assert [r for r, _ in store.rejections] == [reason]


def test_a_refund_message_at_the_payment_endpoint_is_refused(
    wxpay: tuple[WxPay, MemoryStore], sim: Simulator
) -> None:
    host, store = wxpay
    no = _order(host, sim)
    resource = {
        "mchid": sim.merchant.mch_id,
        "out_trade_no": no,
        "out_refund_no": "R1",
        "refund_status": "SUCCESS",
        "amount": {"total": 250, "refund": 250},
    }
    note = signed_notification(sim, resource, event_type="REFUND.SUCCESS")
    assert _refused(_post(host, note))["message"] == "bad_fields"
    # ...and a refund for another merchant at the refund endpoint.
    foreign = signed_notification(
        sim, {**resource, "mchid": "1900000999"}, event_type="REFUND.SUCCESS"
    )
    assert _refused(_post(host, foreign, "/refund-notify"))["message"] == "wrong_mch_id"
    assert store.refunds == []
    assert [r for r, _ in store.rejections] == ["bad_fields", "wrong_mch_id"]


def test_a_v2_message_in_v3_mode_without_the_v2_key_is_refused(
    wxpay: tuple[WxPay, MemoryStore], sim: Simulator
) -> None:
    host, store = wxpay
    no = _order(host, sim)
    xml = (
        "<xml><return_code>SUCCESS</return_code><result_code>SUCCESS</result_code>"
        f"<appid>{sim.merchant.appid}</appid><mch_id>{sim.merchant.mch_id}</mch_id>"
        f"<out_trade_no>{no}</out_trade_no><total_fee>250</total_fee>"
        "<transaction_id>4200000001</transaction_id><sign>00</sign></xml>"
    ).encode()
    answer = host.handle(Request("POST", "/notify", {}, xml, "198.51.100.1"))
    # A v2 message gets v2's answer: status 200, FAIL in the XML.
    assert answer.status == 200 and b"<return_code><![CDATA[FAIL]]>" in answer.body
    assert [r for r, _ in store.rejections] == ["bad_sign"]
    assert store.get(no).status == "pending"  # type: ignore[union-attr]


def test_a_failing_store_is_a_500_so_wechat_sends_it_again(
    wxpay: tuple[WxPay, MemoryStore], sim: Simulator
) -> None:
    host, store = wxpay
    no = _order(host, sim)
    store.fail_paid = True
    note = signed_notification(sim, transaction(sim, no, 250))
    assert _refused(_post(host, note))["message"] == "internal error"
    store.fail_paid = False
    assert _post(host, note).status == 204
    assert store.paid_reactions == [no]


def test_the_simulators_probe_is_refused_over_http(sim: Simulator) -> None:
    store = MemoryStore()
    with hosted(sim, "asgi-middleware", (store,)) as host:
        data = host.prepay(sim, sku="apple")
        no = str(data["out_trade_no"])
        sim.send_probe(no, host.url("/notify"))
        log = sim.wait_for_notifications(
            lambda log: any(n["kind"] == "probe" and n["finished"] for n in log)
        )
        probe = next(n for n in log if n["kind"] == "probe")
        assert [a["status"] for a in probe["attempts"]] == [401]
        assert store.get(no).status == "pending"  # type: ignore[union-attr]
        assert [r for r, _ in store.rejections] == ["bad_sign"]


def test_another_transaction_event_is_refused(
    wxpay: tuple[WxPay, MemoryStore], sim: Simulator
) -> None:
    host, store = wxpay
    no = _order(host, sim)
    note = signed_notification(sim, transaction(sim, no, 250), event_type="TRANSACTION.CLOSED")
    assert _refused(_post(host, note))["message"] == "bad_fields"
    assert store.get(no).status == "pending"  # type: ignore[union-attr]


def test_a_host_without_its_hooks_answers_500_never_200(sim: Simulator) -> None:
    # A 200 would be "received" to WeChat, whatever its body: the payment would be lost.
    with WxPay(v3_config(sim, CLOSED)) as bare:
        note = signed_notification(sim, transaction(sim, "T0000001", 250))
        for path in ("/notify", "/refund-notify"):
            answer = _post(bare, note, path)
            assert answer.status == 500
            assert _refused(answer)["message"] == "internal error"


def test_a_v2_message_of_an_order_placed_before_the_switch_is_accepted_with_the_v2_key(
    sim: Simulator,
) -> None:
    from wxpay_mw import signing, xmlmsg

    store = MemoryStore()
    config = v3_config(sim, CLOSED, WXPAY_API_KEY=sim.merchant.api_key)
    with WxPay(config, store) as host:
        no = _order(host, sim)
        fields = {
            "return_code": "SUCCESS",
            "result_code": "SUCCESS",
            "appid": sim.merchant.appid,
            "mch_id": sim.merchant.mch_id,
            "nonce_str": "n" * 16,
            "openid": "o" + "x" * 27,
            "out_trade_no": no,
            "total_fee": "250",
            "cash_fee": "250",
            "transaction_id": "4200000000000000000000000001",
            "time_end": "20261201100000",
        }
        fields["sign"] = signing.sign(fields, sim.merchant.api_key, "MD5")
        answer = host.handle(Request("POST", "/notify", {}, xmlmsg.to_xml(fields), "198.51.100.1"))
        assert answer.status == 200
        assert xmlmsg.from_xml(answer.body)["return_code"] == "SUCCESS"
        assert xmlmsg.from_xml(host.notify(xmlmsg.to_xml(fields)))["return_code"] == "SUCCESS"
        assert store.paid_reactions == [no]


def test_made_up_serials_cost_one_certificate_download_per_gap() -> None:
    # Certificate mode: an unknown serial may be a new platform certificate, so verifying
    # a notification may download /v3/certificates; anyone can send one, so only once.
    with Simulator(api="v3", v3_mode="certificate", time_factor=0.001) as sim:
        store = MemoryStore()
        with WxPay(v3_config(sim, CLOSED), store) as host:
            no = _order(host, sim)  # the first call downloads the certificates
            # A harmless fault that counts the requests reaching the endpoint.
            sim.add_fault("/v3/certificates", "latency", seconds=0.001, count=10)

            def downloads() -> int:
                faults = requests.get(f"{sim.base_url}/simulator/faults", timeout=10).json()
                left = [f["count"] for f in faults["faults"] if f["endpoint"] == "/v3/certificates"]
                return 10 - (left[0] if left else 0)

            assert downloads() == 0
            tx = transaction(sim, no, 250)
            for n in range(5):
                stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                note = signed_notification(sim, tx, key=stranger, serial=f"{n:040X}")
                assert _post(host, note).status == 401
            assert downloads() == 1
            assert [r for r, _ in store.rejections] == ["bad_sign"] * 5
            assert store.get(no).status == "pending"  # type: ignore[union-attr]
