"""Notification throughput through each adapter, side by side with what a host has without it.

Each group is one adapter under one server: every variant of the group runs at once, as
its own one-worker server process (uvicorn with the h11 parser, and again with
httptools, for the ASGI middleware and the Starlette mount; gunicorn with one gthread
worker for Flask and plain WSGI):

- ``bare``: the same framework's endpoint that only reads the body and answers the
  SUCCESS XML (bench/_bare.py);
- ``async`` / ``sync``: wxpay-mw with the in-memory plugin, every hook ``async def`` /
  plain (the async adapters run both; WSGI and Flask only take plain hooks);
- ``by hand``: the endpoint a host writes without wxpay-mw, on wechatpy's
  ``parse_payment_result`` with the same in-memory update (bench/_byhand.py);
- ``async no hop`` (raw ASGI only, a diagnostic): ``async`` with an async client that
  answers the flow's ``signing_key`` on the loop, so that no request leaves it;
- ``hop executor`` / ``hop anyio`` (raw ASGI only, a diagnostic): the bare app plus one
  worker-thread hop of a no-op, through the adapters' ``WxPay.run_in_thread``
  (``loop.run_in_executor``) or ``anyio.to_thread.run_sync``; ``bare`` is the no-hop.

A load generator in another process sends valid, distinct, correctly signed
notifications, one per pre-created order, over keep-alive connections. Each repetition
measures every variant in turn (rotating who goes first) on the same request set; every
answer is checked (SUCCESS expected, FAIL refused), so a fast wrong answer cannot count.
The server's own CPU time over each run, divided by its requests, is the CPU per
request; after the repetitions py-spy samples the wxpay-mw server for the per-stage
breakdown (bench/_profile.py).
"""

from __future__ import annotations

import contextlib
import importlib.util
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _inprocess
from ._profile import format_stages, profiled
from ._report import Figure, Section, median
from ._runner import notify_spec, run_load
from ._servers import WSGI_THREADS, Server, running

__all__ = ["GROUPS", "run"]

CONNECTIONS = 16
#: The bars: wxpay-mw / bare on the async adapters (async plugin) and on WSGI / Flask.
BAR_ASYNC = 0.7
BAR_SYNC = 0.8
#: wxpay-mw / the by-hand wechatpy endpoint, every adapter.
BAR_BYHAND = 1.3


@dataclass(frozen=True)
class Group:
    """One adapter under one server: its variants (key -> ``module:factory``)."""

    label: str
    server: str
    http: str
    variants: dict[str, str]
    bar: float

    @property
    def where(self) -> str:
        return f"{self.server} {self.http}" if self.http else f"{self.server} gthread"

    @property
    def judged(self) -> bool:
        """Whether the bars apply (h11 and gunicorn; httptools is reported beside)."""
        return self.http != "httptools"

    @property
    def wxpay(self) -> str:
        """The wxpay-mw variant the bars compare."""
        return "async" if "async" in self.variants else "sync"


def fastapi_router() -> bool:
    """Whether the FastAPI adapter (and FastAPI) are installed, so its group can run."""
    try:
        return bool(
            importlib.util.find_spec("fastapi")
            and importlib.util.find_spec("wxpay_mw.adapters.fastapi")
        )
    except ImportError:
        return False


def _groups() -> list[Group]:
    groups = []
    for http in ("h11", "httptools"):
        groups.append(
            Group(
                "ASGI middleware",
                "uvicorn",
                http,
                {
                    "bare": "bench._bare:asgi",
                    "async": "bench._apps:asgi",
                    "sync": "bench._apps:asgi",
                    "by hand": "bench._byhand:asgi",
                    "hop executor": "bench._apps:asgi_hop",
                    "hop anyio": "bench._apps:asgi_hop",
                },
                BAR_ASYNC,
            )
        )
        groups.append(
            Group(
                "Starlette mount",
                "uvicorn",
                http,
                {
                    "bare": "bench._bare:starlette",
                    "async": "bench._apps:starlette",
                    "sync": "bench._apps:starlette",
                    "by hand": "bench._byhand:starlette",
                },
                BAR_ASYNC,
            )
        )
        if fastapi_router():
            groups.append(
                Group(
                    "FastAPI router",
                    "uvicorn",
                    http,
                    {
                        "bare": "bench._fastapi:bare",
                        "async": "bench._fastapi:wxpay",
                        "sync": "bench._fastapi:wxpay",
                        "by hand": "bench._fastapi:byhand",
                    },
                    BAR_ASYNC,
                )
            )
    for label, name in (("Flask extension", "flask"), ("WSGI middleware", "wsgi")):
        groups.append(
            Group(
                label,
                "gunicorn",
                "",
                {
                    "bare": f"bench._bare:{name}",
                    "sync": f"bench._apps:{name}",
                    "by hand": f"bench._byhand:{name}",
                },
                BAR_SYNC,
            )
        )
    return groups


