"""Refund notifications' ``req_info``: AES-256-ECB, keyed with md5(API key) in lower hex.

A refund notification carries no ``sign``; that it decrypts with the merchant's key is
its proof of origin. The key is the 32 ASCII bytes of the lower-case hex MD5 of the API
key (not the 16 raw digest bytes), the padding PKCS#7, the plaintext a ``<root>`` XML.

``cryptography`` is a required dependency: a missing package must never be reported as
a notification that failed to decrypt (a "bad sign").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import SignatureError, XMLError
from .xmlmsg import from_xml, to_xml

__all__ = ["decrypt_req_info", "encrypt_req_info"]


def _cipher(api_key: str) -> Cipher[modes.ECB]:
    key = hashlib.md5(api_key.encode()).hexdigest().encode()
    # ECB is what WeChat chose for req_info; there is no IV to pick.
    return Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305


def decrypt_req_info(req_info: str, api_key: str) -> dict[str, str]:
    """Decrypt and parse ``req_info``; raise SignatureError if it is not the merchant's."""
    try:
        data = base64.b64decode(req_info, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("req_info is not base64: not a refund notification") from None
    if not data or len(data) % 16:
        raise SignatureError("req_info is not whole AES blocks: not a refund notification")
    decryptor = _cipher(api_key).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= 16 or padded[-pad:] != bytes([pad]) * pad:
        raise SignatureError(
            "req_info does not decrypt with this merchant's API key: forged, or the key is wrong"
        )
    try:
        return from_xml(padded[:-pad], root="root")
    except XMLError:
        raise SignatureError(
            "req_info decrypts to something other than WeChat's <root> XML: forged, "
            "or the key is wrong"
        ) from None


def encrypt_req_info(fields: Mapping[str, str | int | None], api_key: str) -> str:
    """The inverse of :func:`decrypt_req_info`, for the simulator and tests."""
    plain = to_xml(fields, root="root")
    pad = 16 - len(plain) % 16
    encryptor = _cipher(api_key).encryptor()
    return base64.b64encode(
        encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()
    ).decode()
