"""The wechatpayv3 package (minibear2021/wechatpayv3, the most used Python v3 SDK) pointed at the
v3 simulator: an independent client signs the requests and verifies the answers and
notifications (a dev dependency, the ``dev`` extra)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wechatpayv3 import WeChatPay, WeChatPayType

from wxpay_mw.simulator import Simulator
from wxpay_mw.v3 import request_payment

from ._v3help import Hit, openid, receiving


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(api="v3", time_factor=0.001) as simulator:
        yield simulator


def theirs(sim: Simulator, notify_url: str = "http://127.0.0.1:9/n") -> Any:
    """wechatpayv3 in WeChat Pay public key mode, configured from the simulator's files."""
    keys = sim.v3_keys
    wxpay = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=sim.merchant.mch_id,
        private_key=Path(keys.files.private_key).read_text(),
        cert_serial_no=keys.cert_serial,
        appid=sim.merchant.appid,
        apiv3_key=keys.apiv3_key,
        notify_url=notify_url,
        public_key=Path(keys.files.public_key).read_text(),
        public_key_id=keys.public_key_id,
    )
    # It has no setting for the host; its requests go to this attribute.
    wxpay._core._gate_way = sim.base_url
    return wxpay


def test_order_query_close_refund_through_wechatpayv3(sim: Simulator) -> None:
    with receiving() as host:
        wxpay = theirs(sim, host.url)
        code, text = wxpay.pay(
            description="测试商品",
            out_trade_no="WPV3ORDER01",
            amount={"total": 150},
            payer={"openid": openid(sim)},
        )
        assert code == 200, text
        prepay_id = json.loads(text)["prepay_id"]
        code, text = wxpay.query(out_trade_no="WPV3ORDER01")
        assert (code, json.loads(text)["trade_state"]) == (200, "NOTPAY")

        # Their paySign (RSA over appId, timeStamp, nonceStr, package) is accepted too.
        params = request_payment(sim.v3_settings().private_key, sim.merchant.appid, prepay_id)
        message = [sim.merchant.appid, params["timeStamp"], params["nonceStr"], params["package"]]
        params["paySign"] = wxpay.sign(message)
        paid = sim.pay(params)
        sim.wait_for_notifications(1)

        code, text = wxpay.query(transaction_id=paid["transaction_id"])
        assert (code, json.loads(text)["trade_state"]) == (200, "SUCCESS")
        code, text = wxpay.refund(
            out_refund_no="WPV3REFUND01",
            amount={"refund": 50, "total": 150, "currency": "CNY"},
            out_trade_no="WPV3ORDER01",
        )
        assert (code, json.loads(text)["status"]) == (200, "PROCESSING")
        code, text = wxpay.query_refund(out_refund_no="WPV3REFUND01")
        assert code == 200 and json.loads(text)["amount"]["refund"] == 50

        code, text = wxpay.pay(
            description="另一件",
            out_trade_no="WPV3ORDER02",
            amount={"total": 99},
            payer={"openid": openid(sim)},
        )
        assert code == 200, text
        code, text = wxpay.close(out_trade_no="WPV3ORDER02")
        assert code == 204
        code, text = wxpay.query(out_trade_no="WPV3ORDER02")
        assert json.loads(text)["trade_state"] == "CLOSED"

        # Their callback verifies and decrypts the notification the simulator sent.
        hit = host.hits[0]
        data = wxpay.callback(hit.headers, hit.body)
    assert data["event_type"] == "TRANSACTION.SUCCESS"
    assert data["resource"]["out_trade_no"] == "WPV3ORDER01"
    assert data["resource"]["transaction_id"] == paid["transaction_id"]
    assert data["resource"]["amount"]["total"] == 150


def test_their_errors_come_from_the_simulator(sim: Simulator) -> None:
    code, text = theirs(sim).query(out_trade_no="NEVER-PLACED-1")
    assert (code, json.loads(text)["code"]) == (404, "ORDER_NOT_EXIST")


def test_their_bill_download_matches_the_hash(sim: Simulator) -> None:
    wxpay = theirs(sim)
    code, text = wxpay.pay(
        description="账单",
        out_trade_no="WPV3BILL01",
        amount={"total": 77},
        payer={"openid": openid(sim)},
    )
    assert code == 200, text
    params = request_payment(
        sim.v3_settings().private_key, sim.merchant.appid, json.loads(text)["prepay_id"]
    )
    sim.pay(params)
    today = _dt.datetime.now(_dt.timezone(_dt.timedelta(hours=8))).date().isoformat()
    sim.advance_clock(36 * 3600)
    code, text = wxpay.trade_bill(bill_date=today, tar_type="")
    assert code == 200, text
    info = json.loads(text)
    code, bill = wxpay.download_bill(info["download_url"])
    assert code == 200
    # Their download is raw bytes (not signed, not verified): the hash vouches for it.
    assert hashlib.sha1(bill).hexdigest() == info["hash_value"]
    assert b"`WPV3BILL01" in bill


def test_their_callback_refuses_a_probe(sim: Simulator) -> None:
    def refuse_unverified(hit: Hit) -> tuple[int, bytes]:
        return (204, b"") if wxpay.callback(hit.headers, hit.body) else (401, b'{"code":"FAIL"}')

    with receiving(refuse_unverified) as host:
        wxpay = theirs(sim, host.url)
        code, text = wxpay.pay(
            description="探测",
            out_trade_no="WPV3PROBE01",
            amount={"total": 10},
            payer={"openid": openid(sim)},
        )
        assert code == 200, text
        params = request_payment(
            sim.v3_settings().private_key, sim.merchant.appid, json.loads(text)["prepay_id"]
        )
        sim.pay(params)
        sim.wait_for_notifications(1)
        probe_id = sim.send_probe("WPV3PROBE01")
        sim.wait_for_notifications(
            lambda log: any(n["id"] == probe_id and n["finished"] for n in log)
        )
        entry = next(n for n in sim.notifications() if n["id"] == probe_id)
    assert [a["status"] for a in entry["attempts"]] == [401]


def test_their_client_refuses_an_answer_with_a_probe_signature(sim: Simulator) -> None:
    sim.add_fault("/v3/pay/transactions/jsapi", "sign_probe", count=1)
    with pytest.raises(Exception, match="failed to verify the signature"):
        theirs(sim).pay(
            description="探测",
            out_trade_no="WPV3PROBE02",
            amount={"total": 10},
            payer={"openid": openid(sim)},
        )
