"""WeChat Pay API v3 (JSON, RSA signatures, AES-256-GCM), sans-IO.

Keys and settings (:class:`V3Settings`, :class:`VerifierKeys`), request signing and the
paySign (:mod:`.signing`), verification of answers and notifications (:func:`verify_signed`,
:func:`parse_notification`), AES-256-GCM (:mod:`.aead`), the request builders and answer
judges of the mini program flow (:mod:`.calls`), and v3 resources as the protocol-neutral
models (:func:`payment_from_transaction`, :func:`refund_from_resource`).

Built on ``cryptography``, a required dependency of wxpay-mw; ``wxpay_mw`` itself does
not import this package until a v3 merchant is configured.
"""

from __future__ import annotations

from . import aead, answers, calls, signing
from .calls import V3Request
from .errors import (
    BillDigestError,
    DecryptError,
    SignatureProbeError,
    TimestampError,
    UnknownSerialError,
    V3ResponseSignatureError,
    V3SignatureError,
)
from .keys import (
    PlatformCertificate,
    VerifierKeys,
    load_certificate,
    load_private_key,
    load_public_key,
)
from .notify import (
    Notification,
    parse_notification,
    payment_from_transaction,
    refund_fields,
    refund_from_resource,
    transaction_fields,
)
from .settings import DEFAULT_CLOCK_WINDOW, V3_ENV_NAMES, V3Settings
from .signing import authorization, request_payment
from .verify import PROBE_PREFIX, verify_signed

__all__ = [
    "DEFAULT_CLOCK_WINDOW",
    "PROBE_PREFIX",
    "V3_ENV_NAMES",
    "BillDigestError",
    "DecryptError",
    "Notification",
    "PlatformCertificate",
    "SignatureProbeError",
    "TimestampError",
    "UnknownSerialError",
    "V3Request",
    "V3ResponseSignatureError",
    "V3Settings",
    "V3SignatureError",
    "VerifierKeys",
    "aead",
    "answers",
    "authorization",
    "calls",
    "load_certificate",
    "load_private_key",
    "load_public_key",
    "parse_notification",
    "payment_from_transaction",
    "refund_fields",
    "refund_from_resource",
    "request_payment",
    "signing",
    "transaction_fields",
    "verify_signed",
]
