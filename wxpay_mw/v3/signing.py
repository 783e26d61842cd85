"""Signing for API v3: the ``WECHATPAY2-SHA256-RSA2048`` Authorization and the paySign.

Both are SHA256withRSA (PKCS#1 v1.5) with the merchant's private key, Base64-encoded,
over lines that each end in ``\\n``, the last one too. The request's lines hold the
exact bytes sent: the URL as sent (path and query, not re-encoded) and the body bytes,
so a body must be serialised once and those bytes both signed and sent.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import V3SignatureError

__all__ = [
    "AUTH_SCHEMA",
    "authorization",
    "format_authorization",
    "make_nonce",
    "parse_authorization",
    "pay_sign",
    "request_message",
    "request_payment",
    "rsa_sign",
    "sign_answer",
    "verify_authorization",
]

AUTH_SCHEMA: Final = "WECHATPAY2-SHA256-RSA2048"
_AUTH_FIELD: Final = re.compile(r'\s*(\w+)="([^"]*)"\s*(?:,|$)')
_AUTH_FIELDS: Final = ("mchid", "nonce_str", "timestamp", "serial_no", "signature")


def make_nonce() -> str:
    """A random nonce: 32 upper-case hex characters (WeChat allows up to 32)."""
    return secrets.token_hex(16).upper()


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """Base64(SHA256withRSA(``message``)), as every v3 signature is."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def _line(name: str, value: str) -> bytes:
    # A newline inside a line would shift the lines WeChat rebuilds: refuse it.
    if "\n" in value:
        raise ValueError(f"{name} must not contain a newline")
    return value.encode() + b"\n"


def request_message(method: str, url: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The request's string to sign: method, URL (path and query), timestamp, nonce, body."""
    if not url.startswith("/"):
        raise ValueError(f"url must be the path and query as sent, starting with '/': {url!r}")
    return (
        _line("method", method.upper())
        + _line("url", url)
        + _line("timestamp", timestamp)
        + _line("nonce", nonce)
        + body
        + b"\n"
    )


def authorization(
    key: rsa.RSAPrivateKey,
    *,
    mchid: str,
    serial_no: str,
    method: str,
    url: str,
    body: bytes = b"",
    timestamp: str | None = None,
    nonce: str | None = None,
) -> str:
    """The ``Authorization`` header value for one request.

    ``url`` is the path plus ``?query`` exactly as sent; ``body`` the exact bytes sent
    (empty for GET). ``timestamp`` (Unix seconds) and ``nonce`` default to now and a
    fresh random value.
    """
    ts = str(int(time.time())) if timestamp is None else timestamp
    nonce_str = make_nonce() if nonce is None else nonce
    signature = rsa_sign(key, request_message(method, url, ts, nonce_str, body))
    return format_authorization(mchid, nonce_str, ts, serial_no, signature)


def format_authorization(
    mchid: str,
    nonce: str,
    timestamp: str,
    serial_no: str,
    signature: str,
    schema: str = AUTH_SCHEMA,
) -> str:
    """The header's layout (wechatpay-go's field order; WeChat accepts any order)."""
    return (
        f'{schema} mchid="{mchid}",nonce_str="{nonce}",timestamp="{timestamp}",'
        f'serial_no="{serial_no}",signature="{signature}"'
    )


def pay_sign(key: rsa.RSAPrivateKey, appid: str, timestamp: str, nonce: str, package: str) -> str:
    """The paySign over ``appId\\ntimeStamp\\nnonceStr\\npackage\\n``."""
    message = b"".join(
        _line(name, value)
        for name, value in (
            ("appId", appid),
            ("timeStamp", timestamp),
            ("nonceStr", nonce),
            ("package", package),
        )
    )
    return rsa_sign(key, message)


def request_payment(
    key: rsa.RSAPrivateKey,
    appid: str,
    prepay_id: str,
    *,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The parameters of ``wx.requestPayment`` for a prepay_id, signType ``RSA``.

    ``appId`` is signed but not among them (the mini program does not pass it); it must
    be the appid the order was placed with.
    """
    ts = str(int(time.time())) if timestamp is None else timestamp
    nonce_str = make_nonce() if nonce is None else nonce
    package = f"prepay_id={prepay_id}"
    return {
        "timeStamp": ts,
        "nonceStr": nonce_str,
        "package": package,
        "signType": "RSA",
        "paySign": pay_sign(key, appid, ts, nonce_str, package),
    }


# --- WeChat's side (the simulator, tests) ---------------------------------------------


def parse_authorization(header: str) -> dict[str, str]:
    """The fields of an ``Authorization`` header; V3SignatureError if it is malformed."""
    schema, _, rest = header.strip().partition(" ")
    if schema != AUTH_SCHEMA:
        raise V3SignatureError(f"Authorization does not start with {AUTH_SCHEMA}")
    fields: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        match = _AUTH_FIELD.match(rest, pos)
        if match is None:
            raise V3SignatureError('Authorization is not a list of name="value" fields')
        fields[match.group(1)] = match.group(2)
        pos = match.end()
    missing = [name for name in _AUTH_FIELDS if not fields.get(name)]
    if missing:
        raise V3SignatureError(f"Authorization lacks {', '.join(missing)}")
    return fields


def verify_authorization(
    header: str, method: str, url: str, body: bytes, key: rsa.RSAPublicKey
) -> dict[str, str]:
    """Check a merchant's request as WeChat does; return the header's fields.

    ``url`` is the path and query as received, ``body`` the raw bytes. The caller
    checks ``mchid``, ``serial_no`` and how old ``timestamp`` is.
    """
    fields = parse_authorization(header)
    message = request_message(method, url, fields["timestamp"], fields["nonce_str"], body)
    try:
        raw = base64.b64decode(fields["signature"], validate=True)
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        raise V3SignatureError(
            "the Authorization signature does not verify over this request"
        ) from None
    return fields


def sign_answer(
    key: rsa.RSAPrivateKey,
    serial: str,
    body: bytes,
    *,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The ``Wechatpay-*`` headers WeChat puts on an answer or a notification."""
    ts = str(int(time.time())) if timestamp is None else timestamp
    nonce_str = make_nonce() if nonce is None else nonce
    message = _line("timestamp", ts) + _line("nonce", nonce_str) + body + b"\n"
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce_str,
        "Wechatpay-Signature": rsa_sign(key, message),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": AUTH_SCHEMA,
    }
