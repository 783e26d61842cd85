"""Our signatures and decryption against wechatpayv3, an independent implementation.

Both compute the same thing from the same inputs and must agree; then each verifies the
other's output. wechatpayv3 runs offline here: in public-key mode it never downloads
certificates. It is a dev dependency (the ``dev`` extra).
"""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from wxpay_mw.v3 import aead, calls, signing
from wxpay_mw.v3.errors import V3SignatureError
from wxpay_mw.v3.keys import VerifierKeys
from wxpay_mw.v3.notify import parse_notification, seal_notification

from ._vectors import DOC, private_key, public_key

if os.environ.get("CI"):
    import wechatpayv3.core as wp_core
    import wechatpayv3.utils as wp_utils
else:
    wp_core = pytest.importorskip(
        "wechatpayv3.core", reason="wechatpayv3 is in the dev extra: pip install -e '.[dev]'"
    )
    wp_utils = pytest.importorskip("wechatpayv3.utils")

MCHID = "1230000109"
SERIAL = "F5765756002FDD77"
PUB_ID = "PUB_KEY_ID_0000000000000024101100397200000006"
APIV3 = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
KEY = private_key("go_test_key")
PRIVATE_PEM = DOC["keys"]["go_test_key"]["private_key_pem"]
PUBLIC_PEM = DOC["keys"]["go_test_key"]["public_key_pem"]


def theirs() -> Any:
    return wp_core.Core(
        mchid=MCHID,
        cert_serial_no=SERIAL,
        private_key=PRIVATE_PEM,
        apiv3_key=APIV3,
        public_key=PUBLIC_PEM,
        public_key_id=PUB_ID,
    )


def fields(header: str) -> tuple[str, dict[str, str]]:
    schema, _, rest = header.partition(" ")
    return schema, dict(re.findall(r'(\w+)="([^"]*)"', rest))


REQUESTS = [
    calls.jsapi_order(
        appid="wxd678efh567hg6787",
        mchid=MCHID,
        description="Image形象店-深圳腾大-QQ公仔",
        out_trade_no="1217752501201407033233368018",
        notify_url="https://www.weixin.qq.com/wxpay/pay.php",
        total=100,
        openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        attach="附加",
    ),
    calls.query_order(MCHID, out_trade_no="1217752501201407033233368018"),
    calls.close_order(MCHID, "1217752501201407033233368018"),
    calls.refund(out_refund_no="R1", refund=1, total=100, transaction_id="4200000000"),
    calls.refund_query("R1"),
    calls.trade_bill("2024-05-01", gzip_file=True),
    calls.certificates(),
]


@pytest.mark.parametrize("req", REQUESTS, ids=[r.endpoint + ":" + r.method for r in REQUESTS])
def test_our_authorization_equals_wechatpayv3s(req: calls.V3Request) -> None:
    their_header = wp_utils.build_authorization(
        req.path, req.method, MCHID, SERIAL, theirs()._private_key, data=req.body.decode() or None
    )
    _, theirs_fields = fields(their_header)
    ours = req.headers(
        KEY,
        mchid=MCHID,
        serial_no=SERIAL,
        timestamp=theirs_fields["timestamp"],
        nonce=theirs_fields["nonce_str"],
    )["Authorization"]
    schema, ours_fields = fields(ours)
    assert schema == "WECHATPAY2-SHA256-RSA2048"
    assert ours_fields == theirs_fields


@pytest.mark.parametrize("req", REQUESTS, ids=[r.endpoint + ":" + r.method for r in REQUESTS])
def test_wechatpayv3_verifies_our_authorization(req: calls.V3Request) -> None:
    _, f = fields(req.headers(KEY, mchid=MCHID, serial_no=SERIAL)["Authorization"])
    # rsa_verify signs "ts\nnonce\nbody\n"; a request's five lines fit that shape with the
    # method and URL folded into the first.
    first = f"{req.method}\n{req.path}\n{f['timestamp']}"
    pub = theirs()._public_key
    assert wp_utils.rsa_verify(first, f["nonce_str"], req.body.decode(), f["signature"], pub)
    assert not wp_utils.rsa_verify(
        first + "0", f["nonce_str"], req.body.decode(), f["signature"], pub
    )


