"""Notifications verified and opened, and v3 resources as the protocol-neutral models."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from wxpay_mw.errors import ConfigError
from wxpay_mw.models import Payment, Refund
from wxpay_mw.v3 import aead
from wxpay_mw.v3.errors import DecryptError, V3SignatureError
from wxpay_mw.v3.notify import (
    parse_notification,
    payment_from_transaction,
    refund_fields,
    refund_from_resource,
    seal_notification,
    transaction_fields,
    v2_time,
)

from ._vectors import VECTORS, private_key, verifier_keys

VEC = {v["name"]: v for v in VECTORS}
APIV3 = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"


def parse(name: str, **kw: Any) -> Any:
    inp = VEC[name]["input"]
    return parse_notification(
        inp["headers"],
        inp["body"].encode(),
        verifier_keys(),
        inp["apiv3_key"],
        now=inp["now"],
        **kw,
    )


def sign(body: bytes, ts: str = "1700000000", nonce: str = "N1") -> dict[str, str]:
    """Headers for ``body`` signed with the test key behind certificate F5765756002FDD77."""
    raw = private_key("go_test_key").sign(
        f"{ts}\n{nonce}\n".encode() + body + b"\n", padding.PKCS1v15(), hashes.SHA256()
    )
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": base64.b64encode(raw).decode(),
        "Wechatpay-Serial": "F5765756002FDD77",
    }


def test_a_payment_notification_becomes_the_payment_v2_gives() -> None:
    note = parse("notify-transaction-success")
    plain = VEC["notify-transaction-success"]["expect"]["resource_plaintext"]
    assert note.event_type == "TRANSACTION.SUCCESS"
    assert note.id == "EV-2018022511223320873"
    assert note.original_type == "transaction" and note.resource_type == "encrypt-resource"
    assert note.plaintext == plain.encode()
    payment = payment_from_transaction(note.resource, raw=note.plaintext)
    assert payment == Payment(
        out_trade_no="1217752501201407033233368018",
        transaction_id="4200000000000000000000000000",
        total_fee=100,
        openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        time_end="20180608103456",
        cash_fee=100,
        bank_type="OTHERS",
        attach=None,
        source="notify",
        fields=payment.fields,
    )
    f = payment.fields
    assert (f["appid"], f["mch_id"], f["mchid"]) == (
        "wxd678efh567hg6787",
        "1230000109",
        "1230000109",
    )
    assert (f["trade_state"], f["fee_type"], f["cash_fee_type"]) == ("SUCCESS", "CNY", "CNY")
    assert f["success_time"] == "2018-06-08T10:34:56+08:00"
    assert f["resource"] == plain


def test_a_refund_notification_becomes_the_refund_v2_gives() -> None:
    note = parse("notify-refund-success")
    refund = refund_from_resource(note.resource, raw=note.plaintext)
    assert refund == Refund(
        out_trade_no="1217752501201407033233368018",
        out_refund_no="R1217752501201407033233368018",
        refund_id="50000000000000000000000000000",
        refund_fee=100,
        total_fee=100,
        refund_status="SUCCESS",
        success_time="2018-06-08 10:44:56",
        fields=refund.fields,
    )
    assert refund.fields["refund_recv_accout"] == "支付用户零钱"
    assert refund.fields["resource"] == VEC["notify-refund-success"]["expect"]["resource_plaintext"]


@pytest.mark.parametrize(
    ("v3", "v2"),
    [("SUCCESS", "SUCCESS"), ("ABNORMAL", "CHANGE"), ("CLOSED", "REFUNDCLOSE"), ("NEW", "NEW")],
)
def test_refund_states_map_to_v2s(v3: str, v2: str) -> None:
    base = {"out_trade_no": "o", "out_refund_no": "r", "amount": {"total": 2, "refund": 1}}
    assert refund_from_resource({**base, "refund_status": v3}).refund_status == v2
    assert refund_fields({**base, "status": v3})["refund_status"] == v2  # the query answer


def test_a_query_answer_is_a_query_payment_and_unpaid_states_are_refused() -> None:
    tx = {
        "appid": "wx1",
        "mchid": "1",
        "out_trade_no": "o",
        "transaction_id": "t",
        "trade_state": "SUCCESS",
        "success_time": "2024-01-01T00:00:00Z",
        "amount": {"total": 300, "payer_total": 250},
        "payer": {"openid": "u"},
        "promotion_detail": [{"amount": 50}],
    }
    payment = payment_from_transaction(tx, source="query")
    assert (payment.source, payment.cash_fee, payment.time_end) == ("query", 250, "20240101080000")
    assert "promotion_detail" in json.loads(payment.fields["resource"])
    with pytest.raises(ValueError, match="NOTPAY"):
        payment_from_transaction({**tx, "trade_state": "NOTPAY"})
    with pytest.raises(ValueError, match="without transaction_id"):
        payment_from_transaction({k: v for k, v in tx.items() if k != "transaction_id"})
    assert transaction_fields({"amount": "odd", "settle": True})["settle"] == "true"
    with pytest.raises(ValueError, match="without refund_fee"):
        refund_from_resource(
            {"out_trade_no": "o", "out_refund_no": "r", "refund_status": "SUCCESS"}
        )


@pytest.mark.parametrize("value", ["", "2018-06-08", "2018-06-08T10:34:56", "nonsense"])
def test_times_that_are_not_rfc3339_with_a_zone_become_empty(value: str) -> None:
    assert v2_time(value) == ""


@pytest.mark.parametrize(
    "name",
    [v["name"] for v in VECTORS if v["kind"] == "notification" and v.get("negative")],
)
def test_every_negative_notification_vector_is_refused(name: str) -> None:
    with pytest.raises(V3SignatureError) as caught:
        parse(name)
    assert caught.value.layer == VEC[name]["expect"]["refuse"]


def test_the_window_is_passed_through() -> None:
    with pytest.raises(V3SignatureError, match="window 60 s"):
        parse_notification(
            *(VEC["notify-window-299s-accepted"]["input"][k] for k in ("headers",)),
            VEC["notify-window-299s-accepted"]["input"]["body"].encode(),
            verifier_keys(),
            APIV3,
            now=VEC["notify-window-299s-accepted"]["input"]["now"],
            window=60,
        )


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"not json", "no resource object"),
        (b'{"resource": "x"}', "no resource object"),
        (b"[1]", "no resource object"),
        (b'{"resource": ', "no resource object"),
        (b"\xff\xfe", "no resource object"),
    ],
)
def test_a_signed_body_without_a_resource_is_refused(body: bytes, match: str) -> None:
    with pytest.raises(DecryptError, match=match):
        parse_notification(sign(body), body, verifier_keys(), APIV3, now=1700000000)


def test_a_resource_that_is_not_json_is_refused() -> None:
    resource = {
        "algorithm": "AEAD_AES_256_GCM",
        "nonce": "0123456789ab",
        "associated_data": "transaction",
        "ciphertext": aead.encrypt(APIV3, "0123456789ab", "transaction", b"[not an object]"),
    }
    body = json.dumps({"resource": resource}).encode()
    with pytest.raises(DecryptError, match="not decrypt to a JSON object"):
        parse_notification(sign(body), body, verifier_keys(), APIV3, now=1700000000)


def test_a_short_apiv3_key_is_a_config_error_after_the_signature() -> None:
    with pytest.raises(ConfigError, match="WXPAY_APIV3_KEY"):
        parse("notify-go-official-aes-128")


def test_sealed_refund_notifications_use_the_refund_associated_data() -> None:
    from wxpay_mw.v3 import signing

    resource = {
        "out_trade_no": "o",
        "out_refund_no": "r",
        "refund_status": "ABNORMAL",
        "amount": {"total": 2, "refund": 1},
    }
    body = seal_notification(
        APIV3,
        resource,
        event_type="REFUND.ABNORMAL",
        summary="退款异常",
        notification_id="EV-2",
        create_time="2024-01-01T00:00:00+08:00",
        nonce="abcdefabcdef",
    )
    envelope = json.loads(body)
    assert envelope["resource"]["associated_data"] == "refund"
    assert envelope["resource"]["original_type"] == "refund"
    headers = signing.sign_answer(private_key("go_test_key"), "F5765756002FDD77", body)
    note = parse_notification(headers, body, verifier_keys(), APIV3)
    assert note.event_type == "REFUND.ABNORMAL"
    assert refund_from_resource(note.resource).refund_status == "CHANGE"
