"""The v3 client (``WeChatPayV3Client``) against the v3 simulator over real HTTP, every call."""

from __future__ import annotations

import datetime as _dt
import gzip
import hashlib
from collections.abc import Iterator

import pytest
import requests

from wxpay_mw.errors import OrderClosedError, OutTradeNoUsedError, WeChatError
from wxpay_mw.simulator import PaymentRefused, Simulator
from wxpay_mw.v3 import V3ResponseSignatureError, calls, payment_from_transaction
from wxpay_mw.v3.client import WeChatPayV3Client

from ._v3help import client, number, openid, place_and_pay, signature_verifies, wechat_public_keys


@pytest.fixture(scope="module")
def v3sim_session() -> Iterator[Simulator]:
    with Simulator(api="v3", time_factor=0.001) as simulator:
        yield simulator


@pytest.fixture
def sim(v3sim_session: Simulator) -> Iterator[Simulator]:
    v3sim_session.reset()
    yield v3sim_session
    v3sim_session.reset()


def test_order_pay_and_query_both_ways(sim: Simulator) -> None:
    with client(sim) as c:
        no = number()
        prepay_id = c.jsapi_order(
            out_trade_no=no, total=250, description="测试商品", openid=openid(sim), attach="cart-9"
        )
        assert prepay_id.startswith("wx")
        unpaid = c.query_order(out_trade_no=no)
        assert unpaid["trade_state"] == "NOTPAY"
        assert "transaction_id" not in unpaid
        paid = sim.pay(c.request_payment(prepay_id))
        by_no = c.query_order(out_trade_no=no)
        by_id = c.query_order(transaction_id=paid["transaction_id"])
    assert by_no == by_id
    assert by_no["trade_state"] == "SUCCESS"
    assert by_no["transaction_id"] == paid["transaction_id"]
    assert by_no["amount"]["total"] == by_no["amount"]["payer_total"] == 250
    assert by_no["payer"]["openid"] == openid(sim)
    assert by_no["attach"] == "cart-9"
    assert (by_no["appid"], by_no["mchid"]) == (sim.merchant.appid, sim.merchant.mch_id)
    # success_time is RFC 3339 in Beijing time, and reads as v2's time_end.
    when = _dt.datetime.fromisoformat(by_no["success_time"])
    assert when.utcoffset() == _dt.timedelta(hours=8)
    payment = payment_from_transaction(by_no, "query")
    assert (payment.total_fee, payment.cash_fee) == (250, 250)
    assert payment.time_end == when.strftime("%Y%m%d%H%M%S")


def test_the_same_order_again_gives_the_same_prepay_id_and_another_is_refused(
    sim: Simulator,
) -> None:
    with client(sim) as c:
        no, who = number(), openid(sim)
        first = c.jsapi_order(out_trade_no=no, total=101, description="A", openid=who)
        assert c.jsapi_order(out_trade_no=no, total=101, description="A", openid=who) == first
        with pytest.raises(OutTradeNoUsedError) as caught:
            c.jsapi_order(out_trade_no=no, total=102, description="A", openid=who)
    assert caught.value.fields["http_status"] == "403"


def test_an_unknown_order_is_order_not_exist(sim: Simulator) -> None:
    with client(sim) as c, pytest.raises(WeChatError) as caught:
        c.query_order(out_trade_no="NEVER-PLACED-1")
    assert caught.value.code == "ORDER_NOT_EXIST"
    assert caught.value.fields["http_status"] == "404"
    assert caught.value.fields["request_id"]


def test_close_answers_204_and_a_closed_order_cannot_be_paid(sim: Simulator) -> None:
    with client(sim) as c:
        no = number()
        prepay_id = c.jsapi_order(out_trade_no=no, total=101, description="A", openid=openid(sim))
        c.close_order(no)
        assert c.query_order(out_trade_no=no)["trade_state"] == "CLOSED"
        with pytest.raises(OrderClosedError):
            c.close_order(no)
        with pytest.raises(PaymentRefused) as refused:
            sim.pay(c.request_payment(prepay_id))
    assert refused.value.status == 409


def test_close_is_a_signed_empty_204(sim: Simulator) -> None:
    with client(sim) as c:
        no = number()
        c.jsapi_order(out_trade_no=no, total=101, description="A", openid=openid(sim))
        req = calls.close_order(sim.merchant.mch_id, no)
        settings = sim.v3_settings()
        headers = req.headers(
            settings.private_key, mchid=sim.merchant.mch_id, serial_no=settings.cert_serial
        )
    answer = requests.post(req.url(sim.base_url), data=req.body, headers=headers, timeout=10)
    assert answer.status_code == 204
    assert answer.content == b""
    key = wechat_public_keys(sim)[answer.headers["Wechatpay-Serial"]]
    assert signature_verifies(key, dict(answer.headers), b"")


