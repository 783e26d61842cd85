"""Request signing rules beyond the vectors, and WeChat's side: checking a merchant's
Authorization and signing answers (for the simulator)."""

from __future__ import annotations

import pytest

from wxpay_mw.v3 import signing
from wxpay_mw.v3.errors import V3SignatureError
from wxpay_mw.v3.keys import VerifierKeys
from wxpay_mw.v3.verify import verify_signed

from ._vectors import VECTORS, private_key, public_key

VEC = next(v for v in VECTORS if v["name"] == "authorization-jsapi-post")
INP = VEC["input"]
HEADER = VEC["expect"]["authorization"]
BODY = INP["body"].encode()
PUB = public_key("go_test_key")


def test_the_vector_header_parses_and_verifies() -> None:
    fields = signing.verify_authorization(HEADER, "POST", INP["url"], BODY, PUB)
    assert fields == {
        "mchid": INP["mchid"],
        "nonce_str": INP["nonce"],
        "timestamp": INP["timestamp"],
        "serial_no": INP["serial_no"],
        "signature": VEC["expect"]["signature"],
    }


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", INP["url"], BODY),
        ("POST", INP["url"] + "?x=1", BODY),
        ("POST", INP["url"].upper(), BODY),
        ("POST", INP["url"], BODY + b" "),
        ("POST", INP["url"], BODY.replace(b"100", b"101")),
    ],
    ids=["method", "query", "url-case", "body-space", "body-amount"],
)
def test_any_change_to_the_request_fails(method: str, url: str, body: bytes) -> None:
    with pytest.raises(V3SignatureError, match="does not verify"):
        signing.verify_authorization(HEADER, method, url, body, PUB)


@pytest.mark.parametrize(
    ("name", "value"),
    [("timestamp", "1554208461"), ("nonce_str", "X" + INP["nonce"][1:]), ("signature", "AAAA")],
)
def test_any_change_to_the_header_fails(name: str, value: str) -> None:
    fields = signing.parse_authorization(HEADER)
    bad = signing.format_authorization(
        **{
            "mchid": fields["mchid"],
            "nonce": fields["nonce_str"],
            "timestamp": fields["timestamp"],
            "serial_no": fields["serial_no"],
            "signature": fields["signature"],
            {"nonce_str": "nonce"}.get(name, name): value,
        }
    )
    with pytest.raises(V3SignatureError, match="does not verify"):
        signing.verify_authorization(bad, "POST", INP["url"], BODY, PUB)


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ("WECHATPAY2-SHA256-RSA2048", "lacks mchid"),
        ("Bearer abc", "does not start with"),
        ('WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str', 'name="value"'),
        ('WECHATPAY2-SHA256-RSA2048 mchid="1",timestamp="2"', "lacks nonce_str, serial_no"),
    ],
)
def test_a_malformed_authorization_is_named(header: str, match: str) -> None:
    with pytest.raises(V3SignatureError, match=match):
        signing.parse_authorization(header)


def test_field_order_and_spaces_are_free() -> None:
    fields = signing.parse_authorization(HEADER)
    shuffled = "WECHATPAY2-SHA256-RSA2048 " + ", ".join(
        f'{k}="{fields[k]}"' for k in reversed(list(fields))
    )
    assert signing.verify_authorization(shuffled, "POST", INP["url"], BODY, PUB) == fields


def test_lines_cannot_be_smuggled() -> None:
    with pytest.raises(ValueError, match="nonce must not contain a newline"):
        signing.request_message("GET", "/v3/x", "1", "a\nb", b"")
    with pytest.raises(ValueError, match="starting with '/'"):
        signing.request_message("GET", "https://api.mch.weixin.qq.com/v3/x", "1", "n", b"")
    with pytest.raises(ValueError, match="package must not contain a newline"):
        signing.pay_sign(private_key("go_test_key"), "wx1", "1", "n", "prepay_id=1\n")


def test_defaults_are_fresh_nonces_and_the_current_time() -> None:
    key = private_key("go_test_key")
    one = signing.parse_authorization(
        signing.authorization(key, mchid="1", serial_no="AB", method="GET", url="/v3/certificates")
    )
    two = signing.parse_authorization(
        signing.authorization(key, mchid="1", serial_no="AB", method="GET", url="/v3/certificates")
    )
    assert one["nonce_str"] != two["nonce_str"]
    assert len(one["nonce_str"]) == 32 and one["timestamp"].isdigit()
    params = signing.request_payment(key, "wx1", "p1")
    assert params["timeStamp"].isdigit() and len(params["nonceStr"]) == 32


def test_signed_answers_verify_under_the_serial_they_name() -> None:
    keys = VerifierKeys(public_key=PUB, public_key_id="PUB_KEY_ID_01")
    headers = signing.sign_answer(
        private_key("go_test_key"), "PUB_KEY_ID_01", b"{}", timestamp="1700000000", nonce="N"
    )
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert verify_signed(headers, b"{}", keys, now=1700000000) == b"1700000000\nN\n{}\n"
    with pytest.raises(V3SignatureError):
        verify_signed(headers, b"{ }", keys, now=1700000000)
    fresh = signing.sign_answer(private_key("go_test_key"), "PUB_KEY_ID_01", b"")
    assert verify_signed(fresh, b"", keys)
