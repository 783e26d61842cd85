"""Memory: the RSS of one worker while it handles 10,000 notifications after a warm-up.

The worker's resident set size is sampled every 20 ms from this process (psutil) while
a load process sends distinct, valid notifications. Warm-up: 1,000 notifications
(imports, caches, thread pools and allocator arenas settle). Then 10,000 more, in two
halves of 5,000, so a leak shows as a second-half peak above the first.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from ._report import Figure, Section
from ._runner import notify_spec, run_load
from ._servers import WSGI_THREADS, running

__all__ = ["run"]

WARMUP = 1000
COUNT = 10_000
MIB = 1024 * 1024
#: Allowed growth from the warm-up peak to the end: allocator noise, not a leak.
TOLERANCE_MIB = 2.0

#: (label, server, target, BENCH_PLUGIN)
TARGETS = [
    ("ASGI middleware (uvicorn, async plugin)", "uvicorn", "bench._apps:asgi", "amemory"),
    ("ASGI middleware (uvicorn, sync plugin)", "uvicorn", "bench._apps:asgi", "memory"),
    ("WSGI middleware (gunicorn gthread)", "gunicorn", "bench._apps:wsgi", "memory"),
]


class _Sampler:
    def __init__(self, pid: int) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def rss(self) -> int:
        return int(self.proc.memory_info().rss)

    def _loop(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> _Sampler:
        self.peak = self.rss()
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.rss())


def _spec(tmp: Path, start: int, count: int, name: str) -> Path:
    return notify_spec(tmp, start, count, name, time_limit=120.0, record_latency=False)


def run(quick: bool = False) -> Section:
    section = Section(
        key="memory",
        title="Memory of one worker over 10,000 notifications",
        method=(
            f"One worker (uvicorn process; gunicorn's single gthread worker, {WSGI_THREADS} "
            "threads), wxpay-mw with the minimal in-memory plugin, hooks async def and plain "
            "(orders pre-created at start-up). RSS sampled every 20 ms with psutil. "
            f"{WARMUP:,} warm-up "
            f"notifications, then {COUNT:,} distinct ones in two halves; bar: the peak "
            f"after warm-up is at most {TOLERANCE_MIB:g} MiB above the warm-up peak, and "
            "the second half's peak is not above the first's by more than that either."
        ),
    )
    targets = TARGETS[:1] if quick else TARGETS
    with tempfile.TemporaryDirectory(prefix="wxpay-bench-") as tmpdir:
        tmp = Path(tmpdir)
        half = COUNT // 2
        warm = _spec(tmp, 0, WARMUP, "warm.json")
        first = _spec(tmp, WARMUP, half, "first.json")
        second = _spec(tmp, WARMUP + half, COUNT - half, "second.json")
        for label, kind, target, plugin in targets:
            env = {"BENCH_PLUGIN": plugin, "BENCH_ORDERS": str(WARMUP + COUNT)}
            with running(kind, target, env, tmp) as server:
                pid = server.worker_pid()
                problems = []
                with _Sampler(pid) as sampler:
                    result = run_load(warm, server.port, 180)
                start_rss = sampler.rss()
                warm_peak = sampler.peak
                with _Sampler(pid) as s1:
                    r1 = run_load(first, server.port, 180)
                with _Sampler(pid) as s2:
                    r2 = run_load(second, server.port, 180)
                end_rss = s2.rss()
                for r in (result, r1, r2):
                    if r["mismatched"] or r["errors"] or r["timed_out"] or r["done"] == 0:
                        problems.append(f"{r['done']} done, {r['mismatched']} wrong answers")
            growth = (max(s1.peak, s2.peak) - warm_peak) / MIB
            drift = (s2.peak - s1.peak) / MIB
            section.figures.append(
                Figure(
                    name=f"{label}: RSS MiB warm-up peak -> peak over 10,000 -> end",
                    value=f"{warm_peak / MIB:.1f} -> {max(s1.peak, s2.peak) / MIB:.1f} -> "
                    f"{end_rss / MIB:.1f} (growth {growth:+.2f} MiB)",
                    bar=f"growth <= {TOLERANCE_MIB:g} MiB",
                    ok=growth <= TOLERANCE_MIB and drift <= TOLERANCE_MIB and not problems,
                    note=f"after warm-up {start_rss / MIB:.1f} MiB; peak first half "
                    f"{s1.peak / MIB:.1f}, second half {s2.peak / MIB:.1f} ({drift:+.2f}); "
                    f"{r1['rps'] + 0:.0f} / {r2['rps']:.0f} req/s"
                    + (f"; PROBLEMS: {'; '.join(problems)}" if problems else ""),
                )
            )
    return section
