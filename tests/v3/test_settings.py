"""V3Settings: every setting validated at start-up, named in errors, secrets masked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from wxpay_mw.errors import ConfigError
from wxpay_mw.v3.settings import V3Settings

from ._vectors import DOC, private_key

APIV3_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
SERIAL = "5F1C72E2A8931B72A2E13AF8DEE92471EB397115"
PUB_ID = "PUB_KEY_ID_0000000000000024101100397200000006"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """The merchant key (the Java test key) and WeChat's public key and certificates (Go's)."""
    merchant = tmp_path / "apiclient_key.pem"
    merchant.write_text(DOC["keys"]["java_merchant_key"]["private_key_pem"])
    pub = tmp_path / "pub_key.pem"
    pub.write_text(DOC["keys"]["go_test_key"]["public_key_pem"])
    certs = []
    for c in DOC["keys"]["go_test_key"]["certificates"]:
        path = tmp_path / f"wechatpay_{c['serial_no']}.pem"
        path.write_text(c["pem"])
        certs.append(str(path))
    return {
        "WXPAY_APIV3_KEY": APIV3_KEY,
        "WXPAY_PRIVATE_KEY_PATH": str(merchant),
        "WXPAY_CERT_SERIAL": SERIAL,
        "WXPAY_PUBLIC_KEY_PATH": str(pub),
        "WXPAY_PUBLIC_KEY_ID": PUB_ID,
        "WXPAY_PLATFORM_CERT_PATHS": os.pathsep.join(certs),
    }


def test_from_env_loads_every_key(files: dict[str, str]) -> None:
    s = V3Settings.from_env(files)
    assert s.apiv3_key_bytes == APIV3_KEY.encode()
    assert s.cert_serial == SERIAL
    assert s.uses_public_key
    java = private_key("java_merchant_key")
    assert s.private_key.private_numbers() == java.private_numbers()
    assert set(s.verifier_keys.serials) == {PUB_ID, "F5765756002FDD77", "D7CE59D1F522D701"}
    assert s.clock_window == 300


def test_certificates_only_and_download_only_are_valid(files: dict[str, str]) -> None:
    certs_only = {k: v for k, v in files.items() if "PUBLIC_KEY" not in k}
    s = V3Settings.from_env(certs_only)
    assert not s.uses_public_key
    assert len(s.verifier_keys.certificates) == 2
    bare = {k: v for k, v in certs_only.items() if k != "WXPAY_PLATFORM_CERT_PATHS"}
    assert V3Settings.from_env(bare).verifier_keys.serials == ()
    empty = {**files, "WXPAY_PUBLIC_KEY_PATH": "", "WXPAY_PUBLIC_KEY_ID": ""}
    assert not V3Settings.from_env(empty).uses_public_key


def test_the_secrets_never_reach_repr_or_str(files: dict[str, str]) -> None:
    s = V3Settings.from_env(files)
    for text in (repr(s), str(s)):
        assert APIV3_KEY not in text
        assert "apiv3_key=***" in text and "private_key=***" in text
        assert "MII" not in text
        assert SERIAL in text


@pytest.mark.parametrize(
    ("change", "setting", "problem"),
    [
        ({"WXPAY_APIV3_KEY": APIV3_KEY[:-1]}, "WXPAY_APIV3_KEY", "is 31 bytes"),
        ({"WXPAY_APIV3_KEY": APIV3_KEY + "x"}, "WXPAY_APIV3_KEY", "is 33 bytes"),
        ({"WXPAY_APIV3_KEY": "密" * 11}, "WXPAY_APIV3_KEY", "is 33 bytes"),
        ({"WXPAY_APIV3_KEY": ""}, "WXPAY_APIV3_KEY", "is not set"),
        ({"WXPAY_CERT_SERIAL": "not-hex"}, "WXPAY_CERT_SERIAL", "hex serial number"),
        ({"WXPAY_CERT_SERIAL": ""}, "WXPAY_CERT_SERIAL", "is not set"),
        ({"WXPAY_PRIVATE_KEY_PATH": "/nope.pem"}, "WXPAY_PRIVATE_KEY_PATH", "no file at"),
        ({"WXPAY_PUBLIC_KEY_PATH": "/nope.pem"}, "WXPAY_PUBLIC_KEY_PATH", "no file at"),
        ({"WXPAY_PUBLIC_KEY_ID": ""}, "WXPAY_PUBLIC_KEY_ID", "set both or neither"),
        ({"WXPAY_PUBLIC_KEY_PATH": ""}, "WXPAY_PUBLIC_KEY_PATH", "set both or neither"),
        ({"WXPAY_PUBLIC_KEY_ID": "PUB_KEY_0001"}, "WXPAY_PUBLIC_KEY_ID", "not a public key id"),
        ({"WXPAY_PLATFORM_CERT_PATHS": "/x.pem"}, "WXPAY_PLATFORM_CERT_PATHS", "no file at"),
        ({"WXPAY_CLOCK_WINDOW": "five"}, "WXPAY_CLOCK_WINDOW", "whole number"),
        ({"WXPAY_CLOCK_WINDOW": "0"}, "WXPAY_CLOCK_WINDOW", "1 to 3600"),
        ({"WXPAY_CLOCK_WINDOW": "86400"}, "WXPAY_CLOCK_WINDOW", "1 to 3600"),
    ],
)
def test_each_bad_setting_is_named(
    files: dict[str, str], change: dict[str, str], setting: str, problem: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{setting}: .*{problem}") as caught:
        V3Settings.from_env({**files, **change})
    assert caught.value.setting == setting
    assert APIV3_KEY not in str(caught.value)
    assert APIV3_KEY[:-1] not in str(caught.value)


def test_a_key_file_that_is_the_wrong_key_is_named(files: dict[str, str], tmp_path: Path) -> None:
    # The merchant's own public key where WeChat's belongs: a common mix-up.
    own = tmp_path / "own_pub.pem"
    own.write_bytes(
        private_key("java_merchant_key")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ConfigError, match=r"^WXPAY_PUBLIC_KEY_PATH: is the merchant's own"):
        V3Settings.from_env({**files, "WXPAY_PUBLIC_KEY_PATH": str(own)})
    with pytest.raises(ConfigError, match=r"^WXPAY_PRIVATE_KEY_PATH: holds a public key"):
        V3Settings.from_env({**files, "WXPAY_PRIVATE_KEY_PATH": files["WXPAY_PUBLIC_KEY_PATH"]})


def test_an_expired_platform_certificate_is_named(files: dict[str, str], tmp_path: Path) -> None:
    # The Java SDK's test certificate expired on 2025-05-09.
    old = tmp_path / "wechatpay_old.pem"
    old.write_text(DOC["keys"]["java_merchant_key"]["certificates"][0]["pem"])
    with pytest.raises(
        ConfigError, match=r"^WXPAY_PLATFORM_CERT_PATHS: certificate 5F1C.* expired on"
    ):
        V3Settings.from_env({**files, "WXPAY_PLATFORM_CERT_PATHS": str(old)})


def test_overrides_win_and_arguments_are_checked(files: dict[str, str]) -> None:
    s = V3Settings.from_env(files, clock_window=60)
    assert s.clock_window == 60
    with pytest.raises(ConfigError, match=r"^WXPAY_CLOCK_WINDOW"):
        V3Settings.from_env(files, clock_window=True)
    with pytest.raises(ConfigError, match=r"^WXPAY_PRIVATE_KEY_PATH: is not set"):
        V3Settings(apiv3_key=APIV3_KEY, private_key_path="", cert_serial=SERIAL)


def test_from_env_reads_the_process_environment(
    files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in files.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WXPAY_CLOCK_WINDOW", raising=False)
    assert V3Settings.from_env().cert_serial == SERIAL
