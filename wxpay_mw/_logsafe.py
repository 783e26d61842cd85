"""Keeping secrets out of log records, including those of the libraries we call.

jscode2session takes the app secret in its query string (WeChat's design), and urllib3
logs request URLs at DEBUG and, on retries, at WARNING. The filter here sits on the HTTP
libraries' own loggers (urllib3's, and aiohttp's client loggers for the async client),
where the records are created, so no handler ever sees a secret.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import fields
from typing import Any, Final

__all__ = ["install_redaction", "masked_repr", "redact"]

_SECRET_IN_TEXT = re.compile(r"((?:^|[?&\s'\"])(?:secret|key|sandbox_signkey)=)[^&\s'\"]*")


def redact(text: str) -> str:
    """``text`` with any ``secret=...`` / ``key=...`` value replaced by ``***``."""
    return _SECRET_IN_TEXT.sub(r"\1***", text)


class _RedactSecrets(logging.Filter):
    """Redacts ``secret=`` in the HTTP libraries' own log records (see the module)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(a) if isinstance(a, str) else redact(str(a)) if "secret=" in str(a) else a
                for a in record.args
            )
        return True


# A filter on a logger sees only records created on that very logger, so each is named.
_LIBRARY_LOGGERS: Final = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.util.retry",
    "aiohttp.client",
    "aiohttp.internal",
)
_FILTER_LOCK = threading.Lock()


def install_redaction() -> None:
    with _FILTER_LOCK:
        for name in _LIBRARY_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, _RedactSecrets) for f in logger.filters):
                logger.addFilter(_RedactSecrets())


def masked_repr(obj: Any, secret_fields: frozenset[str]) -> str:
    """A dataclass's repr with the values of ``secret_fields`` shown as ``***``."""
    shown = ", ".join(
        f"{f.name}={'***' if f.name in secret_fields else repr(getattr(obj, f.name))}"
        for f in fields(obj)
    )
    return f"{type(obj).__name__}({shown})"
