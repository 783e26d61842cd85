"""WeChat Pay v2 signatures: the string to sign, MD5 / HMAC-SHA256, verification, nonces.

The rules (WeChat's 安全规范): take every parameter except ``sign`` and those whose value
is empty; sort by name, byte-wise (so ``B`` < ``Z`` < ``_x`` < ``a``); join ``k=v`` with
``&`` using the raw values (no URL encoding, no trimming); append ``&key=<API key>``;
hash the UTF-8 bytes with MD5, or HMAC-SHA256 keyed with the API key; upper-case hex.

Unknown fields are signed and verified like known ones: WeChat adds fields over time,
and a verifier that drops them rejects genuine notifications.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Final, Literal

__all__ = [
    "HMAC_SHA256",
    "MD5",
    "SIGN_TYPES",
    "SignType",
    "make_nonce",
    "request_payment_params",
    "sign",
    "sign_type_of",
    "string_to_sign",
    "verify",
]

SignType = Literal["MD5", "HMAC-SHA256"]
MD5: Final = "MD5"
HMAC_SHA256: Final = "HMAC-SHA256"
SIGN_TYPES: Final[tuple[SignType, ...]] = ("MD5", "HMAC-SHA256")

Value = str | int | None


def _text(value: Value) -> str:
    # bool is an int subclass; WeChat has no boolean fields, and "True" is never what a
    # caller meant, so refuse it instead of signing it.
    if isinstance(value, bool):
        raise TypeError("a WeChat parameter cannot be a bool: use 'Y' / 'N' or a string")
    return value if isinstance(value, str) else str(value)


def string_to_sign(params: Mapping[str, Value]) -> str:
    """The ``k=v&...`` string WeChat signs, without the trailing ``&key=``.

    ``sign`` and empty values (``""`` or ``None``) are left out. The integer 0 is *not*
    empty: WeChat signs ``k=0``.
    """
    # Python sorts str by code point; for the ASCII names WeChat uses that is byte order.
    # A list, not a generator, and no call for a plain str (every field of a parsed
    # message): this runs on every notification, and that halves its cost.
    return "&".join(
        [
            f"{k}={v if v.__class__ is str else _text(v)}"
            for k, v in sorted(params.items())
            if k != "sign" and v is not None and v != ""
        ]
    )


def sign(params: Mapping[str, Value], key: str, sign_type: SignType = MD5) -> str:
    """The upper-case hex signature of ``params`` with the API ``key``."""
    data = f"{string_to_sign(params)}&key={key}".encode()
    if sign_type == MD5:
        return hashlib.md5(data).hexdigest().upper()
    if sign_type == HMAC_SHA256:
        return hmac.new(key.encode(), data, hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unknown sign type {sign_type!r}: use 'MD5' or 'HMAC-SHA256'")


def verify(params: Mapping[str, Value], key: str, sign_type: SignType = MD5) -> bool:
    """True when ``params['sign']`` is the right signature of the other fields.

    The comparison is constant-time. A missing or non-string ``sign`` is simply wrong.
    """
    given = params.get("sign")
    if not isinstance(given, str) or not given:
        return False
    expected = sign(params, key, sign_type)
    # Bytes on both sides: compare_digest refuses non-ASCII str, and a forged sign may
    # well contain some. The comparison is exact: WeChat signs in upper case.
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def sign_type_of(params: Mapping[str, Value], default: SignType) -> SignType:
    """The sign type a message declares, or ``default`` when it declares none.

    WeChat's HMAC-SHA256 notifications usually carry no ``sign_type``, so the default must
    be the type the order was placed with. A declared type that is unknown is an error.
    """
    declared = params.get("sign_type")
    if declared is None or declared == "":
        return default
    if declared in SIGN_TYPES:
        return declared
    raise ValueError(f"unknown sign_type {declared!r}: WeChat uses 'MD5' or 'HMAC-SHA256'")


def make_nonce() -> str:
    """A random 32-character nonce_str (the most WeChat allows), from ``secrets``."""
    return secrets.token_hex(16)


def request_payment_params(
    *,
    appid: str,
    key: str,
    prepay_id: str,
    sign_type: SignType = MD5,
    timestamp: int | None = None,
    nonce_str: str | None = None,
) -> dict[str, str]:
    """The five parameters for ``wx.requestPayment``, in WeChat's exact casing.

    ``paySign`` covers ``appId`` too, but ``appId`` is not passed to wx.requestPayment, so
    it is not in the result. ``timeStamp`` is a string of seconds; ``signType`` must be the
    sign type the order was placed with.
    """
    if not prepay_id:
        raise ValueError("prepay_id is empty: call unifiedorder first")
    if prepay_id.startswith("prepay_id="):
        raise ValueError("pass the bare prepay_id; 'prepay_id=' is added here")
    params = {
        "timeStamp": str(int(time.time()) if timestamp is None else timestamp),
        "nonceStr": nonce_str or make_nonce(),
        "package": f"prepay_id={prepay_id}",
        "signType": sign_type,
    }
    params["paySign"] = sign({**params, "appId": appid}, key, sign_type)
    return params