GROUPS = _groups()


def _env(variant: str, orders: int) -> dict[str, str]:
    plugin = {"async": "amemory", "sync": "memory"}.get(variant)
    if plugin:
        return {"BENCH_PLUGIN": plugin, "BENCH_ORDERS": str(orders)}
    if variant == "by hand":
        return {"BENCH_ORDERS": str(orders)}
    if variant.startswith("hop "):
        return {"BENCH_HOP": variant.removeprefix("hop ")}
    return {}


@dataclass
class _Measured:
    rps: dict[str, list[float]]
    cpu_us: dict[str, list[float]]
    problems: list[str]
    gen_cpu: list[float]

    def ratios(self, top: str, bottom: str) -> list[float]:
        return [a / b for a, b in zip(self.rps[top], self.rps[bottom], strict=True)]


def _measure(group: Group, servers: dict[str, Server], warm: Path, reps: list[Path]) -> _Measured:
    keys = list(group.variants)
    m = _Measured({k: [] for k in keys}, {k: [] for k in keys}, [], [])
    for key in keys:
        _check(run_load(warm, servers[key].port, 90), f"{key} warm-up", m.problems)
    for rep, spec in enumerate(reps):
        shift = rep % len(keys)
        for key in keys[shift:] + keys[:shift]:
            server = servers[key]
            before = server.cpu_seconds()
            result = run_load(spec, server.port, 90)
            used = server.cpu_seconds() - before
            _check(result, f"{key} rep {rep}", m.problems)
            m.rps[key].append(result["rps"])
            m.cpu_us[key].append(used / max(result["done"], 1) * 1e6)
            m.gen_cpu.append(result["cpu_s"] / max(result["elapsed"], 1e-9))
    return m


#: The figures before async hooks, for "beside today's": (label, http, top, bottom) ->
#: text. From issue 11 (an independent measurement: the adapters with plain hooks
#: through CoreRunner, uvicorn, 16 connections) and the last full run in results.md.
BEFORE: dict[tuple[str, str, str, str], str] = {
    ("ASGI middleware", "h11", "async", "bare"): "x0.45-0.51 (sync hooks; issue 11)",
    ("ASGI middleware", "h11", "sync", "bare"): "x0.46 (results.md, 2026-11-27)",
    ("ASGI middleware", "httptools", "async", "bare"): "x0.23-0.26 (sync hooks; issue 11)",
    ("Starlette mount", "h11", "async", "bare"): "x0.45-0.51 (sync hooks; issue 11)",
    ("Starlette mount", "h11", "sync", "bare"): "x0.45 (results.md, 2026-11-27)",
    ("Starlette mount", "httptools", "async", "bare"): "x0.23-0.26 (sync hooks; issue 11)",
    ("Flask extension", "", "sync", "bare"): "x0.70-0.73 (issue 11); x0.72 (results.md)",
    ("WSGI middleware", "", "sync", "bare"): "x0.70 (results.md, 2026-11-27)",
    ("ASGI middleware", "h11", "hop executor", "bare"): "CoreRunner x0.74, anyio x0.53 "
    "(results.md, 2026-11-27)",
}


