"""Prepay under a slow WeChat: 200 concurrent prepays while a trivial endpoint is probed.

The simulator (in this process, on its threaded stdlib server) gets 100 ms of latency on
``/sns/jscode2session`` and on ``/pay/unifiedorder``, so one prepay costs at least
0.2 s of waiting on WeChat. 200 prepay requests, each with its own wx.login code, are
sent at once over 200 connections to the app in one worker process: the ASGI middleware
with the async in-memory plugin (every hook ``async def``; the bar) and with the plain
one (reported beside), then the WSGI middleware under gunicorn. Meanwhile another
load process asks the same app's trivial ``GET /ping`` (outside wxpay-mw) every 5 ms,
and only the pings sent while the storm was running are counted.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from wxpay_mw.app import MAX_THREADS

from . import _load
from ._apps import APP_SECRET
from ._data import API_KEY, APPID, MCH_ID
from ._report import Figure, Section, median
from ._runner import finish_load, run_load, start_load
from ._servers import running

__all__ = ["run"]

CONCURRENCY = 200
LATENCY = 0.1
BAR_ALL = 0.5
BAR_P99_MS = 50.0
PROBE_INTERVAL = 0.005


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def _storm(sim: Any, tmp: Path, port: int, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One storm of prepays with the probe running; (storm result, probe result)."""
    warm = [
        _load.build_request(
            "POST", "/wxpay/prepay", json.dumps({"code": sim.login(user=f"warm{i}")}).encode(),
            ctype="application/json",
        )
        for i in range(4)
    ]  # fmt: skip
    warm_path = tmp / f"{name}-warm.json"
    _load.write_spec(
        _load.LoadSpec("127.0.0.1", port, warm, connections=4, expect=b"paySign"), str(warm_path)
    )
    run_load(warm_path, port, 60)
    requests = [
        _load.build_request(
            "POST", "/wxpay/prepay", json.dumps({"code": sim.login(user=f"{name}{i}")}).encode(),
            ctype="application/json",
        )
        for i in range(CONCURRENCY)
    ]  # fmt: skip
    storm_path = tmp / f"{name}-storm.json"
    _load.write_spec(
        _load.LoadSpec(
            "127.0.0.1", port, requests, connections=CONCURRENCY, time_limit=60.0,
            expect=b"paySign",
        ),
        str(storm_path),
    )  # fmt: skip
    probe_path = tmp / f"{name}-probe.json"
    pings = [_load.build_request("GET", "/ping")] * 4000
    _load.write_spec(
        _load.LoadSpec(
            "127.0.0.1", port, pings, connections=1, time_limit=5.0, expect=b"ok",
            interval=PROBE_INTERVAL, samples=True,
        ),
        str(probe_path),
    )  # fmt: skip
    probe = start_load(probe_path, port)
    try:
        time.sleep(1.0)  # the probe is up and has a baseline before the storm
        storm = run_load(storm_path, port, 120)
    finally:
        # The probe ends at its own time limit; do not wait for it longer than that.
        probe_result = finish_load(probe, 40)
    return storm, probe_result


def _probe_during(storm: dict[str, Any], probe: dict[str, Any]) -> list[float]:
    return [
        latency * 1000
        for wall, latency in probe["samples"]
        if storm["wall_start"] <= wall <= storm["wall_end"]
    ]


def _simulator_alone(
    sim: Any, tmp: Path, port: int, count: int = CONCURRENCY, connections: int = CONCURRENCY
) -> dict[str, Any]:
    """``count`` jscode2session calls straight to the simulator, ``connections`` at once."""
    requests = [
        _load.build_request(
            "GET",
            "/sns/jscode2session?"
            + urlencode(
                {
                    "appid": APPID,
                    "secret": APP_SECRET,
                    "js_code": sim.login(user=f"alone{connections}x{i}"),
                    "grant_type": "authorization_code",
                }
            ),
        )
        for i in range(count)
    ]
    path = tmp / f"sim-alone-{connections}.json"
    spec = _load.LoadSpec("127.0.0.1", port, requests, connections=connections, expect=b"openid")
    _load.write_spec(spec, str(path))
    return run_load(path, port, 60)


