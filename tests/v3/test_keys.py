"""Loading the merchant key, WeChat Pay's public key and platform certificates."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from wxpay_mw.errors import ConfigError
from wxpay_mw.v3.keys import (
    VerifierKeys,
    load_certificate,
    load_private_key,
    load_public_key,
    read_pem,
)

from ._vectors import DOC, private_key

GO = private_key("go_test_key")
GO_CERTS = {c["serial_no"]: c["pem"] for c in DOC["keys"]["go_test_key"]["certificates"]}
PUB_ID = "PUB_KEY_ID_0000000000000024101100397200000006"


def pem(key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def public_pem(fmt: serialization.PublicFormat) -> bytes:
    return GO.public_key().public_bytes(serialization.Encoding.PEM, fmt)


@pytest.mark.parametrize(
    "data",
    [
        pem(GO, serialization.PrivateFormat.PKCS8),
        pem(GO, serialization.PrivateFormat.TraditionalOpenSSL),
        pem(GO, serialization.PrivateFormat.PKCS8).decode(),
        base64.b64encode(
            GO.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
    ],
    ids=["pkcs8", "pkcs1", "pkcs8-text", "bare-base64-der"],
)
def test_the_merchant_key_loads_in_every_usual_form(data: bytes | str) -> None:
    key = load_private_key(data)
    assert key.private_numbers() == GO.private_numbers()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            GO.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"pw"),
            ),
            "is encrypted with a password",
        ),
        (GO_CERTS["F5765756002FDD77"].encode(), "holds a certificate"),
        (public_pem(serialization.PublicFormat.SubjectPublicKeyInfo), "holds a public key"),
        (b"hello", "is not a PEM private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "is not a PEM private"),
    ],
    ids=["encrypted", "certificate", "public-key", "garbage", "bad-pem"],
)
def test_an_unusable_private_key_says_why(data: bytes, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"^WXPAY_PRIVATE_KEY_PATH: {problem}") as caught:
        load_private_key(data)
    assert "MII" not in str(caught.value)


def test_a_short_or_non_rsa_private_key_is_refused() -> None:
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused below
    with pytest.raises(ConfigError, match="1024-bit"):
        load_private_key(pem(short, serialization.PrivateFormat.PKCS8))
    curve = ec.generate_private_key(ec.SECP256R1())
    ec_pem = curve.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigError, match="not an RSA private key"):
        load_private_key(ec_pem)
    ec_pub = curve.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ConfigError, match="not an RSA public key"):
        load_public_key(ec_pub)


@pytest.mark.parametrize(
    "data",
    [
        public_pem(serialization.PublicFormat.SubjectPublicKeyInfo),
        public_pem(serialization.PublicFormat.PKCS1),
        DOC["keys"]["go_test_key"]["public_key_pem"],
        base64.b64encode(
            GO.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ),
    ],
    ids=["spki", "pkcs1", "vector-text", "bare-base64-der"],
)
def test_the_wechatpay_public_key_loads(data: bytes | str) -> None:
    assert load_public_key(data).public_numbers() == GO.public_key().public_numbers()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (pem(GO, serialization.PrivateFormat.PKCS8), "holds a private key"),
        (GO_CERTS["F5765756002FDD77"].encode(), "holds a certificate"),
        (b"%%%", "is not a PEM public key"),
    ],
)
def test_an_unusable_public_key_says_why(data: bytes, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"^WXPAY_PUBLIC_KEY_PATH: {problem}"):
        load_public_key(data)


@pytest.mark.parametrize("serial", sorted(GO_CERTS))
def test_a_platform_certificate_is_named_by_its_own_serial(serial: str) -> None:
    cert = load_certificate(GO_CERTS[serial])
    assert cert.serial_no == serial
    assert cert.public_key.public_numbers() == GO.public_key().public_numbers()
    assert cert.valid_at(cert.not_before) and cert.valid_at(cert.not_after)
    assert not cert.valid_at(cert.not_after.replace(year=cert.not_after.year + 1))


def test_a_certificate_that_is_not_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a PEM certificate"):
        load_certificate(pem(GO, serialization.PrivateFormat.PKCS8))


def test_read_pem_names_the_setting(tmp_path: pytest.TempPathFactory) -> None:
    with pytest.raises(ConfigError, match=r"^WXPAY_PUBLIC_KEY_PATH: no file at"):
        read_pem("/nonexistent/pub_key.pem", "WXPAY_PUBLIC_KEY_PATH")
    with pytest.raises(ConfigError, match=r"^WXPAY_PUBLIC_KEY_PATH: cannot read"):
        read_pem(str(tmp_path), "WXPAY_PUBLIC_KEY_PATH")


def test_verifier_keys_hold_the_public_key_and_certificates_by_serial() -> None:
    certs = [load_certificate(p) for p in GO_CERTS.values()]
    keys = VerifierKeys(public_key=GO.public_key(), public_key_id=PUB_ID, certificates=certs[:1])
    assert keys.key_for(PUB_ID) is not None
    assert keys.key_for(certs[1].serial_no) is None
    keys.add_certificate(certs[1])
    assert keys.key_for(certs[1].serial_no) is not None
    assert set(keys.serials) == {PUB_ID, *GO_CERTS}
    assert keys.newest_certificate() == max(certs, key=lambda c: c.not_after)
    assert keys.public_key_id == PUB_ID
    assert repr(keys).startswith("VerifierKeys(serials=[")
    assert VerifierKeys().newest_certificate() is None


def test_a_public_key_and_its_id_go_together() -> None:
    with pytest.raises(ConfigError, match=r"^WXPAY_PUBLIC_KEY_ID: "):
        VerifierKeys(public_key=GO.public_key())
    with pytest.raises(ConfigError, match=r"^WXPAY_PUBLIC_KEY_PATH: "):
        VerifierKeys(public_key_id=PUB_ID)
    with pytest.raises(ConfigError, match="is not a public key id"):
        VerifierKeys(public_key=GO.public_key(), public_key_id="F5765756002FDD77")