def _ratio_figure(
    group: Group,
    m: _Measured,
    top: str,
    bottom: str,
    name: str,
    bar: float,
    stages: dict[str, str],
) -> Figure:
    ratios = m.ratios(top, bottom)
    ratio = median(ratios)
    cpu_top, cpu_bottom = median(m.cpu_us[top]), median(m.cpu_us[bottom])
    before = BEFORE.get((group.label, group.http, top, bottom), "not measured")
    note = (
        f"before: {before}; "
        f"server CPU/req {cpu_top:.0f} vs {cpu_bottom:.0f} us ({cpu_top - cpu_bottom:+.0f})"
        + "".join(f"; {k} by stage, us: {stages[k]}" for k in (top, bottom) if k in stages)
        + f"; per-rep ratios {', '.join(f'{r:.2f}' for r in ratios)}"
        + (f"; PROBLEMS: {'; '.join(m.problems[:3])}" if m.problems else "")
    )
    return Figure(
        name=f"{group.label} ({group.where}): {name}, req/s",
        value=f"{median(m.rps[top]):,.0f} vs {median(m.rps[bottom]):,.0f} (x{ratio:.2f}); "
        f"CPU/req {cpu_top:.0f} vs {cpu_bottom:.0f} us",
        bar=f"ratio >= {bar}" if group.judged else f"(bar {bar} judged under h11)",
        ok=(ratio >= bar and not m.problems) if group.judged else None,
        note=note,
    )


def _figures(group: Group, m: _Measured, stages: dict[str, str]) -> list[Figure]:
    wx = group.wxpay
    figures = [
        _ratio_figure(group, m, wx, "bare", f"wxpay-mw ({wx} plugin) vs bare", group.bar, stages)
    ]
    if wx == "async":
        figures.append(
            _ratio_figure(
                group,
                m,
                "sync",
                "bare",
                "wxpay-mw (sync plugin) vs bare",
                group.bar,
                stages,
            )
        )
        figures[-1].ok = None  # reported beside; the bar is the async plugin's
        figures[-1].bar = "info"
    figures.append(
        _ratio_figure(
            group,
            m,
            wx,
            "by hand",
            f"wxpay-mw ({wx} plugin) vs by hand on wechatpy",
            BAR_BYHAND,
            stages,
        )
    )
    for hop in ("hop executor", "hop anyio"):
        if hop in group.variants:
            ratio = median(m.ratios(hop, "bare"))
            extra = median(m.cpu_us[hop]) - median(m.cpu_us["bare"])
            how = "loop.run_in_executor (WxPay.run_in_thread)" if "executor" in hop else (
                "anyio.to_thread.run_sync"
            )  # fmt: skip
            figures.append(
                Figure(
                    name=f"{group.label} ({group.where}): diagnostic, bare + one hop through "
                    f"{how}, req/s",
                    value=f"{median(m.rps[hop]):,.0f} (x{ratio:.2f} of bare, no hop); "
                    f"CPU/req {extra:+.0f} us",
                    note=f"before: {BEFORE.get((group.label, group.http, hop, 'bare'), '-')}; "
                    f"the hop costs {extra:+.0f} us of server CPU per request "
                    f"({median(m.cpu_us[hop]):.0f} vs {median(m.cpu_us['bare']):.0f}); "
                    f"{stages.get(hop, '')}",
                )
            )
    return figures


def _profile(
    group: Group, servers: dict[str, Server], spec: Path, tmp: Path, m: _Measured
) -> dict[str, str]:
    """Per-stage microseconds of the wxpay-mw variants (py-spy), by variant key."""
    out: dict[str, str] = {}
    for key in group.variants:
        if key == "bare":
            continue
        server = servers[key]
        path = tmp / f"pyspy-{group.label.split()[0]}-{group.http}-{key.replace(' ', '-')}.txt"
        with profiled(server.worker_pid(), path) as shares:
            _check(run_load(spec, server.port, 90), f"{key} profile", m.problems)
        got = shares()
        if "error" in got:
            out[key] = f"(no profile: {got['error']})"
        else:
            text = format_stages(got["shares"], median(m.cpu_us[key]))
            out[key] = f"{text} ({got['samples']} py-spy samples)"
    return out