def run(quick: bool = False) -> Section:
    from wxpay_mw.simulator import Merchant, run_simulator

    section = Section(
        key="prepay",
        title="Prepay under a slow WeChat (100 ms per call)",
        method=(
            f"The simulator with {LATENCY * 1000:.0f} ms latency injected on "
            "/sns/jscode2session and /pay/unifiedorder (two WeChat calls per prepay). "
            f"{CONCURRENCY} prepay requests sent at once over {CONCURRENCY} connections "
            "to the app in one worker process (uvicorn, h11), with default settings (WxPay "
            "and the adapter untouched); the ASGI middleware with the async in-memory "
            "plugin (the bar) and with the plain one. A second load process probes "
            f"GET /ping every {PROBE_INTERVAL * 1000:.0f} ms throughout; its latencies "
            "sent during the storm are reported. Every prepay answer is checked for "
            "paySign. 4 warm-up prepays first."
        ),
    )
    merchant = Merchant(appid=APPID, mch_id=MCH_ID, api_key=API_KEY, app_secret=APP_SECRET)
    wsgi_threads = [64] if quick else [16, 64]
    reps = 1 if quick else 3
    with (
        tempfile.TemporaryDirectory(prefix="wxpay-bench-") as tmpdir,
        run_simulator(merchant) as sim,
    ):
        tmp = Path(tmpdir)
        sim.add_fault("/sns/jscode2session", "latency", seconds=LATENCY)
        sim.add_fault("/pay/unifiedorder", "latency", seconds=LATENCY)
        sim_port = int(sim.base_url.rsplit(":", 1)[1])
        for plugin, judged in (("amemory", True), ("memory", False)):
            section.figures += _asgi_storms(sim, tmp, plugin, judged, reps)
        env = {"BENCH_PLUGIN": "memory", "BENCH_API_BASE": sim.base_url}
        for threads in wsgi_threads:
            with running("gunicorn", "bench._apps:wsgi", env, tmp, threads=threads) as server:
                storm, probe = _storm(sim, tmp, server.port, f"wsgi{threads}")
            during = _probe_during(storm, probe)
            section.figures.append(
                Figure(
                    name=f"WSGI middleware (gunicorn gthread, {threads} threads): "
                    f"{CONCURRENCY} prepays done in",
                    value=f"{storm['elapsed']:.2f} s (ping p99 {_pct(during, 0.99):.0f} ms)",
                    note=f"answers {storm['statuses']}, wrong {storm['mismatched']}; a "
                    f"threaded server overlaps at most {threads} WeChat waits: about "
                    f"{CONCURRENCY / threads * 2 * LATENCY:.1f} s of waiting at best",
                )
            )
        alone = _simulator_alone(sim, tmp, sim_port)
        section.figures.append(
            Figure(
                name=f"Simulator alone: {CONCURRENCY} concurrent jscode2session (100 ms)",
                value=f"{alone['elapsed']:.2f} s (slowest {alone['max_ms']:.0f} ms)",
                note=f"answers {alone['statuses']}, errors {alone['errors']}; the floor "
                "for one call fully overlapped is 0.10 s",
            )
        )
        calls = CONCURRENCY * 2
        paced = _simulator_alone(sim, tmp, sim_port, calls, MAX_THREADS)
        floor = calls * LATENCY / MAX_THREADS
        section.figures.append(
            Figure(
                name=f"Simulator alone: {calls} jscode2session, {MAX_THREADS} at a time "
                "(as the app calls it)",
                value=f"{paced['elapsed']:.2f} s (floor {floor:.2f} s)",
                note=f"answers {paced['statuses']}, errors {paced['errors']}: the WeChat "
                "calls of one storm at the app's concurrency, straight to the simulator; "
                "near the floor, the simulator is not what the storm waits on",
            )
        )
    section.notes.append(
        "Without an async WeChat client (WxPay's aclient) the ASGI adapters make every "
        "WeChat call in the WxPay object's worker threads (a ThreadPoolExecutor of "
        f"wxpay_mw.app.MAX_THREADS = {MAX_THREADS}, through loop.run_in_executor), with "
        "async hooks as with plain ones: at most that many calls wait on WeChat at once, "
        f"so {CONCURRENCY} prepays x 2 calls x {LATENCY:.1f} s / {MAX_THREADS} = "
        f"{CONCURRENCY * 2 * LATENCY / MAX_THREADS:.1f} s is the floor with default "
        "settings; the event loop itself never waits, which is what the ping probe shows."
    )
    section.notes.append(
        "The simulator is a threaded stdlib server (a thread per connection) with a listen "
        f"backlog of {_backlog()} (kernel somaxconn {_somaxconn()}): the app opens at most "
        f"{MAX_THREADS} connections to it at once, far below that; 'Simulator alone' "
        f"opens {CONCURRENCY} at once, and a backlog under {CONCURRENCY} shows there as "
        "connections retried after the kernel's 1 s SYN timeout."
    )
    return section


