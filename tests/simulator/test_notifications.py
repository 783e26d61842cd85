"""Payment and refund notifications: content, signing, WeChat's retry schedule."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from wxpay_mw import signing
from wxpay_mw.refundcrypto import decrypt_req_info
from wxpay_mw.simulator import RETRY_SCHEDULE, Simulator
from wxpay_mw.xmlmsg import from_xml

from .conftest import FAIL_XML, SUCCESS_XML, Receiver, call, place_and_pay


def _wait(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def test_payment_notification_fields_and_md5_sign(sim: Simulator, receiver: Receiver) -> None:
    params, paid = place_and_pay(sim, receiver.url, attach="cart-7")
    sim.wait_for_notifications(1)
    fields = from_xml(receiver.received[0].body)
    assert receiver.received[0].path == "/wxpay/notify"
    assert signing.verify(fields, sim.merchant.api_key, "MD5")
    assert "sign_type" not in fields
    expected = {
        "return_code": "SUCCESS",
        "result_code": "SUCCESS",
        "appid": sim.merchant.appid,
        "mch_id": sim.merchant.mch_id,
        "openid": params["openid"],
        "trade_type": "JSAPI",
        "total_fee": "101",
        "cash_fee": "101",
        "fee_type": "CNY",
        "out_trade_no": params["out_trade_no"],
        "transaction_id": paid["transaction_id"],
        "attach": "cart-7",
    }
    assert {k: fields[k] for k in expected} == expected
    for name in ("nonce_str", "is_subscribe", "bank_type", "time_end"):
        assert fields[name]
    assert len(fields["time_end"]) == 14


def test_hmac_notification_has_no_sign_type_and_verifies_with_hmac(
    sim: Simulator, receiver: Receiver
) -> None:
    place_and_pay(sim, receiver.url, sign_type="HMAC-SHA256")
    sim.wait_for_notifications(1)
    fields = from_xml(receiver.received[0].body)
    assert "sign_type" not in fields
    assert len(fields["sign"]) == 64
    assert signing.verify(fields, sim.merchant.api_key, "HMAC-SHA256")
    assert not signing.verify(fields, sim.merchant.api_key, "MD5")


def test_retries_follow_the_scaled_schedule(sim: Simulator) -> None:
    receiver = Receiver(answer=lambda n: (200, FAIL_XML)).start()
    try:
        place_and_pay(sim, receiver.url)
        gaps_checked = 5  # 15s, 15s, 30s, 3m, 10m -> 15, 15, 30, 180, 600 ms at 0.001
        _wait(lambda: len(receiver.received) > gaps_checked)
        times = [r.at for r in receiver.received[: gaps_checked + 1]]
    finally:
        sim.reset()
        receiver.stop()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for gap, scheduled in zip(gaps, RETRY_SCHEDULE, strict=False):
        expected = scheduled * 0.001
        # Generous: never early, and not so late that the next step could be mistaken.
        assert expected * 0.9 <= gap <= expected + 1.0, (gaps, RETRY_SCHEDULE[:gaps_checked])


def test_gives_up_after_the_whole_schedule() -> None:
    receiver = Receiver(answer=lambda n: (200, FAIL_XML)).start()
    # 24h4m of schedule in about 0.9 s.
    with Simulator(time_factor=0.00001) as sim:
        try:
            place_and_pay(sim, receiver.url)
            log = sim.wait_for_notifications(lambda log: log[0]["finished"], timeout=20)
        finally:
            receiver.stop()
    assert len(log[0]["attempts"]) == len(RETRY_SCHEDULE) + 1 == 16
    assert not log[0]["acknowledged"]
    assert all(a["status"] == 200 and not a["acknowledged"] for a in log[0]["attempts"])


def test_stops_once_answered_success(sim: Simulator) -> None:
    # FAIL twice, then SUCCESS: exactly three attempts, never a fourth.
    receiver = Receiver(answer=lambda n: (200, SUCCESS_XML if n >= 2 else FAIL_XML)).start()
    try:
        place_and_pay(sim, receiver.url)
        log = sim.wait_for_notifications(1)
        time.sleep(0.4)  # longer than the next two scaled gaps (30 ms + 180 ms)
        assert len(receiver.received) == 3
    finally:
        receiver.stop()
    (note,) = sim.notifications()
    assert note["acknowledged"] and note["finished"]
    assert [a["acknowledged"] for a in note["attempts"]] == [False, False, True]
    assert log[0]["kind"] == "payment"


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (200, b"success"),
        (200, b"SUCCESS"),
        (500, SUCCESS_XML),
        (200, FAIL_XML),
        (200, b"<xml><return_code>SUCCESS"),
    ],
    ids=["plain-success", "plain-SUCCESS", "http-500", "fail", "broken-xml"],
)
def test_anything_but_xml_success_is_retried(sim: Simulator, status: int, answer: bytes) -> None:
    receiver = Receiver(answer=lambda n: (status, answer)).start()
    try:
        place_and_pay(sim, receiver.url)
        _wait(lambda: len(receiver.received) >= 2)
    finally:
        sim.reset()
        receiver.stop()
    assert receiver.received[0].body == receiver.received[1].body


def test_unreachable_notify_url_is_retried_and_logged(sim: Simulator) -> None:
    place_and_pay(sim, "http://127.0.0.1:9/wxpay/notify")
    log = sim.wait_for_notifications(lambda log: len(log[0]["attempts"]) >= 2)
    attempt = log[0]["attempts"][0]
    assert attempt["status"] is None and "ConnectionError" in attempt["error"]


def test_duplicate_sends_each_attempt_twice_at_once(receiver: Receiver) -> None:
    with Simulator(time_factor=0.001, duplicate=True) as sim:
        place_and_pay(sim, receiver.url)
        log = sim.wait_for_notifications(lambda log: len(log[0]["attempts"]) == 2)
    first, second = receiver.received
    assert first.body == second.body
    assert abs(first.at - second.at) < 1.0
    assert log[0]["acknowledged"]


def test_refund_notification_req_info_decrypts(sim: Simulator, receiver: Receiver) -> None:
    params, paid = place_and_pay(sim, "http://127.0.0.1:9/n")
    refund = {
        "out_trade_no": params["out_trade_no"],
        "out_refund_no": "R1",
        "total_fee": "101",
        "refund_fee": "60",
        "notify_url": receiver.url,
    }
    assert call(sim, "/secapi/pay/refund", refund)["result_code"] == "SUCCESS"
    log = sim.wait_for_notifications(
        lambda log: any(n["acknowledged"] for n in log if n["kind"] == "refund")
    )
    (note,) = [n for n in log if n["kind"] == "refund"]
    assert note["out_refund_no"] == "R1"
    fields = from_xml(receiver.received[0].body)
    assert set(fields) == {"return_code", "appid", "mch_id", "nonce_str", "req_info"}
    secret = decrypt_req_info(fields["req_info"], sim.merchant.api_key)
    assert secret["out_refund_no"] == "R1"
    assert secret["out_trade_no"] == params["out_trade_no"]
    assert secret["transaction_id"] == paid["transaction_id"]
    assert secret["refund_fee"] == "60"
    assert secret["total_fee"] == "101"
    assert secret["refund_status"] == "SUCCESS"
    assert secret["success_time"]


def test_refund_notification_goes_to_merchant_refund_url(receiver: Receiver) -> None:
    from wxpay_mw.simulator import Merchant

    with Simulator(Merchant(refund_notify_url=receiver.url), time_factor=0.001) as sim:
        params, _ = place_and_pay(sim, "http://127.0.0.1:9/n")
        refund = {
            "out_trade_no": params["out_trade_no"],
            "out_refund_no": "R2",
            "total_fee": "101",
            "refund_fee": "101",
        }
        call(sim, "/secapi/pay/refund", refund)
        sim.wait_for_notifications(
            lambda log: any(n["kind"] == "refund" and n["acknowledged"] for n in log)
        )


def test_stop_ends_delivery_threads(receiver: Receiver) -> None:
    receiver.answer = lambda n: (200, FAIL_XML)
    # Other simulators (the plugin's session fixture) may be running: look only at the
    # threads this one started.
    before = set(threading.enumerate())
    sim = Simulator(time_factor=1.0).start()
    place_and_pay(sim, receiver.url)
    _wait(lambda: len(receiver.received) == 1)
    ours = [t for t in set(threading.enumerate()) - before if t.name.startswith("wxpay-sim")]
    assert ours, "delivery runs on the simulator's own threads"
    # The next attempt is due 15 s later; stop() cancels it instead of waiting for it.
    sim.stop()
    assert not [t for t in ours if t.is_alive()]
    assert len(receiver.received) == 1


def test_wait_for_notifications_times_out_with_a_summary(sim: Simulator) -> None:
    with pytest.raises(TimeoutError, match="notifications did not reach"):
        sim.wait_for_notifications(1, timeout=0.1)