def run(quick: bool = False) -> Section:
    reps = 3 if quick else 11
    per_run = 600 if quick else 2500
    per_profile = 1500 if quick else 4000
    warmup = 300
    groups = GROUPS
    section = Section(
        key="notify",
        title="Notification throughput per adapter",
        method=(
            "One worker process per server (uvicorn: 1 process, --http h11 and again "
            f"--http httptools; gunicorn: 1 gthread worker, {WSGI_THREADS} threads), every "
            "variant of a group running at the same time on 127.0.0.1: the bare endpoint "
            "(answers the SUCCESS XML), wxpay-mw with the in-memory plugin (hooks async "
            "def, and plain), the by-hand endpoint on wechatpy's parse_payment_result "
            "with the same in-memory update, and on raw ASGI bare + one no-op hop "
            "(loop.run_in_executor as the adapters do; anyio.to_thread). Load: "
            f"bench/_load.py (asyncio, {CONNECTIONS} keep-alive connections, no "
            "pipelining) in its own process, valid, distinct, MD5-signed notifications "
            f"for pre-created orders: {warmup} warm-up requests per server, then {reps} "
            f"repetitions x {per_run} requests, the variants back to back in rotating "
            "order. Req/s are medians; a ratio is the median of the per-repetition "
            "ratios. Server CPU/req: the worker process's user+system CPU time over a "
            "run / its requests (median). By stage: py-spy samples of the same server "
            f"over a further {per_profile} requests, shares x its CPU/req. Every answer is "
            "checked (SUCCESS, never FAIL)."
        ),
    )
    orders = warmup + reps * per_run + per_profile
    gen_cpu: list[float] = []
    section.figures += _inprocess.figures(quick)
    with tempfile.TemporaryDirectory(prefix="wxpay-bench-") as tmpdir:
        tmp = Path(tmpdir)
        warm = notify_spec(tmp, 0, warmup, "warmup.json", connections=CONNECTIONS)
        rep_specs = [
            notify_spec(tmp, warmup + r * per_run, per_run, f"rep{r}.json", connections=CONNECTIONS)
            for r in range(reps)
        ]
        profile_spec = notify_spec(
            tmp, orders - per_profile, per_profile, "profile.json", connections=CONNECTIONS
        )
        for group in groups:
            started = time.perf_counter()
            with contextlib.ExitStack() as stack:
                servers = {
                    key: stack.enter_context(
                        running(group.server, target, _env(key, orders), tmp, http=group.http)
                    )
                    for key, target in group.variants.items()
                }
                m = _measure(group, servers, warm, rep_specs)
                stages = _profile(group, servers, profile_spec, tmp, m)
            gen_cpu += m.gen_cpu
            section.figures += _figures(group, m, stages)
            section.notes.append(
                f"{group.label} ({group.where}): {time.perf_counter() - started:.0f} s; "
                + "; ".join(
                    f"{key} req/s {', '.join(f'{r:,.0f}' for r in m.rps[key])}"
                    for key in group.variants
                )
                + "."
            )
    if not fastapi_router():
        section.notes.append(
            "FastAPI router: not measured, wxpay_mw.adapters.fastapi or fastapi is not "
            "installed (pip install -e '.[fastapi]')."
        )
    section.notes.append(
        "The load generator used a median "
        f"{median(gen_cpu) * 100:.0f}% of one core while measuring, so it was not the "
        "limit (the server, on the other core, was)."
    )
    section.notes.append(
        "Stages: each py-spy sample goes to the innermost frame of a known place: HTTP "
        "server (uvicorn, h11/httptools, asyncio, gunicorn), framework (Starlette, Flask, "
        "Werkzeug), adapter (wxpay_mw.adapters), parse (xmlmsg, defusedxml; xmltodict for "
        "wechatpy), verify (signing, check_sign; wechatpy's calculate_signature), hooks "
        "(the bench plugin, pluggy, the async hook dispatch), flow and app glue (the rest "
        "of wxpay_mw), thread hop (concurrent.futures, the loop's executor and wake-up "
        "calls, anyio, threading; under gunicorn gthread that is its own hand-off of each "
        "request to a worker thread), endpoint (the bare or by-hand handler, wechatpy's "
        "other code). Sampling is statistical: stages under ~5 us are rough."
    )
    return section


def _check(result: dict[str, Any], what: str, problems: list[str]) -> None:
    if result["mismatched"] or result["errors"] or result["timed_out"]:
        problems.append(
            f"{what}: {result['mismatched']} wrong answers, {result['errors']} errors, "
            f"timed out {result['timed_out']}: {result['first_error'][:200]}"
        )
