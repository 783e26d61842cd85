"""Every vector of wechatpay-v3-vectors.json, reproduced by wxpay_mw.v3."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wxpay_mw.errors import ConfigError
from wxpay_mw.v3 import aead, signing
from wxpay_mw.v3.errors import V3SignatureError
from wxpay_mw.v3.keys import load_certificate, load_private_key
from wxpay_mw.v3.verify import verify_signed

from ._vectors import DATA, IN_CI, SHARED, VECTORS, ids, of_kind, private_key, verifier_keys


def test_every_vector_is_covered_by_a_test_here() -> None:
    known = {
        "rsa_sign",
        "authorization_layout",
        "request_authorization",
        "paysign",
        "aead_aes_256_gcm",
        "certificate_download",
        "rsa_oaep_sha1_decrypt",
        "notification",
        "response",
    }
    assert {v["kind"] for v in VECTORS} <= known
    assert len(VECTORS) >= 25


def test_the_copy_in_tests_data_is_the_shared_file() -> None:
    if not SHARED.is_file():
        if IN_CI:
            pytest.fail(f"CI lays shared/ beside the clone, but {SHARED} is missing")
        pytest.skip(f"no {SHARED}: put a copy of shared/ beside the clone to compare")
    assert json.loads(SHARED.read_text("utf-8")) == json.loads(DATA.read_text("utf-8"))


@pytest.mark.parametrize("vector", of_kind("rsa_sign"), ids=ids(of_kind("rsa_sign")))
def test_rsa_sign(vector: dict[str, Any]) -> None:
    inp = vector["input"]
    key = load_private_key(vector_pem(inp["key"]))
    assert signing.rsa_sign(key, inp["message"].encode()) == vector["expect"]["signature"]


def vector_pem(name: str) -> str:
    from ._vectors import DOC

    pem: str = DOC["keys"][name]["private_key_pem"]
    return pem


LAYOUT = of_kind("authorization_layout")


@pytest.mark.parametrize("vector", LAYOUT, ids=ids(LAYOUT))
def test_authorization_layout(vector: dict[str, Any]) -> None:
    inp, exp = vector["input"], vector["expect"]
    message = signing.request_message(
        inp["method"], inp["url"], inp["timestamp"], inp["nonce"], inp["body"].encode()
    )
    assert message == exp["message"].encode()
    header = signing.format_authorization(
        inp["mchid"],
        inp["nonce"],
        inp["timestamp"],
        inp["serial_no"],
        inp["mock_signature_prefix"] + message.decode(),
        schema="WECHATPAY2-" + inp["mock_algorithm"],
    )
    assert header == exp["authorization"]


AUTH = of_kind("request_authorization")


@pytest.mark.parametrize("vector", AUTH, ids=ids(AUTH))
def test_request_authorization(vector: dict[str, Any]) -> None:
    inp, exp = vector["input"], vector["expect"]
    body = inp["body"].encode()
    message = signing.request_message(
        inp["method"], inp["url"], inp["timestamp"], inp["nonce"], body
    )
    assert message == exp["message"].encode()
    header = signing.authorization(
        load_private_key(vector_pem(inp["key"])),
        mchid=inp["mchid"],
        serial_no=inp["serial_no"],
        method=inp["method"],
        url=inp["url"],
        body=body,
        timestamp=inp["timestamp"],
        nonce=inp["nonce"],
    )
    assert header == exp["authorization"]
    assert f'signature="{exp["signature"]}"' in header


PAYSIGN = of_kind("paysign")


@pytest.mark.parametrize("vector", PAYSIGN, ids=ids(PAYSIGN))
def test_paysign(vector: dict[str, Any]) -> None:
    inp, exp = vector["input"], vector["expect"]
    key = private_key(inp["key"])
    params = signing.request_payment(
        key,
        inp["appId"],
        inp["package"].removeprefix("prepay_id="),
        timestamp=inp["timeStamp"],
        nonce=inp["nonceStr"],
    )
    assert params == exp["requestPayment"]
    assert params["paySign"] == exp["paySign"]
    assert "appId" not in params


AEAD = of_kind("aead_aes_256_gcm")


@pytest.mark.parametrize("vector", AEAD, ids=ids(AEAD))
def test_aead(vector: dict[str, Any]) -> None:
    inp, exp = vector["input"], vector["expect"]
    args = (inp["apiv3_key"], inp["nonce"], inp["associated_data"], inp["ciphertext"])
    if vector.get("negative"):
        with pytest.raises(V3SignatureError) as caught:
            aead.decrypt(*args)
        assert caught.value.layer == exp["refuse"]
        return
    assert aead.decrypt(*args) == exp["plaintext"].encode()
    assert (
        aead.encrypt(
            inp["apiv3_key"], inp["nonce"], inp["associated_data"], exp["plaintext"].encode()
        )
        == inp["ciphertext"]
    )


CERTS = of_kind("certificate_download")


@pytest.mark.parametrize("vector", CERTS, ids=ids(CERTS))
def test_certificate_download(vector: dict[str, Any]) -> None:
    inp, exp = vector["input"], vector["expect"]
    [cert] = aead.parse_certificates(inp["response_body"].encode(), inp["apiv3_key"])
    assert cert.serial_no == exp["serial_no"]
    assert cert.not_before.isoformat() == exp["not_before"]
    assert cert.not_after.isoformat() == exp["not_after"]
    pem_cert = load_certificate(exp["certificate_pem"])
    assert pem_cert.public_key.public_numbers() == cert.public_key.public_numbers()


OAEP = of_kind("rsa_oaep_sha1_decrypt")


@pytest.mark.parametrize("vector", OAEP, ids=ids(OAEP))
def test_rsa_oaep_vector_key_loads_and_decrypts(vector: dict[str, Any]) -> None:
    # Sensitive-field encryption is outside the JSAPI flow; the vector checks that our key
    # loader yields a key that opens WeChat's OAEP ciphertext.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = load_private_key(vector_pem(vector["input"]["key"]))
    oaep = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)  # noqa: S303
    plain = key.decrypt(base64.b64decode(vector["input"]["ciphertext"]), oaep)
    assert plain == vector["expect"]["plaintext"].encode()


SIGNED = of_kind("notification", "response")


@pytest.mark.parametrize("vector", SIGNED, ids=ids(SIGNED))
def test_signed_message(vector: dict[str, Any]) -> None:
    inp, exp = vector["input"], vector["expect"]
    body = inp["body"].encode()
    keys = verifier_keys()
    bits = vector.get("aes_key_bits", 256)
    try:
        message = verify_signed(inp["headers"], body, keys, now=inp["now"])
        plain = None
        if vector["kind"] == "notification" and bits == 256:
            plain = aead.decrypt_resource(json.loads(body)["resource"], inp["apiv3_key"])
    except V3SignatureError as exc:
        assert vector.get("negative"), f"a valid vector was refused: {exc}"
        assert exc.layer == exp["refuse"]
        return
    assert not vector.get("negative"), "a negative vector was accepted"
    assert message == exp["message"].encode()
    if plain is not None:
        assert plain.decode() == exp["resource_plaintext"]
    elif vector["kind"] == "notification":
        # AES-128 (a 16-byte test key): the production decryptor refuses the key; the
        # plaintext is checked with AES-GCM directly, to check the vector itself.
        res = json.loads(body)["resource"]
        with pytest.raises(ConfigError, match="WXPAY_APIV3_KEY"):
            aead.decrypt_resource(res, inp["apiv3_key"])
        plain = AESGCM(inp["apiv3_key"].encode()).decrypt(
            res["nonce"].encode(),
            base64.b64decode(res["ciphertext"]),
            res["associated_data"].encode(),
        )
        assert plain.decode() == exp["resource_plaintext"]
