"""Signing: every shared vector, the string-to-sign rules, verification and nonces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wxpay_mw import signing

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent.parent / "data" / "sign-vectors.json").read_text("utf-8")
)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_sign_vector(vector: dict[str, Any]) -> None:
    params, key = vector["params"], vector["key"]
    assert f"{signing.string_to_sign(params)}&key={key}" == vector["string_to_sign"]
    assert signing.sign(params, key, vector["sign_type"]) == vector["sign"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_verify_vector(vector: dict[str, Any]) -> None:
    signed = {**vector["params"], "sign": vector["sign"]}
    assert signing.verify(signed, vector["key"], vector["sign_type"])
    other = "HMAC-SHA256" if vector["sign_type"] == "MD5" else "MD5"
    assert not signing.verify(signed, vector["key"], other)
    assert not signing.verify(signed, "0" * 32, vector["sign_type"])


def test_integer_zero_is_signed_but_none_and_empty_are_not() -> None:
    assert signing.string_to_sign({"a": 0, "b": "", "c": None, "d": "x"}) == "a=0&d=x"


def test_bool_values_are_refused() -> None:
    with pytest.raises(TypeError, match="bool"):
        signing.sign({"a": True}, "k" * 32)


@pytest.mark.parametrize(
    "given",
    [None, "", 123, "9a0a8659f005d6984697e2ca0a9cf3b7", "9A0A8659F005D6984697E2CA0A9CF3B", "签名"],
    ids=["missing", "empty", "not-a-string", "lower-case", "truncated", "non-ascii"],
)
def test_verify_refuses_bad_signs(given: object) -> None:
    params: dict[str, Any] = dict(VECTORS[0]["params"])
    if given is not None:
        params["sign"] = given
    assert not signing.verify(params, VECTORS[0]["key"], "MD5")


def test_unknown_sign_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sign type"):
        signing.sign({"a": "b"}, "k" * 32, "SHA1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "default", "expected"),
    [
        ({}, "MD5", "MD5"),
        ({}, "HMAC-SHA256", "HMAC-SHA256"),
        ({"sign_type": ""}, "HMAC-SHA256", "HMAC-SHA256"),
        ({"sign_type": "MD5"}, "HMAC-SHA256", "MD5"),
        ({"sign_type": "HMAC-SHA256"}, "MD5", "HMAC-SHA256"),
    ],
)
def test_sign_type_of(params: dict[str, str], default: signing.SignType, expected: str) -> None:
    assert signing.sign_type_of(params, default) == expected


def test_sign_type_of_refuses_unknown() -> None:
    with pytest.raises(ValueError, match="SHA1"):
        signing.sign_type_of({"sign_type": "SHA1"}, "MD5")


def test_nonces_are_32_chars_and_distinct() -> None:
    nonces = {signing.make_nonce() for _ in range(1000)}
    assert len(nonces) == 1000
    assert all(len(n) == 32 and n.isalnum() for n in nonces)


def test_request_payment_params_reproduce_the_official_example() -> None:
    vector = next(v for v in VECTORS if v["name"] == "official-wxa-paysign-md5")
    p = vector["params"]
    params = signing.request_payment_params(
        appid=p["appId"],
        key=vector["key"],
        prepay_id=p["package"].removeprefix("prepay_id="),
        sign_type="MD5",
        timestamp=int(p["timeStamp"]),
        nonce_str=p["nonceStr"],
    )
    assert params == {
        "timeStamp": "1490840662",
        "nonceStr": p["nonceStr"],
        "package": p["package"],
        "signType": "MD5",
        "paySign": vector["sign"],
    }


def test_request_payment_params_hmac_and_defaults() -> None:
    vector = next(v for v in VECTORS if v["name"] == "paysign-hmac-sha256")
    p = vector["params"]
    params = signing.request_payment_params(
        appid=p["appId"],
        key=vector["key"],
        prepay_id=p["package"].removeprefix("prepay_id="),
        sign_type="HMAC-SHA256",
        timestamp=1490840662,
        nonce_str=p["nonceStr"],
    )
    assert params["paySign"] == vector["sign"]
    fresh = signing.request_payment_params(appid="wx1", key="k" * 32, prepay_id="wx99")
    assert fresh["timeStamp"].isdigit() and len(fresh["nonceStr"]) == 32
    signed = {k: v for k, v in fresh.items() if k != "paySign"}
    assert signing.verify({**signed, "appId": "wx1", "sign": fresh["paySign"]}, "k" * 32)


@pytest.mark.parametrize("prepay_id", ["", "prepay_id=wx1"], ids=["empty", "already-prefixed"])
def test_request_payment_params_refuse_bad_prepay_ids(prepay_id: str) -> None:
    with pytest.raises(ValueError, match="prepay_id"):
        signing.request_payment_params(appid="wx1", key="k" * 32, prepay_id=prepay_id)
