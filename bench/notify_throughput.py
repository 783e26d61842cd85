"""Notification throughput through each adapter, against a bare endpoint side by side.

For each adapter three servers run at once, each one worker process (uvicorn for the
ASGI middleware and the Starlette mount; gunicorn with one gthread worker for Flask and
plain WSGI): the bare endpoint of the same framework, wxpay-mw with the minimal
in-memory plugin, and wxpay-mw with the reference store (SQLite). A load generator in
another process sends valid, distinct, correctly signed notifications, one per
pre-created order, over keep-alive connections. Each repetition measures the three in
turn (rotating who goes first) on the same request set; every answer is checked
(SUCCESS expected, FAIL refused), so a fast wrong answer cannot count.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

from ._apps import populate_store
from ._report import Figure, Section, median
from ._runner import notify_spec, run_load
from ._servers import WSGI_THREADS, running

__all__ = ["ADAPTERS", "run"]

#: (label, server, bare target, wxpay-mw target, diagnostic target or "")
ADAPTERS = [
    (
        "ASGI middleware",
        "uvicorn",
        "bench._bare:asgi",
        "bench._apps:asgi",
        "bench._bare:asgi_thread_hop",
    ),
    ("Starlette mount", "uvicorn", "bench._bare:starlette", "bench._apps:starlette", ""),
    ("Flask extension", "gunicorn", "bench._bare:flask", "bench._apps:flask", ""),
    ("WSGI middleware", "gunicorn", "bench._bare:wsgi", "bench._apps:wsgi", ""),
]
CONNECTIONS = 16
BAR = 0.8


def _write_specs(tmp: Path, warmup: int, per_run: int, reps: int) -> tuple[Path, list[Path]]:
    """Spec files: one warm-up set, then one distinct set per repetition."""

    def spec(start: int, count: int, name: str) -> Path:
        return notify_spec(tmp, start, count, name, connections=CONNECTIONS)

    warm = spec(0, warmup, "warmup.json")
    runs = [spec(warmup + r * per_run, per_run, f"rep{r}.json") for r in range(reps)]
    return warm, runs


def run(quick: bool = False) -> Section:
    reps = 2 if quick else 5
    per_run = 1500 if quick else 4000
    warmup = 300
    adapters = ADAPTERS
    section = Section(
        key="notify",
        title="Notification throughput per adapter",
        method=(
            f"One worker process per server (uvicorn: 1 process; gunicorn: 1 gthread worker, "
            f"{WSGI_THREADS} threads), bare endpoint and wxpay-mw running at the same time on "
            f"127.0.0.1. Load: bench/_load.py (asyncio, {CONNECTIONS} keep-alive connections, "
            "no pipelining) in its own process, sending valid, distinct, MD5-signed "
            f"notifications for pre-created orders: {warmup} warm-up requests per server, "
            f"then {reps} repetitions x {per_run} requests, the three variants measured "
            "back to back in rotating order. Req/s are medians; the ratio is the median of "
            "the per-repetition ratios wxpay-mw / bare. Every answer body is checked "
            "(SUCCESS, never FAIL)."
        ),
    )
    total_orders = warmup + reps * per_run
    gen_cpu: list[float] = []
    with tempfile.TemporaryDirectory(prefix="wxpay-bench-") as tmpdir:
        tmp = Path(tmpdir)
        warm_spec, rep_specs = _write_specs(tmp, warmup, per_run, reps)
        for label, server, bare_target, wxpay_target, hop_target in adapters:
            started = time.perf_counter()
            variants = (
                ("bare", "memory", "store", "hop") if hop_target else ("bare", "memory", "store")
            )
            rps: dict[str, list[float]] = {v: [] for v in variants}
            ratios: dict[str, list[float]] = {v: [] for v in variants[1:]}
            problems: list[str] = []
            db = tmp / f"store-{server}-{wxpay_target.rsplit(':', 1)[1]}.db"
            populate_store(f"sqlite:///{db}", total_orders)
            envs: dict[str, tuple[str, dict[str, str]]] = {
                "bare": (bare_target, {}),
                "memory": (
                    wxpay_target,
                    {"BENCH_PLUGIN": "memory", "BENCH_ORDERS": str(total_orders)},
                ),
                "store": (
                    wxpay_target,
                    {"BENCH_PLUGIN": "store", "BENCH_STORE_URL": f"sqlite:///{db}"},
                ),
                "hop": (hop_target, {}),
            }
            with contextlib.ExitStack() as stack:
                ports: dict[str, int] = {}
                for variant in variants:
                    target, env = envs[variant]
                    srv = stack.enter_context(running(server, target, env, tmp))
                    ports[variant] = srv.port
                for variant in variants:
                    _check(run_load(warm_spec, ports[variant], 90), f"{variant} warm-up", problems)
                for rep in range(reps):
                    shift = rep % len(variants)
                    order = variants[shift:] + variants[:shift]
                    measured: dict[str, float] = {}
                    for variant in order:
                        result = run_load(rep_specs[rep], ports[variant], 90)
                        _check(result, f"{variant} rep {rep}", problems)
                        measured[variant] = result["rps"]
                        gen_cpu.append(result["cpu_s"] / max(result["elapsed"], 1e-9))
                    for variant in variants:
                        rps[variant].append(measured[variant])
                    for variant in variants[1:]:
                        ratios[variant].append(measured[variant] / measured["bare"])
            mem_ratio = median(ratios["memory"])
            store_ratio = median(ratios["store"])
            section.figures.append(
                Figure(
                    name=f"{label} ({server}): wxpay-mw in-memory vs bare, req/s",
                    value=f"{median(rps['memory']):,.0f} vs {median(rps['bare']):,.0f} "
                    f"(x{mem_ratio:.2f})",
                    bar=f"ratio >= {BAR}",
                    ok=mem_ratio >= BAR and not problems,
                    note=f"per-rep ratios {', '.join(f'{r:.2f}' for r in ratios['memory'])}"
                    + (f"; PROBLEMS: {'; '.join(problems[:3])}" if problems else ""),
                )
            )
            section.figures.append(
                Figure(
                    name=f"{label} ({server}): wxpay-mw reference store (SQLite) req/s",
                    value=f"{median(rps['store']):,.0f} (x{store_ratio:.2f} of bare)",
                    note=f"per-rep ratios {', '.join(f'{r:.2f}' for r in ratios['store'])}",
                )
            )
            if hop_target:
                hop_ratio = median(ratios["hop"])
                section.figures.append(
                    Figure(
                        name=f"{label} ({server}): diagnostic, bare + one worker-thread hop, req/s",
                        value=f"{median(rps['hop']):,.0f} (x{hop_ratio:.2f} of bare)",
                        note="the bare app plus one worker-thread hop of a no-op per request, "
                        "through the adapters' CoreRunner: the cost of the hop the design "
                        "requires of async adapters",
                    )
                )
            section.notes.append(
                f"{label}: {time.perf_counter() - started:.0f} s; bare req/s per rep "
                f"{', '.join(f'{r:,.0f}' for r in rps['bare'])}; in-memory "
                f"{', '.join(f'{r:,.0f}' for r in rps['memory'])}."
            )
    section.notes.append(
        "The load generator used a median "
        f"{median(gen_cpu) * 100:.0f}% of one core while measuring, so it was not the "
        "limit (the server, on the other core, was)."
    )
    section.notes.append(
        "The reference store opens a SQLite connection per hook call and commits each "
        "paid transition (plus its audit row) durably: that disk-bound cost is the "
        "store's, reported beside, not part of the bar."
    )
    return section


def _check(result: dict[str, Any], what: str, problems: list[str]) -> None:
    if result["mismatched"] or result["errors"] or result["timed_out"]:
        problems.append(
            f"{what}: {result['mismatched']} wrong answers, {result['errors']} errors, "
            f"timed out {result['timed_out']}: {result['first_error'][:200]}"
        )