def test_our_paysign_equals_wechatpayv3s_and_verifies() -> None:
    params = signing.request_payment(KEY, "wx8888888888888888", "wx2014102720093955226")
    expected = theirs().sign(
        ["wx8888888888888888", params["timeStamp"], params["nonceStr"], params["package"]]
    )
    assert params["paySign"] == expected
    message = (
        f"wx8888888888888888\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    )
    public_key("go_test_key").verify(
        base64.b64decode(params["paySign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def notification(plaintext: bytes, ts: str = "1700000000") -> tuple[dict[str, str], bytes]:
    """A notification made by our simulator-side helpers (sealed, then signed)."""
    body = seal_notification(
        APIV3,
        json.loads(plaintext),
        event_type="TRANSACTION.SUCCESS",
        summary="支付成功",
        notification_id="EV-1",
        create_time="2023-11-15T06:13:20+08:00",
        nonce="q1w2e3r4t5y6",
    )
    return signing.sign_answer(KEY, PUB_ID, body, timestamp=ts, nonce="N0NCE"), body


PLAIN = json.dumps(
    {"mchid": MCHID, "out_trade_no": "o1", "trade_state": "SUCCESS", "amount": {"total": 1}},
    ensure_ascii=False,
).encode()


def our_keys() -> VerifierKeys:
    return VerifierKeys(public_key=public_key("go_test_key"), public_key_id=PUB_ID)


def test_both_open_the_same_notification_alike() -> None:
    headers, body = notification(PLAIN)
    ours = parse_notification(headers, body, our_keys(), APIV3, now=1700000000)
    their = theirs().callback(headers, body)
    assert their is not None
    assert their["resource"] == ours.resource == json.loads(PLAIN)
    assert their["event_type"] == ours.event_type


@pytest.mark.parametrize("change", ["body", "signature", "aad"])
def test_both_refuse_the_same_tampered_notification(change: str) -> None:
    headers, body = notification(PLAIN)
    if change == "body":
        body = body.replace(b"EV-1", b"EV-2")
    elif change == "signature":
        headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    else:
        changed = body.replace(b'"associated_data":"transaction"', b'"associated_data":"refund"')
        assert changed != body
        body = changed
        headers = notification(PLAIN)[0] | {
            "Wechatpay-Signature": base64.b64encode(
                KEY.sign(b"1700000000\nN0NCE\n" + body + b"\n", padding.PKCS1v15(), hashes.SHA256())
            ).decode()
        }
    assert theirs().callback(headers, body) is None
    with pytest.raises(V3SignatureError):
        parse_notification(headers, body, our_keys(), APIV3, now=1700000000)


def test_wechatpayv3_verifies_the_answers_we_sign() -> None:
    headers = signing.sign_answer(KEY, PUB_ID, b'{"prepay_id":"wx1"}')
    pub = theirs()._public_key
    ts, nonce, sig = (headers[f"Wechatpay-{h}"] for h in ("Timestamp", "Nonce", "Signature"))
    assert wp_utils.rsa_verify(ts, nonce, '{"prepay_id":"wx1"}', sig, pub)
    assert theirs()._verify_signature(headers, '{"prepay_id":"wx1"}')
    assert not theirs()._verify_signature(headers, '{"prepay_id":"wx2"}')


def test_wechatpayv3_opens_what_we_seal() -> None:
    sealed = aead.encrypt(APIV3, "0123456789ab", "certificate", "证书".encode())
    assert wp_utils.aes_decrypt("0123456789ab", sealed, "certificate", APIV3) == "证书"
