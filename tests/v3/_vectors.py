"""The known-answer vectors of ../shared/wechatpay-v3-vectors.json, copied to tests/data.

Keys are built here with the ``cryptography`` package directly, not with the code under
test, so a vector checks our code against material it did not produce.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from wxpay_mw.v3.keys import PlatformCertificate, VerifierKeys

DATA = Path(__file__).parents[1] / "data" / "wechatpay-v3-vectors.json"
SHARED = Path(__file__).parents[2] / ".." / "shared" / "wechatpay-v3-vectors.json"
IN_CI = bool(os.environ.get("CI"))

DOC: dict[str, Any] = json.loads(DATA.read_text("utf-8"))
VECTORS: list[dict[str, Any]] = DOC["vectors"]


def of_kind(*kinds: str) -> list[dict[str, Any]]:
    return [v for v in VECTORS if v["kind"] in kinds]


def ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vectors]


@functools.cache
def private_key(name: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(DOC["keys"][name]["private_key_pem"].encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def public_key(name: str) -> rsa.RSAPublicKey:
    return private_key(name).public_key()


@functools.cache
def verifier_keys() -> VerifierKeys:
    """Exactly the keys of ``wechatpay_keys``, each under its serial."""
    certs: list[PlatformCertificate] = []
    pub_id: str | None = None
    pub: rsa.RSAPublicKey | None = None
    pems = {
        c["serial_no"]: c["pem"] for k in DOC["keys"].values() for c in k.get("certificates", [])
    }
    for serial, spec in DOC["wechatpay_keys"].items():
        if spec["type"] == "public_key":
            pub_id, pub = serial, public_key(spec["ref"])
            continue
        cert = x509.load_pem_x509_certificate(pems[serial].encode())
        key = cert.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        certs.append(
            PlatformCertificate(serial, key, cert.not_valid_before_utc, cert.not_valid_after_utc)
        )
    return VerifierKeys(public_key=pub, public_key_id=pub_id, certificates=certs)
