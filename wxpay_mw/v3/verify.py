"""Verifying what WeChat signs: answers to our requests and notifications.

The message is ``Wechatpay-Timestamp\\nWechatpay-Nonce\\nbody\\n`` over the body bytes
exactly as received (a re-serialised body never verifies; a 204's body is empty). The
checks run in this order, the first failure refusing the message:

1. the four ``Wechatpay-*`` headers are present (header names in any case), and
   ``Wechatpay-Signature-Type``, if sent, is ``WECHATPAY2-SHA256-RSA2048``;
2. a ``WECHATPAY/SIGNTEST/`` signature is WeChat probing that we refuse bad signatures:
   it fails, always, and is never stripped and tried again;
3. the timestamp lies within the window against replays (default: refused at 300 s);
4. ``Wechatpay-Serial`` names a key we hold (the public key id or a certificate serial);
   an unknown serial is refused, never answered by trying every key;
5. the SHA256withRSA signature verifies under that key.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import SignatureProbeError, TimestampError, UnknownSerialError, V3SignatureError
from .keys import VerifierKeys
from .settings import DEFAULT_CLOCK_WINDOW

__all__ = ["PROBE_PREFIX", "SignedHeaders", "response_message", "signed_headers", "verify_signed"]

PROBE_PREFIX: Final = "WECHATPAY/SIGNTEST/"
_SCHEMA: Final = "WECHATPAY2-SHA256-RSA2048"
_HEADERS: Final = (
    "wechatpay-timestamp",
    "wechatpay-nonce",
    "wechatpay-signature",
    "wechatpay-serial",
)


class SignedHeaders:
    """The four ``Wechatpay-*`` headers of a signed message, read case-insensitively."""

    __slots__ = ("nonce", "serial", "signature", "timestamp")

    def __init__(self, timestamp: str, nonce: str, signature: str, serial: str) -> None:
        self.timestamp = timestamp
        self.nonce = nonce
        self.signature = signature
        self.serial = serial


def signed_headers(headers: Mapping[str, str]) -> SignedHeaders:
    """The ``Wechatpay-*`` headers; a V3SignatureError naming any that is missing."""
    lower = {k.lower(): v for k, v in headers.items()}
    missing = [name for name in _HEADERS if not lower.get(name, "").strip()]
    if missing:
        names = ", ".join("-".join(p.capitalize() for p in n.split("-")) for n in missing)
        raise V3SignatureError(
            f"no {names} header: not a message signed by WeChat Pay v3 (a proxy or framework "
            "that drops headers, or a v2 message)"
        )
    return SignedHeaders(*(lower[name].strip() for name in _HEADERS))


def response_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """The string WeChat signs: timestamp, nonce and body, each line ending in ``\\n``."""
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


def _check_clock(timestamp: str, now: float | None, window: int) -> None:
    if not timestamp.isascii() or not timestamp.isdigit():
        raise TimestampError(f"Wechatpay-Timestamp {timestamp[:20]!r} is not Unix seconds")
    current = time.time() if now is None else now
    off = abs(current - int(timestamp))
    if off >= window:
        raise TimestampError(
            f"Wechatpay-Timestamp is {off:.0f} s from our clock (window {window} s): a replayed "
            "message, or a server clock that is wrong (check NTP)"
        )


def _rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature: str, serial: str) -> None:
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise V3SignatureError("Wechatpay-Signature is not Base64") from None
    try:
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise V3SignatureError(
            f"the signature does not verify under the key of Wechatpay-Serial {serial}: the "
            "body or headers were altered, or the body was re-serialised before verifying "
            "(verify the raw bytes received)"
        ) from None


def verify_signed(
    headers: Mapping[str, str],
    body: bytes,
    keys: VerifierKeys,
    *,
    now: float | None = None,
    window: int = DEFAULT_CLOCK_WINDOW,
) -> bytes:
    """Verify a signed answer or notification; return the verified message.

    ``body`` is the raw bytes received. ``now`` (Unix seconds) defaults to the clock.
    Raises a :class:`~wxpay_mw.v3.errors.V3SignatureError` subclass naming the check that
    failed.
    """
    if not isinstance(body, bytes):
        raise TypeError("body must be the raw bytes received, not a parsed or decoded body")
    signed = signed_headers(headers)
    kind = next((v for k, v in headers.items() if k.lower() == "wechatpay-signature-type"), None)
    if kind is not None and kind.strip() != _SCHEMA:
        # Absent is fine (WeChat's examples omit it); another algorithm (SM2) we cannot check.
        raise V3SignatureError(f"Wechatpay-Signature-Type {kind[:40]!r} is not {_SCHEMA}")
    if signed.signature.startswith(PROBE_PREFIX):
        raise SignatureProbeError(
            "Wechatpay-Signature is a WECHATPAY/SIGNTEST/ probe: WeChat checks that bad "
            "signatures are refused"
        )
    _check_clock(signed.timestamp, now, window)
    key = keys.key_for(signed.serial)
    if key is None:
        held = ", ".join(keys.serials) or "none"
        raise UnknownSerialError(
            f"Wechatpay-Serial {signed.serial[:64]!r} names no key we hold (we hold: {held}). "
            "Set WXPAY_PUBLIC_KEY_PATH and WXPAY_PUBLIC_KEY_ID for a PUB_KEY_ID_..., or "
            "refresh the platform certificates for a certificate serial",
            signed.serial[:64],
        )
    message = response_message(signed.timestamp, signed.nonce, body)
    _rsa_verify(key, message, signed.signature, signed.serial)
    return message
