"""Verification of signed answers and notifications: every field and byte matters."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from wxpay_mw.errors import ConfigError, SignatureError
from wxpay_mw.v3 import aead
from wxpay_mw.v3.errors import (
    DecryptError,
    SignatureProbeError,
    TimestampError,
    UnknownSerialError,
    V3SignatureError,
)
from wxpay_mw.v3.verify import verify_signed

from ._vectors import VECTORS, verifier_keys

NOTIFY: dict[str, Any] = next(v for v in VECTORS if v["name"] == "notify-transaction-success")
HEADERS: dict[str, str] = NOTIFY["input"]["headers"]
BODY: bytes = NOTIFY["input"]["body"].encode()
NOW: int = NOTIFY["input"]["now"]
KEY: str = NOTIFY["input"]["apiv3_key"]
RESOURCE: dict[str, str] = json.loads(BODY)["resource"]


def verify(headers: dict[str, str], body: bytes = BODY, **kw: Any) -> bytes:
    return verify_signed(headers, body, verifier_keys(), **{"now": NOW, **kw})


def test_the_untouched_notification_verifies() -> None:
    assert verify(HEADERS).endswith(BODY + b"\n")


def test_header_names_are_read_in_any_case() -> None:
    assert verify({k.lower(): v for k, v in HEADERS.items()})
    assert verify({k.upper(): v for k, v in HEADERS.items()})


def test_every_body_byte_changed_fails() -> None:
    for i in range(len(BODY)):
        tampered = BODY[:i] + bytes([BODY[i] ^ 0x01]) + BODY[i + 1 :]
        with pytest.raises(V3SignatureError) as caught:
            verify(HEADERS, tampered)
        assert caught.value.layer == "signature", i


def test_a_re_serialised_body_fails() -> None:
    reserialised = json.dumps(json.loads(BODY)).encode()
    with pytest.raises(V3SignatureError, match="re-serialised"):
        verify(HEADERS, reserialised)


@pytest.mark.parametrize(
    ("header", "value", "layer"),
    [
        ("Wechatpay-Timestamp", str(NOW + 1), "signature"),
        ("Wechatpay-Nonce", HEADERS["Wechatpay-Nonce"][:-1] + "X", "signature"),
        ("Wechatpay-Serial", "ABCDEF0123456789", "serial"),
        ("Wechatpay-Serial", "PUB_KEY_ID_0000000000000024101100397200000007", "serial"),
        ("Wechatpay-Serial", HEADERS["Wechatpay-Serial"].lower(), "serial"),
    ],
    ids=["timestamp+1", "nonce", "unknown-cert-serial", "unknown-key-id", "serial-case"],
)
def test_every_header_changed_fails(header: str, value: str, layer: str) -> None:
    with pytest.raises(V3SignatureError) as caught:
        verify({**HEADERS, header: value})
    assert caught.value.layer == layer


def test_every_signature_byte_changed_fails() -> None:
    raw = base64.b64decode(HEADERS["Wechatpay-Signature"])
    for i in range(0, len(raw), 7):
        bad = base64.b64encode(raw[:i] + bytes([raw[i] ^ 0x80]) + raw[i + 1 :]).decode()
        with pytest.raises(V3SignatureError, match="does not verify"):
            verify({**HEADERS, "Wechatpay-Signature": bad})


def test_an_unknown_serial_names_the_serial_and_the_keys_we_hold() -> None:
    with pytest.raises(UnknownSerialError) as caught:
        verify({**HEADERS, "Wechatpay-Serial": "7132D72A03E93CDD"})
    assert caught.value.serial == "7132D72A03E93CDD"
    assert "PUB_KEY_ID_0000000000000024101100397200000006" in str(caught.value)
    assert "WXPAY_PUBLIC_KEY_ID" in str(caught.value)


@pytest.mark.parametrize(
    "signature",
    [
        "WECHATPAY/SIGNTEST/" + HEADERS["Wechatpay-Signature"],
        "WECHATPAY/SIGNTEST/A" + HEADERS["Wechatpay-Signature"],
        "WECHATPAY/SIGNTEST/",
    ],
    ids=["prefix+valid", "prefix+base64", "prefix-only"],
)
def test_signature_probes_always_fail(signature: str) -> None:
    with pytest.raises(SignatureProbeError) as caught:
        verify({**HEADERS, "Wechatpay-Signature": signature})
    assert caught.value.layer == "signature"
    assert isinstance(caught.value, SignatureError)


@pytest.mark.parametrize(
    "header", ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"]
)
def test_a_missing_header_is_named(header: str) -> None:
    headers = {k: v for k, v in HEADERS.items() if k != header}
    with pytest.raises(V3SignatureError, match=f"no {header} header"):
        verify(headers)
    with pytest.raises(V3SignatureError, match=f"no {header} header"):
        verify({**HEADERS, header: "  "})


@pytest.mark.parametrize(
    ("offset", "window", "accepted"),
    [
        (0, 300, True),
        (299, 300, True),
        (300, 300, False),
        (-299, 300, True),
        (-300, 300, False),
        (59, 60, True),
        (60, 60, False),
        (3000, 3600, True),
    ],
)
def test_the_clock_window_is_configurable_and_two_sided(
    offset: int, window: int, accepted: bool
) -> None:
    if accepted:
        assert verify(HEADERS, now=NOW + offset, window=window)
    else:
        with pytest.raises(TimestampError, match=f"window {window} s"):
            verify(HEADERS, now=NOW + offset, window=window)


@pytest.mark.parametrize("stamp", ["16245238a6", "-1624523846", "١٦٢٤٥٢٣٨٤٦"])
def test_a_timestamp_that_is_not_unix_seconds_fails(stamp: str) -> None:
    with pytest.raises(TimestampError, match="not Unix seconds"):
        verify({**HEADERS, "Wechatpay-Timestamp": stamp})


def test_a_signature_that_is_not_base64_fails() -> None:
    with pytest.raises(V3SignatureError, match="not Base64"):
        verify({**HEADERS, "Wechatpay-Signature": "not base64!"})


def test_a_decoded_body_is_refused_as_a_programming_error() -> None:
    with pytest.raises(TypeError, match="raw bytes"):
        verify_signed(HEADERS, BODY.decode(), verifier_keys(), now=NOW)  # type: ignore[arg-type]


# --- AES-256-GCM ----------------------------------------------------------------------


def test_the_resource_decrypts() -> None:
    assert json.loads(aead.decrypt_resource(RESOURCE, KEY))["trade_state"] == "SUCCESS"


def test_every_ciphertext_byte_changed_fails() -> None:
    sealed = base64.b64decode(RESOURCE["ciphertext"])
    for i in range(len(sealed)):
        bad = base64.b64encode(sealed[:i] + bytes([sealed[i] ^ 0x01]) + sealed[i + 1 :]).decode()
        with pytest.raises(DecryptError):
            aead.decrypt_resource({**RESOURCE, "ciphertext": bad}, KEY)


def test_a_truncated_ciphertext_fails() -> None:
    sealed = base64.b64decode(RESOURCE["ciphertext"])
    with pytest.raises(DecryptError):
        aead.decrypt_resource(
            {**RESOURCE, "ciphertext": base64.b64encode(sealed[:-1]).decode()}, KEY
        )


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("associated_data", "refund", "authentication failed"),
        ("associated_data", "", "authentication failed"),
        ("nonce", RESOURCE["nonce"][:-1] + "x", "authentication failed"),
        ("nonce", RESOURCE["nonce"] + "x", "12"),
        ("ciphertext", "@@@", "not Base64"),
        ("algorithm", "AEAD_AES_128_GCM", "only AEAD_AES_256_GCM"),
        ("associated_data", None, "not a string"),
    ],
)
def test_every_resource_field_changed_fails(field: str, value: str | None, match: str) -> None:
    with pytest.raises(DecryptError, match=match) as caught:
        aead.decrypt_resource({**RESOURCE, field: value}, KEY)
    assert caught.value.layer == "decrypt"


def test_another_apiv3_key_fails_and_says_which_setting() -> None:
    with pytest.raises(DecryptError, match="WXPAY_APIV3_KEY"):
        aead.decrypt_resource(RESOURCE, "b" * 32)


def test_a_key_that_is_not_32_bytes_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="WXPAY_APIV3_KEY: is 31 bytes"):
        aead.decrypt_resource(RESOURCE, KEY[:-1])
    with pytest.raises(ValueError, match="12 bytes"):
        aead.encrypt(KEY, "short", "", b"x")


def test_a_resource_that_is_not_an_object_fails() -> None:
    with pytest.raises(DecryptError, match="not a JSON object"):
        aead.decrypt_resource("x", KEY)  # type: ignore[arg-type]


def test_encrypt_round_trips_with_decrypt() -> None:
    sealed = aead.encrypt(KEY, "0123456789ab", "refund", "退款".encode())
    assert aead.decrypt(KEY, "0123456789ab", "refund", sealed).decode() == "退款"


# --- /v3/certificates ------------------------------------------------------------------

CERT_VECTOR = next(v for v in VECTORS if v["kind"] == "certificate_download")
CERT_KEY: str = CERT_VECTOR["input"]["apiv3_key"]
CERT_BODY: dict[str, Any] = json.loads(CERT_VECTOR["input"]["response_body"])


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"{}", "no data list"),
        (b"nonsense", "no data list"),
        (b'{"data": {}}', "not a list"),
        (b'{"data": [1]}', "not a JSON object"),
        (b'{"data": [{}]}', "only AEAD_AES_256_GCM"),
        (json.dumps({"data": [{**CERT_BODY["data"][0], "serial_no": "00"}]}).encode(), "serial"),
    ],
    ids=["no-data", "not-json", "data-object", "entry-number", "no-seal", "wrong-serial"],
)
def test_a_bad_certificate_answer_is_refused(body: bytes, match: str) -> None:
    with pytest.raises(DecryptError, match=match):
        aead.parse_certificates(body, CERT_KEY)


def test_a_sealed_non_certificate_is_refused() -> None:
    sealed = aead.encrypt(CERT_KEY, "0123456789ab", "certificate", b"not a certificate")
    entry = {
        "serial_no": "01",
        "encrypt_certificate": {
            "algorithm": "AEAD_AES_256_GCM",
            "nonce": "0123456789ab",
            "associated_data": "certificate",
            "ciphertext": sealed,
        },
    }
    with pytest.raises(DecryptError, match="not a certificate"):
        aead.parse_certificates(json.dumps({"data": [entry]}).encode(), CERT_KEY)


def test_a_signature_type_other_than_rsa_is_refused_and_its_absence_accepted() -> None:
    assert HEADERS["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert verify({k: v for k, v in HEADERS.items() if k != "Wechatpay-Signature-Type"})
    with pytest.raises(V3SignatureError, match="WECHATPAY2-SM2-WITH-SM3"):
        verify({**HEADERS, "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"})
