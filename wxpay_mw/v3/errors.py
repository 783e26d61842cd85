"""The errors only API v3 has: why a signed message was refused, and a bad bill digest.

Each refusal of a signed message (an answer or a notification) is a
:class:`~wxpay_mw.errors.SignatureError` whose ``layer`` says which check refused it:
``signature``, ``serial``, ``timestamp`` or ``decrypt``. A host answers every one of
them with a 4xx, so WeChat sends the notification again; the layer is for the log.
WeChat's JSON error answers (``code``, ``message``) become the same
:class:`~wxpay_mw.errors.WeChatError` classes as v2's err_codes (see ``answers.py``).
"""

from __future__ import annotations

from typing import ClassVar

from ..errors import ResponseSignatureError, SignatureError, WeChatUnavailableError

__all__ = [
    "BillDigestError",
    "DecryptError",
    "SignatureProbeError",
    "TimestampError",
    "UnknownSerialError",
    "V3ResponseSignatureError",
    "V3SignatureError",
]


class V3SignatureError(SignatureError):
    """A v3 message (answer or notification) failed a check before it was trusted.

    ``layer`` names the check: ``signature`` (bad, missing or probe signature),
    ``serial`` (no key for ``Wechatpay-Serial``), ``timestamp`` (outside the window
    against replays) or ``decrypt`` (the AES-256-GCM resource does not open).
    """

    layer: ClassVar[str] = "signature"


class SignatureProbeError(V3SignatureError):
    """A ``WECHATPAY/SIGNTEST/`` signature: WeChat checking that we refuse bad signatures.

    Answer it like any bad signature (4xx); it is not an attack and not worth an alert.
    """


class UnknownSerialError(V3SignatureError):
    """``Wechatpay-Serial`` names neither our WeChat Pay public key nor a platform certificate."""

    layer: ClassVar[str] = "serial"

    def __init__(self, message: str, serial: str) -> None:
        self.serial = serial
        super().__init__(message)


class TimestampError(V3SignatureError):
    """``Wechatpay-Timestamp`` is too far from our clock: a replay, or a wrong clock."""

    layer: ClassVar[str] = "timestamp"


class DecryptError(V3SignatureError):
    """An AES-256-GCM resource does not open: tampered, wrong associated data or nonce,
    or not sealed with our APIv3 key."""

    layer: ClassVar[str] = "decrypt"


class V3ResponseSignatureError(ResponseSignatureError):
    """A v3 answer failed verification (``reason`` holds the refusal): not trusted."""

    def __init__(self, endpoint: str, reason: V3SignatureError) -> None:
        self.reason = reason
        self.layer = reason.layer
        # Skip ResponseSignatureError's v2 text (it names the v2 API key).
        WeChatUnavailableError.__init__(
            self,
            f"the answer failed verification ({reason}); it was not trusted. Check "
            "WXPAY_PUBLIC_KEY_PATH / WXPAY_PUBLIC_KEY_ID or the platform certificates; if "
            "they are right, something between you and WeChat altered the answer",
            endpoint=endpoint,
            may_have_acted=True,
        )


class BillDigestError(WeChatUnavailableError):
    """A downloaded bill's SHA-1 differs from the ``hash_value`` WeChat announced."""

    def __init__(self, endpoint: str, expected: str, got: str) -> None:
        self.expected = expected
        self.got = got
        super().__init__(
            f"the bill's SHA-1 is {got}, WeChat announced {expected}: the download is "
            "incomplete or altered; apply for the bill again and download it anew",
            endpoint=endpoint,
            may_have_acted=False,
        )