def test_refund_and_refund_query(sim: Simulator) -> None:
    with client(sim) as c:
        no, paid = place_and_pay(sim, c, total=300)
        made = c.refund(out_refund_no="R" + no, refund=120, total=300, out_trade_no=no)
        assert made["status"] == "PROCESSING"
        assert made["amount"]["refund"] == 120
        assert made["transaction_id"] == paid["transaction_id"]
        # The same out_refund_no again is the same refund, not a second one.
        again = c.refund(out_refund_no="R" + no, refund=120, total=300, out_trade_no=no)
        assert again["refund_id"] == made["refund_id"]
        sim.wait_for_notifications(lambda log: c.refund_query("R" + no)["status"] == "SUCCESS")
        settled = c.refund_query("R" + no)
        assert c.query_order(out_trade_no=no)["trade_state"] == "REFUND"
        with pytest.raises(WeChatError) as caught:
            c.refund(out_refund_no="X" + no, refund=181, total=300, out_trade_no=no)
    assert settled["refund_id"] == made["refund_id"]
    assert settled["success_time"]
    assert caught.value.code == "NOT_ENOUGH"


def test_refund_by_transaction_id(sim: Simulator) -> None:
    with client(sim) as c:
        no, paid = place_and_pay(sim, c)
        made = c.refund(
            out_refund_no="R" + no, refund=101, total=101, transaction_id=paid["transaction_id"]
        )
    assert made["out_trade_no"] == no


def test_the_bill_downloads_and_matches_its_sha1(sim: Simulator) -> None:
    with client(sim) as c:
        no, paid = place_and_pay(sim, c, total=123)
        today = _dt.datetime.now(_dt.timezone(_dt.timedelta(hours=8))).date()
        sim.advance_clock(36 * 3600)  # the bill of a day exists from 10:00 the next day
        info = c.trade_bill(today)
        text = c.download_bill(today)
    assert info["hash_type"] == "SHA1"
    assert info["download_url"].startswith(sim.base_url + "/v3/billdownload/file?token=")
    assert hashlib.sha1(text).hexdigest() == info["hash_value"]
    assert f"`{no}".encode() in text and f"`{paid['transaction_id']}".encode() in text
    assert b"`1.23" in text


def test_the_gzip_bill_is_checked_after_decompressing(sim: Simulator) -> None:
    with client(sim) as c:
        place_and_pay(sim, c)
        today = _dt.datetime.now(_dt.timezone(_dt.timedelta(hours=8))).date()
        sim.advance_clock(36 * 3600)
        settings = sim.v3_settings()
        req = calls.trade_bill(today, gzip_file=True)
        ours = {"mchid": sim.merchant.mch_id, "serial_no": settings.cert_serial}
        info = requests.get(
            req.url(sim.base_url), headers=req.headers(settings.private_key, **ours), timeout=10
        ).json()
        down = calls.bill_download(info["download_url"])
        got = requests.get(
            down.url(sim.base_url), headers=down.headers(settings.private_key, **ours), timeout=10
        )
    assert got.content[:2] == b"\x1f\x8b"
    assert hashlib.sha1(gzip.decompress(got.content)).hexdigest() == info["hash_value"]
    assert "Wechatpay-Signature" not in got.headers  # the file itself is not signed


def test_no_bill_for_a_day_without_payments(sim: Simulator) -> None:
    sim.advance_clock(36 * 3600)
    with client(sim) as c, pytest.raises(WeChatError) as caught:
        c.trade_bill(_dt.date(2026, 1, 5))
    assert caught.value.code == "NO_STATEMENT_EXIST"


def test_public_key_mode_has_no_certificates(sim: Simulator) -> None:
    with client(sim) as c, pytest.raises(WeChatError) as caught:
        c.refresh_certificates()
    assert caught.value.code == "RESOURCE_NOT_EXISTS"
    assert caught.value.fields["http_status"] == "404"


def test_certificate_mode_serves_its_certificates_sealed_with_the_apiv3_key() -> None:
    with Simulator(api="v3", v3_mode="certificate", time_factor=0.001) as sim:
        settings = sim.v3_settings()
        assert settings.public_key_id is None  # the client must download certificates
        with client(sim) as c:
            assert c.keys.serials == ()
            no, _ = place_and_pay(sim, c)  # the first call downloads them
            served = [cert.serial_no for cert in c.keys.certificates]
            assert served == [sim.v3_keys.signing_certificate.serial_no]
            assert c.query_order(out_trade_no=no)["trade_state"] == "SUCCESS"
            # Sealed with another APIv3 key, they do not open.
            settings_bad = sim.v3_settings(apiv3_key="0" * 32)
            with (
                WeChatPayV3Client(c.config, settings_bad) as wrong,
                pytest.raises(V3ResponseSignatureError, match="WXPAY_APIV3_KEY"),
            ):
                wrong.refresh_certificates()
