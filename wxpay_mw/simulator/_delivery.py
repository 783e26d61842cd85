"""Notification delivery the way WeChat does it: POST, and retry until SUCCESS.

A notification counts as acknowledged only when the answer is HTTP 200 and an XML
message with ``return_code=SUCCESS``; anything else (FAIL, a plain "success", a 500, a
timeout, a refused connection) is retried on WeChat's schedule, scaled by ``time_factor``.
The first attempt goes out at once; the schedule gives the gaps after it, so a
notification is tried at most 16 times (whether WeChat counts the first send among its
15 is not documented).

A v3 notification (``headers`` given) is signed afresh for each attempt and counts as
received when the answer is HTTP 200 or 204, whatever its body (WeChat judges v3 answers
by status alone, wechatpay-v3.md section 8). A signature probe is sent once, never
retried, and left out of the count ``wait(n)`` waits for.

With ``duplicate`` every attempt is sent twice at the same moment, as WeChat's several
servers do: both show up in the log, and the notification counts as acknowledged when
either is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import requests

from ..errors import XMLError
from ..xmlmsg import from_xml

__all__ = ["RETRY_SCHEDULE", "Deliveries", "Notification"]

logger = logging.getLogger("wxpay_mw.simulator")

#: Seconds between attempts: 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h x3, 6h x2.
RETRY_SCHEDULE: Final[tuple[float, ...]] = (
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
)  # fmt: skip

_ANSWER_CHARS: Final = 2000


@dataclass
class Attempt:
    """One POST of a notification and what came back."""

    time: float
    status: int | None
    answer: str
    error: str | None
    acknowledged: bool
    #: Sent by ``POST /simulator/notifications/{id}/redeliver``, not by the schedule.
    manual: bool = False
    #: v3: the ``Wechatpay-*`` headers this attempt was signed with.
    headers: dict[str, str] | None = None


@dataclass
class Notification:
    """A notification and the history of its delivery."""

    id: int
    kind: str  # "payment" or "refund"
    url: str
    body: bytes
    out_trade_no: str
    out_refund_no: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    acknowledged: bool = False
    finished: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    #: v3: makes each attempt's ``Wechatpay-*`` headers (a fresh timestamp every time).
    headers: Callable[[], dict[str, str]] | None = None
    #: False for a signature probe: one attempt only.
    retry: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``GET /simulator/notifications`` entries."""
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "out_trade_no": self.out_trade_no,
            "url": self.url,
            "body": self.body.decode(),
            "attempts": [vars(a).copy() for a in self.attempts],
            "acknowledged": self.acknowledged,
            "finished": self.finished,
        }
        if self.out_refund_no is not None:
            data["out_refund_no"] = self.out_refund_no
        if self.headers is not None:
            data["api"] = "v3"
        return data


def _acknowledged(response: requests.Response) -> bool:
    if response.status_code != 200:
        return False
    try:
        return from_xml(response.content).get("return_code") == "SUCCESS"
    except XMLError:
        return False


