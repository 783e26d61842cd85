"""The log of calls to the WeChat endpoints: what the host's server asked, what it got.

``GET /simulator/calls`` serves it to the console at ``/simulator/`` and to the demo's
"Behind the scenes" panel. Secrets never enter it: the app secret (jscode2session's
query), the session_key (its answer), the sandbox sign key (getsignkey's answer) and
signs are replaced by ``***``; the API key never travels in a message at all.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from ..errors import XMLError
from ..xmlmsg import from_xml
from ._wire import Answer, Request

__all__ = ["HIDDEN", "CallLog"]

#: Field names whose values the log shows as ``***``.
HIDDEN: Final = frozenset(
    {"secret", "session_key", "sandbox_signkey", "sign", "paySign", "api_key", "key"}
)
#: Calls kept: the oldest are dropped (a benchmark makes millions).
KEEP: Final = 500
_TEXT_CHARS: Final = 300


def _fields(body: bytes, content_type: str = "") -> dict[str, str] | str:
    """A message's fields with secrets hidden, or the start of a body that is no message."""
    if not body.strip():
        return {}
    fields: Any
    try:
        if body.lstrip().startswith(b"<"):
            fields = from_xml(body)
        elif "json" in content_type or "text/plain" in content_type:
            fields = json.loads(body)
        else:
            fields = None
    except (XMLError, ValueError):
        fields = None
    if not isinstance(fields, dict):
        return body[:_TEXT_CHARS].decode("utf-8", "replace")
    return {str(k): "***" if k in HIDDEN else str(v) for k, v in fields.items()}


@dataclass
class _Call:
    id: int
    time: float
    request: Request
    answer: Answer | None
    fault: str | None

    def as_dict(self) -> dict[str, Any]:
        request, answer = self.request, self.answer
        return {
            "id": self.id,
            "time": self.time,
            "method": request.method,
            "path": request.path,
            "request": _fields(request.body)
            if request.body
            else {k: "***" if k in HIDDEN else v for k, v in request.query.items()},
            "fault": self.fault,
            "status": answer.status if answer is not None else None,
            "answer": _fields(answer.body, answer.content_type) if answer is not None else {},
        }


class CallLog:
    """The last :data:`KEEP` calls to WeChat endpoints, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: deque[_Call] = deque(maxlen=KEEP)
        self._next_id = 1

    def record(self, request: Request, answer: Answer | None, fault: str | None) -> None:
        """Log one call; ``answer`` None: the connection was dropped unanswered."""
        # Kept raw and parsed only when listed: a benchmark's calls must stay cheap.
        # Without the WSGI environ, which holds the connection's file objects.
        kept = Request(request.method, request.path, request.query, request.body)
        entry = _Call(0, time.time(), kept, answer, fault)
        with self._lock:
            entry.id = self._next_id
            self._next_id += 1
            self._calls.append(entry)

    def list(self, since: int = 0) -> list[dict[str, Any]]:
        """The calls with an id above ``since``, oldest first, as JSON-ready dicts."""
        with self._lock:
            calls = [call for call in self._calls if call.id > since]
        return [call.as_dict() for call in calls]

    def clear(self) -> None:
        """Forget every call (ids keep counting, so a poller never sees one twice)."""
        with self._lock:
            self._calls.clear()
