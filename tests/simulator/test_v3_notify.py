"""v3 notifications from the simulator: sealed, signed, judged by HTTP status, probes refused."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from wxpay_mw import signing
from wxpay_mw.errors import SignatureError
from wxpay_mw.simulator import Merchant, PaymentRefused, Simulator
from wxpay_mw.v3 import (
    Notification,
    SignatureProbeError,
    parse_notification,
    payment_from_transaction,
    refund_from_resource,
    request_payment,
)

from ._v3help import Hit, all_keys, client, number, openid, place_and_pay, receiving


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(api="v3", time_factor=0.001) as simulator:
        yield simulator


def _parse(sim: Simulator, hit: Hit) -> Notification:
    return parse_notification(hit.headers, hit.body, all_keys(sim), sim.v3_keys.apiv3_key)


def test_a_payment_notification_decrypts_and_verifies(sim: Simulator) -> None:
    with receiving() as host, client(sim, host.url) as c:
        no, paid = place_and_pay(sim, c, total=321)
        log = sim.wait_for_notifications(1)
        hit = host.hits[0]
    assert hit.path == "/wxpay/v3/notify"
    assert hit.headers["Content-Type"] == "application/json"
    assert hit.headers["Wechatpay-Serial"] == sim.v3_keys.public_key_id
    note = _parse(sim, hit)
    assert (note.event_type, note.resource_type, note.original_type) == (
        "TRANSACTION.SUCCESS",
        "encrypt-resource",
        "transaction",
    )
    tx = note.resource
    assert (tx["out_trade_no"], tx["transaction_id"]) == (no, paid["transaction_id"])
    assert tx["trade_state"] == "SUCCESS"
    assert tx["amount"]["total"] == tx["amount"]["payer_total"] == 321
    assert tx["payer"]["openid"] == openid(sim)
    assert (tx["appid"], tx["mchid"]) == (sim.merchant.appid, sim.merchant.mch_id)
    assert payment_from_transaction(tx).total_fee == 321
    assert log[0]["api"] == "v3" and log[0]["kind"] == "payment"
    assert log[0]["attempts"][0]["status"] == 204


def test_a_coupon_payment_shows_payer_total_below_total(sim: Simulator) -> None:
    with receiving() as host, client(sim, host.url) as c:
        place_and_pay(sim, c, total=1000, outcome="coupon", coupon_fee=300)
        sim.wait_for_notifications(1)
        tx = _parse(sim, host.hits[0]).resource
    assert (tx["amount"]["total"], tx["amount"]["payer_total"]) == (1000, 700)
    assert [p["amount"] for p in tx["promotion_detail"]] == [300]


def test_a_refused_notification_is_retried_and_a_200_with_fail_is_received(sim: Simulator) -> None:
    answers = [(500, b'{"code":"FAIL","message":"busy"}'), (400, b"{}"), (200, b'{"code":"FAIL"}')]

    def answer(hit: Hit) -> tuple[int, bytes]:
        return answers.pop(0) if answers else (204, b"")

    with receiving(answer) as host, client(sim, host.url) as c:
        place_and_pay(sim, c)
        log = sim.wait_for_notifications(1)
        sim.wait_for_notifications(lambda log: log[0]["finished"])
        log = sim.notifications()
    attempts = log[0]["attempts"]
    # WeChat judges v3 answers by status: 200 counts as received, even with FAIL.
    assert [a["status"] for a in attempts] == [500, 400, 200]
    assert [a["acknowledged"] for a in attempts] == [False, False, True]
    assert len(host.hits) == 3
    # Each attempt is signed afresh.
    assert len({a["headers"]["Wechatpay-Nonce"] for a in attempts}) == 3
    # The same notification every time.
    assert len({hit.body for hit in host.hits}) == 1


def test_a_probe_must_be_refused_and_is_sent_once(sim: Simulator) -> None:
    refused: list[str] = []

    def host_checks(hit: Hit) -> tuple[int, bytes]:
        try:
            _parse(sim, hit)
        except SignatureError as exc:
            refused.append(type(exc).__name__)
            return 401, b'{"code":"FAIL","message":"bad signature"}'
        return 204, b""

    with receiving(host_checks) as host, client(sim, host.url) as c:
        no, _ = place_and_pay(sim, c)
        sim.wait_for_notifications(1)
        probe_id = sim.send_probe(no)
        sim.wait_for_notifications(lambda log: log[-1]["finished"])
        log = sim.notifications()
        probe_hit = host.hits[-1]
    assert refused == ["SignatureProbeError"]
    assert probe_hit.headers["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    with pytest.raises(SignatureProbeError):
        _parse(sim, probe_hit)
    entry = next(n for n in log if n["id"] == probe_id)
    assert entry["kind"] == "probe"
    assert [a["status"] for a in entry["attempts"]] == [401]
    assert entry["acknowledged"] is False
    # A probe is not counted among acknowledged notifications.
    assert sim.wait_for_notifications(1)


def test_a_host_that_accepts_a_probe_shows_in_the_log(sim: Simulator) -> None:
    with receiving() as host, client(sim, host.url) as c:
        no, _ = place_and_pay(sim, c)
        sim.wait_for_notifications(1)
        probe_id = sim.send_probe(no, url=host.url)
        sim.wait_for_notifications(lambda log: log[-1]["finished"])
        entry = next(n for n in sim.notifications() if n["id"] == probe_id)
    assert entry["acknowledged"] is True  # the host took a bad signature: its bug


def test_a_pay_sign_not_by_the_merchant_key_is_refused(sim: Simulator) -> None:
    with client(sim) as c:
        prepay_id = c.jsapi_order(
            out_trade_no=number(), total=101, description="A", openid=openid(sim)
        )
        good = c.request_payment(prepay_id)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(PaymentRefused, match="支付验证签名失败"):
        sim.pay(request_payment(stranger, sim.merchant.appid, prepay_id))
    # The appId is signed: another appid's paySign does not fit this order.
    with pytest.raises(PaymentRefused, match="支付验证签名失败"):
        sim.pay(request_payment(sim.v3_settings().private_key, "wx0000000000000000", prepay_id))
    # v2's MD5 paySign (with the v2 API key) is not one for a v3 order.
    v2 = signing.request_payment_params(
        appid=sim.merchant.appid, key=sim.merchant.api_key, prepay_id=prepay_id, sign_type="MD5"
    )
    with pytest.raises(PaymentRefused, match="支付验证签名失败"):
        sim.pay(v2)
    assert sim.pay(good)["errMsg"] == "requestPayment:ok"


def test_a_refund_notification_is_v3(sim: Simulator) -> None:
    with receiving() as host, client(sim, host.url) as c:
        no, paid = place_and_pay(sim, c, total=200)
        c.refund(out_refund_no="R" + no, refund=80, total=200, out_trade_no=no, notify_url=host.url)
        sim.wait_for_notifications(2)
        refund_hit = next(h for h in host.hits if b"refund" in h.body)
    note = _parse(sim, refund_hit)
    assert (note.event_type, note.original_type) == ("REFUND.SUCCESS", "refund")
    made = refund_from_resource(note.resource)
    assert (made.out_trade_no, made.out_refund_no) == (no, "R" + no)
    assert (made.refund_fee, made.total_fee, made.refund_status) == (80, 200, "SUCCESS")
    assert note.resource["transaction_id"] == paid["transaction_id"]


def test_a_closed_refund_notifies_refund_closed(sim: Simulator) -> None:
    with receiving() as host, client(sim, host.url) as c:
        no, _ = place_and_pay(sim, c)
        sim.add_fault("/v3/refund/domestic/refunds", "refund_close", count=1)
        c.refund(
            out_refund_no="R" + no, refund=101, total=101, out_trade_no=no, notify_url=host.url
        )
        sim.wait_for_notifications(2)
        note = _parse(sim, host.hits[-1])
        assert c.refund_query("R" + no)["status"] == "CLOSED"
    assert note.event_type == "REFUND.CLOSED"
    assert refund_from_resource(note.resource).refund_status == "REFUNDCLOSE"


def test_a_platform_refund_of_a_v3_order_is_notified_as_v3() -> None:
    with receiving() as host:
        merchant = Merchant(refund_notify_url=host.url)
        with Simulator(merchant, api="v3", time_factor=0.001) as sim, client(sim, host.url) as c:
            no, _ = place_and_pay(sim, c)
            made = sim.platform_refund(no, 40)
            sim.wait_for_notifications(2)
            note = _parse(sim, host.hits[-1])
    assert note.event_type == "REFUND.SUCCESS"
    assert note.resource["out_refund_no"] == made["out_refund_no"]
    assert note.resource["amount"]["refund"] == 40


def test_notifications_do_not_verify_under_another_apiv3_key(sim: Simulator) -> None:
    with receiving() as host, client(sim, host.url) as c:
        place_and_pay(sim, c)
        sim.wait_for_notifications(1)
        hit = host.hits[0]
    with pytest.raises(SignatureError):
        parse_notification(hit.headers, hit.body, all_keys(sim), "0" * 32)
    # And a single changed byte fails the signature.
    body = json.loads(hit.body)
    body["summary"] = "x"
    with pytest.raises(SignatureError):
        parse_notification(
            hit.headers, json.dumps(body).encode(), all_keys(sim), sim.v3_keys.apiv3_key
        )