class Deliveries:
    """Background notification deliveries and delayed tasks of one simulator."""

    def __init__(
        self,
        *,
        time_factor: float,
        duplicate: bool = False,
        timeout: tuple[float, float] = (2.0, 5.0),
    ) -> None:
        self.time_factor = time_factor
        self.duplicate = duplicate
        self.timeout = timeout
        self._cond = threading.Condition()
        self._log: list[Notification] = []
        self._cancels: set[threading.Event] = set()
        self._threads: set[threading.Thread] = set()
        self._next_id = 1

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        def run() -> None:
            try:
                target()
            except Exception:
                # A delivery thread must never die loudly in the host's process.
                logger.exception("simulator task %s failed", name)
            finally:
                with self._cond:
                    self._threads.discard(thread)

        thread = threading.Thread(target=run, name=f"wxpay-sim-{name}", daemon=True)
        with self._cond:
            self._threads.add(thread)
        thread.start()

    def later(self, delay: float, task: Callable[[], None]) -> None:
        """Run ``task`` after ``delay`` seconds (already scaled), unless reset or stopped."""
        cancel = threading.Event()
        with self._cond:
            self._cancels.add(cancel)

        def run() -> None:
            try:
                if not cancel.wait(delay):
                    task()
            finally:
                with self._cond:
                    self._cancels.discard(cancel)

        self._spawn(run, "task")

    def send(
        self,
        kind: str,
        url: str,
        body: bytes,
        out_trade_no: str,
        out_refund_no: str | None = None,
        *,
        headers: Callable[[], dict[str, str]] | None = None,
        retry: bool = True,
    ) -> Notification:
        """Start delivering a notification; returns its (live) log entry.

        ``headers`` makes it a v3 notification, signed by that function per attempt.
        """
        with self._cond:
            note = Notification(self._next_id, kind, url, body, out_trade_no, out_refund_no)
            note.headers, note.retry = headers, retry
            self._next_id += 1
            self._log.append(note)
        self._spawn(lambda: self._deliver(note), f"notify-{note.id}")
        return note

    def _deliver(self, note: Notification) -> None:
        for gap in (*RETRY_SCHEDULE, None):
            if note.cancel.is_set() or note.acknowledged:  # acknowledged: by a redelivery
                break
            if self._attempt(note) or not note.retry:
                break
            if gap is None or note.cancel.wait(gap * self.time_factor):
                break
        with self._cond:
            note.finished = True
            self._cond.notify_all()

    def _attempt(self, note: Notification) -> bool:
        if not self.duplicate:
            return self._post(note)
        results: list[bool] = []
        twin = threading.Thread(target=lambda: results.append(self._post(note)), daemon=True)
        twin.start()
        results.append(self._post(note))
        twin.join()
        return any(results)

    def redeliver(self, note_id: int) -> dict[str, Any] | None:
        """POST notification ``note_id`` once more, now; its log entry, None if unknown.

        Retries still due on the schedule go on unless this attempt is acknowledged.
        """
        with self._cond:
            note = next((n for n in self._log if n.id == note_id), None)
        if note is None:
            return None
        self._post(note, manual=True)
        with self._cond:
            return note.as_dict()

    def _post(self, note: Notification, *, manual: bool = False) -> bool:
        started = time.time()
        status: int | None = None
        answer, error, acked = "", None, False
        signed = note.headers() if note.headers is not None else None
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if signed is not None:
            headers = {"Content-Type": "application/json", **signed}
        try:
            response = requests.post(
                note.url,
                data=note.body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
            status, answer = response.status_code, response.text[:_ANSWER_CHARS]
            # v3: received is HTTP 200 or 204, whatever the body; v2: SUCCESS in XML.
            acked = status in (200, 204) if signed is not None else _acknowledged(response)
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        logger.debug("%s notification %s -> %s %s", note.kind, note.url, status, error or "")
        with self._cond:
            note.attempts.append(
                Attempt(started, status, answer, error, acked, manual=manual, headers=signed)
            )
            note.acknowledged = note.acknowledged or acked
            self._cond.notify_all()
        return acked

    def log(self) -> list[dict[str, Any]]:
        """Every notification so far, oldest first, as JSON-ready dicts."""
        with self._cond:
            return [note.as_dict() for note in self._log]

    def wait(
        self, condition: int | Callable[[list[dict[str, Any]]], bool], timeout: float
    ) -> list[dict[str, Any]]:
        """Block until ``condition`` holds on the log; raise TimeoutError otherwise.

        An int ``n`` means "at least n notifications acknowledged".
        """

        def holds() -> bool:
            log = [note.as_dict() for note in self._log]
            if callable(condition):
                return condition(log)
            counted = (n for n in log if n["acknowledged"] and n["kind"] != "probe")
            return sum(1 for _ in counted) >= condition

        with self._cond:
            if not self._cond.wait_for(holds, timeout):
                summary = [
                    (n.kind, n.out_trade_no, len(n.attempts), n.acknowledged) for n in self._log
                ]
                raise TimeoutError(
                    f"notifications did not reach the condition within {timeout}s; "
                    f"(kind, out_trade_no, attempts, acknowledged): {summary}"
                )
            return [note.as_dict() for note in self._log]

    def cancel_all(self, *, forget: bool) -> None:
        """Stop every pending delivery and task; with ``forget`` also clear the log."""
        with self._cond:
            for note in self._log:
                note.cancel.set()
            for cancel in self._cancels:
                cancel.set()
            if forget:
                self._log = []
            self._cond.notify_all()

    def join(self, timeout: float) -> None:
        """Wait (up to ``timeout`` overall) for the background threads to end."""
        deadline = time.monotonic() + timeout
        with self._cond:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
