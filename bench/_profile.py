"""Where a server's CPU goes per request, by stage: py-spy on the running worker process.

``py-spy record`` samples the worker's Python stacks while the load generator sends
notifications: ``--nonblocking`` (the process is never paused) and ``--gil`` (only the
thread holding the GIL, the one running Python); stacks that end in a wait are dropped
too. Each sample goes to one stage by its innermost frame that belongs to a known place
(innermost first, so h11 called from Starlette's ``send`` is the HTTP server, and an MD5
called from ``check_sign`` is verify). The shares times the server's measured CPU per
request give microseconds.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["STAGES", "format_stages", "profiled", "stage_of"]

#: Stages, in the order they are printed.
STAGES = (
    "HTTP server",
    "framework",
    "adapter",
    "parse",
    "verify",
    "hooks",
    "flow and app glue",
    "thread hop",
    "endpoint",
)

_HOP_FUNCS = frozenset(
    {
        "run_in_executor",
        "run_in_thread",
        "wrap_future",
        "_chain_future",
        "_call_set_state",
        "_copy_future_state",
        "_set_state",
        "call_soon_threadsafe",
        "_write_to_self",
        "_read_from_self",
        "_process_self_data",
    }
)

#: (stage, pattern on "function (file:line)"), tried in order on each frame.
_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("parse", re.compile(r"/wxpay_mw/(xmlmsg|_xmlflat)\.py|/defusedxml/|expatreader|xmltodict")),
    ("verify", re.compile(r"/wxpay_mw/signing\.py|^check_sign |calculate_signature")),
    ("hooks", re.compile(r"^\S*(wxpay_\w+|mark_paid) \(.*/bench/_apps\.py|/pluggy/|^_call_hook ")),
    ("thread hop", re.compile(r"/concurrent/futures/|/anyio/|/threading\.py")),
    ("adapter", re.compile(r"/adapters/")),
    ("flow and app glue", re.compile(r"/wxpay_mw/")),
    ("endpoint", re.compile(r"/bench/_(bare|byhand|apps)\.py|/wechatpy/")),
    ("framework", re.compile(r"/starlette/|/flask/|/werkzeug/")),
    ("HTTP server", re.compile(r"/uvicorn/|/h11/|httptools|/gunicorn/|/asyncio/|/selectors")),
]


#: Innermost frames of a thread that waits (for work, a lock, the selector), not runs.
_WAITING = re.compile(r"^(\S*\.)?(wait|select|_worker|_wait_for_tstate_lock|acquire) \(")


def stage_of(frames: list[str]) -> str:
    """The stage of one sampled stack (``frames`` from the root to the innermost).

    "waiting" for a thread blocked in a wait (not CPU; left out of the shares).
    """
    if frames and _WAITING.match(frames[-1]):
        return "waiting"
    for frame in reversed(frames):
        if frame.split(" ", 1)[0] in _HOP_FUNCS:
            return "thread hop"
        for stage, pattern in _RULES:
            if pattern.search(frame):
                return stage
    return "HTTP server"


def _shares(raw: str) -> tuple[dict[str, float], int]:
    counts: dict[str, int] = {}
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stage = stage_of(stack.split(";"))
        if stage != "waiting":
            counts[stage] = counts.get(stage, 0) + int(count)
    total = sum(counts.values())
    return {stage: n / total for stage, n in counts.items()} if total else {}, total


def _py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def profiled(pid: int, out: Path, rate: int = 400) -> Iterator[Callable[[], dict[str, Any]]]:
    """Sample ``pid`` while the block runs; call the yielded function after it for shares.

    The result is ``{"shares": {stage: fraction}, "samples": n}`` or ``{"error": why}``
    (py-spy missing, or not allowed to read the process): the benchmark goes on without.
    """
    exe = _py_spy()
    result: dict[str, Any] = {"error": "py-spy is not installed (pip install py-spy)"}
    proc = None
    if exe:
        proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--rate", str(rate), "--nonblocking",
             "--gil", "--full-filenames", "--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        time.sleep(0.5)  # attached before the first request
    try:
        yield lambda: result
    finally:
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            raw = out.read_text(encoding="utf-8", errors="replace") if out.exists() else ""
            shares, samples = _shares(raw)
            if shares:
                result.clear()
                result.update(shares=shares, samples=samples)
            else:
                result["error"] = f"py-spy recorded nothing: {err.strip()[-300:]}"


def format_stages(shares: dict[str, float], cpu_us: float) -> str:
    """``parse 22, verify 8, ...`` in microseconds per request (stages with any share)."""
    parts = [
        f"{stage} {shares[stage] * cpu_us:.0f}"
        for stage in STAGES
        if shares.get(stage, 0) * cpu_us >= 0.5
    ]
    return ", ".join(parts)
