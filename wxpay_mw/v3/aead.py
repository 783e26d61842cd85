"""AEAD_AES_256_GCM: notification resources and the ``/v3/certificates`` download.

The key is the 32 bytes of the APIv3 key; the nonce the resource's ``nonce`` (12 bytes);
the associated data the resource's ``associated_data`` exactly as received; the
ciphertext Base64 of the encrypted bytes followed by the 16-byte tag. Any change to any
of them fails the tag, which is a :class:`~wxpay_mw.v3.errors.DecryptError`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import ConfigError
from .errors import DecryptError
from .keys import PlatformCertificate, load_certificate

__all__ = ["ALGORITHM", "decrypt", "decrypt_resource", "encrypt", "parse_certificates"]

ALGORITHM: Final = "AEAD_AES_256_GCM"
_NONCE_BYTES: Final = 12


def _key(apiv3_key: bytes | str) -> bytes:
    key = apiv3_key.encode() if isinstance(apiv3_key, str) else apiv3_key
    if len(key) != 32:
        raise ConfigError("WXPAY_APIV3_KEY", f"is {len(key)} bytes; the APIv3 key is exactly 32")
    return key


def decrypt(apiv3_key: bytes | str, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    """Open one sealed value; raise DecryptError if it was altered or is not ours."""
    key = _key(apiv3_key)
    nonce_bytes = nonce.encode()
    if len(nonce_bytes) != _NONCE_BYTES:
        raise DecryptError(f"the nonce is {len(nonce_bytes)} bytes; AES-GCM here uses 12")
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptError("the ciphertext is not Base64") from None
    try:
        return AESGCM(key).decrypt(nonce_bytes, sealed, associated_data.encode())
    except InvalidTag:
        raise DecryptError(
            "AES-256-GCM authentication failed: the ciphertext, nonce or associated_data was "
            "altered, or it was not sealed with this WXPAY_APIV3_KEY (check the APIv3 key in "
            "the merchant platform; it is not the v2 API key)"
        ) from None


def encrypt(apiv3_key: bytes | str, nonce: str, associated_data: str, plaintext: bytes) -> str:
    """Seal ``plaintext`` as WeChat does (for the simulator and tests); Base64 result."""
    nonce_bytes = nonce.encode()
    if len(nonce_bytes) != _NONCE_BYTES:
        raise ValueError("the nonce must be 12 bytes")
    sealed = AESGCM(_key(apiv3_key)).encrypt(nonce_bytes, plaintext, associated_data.encode())
    return base64.b64encode(sealed).decode()


def _text(resource: Mapping[str, Any], name: str) -> str:
    value = resource.get(name, "")
    if not isinstance(value, str):
        raise DecryptError(f"resource.{name} is not a string")
    return value


def decrypt_resource(resource: Mapping[str, Any], apiv3_key: bytes | str) -> bytes:
    """Open an ``encrypt_certificate`` or a notification's ``resource`` object."""
    if not isinstance(resource, Mapping):
        raise DecryptError("the resource is not a JSON object")
    algorithm = resource.get("algorithm")
    if algorithm != ALGORITHM:
        raise DecryptError(f"resource.algorithm is {algorithm!r}; only {ALGORITHM} is known")
    return decrypt(
        apiv3_key,
        _text(resource, "nonce"),
        _text(resource, "associated_data"),
        _text(resource, "ciphertext"),
    )


def parse_certificates(body: bytes, apiv3_key: bytes | str) -> list[PlatformCertificate]:
    """The platform certificates of a (verified) ``/v3/certificates`` answer, decrypted.

    Each listed ``serial_no`` must be the serial inside its certificate.
    """
    try:
        data = json.loads(body)["data"]
    except (ValueError, KeyError, TypeError):
        raise DecryptError("the /v3/certificates answer has no data list") from None
    if not isinstance(data, list):
        raise DecryptError("the /v3/certificates answer's data is not a list")
    certs: list[PlatformCertificate] = []
    for item in data:
        if not isinstance(item, Mapping):
            raise DecryptError("a /v3/certificates entry is not a JSON object")
        pem = decrypt_resource(item.get("encrypt_certificate", {}), apiv3_key)
        try:
            cert = load_certificate(pem, "/v3/certificates")
        except ConfigError:
            raise DecryptError("an entry decrypts to something that is not a certificate") from None
        if item.get("serial_no") != cert.serial_no:
            raise DecryptError(
                f"entry serial_no {str(item.get('serial_no'))[:64]!r} is not the serial of its "
                f"certificate ({cert.serial_no})"
            )
        certs.append(cert)
    return certs