def _backlog() -> int:
    from wxpay_mw.simulator import _httpd

    return int(_httpd.ThreadingWSGIServer.request_queue_size)


def _somaxconn() -> str:
    try:
        return Path("/proc/sys/net/core/somaxconn").read_text(encoding="utf-8").strip()
    except OSError:
        return "unknown"


def _asgi_storms(sim: Any, tmp: Path, plugin: str, judged: bool, reps: int) -> list[Figure]:
    """``reps`` storms against the ASGI middleware with ``plugin``; its two figures."""
    env = {"BENCH_PLUGIN": plugin, "BENCH_API_BASE": sim.base_url}
    kind = "async" if plugin == "amemory" else "sync"
    storms: list[dict[str, Any]] = []
    p99s: list[float] = []
    pings: list[float] = []
    with running("uvicorn", "bench._apps:asgi", env, tmp) as server:
        for rep in range(reps):
            storm, probe = _storm(sim, tmp, server.port, f"asgi{kind}{rep}x")
            during = _probe_during(storm, probe)
            storms.append(storm)
            p99s.append(_pct(during, 0.99) if during and not probe["mismatched"] else 1e9)
            pings += during
    elapsed = [s["elapsed"] for s in storms]
    ok_all = all(
        s["done"] == CONCURRENCY and not s["mismatched"] and not s["errors"] for s in storms
    )
    worst = max(storms, key=lambda s: s["elapsed"])
    p99 = median(p99s)
    where = f"ASGI middleware (uvicorn h11, {kind} plugin)"
    return [
        Figure(
            name=f"{where}: {CONCURRENCY} concurrent prepays, all done in",
            value=f"{median(elapsed):.2f} s median of {reps} (runs "
            + ", ".join(f"{e:.2f}" for e in elapsed)
            + ")",
            bar=f"all {CONCURRENCY} OK within {BAR_ALL} s" if judged else "info",
            ok=(ok_all and median(elapsed) <= BAR_ALL) if judged else None,
            note="before: 1.26 s (sync hooks, CoreRunner; results.md, 2026-11-27); "
            f"slowest run: answers {worst['statuses']}, wrong {worst['mismatched']}, "
            f"errors {worst['errors']}, p50 {worst['p50_ms']:.0f} ms, slowest "
            f"{worst['max_ms']:.0f} ms {worst['first_error'][:120]}",
        ),
        Figure(
            name=f"{where}: GET /ping p99 during the storm",
            value=f"{p99:.1f} ms median of {reps} (runs "
            + ", ".join(f"{p:.0f}" for p in p99s)
            + f"; max {max(pings, default=float('nan')):.0f} ms, {len(pings)} pings)",
            bar=f"p99 <= {BAR_P99_MS:.0f} ms" if judged else "info",
            ok=p99 <= BAR_P99_MS if judged else None,
            note="before: 23.7 ms (sync hooks; results.md, 2026-11-27); pings sent "
            "between each storm's first and last request",
        ),
    ]
