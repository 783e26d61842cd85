"""wxpay-mw: WeChat Mini Program payments (WeChat Pay API v2; v3's protocol layer in
:mod:`wxpay_mw.v3`) for any Python web app."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

from .app import WxPay
from .client import LoginSession, WeChatClient
from .config import WxPayConfig
from .errors import (
    ConfigError,
    LoginError,
    OrderClosedError,
    OrderPaidError,
    OrderRejectedError,
    OutTradeNoUsedError,
    RateLimitedError,
    RefundFailedError,
    RefundRefusedError,
    ResponseMismatchError,
    ResponseSignatureError,
    SetupError,
    SignatureError,
    UnknownOrderError,
    WeChatError,
    WeChatUnavailableError,
    WxPayError,
    XMLError,
)
from .hookspecs import hookimpl
from .models import Order, Payment, Refund

try:
    __version__ = version("wxpay-mw")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

# A library never configures logging; the host decides where records go.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ConfigError",
    "LoginError",
    "LoginSession",
    "Order",
    "OrderClosedError",
    "OrderPaidError",
    "OrderRejectedError",
    "OutTradeNoUsedError",
    "Payment",
    "RateLimitedError",
    "Refund",
    "RefundFailedError",
    "RefundRefusedError",
    "ResponseMismatchError",
    "ResponseSignatureError",
    "SetupError",
    "SignatureError",
    "UnknownOrderError",
    "WeChatClient",
    "WeChatError",
    "WeChatUnavailableError",
    "WxPay",
    "WxPayConfig",
    "WxPayError",
    "XMLError",
    "__version__",
    "hookimpl",
]
