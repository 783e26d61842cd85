"""Fault injection: make a WeChat endpoint slow, broken or untrustworthy on purpose.

| kind | what the client sees | did WeChat act? |
|---|---|---|
| ``latency`` | the normal answer, ``seconds`` late | yes |
| ``timeout`` | no answer for ``seconds`` (set it above the client's read timeout) | yes |
| ``reset`` | the connection closed without an answer | no |
| ``http_500`` | HTTP 500 with an HTML body | no |
| ``malformed_xml`` | HTTP 200 with a truncated XML body | yes |
| ``bad_sign`` | the normal answer with a wrong ``sign`` (unsigned answers unchanged) | yes |

"Did WeChat act" is the trap each fault sets: after a timeout or a malformed answer the
order (or refund) may well exist, so the client must query, not assume.

A fault applies to one path (``/pay/unifiedorder``) or every WeChat path (``*``), never
to ``/simulator/*``; with ``count`` it affects that many requests and then disappears.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["FAULT_KINDS", "Fault", "Faults"]

FAULT_KINDS: Final = ("latency", "timeout", "reset", "http_500", "malformed_xml", "bad_sign")
_DEFAULT_SECONDS: Final = {"latency": 1.0, "timeout": 30.0}


@dataclass
class Fault:
    """One injected fault."""

    endpoint: str
    kind: str
    seconds: float = 0.0
    #: Requests still to affect; None: until cleared.
    count: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape used by ``/simulator/faults``."""
        return {
            "endpoint": self.endpoint,
            "kind": self.kind,
            "seconds": self.seconds,
            "count": self.count,
        }

    @classmethod
    def from_dict(cls, data: object) -> Fault:
        """Validate a fault given as JSON; ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object with endpoint and kind")
        endpoint, kind = data.get("endpoint"), data.get("kind")
        if not isinstance(endpoint, str) or not (endpoint == "*" or endpoint.startswith("/")):
            raise ValueError("endpoint: expected a path such as '/pay/unifiedorder', or '*'")
        if endpoint.startswith("/simulator/"):
            raise ValueError("endpoint: the /simulator/ control endpoints cannot be faulted")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind: expected one of {', '.join(FAULT_KINDS)}")
        seconds = data.get("seconds", _DEFAULT_SECONDS.get(kind, 0.0))
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ValueError("seconds: expected a non-negative number")
        count = data.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise ValueError("count: expected a positive integer, or null for no limit")
        if count is not None and count < 1:
            raise ValueError("count: expected a positive integer, or null for no limit")
        return cls(endpoint, kind, float(seconds), count)


class Faults:
    """The faults in force, consumed as requests match them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Add a fault; faults added earlier win when several match."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        """The faults in force, as JSON-ready dicts."""
        with self._lock:
            return [fault.as_dict() for fault in self._faults]

    def take(self, path: str) -> Fault | None:
        """The fault for a request to ``path``, counting it against ``count``."""
        with self._lock:
            for fault in self._faults:
                if fault.endpoint in ("*", path):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None
