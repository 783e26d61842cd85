"""The plain request and response every adapter translates to and from.

The core never sees a framework object except as ``Request.native``, which it only hands
to the host's ``wxpay_openid_from_request`` hook (a host that knows its own users wants its
own request object there).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Request", "Response", "normalize_prefix"]


@dataclass(frozen=True)
class Request:
    """One HTTP request, as an adapter received it.

    ``path`` is relative to the mount prefix (``/prepay``, ``/orders/123``). ``headers``
    has lower-case names. ``body`` holds at most the configured cap plus one byte, so
    the core can tell a body over the cap from one at it. ``client_ip`` is the peer
    address the adapter saw (WeChat wants the payer's IP in spbill_create_ip).
    ``openid`` is the paying user's openid when the host's own authentication already
    established it (the FastAPI router's ``openid`` dependency); prepay then needs no
    wx.login code.
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    client_ip: str = ""
    native: Any = None
    openid: str | None = None


@dataclass(frozen=True)
class Response:
    """One HTTP response for the adapter to send."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def json(cls, status: int, data: Mapping[str, Any]) -> Response:
        """A JSON response (UTF-8, no ASCII escaping so Chinese text stays readable)."""
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status, [("content-type", "application/json; charset=utf-8")], body)

    @classmethod
    def xml(cls, status: int, body: bytes) -> Response:
        """An XML response, as WeChat expects from notify endpoints."""
        return cls(status, [("content-type", "application/xml; charset=utf-8")], body)


def normalize_prefix(prefix: str, *, whole_app: bool = True) -> str:
    """``"wxpay/"`` -> ``"/wxpay"``.

    ``"/"`` or ``""`` is refused where wxpay-mw would then answer every path of the host
    app (``whole_app``: the middlewares and mounts), and means "no prefix" elsewhere.
    """
    stripped = prefix.strip().strip("/")
    if not stripped and whole_app:
        raise ValueError(
            f"prefix {prefix!r} would make wxpay-mw answer every path of your app (each "
            "with a 404 of its own): give it a prefix of its own, such as '/wxpay'"
        )
    return f"/{stripped}" if stripped else ""
