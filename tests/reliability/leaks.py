"""A secret-leak harness: capture everything a run writes, then search it for secrets.

:class:`LeakWatch` collects, while it is installed:

- every log record at every level, of every logger (all count as enabled for DEBUG for
  the duration, whatever their configuration), formatted with its exception and stack
  text, plus any ``extra=`` attributes a structured-log handler would print;
- what the test hands it explicitly: HTTP answers (status line, headers, body),
  exceptions (str, repr, args, the whole cause/context chain and the traceback text)
  and reprs of objects;

and the ``leak_watch`` fixture (conftest.py) adds the process's stdout and stderr (file
descriptors, so child processes and C code count too).

:meth:`LeakWatch.assert_clean` then looks for each secret in all of it: the value
itself, in any letter case, and any 12-character piece of it (a truncated or partly
masked secret is still a leak), and for the API key also the refund-decryption key
derived from it (md5 of the key). Nothing secret is printed in the failure message:
only which secret, where, and the surrounding text with the secret masked.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LeakWatch"]

# Attributes every LogRecord has; anything else came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("n", 0, "p", 0, "m", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_PIECE = 12


class _Collect(logging.Handler):
    def __init__(self, sink: list[tuple[str, str]]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink
        self.setFormatter(
            logging.Formatter("%(levelname)s %(name)s %(pathname)s:%(lineno)d %(message)s")
        )

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)  # includes exc_text and stack_info
        except Exception as exc:  # a broken record is still evidence
            text = f"<unformattable record {record.msg!r} {record.args!r}: {exc!r}>"
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if extras:
            text += f" extra={extras!r}"
        self.sink.append((f"log {record.levelname} {record.name}", text))


@dataclass
class LeakWatch:
    """Captured output of a run and the secrets that must not be in it."""

    secrets: dict[str, str] = field(default_factory=dict)
    captured: list[tuple[str, str]] = field(default_factory=list)
    #: pytest's ``capfd``: read into ``captured`` by :meth:`assert_clean`.
    streams: Any = None
    _original: tuple[Any, Any] | None = None

    # -- what must not leak ---------------------------------------------------------

    def secret(self, name: str, value: str | None) -> None:
        """Add a secret to search for (``None`` and empty are ignored)."""
        if value:
            self.secrets[name] = value

    def api_key(self, value: str) -> None:
        """The API key, and the refund AES key derived from it (same power as the key)."""
        self.secret("api_key", value)
        self.secret("api_key_md5", hashlib.md5(value.encode()).hexdigest())

    # -- what was written ------------------------------------------------------------

    def text(self, where: str, text: str | bytes) -> None:
        """Anything else the run produced."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        self.captured.append((where, text))

    def http(self, where: str, status: int, headers: Any, body: bytes | str) -> None:
        """An HTTP answer: status, every header, the body."""
        items = headers.items() if hasattr(headers, "items") else headers
        head = "\n".join(f"{k}: {v}" for k, v in items)
        self.text(f"http {where}", f"{status}\n{head}\n\n")
        self.text(f"http {where} body", body)

    def response(self, where: str, response: Any) -> None:
        """A ``requests.Response`` (or anything with status_code/headers/content)."""
        self.http(where, response.status_code, response.headers, response.content)

    def exception(self, where: str, exc: BaseException) -> None:
        """str, repr, args and traceback of ``exc`` and of every cause and context."""
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            self.text(f"exception {where}", f"{current!s}\n{current!r}\n{current.args!r}")
            for attr, value in vars(current).items():
                self.text(f"exception {where} .{attr}", repr(value))
            current = current.__cause__ or current.__context__
        self.text(f"traceback {where}", "".join(traceback.format_exception(exc)))

    def repr(self, where: str, obj: object) -> None:
        """``repr`` and ``str`` of an object a developer might print."""
        self.text(f"repr {where}", f"{obj!r}\n{obj!s}")

    # -- capture ----------------------------------------------------------------------

    def install(self) -> None:
        """Start collecting every log record, whatever its logger, level or handlers.

        Every logger counts as enabled for every level, so debug records that a quiet
        configuration would never create are created and searched. Records are taken
        where a logger hands them to its handlers, after the logger's own filters (which
        may redact them), whether or not they propagate to the root.
        """
        if self._original is not None:
            return
        handler = _Collect(self.captured)
        original = (logging.Logger.isEnabledFor, logging.Logger.callHandlers)
        call_handlers = original[1]

        def enabled(logger: logging.Logger, level: int) -> bool:
            return True

        def collect(logger: logging.Logger, record: logging.LogRecord) -> None:
            handler.handle(record)
            call_handlers(logger, record)

        logging.Logger.isEnabledFor = enabled  # type: ignore[method-assign]
        logging.Logger.callHandlers = collect  # type: ignore[method-assign]
        self._original = original

    def uninstall(self) -> None:
        """Restore the logging machinery."""
        if self._original is not None:
            logging.Logger.isEnabledFor, logging.Logger.callHandlers = self._original  # type: ignore[method-assign]
            self._original = None

    # -- the check ---------------------------------------------------------------------

    def _pieces(self, value: str) -> Iterator[str]:
        yield value.lower()
        for start in range(max(0, len(value) - _PIECE) + 1):
            yield value[start : start + _PIECE].lower()

    def leaks(self) -> list[str]:
        """Every place a secret (or a piece of one) shows up, described without it."""
        found: list[str] = []
        for where, text in self.captured:
            lowered = text.lower()
            for name, value in self.secrets.items():
                piece = next((p for p in self._pieces(value) if p in lowered), None)
                if piece is None:
                    continue
                at = lowered.index(piece)
                context = text[max(0, at - 60) : at + len(piece) + 60]
                for secret in self.secrets.values():
                    for p in self._pieces(secret):
                        context = _mask(context, p)
                found.append(f"{name} in {where}: ...{context}...")
        return found

    def assert_clean(self) -> None:
        """Fail, naming each place, if any secret appears in anything captured."""
        assert self.secrets, "no secrets registered: the search would prove nothing"
        self.read_streams()
        leaks = self.leaks()
        assert not leaks, "secrets leaked:\n" + "\n".join(leaks)

    def read_streams(self) -> None:
        """Move what reached stdout and stderr so far into ``captured``."""
        if self.streams is not None:
            out, err = self.streams.readouterr()
            self.text("stdout", out)
            self.text("stderr", err)

    def assert_saw(self, fragment: str) -> None:
        """Fail unless ``fragment`` was captured: proves the capture itself works."""
        assert any(fragment in text for _, text in self.captured), (
            f"{fragment!r} was never captured ({len(self.captured)} texts)"
        )


def _mask(text: str, piece: str) -> str:
    lowered = text.lower()
    out, start = [], 0
    while (at := lowered.find(piece, start)) != -1:
        out.append(text[start:at] + "*" * len(piece))
        start = at + len(piece)
    out.append(text[start:])
    return "".join(out)
