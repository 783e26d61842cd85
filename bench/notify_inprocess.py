"""One notification through ``WxPayMiddleware`` in process: the adapter's and core's cost.

No server and no thread: the ASGI middleware over a raw ASGI app, with
:class:`~bench._apps.AsyncMinimalPlugin` (orders pre-created), is called directly on one
event loop with distinct, correctly signed notifications, each answer checked (SUCCESS).
Run on its own::

    .venv/bin/python -m bench.notify_inprocess            # 11 repetitions
    .venv/bin/python -m bench.notify_inprocess --reps 21 --per 2000
    .venv/bin/python -m bench.notify_inprocess --compare main

With ``--compare REF`` the same measure runs, interleaved, in a second interpreter whose
``wxpay_mw`` (and adapters) come from the git revision ``REF`` of this checkout, so that a
change is measured before and after side by side on a shared machine; each repetition is
a fresh interpreter (its first batch a discarded warm-up). It prints microseconds per
notification: the median over the repetitions (each the mean over ``--per``
notifications) and the fastest repetition.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["measure"]

_SUCCESS = b"<return_code><![CDATA[SUCCESS]]></return_code>"


def _scopes_and_bodies(count: int) -> list[tuple[dict[str, Any], bytes]]:
    from ._apps import order_fee, order_no
    from ._data import notification, notification_body

    out = []
    for i in range(count):
        body = notification_body(notification(order_no(i), order_fee(i), serial=i))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/wxpay/notify",
            "raw_path": b"/wxpay/notify",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"user-agent", b"Mozilla/4.0"),
                (b"content-type", b"text/xml"),
                (b"content-length", str(len(body)).encode()),
                (b"accept", b"*/*"),
            ],
            "client": ("127.0.0.1", 40000 + i % 20000),
            "server": ("127.0.0.1", 8000),
        }
        out.append((scope, body))
    return out


def measure(reps: int, per: int) -> list[float]:
    """Microseconds per notification, one figure per repetition."""
    from wxpay_mw.adapters.asgi import WxPayMiddleware

    from wxpay_mw.app import WxPay

    from . import _bare
    from ._apps import AsyncMinimalPlugin, config

    total = reps * per
    plugin = AsyncMinimalPlugin(total)
    app = WxPayMiddleware(_bare.asgi(), WxPay(config(), plugin), prefix="/wxpay")
    requests = _scopes_and_bodies(total)
    loop = asyncio.new_event_loop()

    async def batch(items: list[tuple[dict[str, Any], bytes]]) -> float:
        sent: list[Any] = []
        t0 = time.perf_counter()
        for scope, body in items:
            message = {"type": "http.request", "body": body, "more_body": False}

            async def receive(message: dict[str, Any] = message) -> dict[str, Any]:
                return message

            async def send(out: Any) -> None:
                sent.append(out)

            await app(scope, receive, send)
        elapsed = time.perf_counter() - t0
        # Two messages per answer, the second the body: every one must be SUCCESS.
        bodies = [m["body"] for m in sent if m["type"] == "http.response.body"]
        if len(bodies) != len(items) or not all(_SUCCESS in b for b in bodies):
            raise SystemExit("a notification was not answered SUCCESS: the figure is void")
        return elapsed / len(items) * 1e6

    try:
        figures = [
            loop.run_until_complete(batch(requests[i * per : (i + 1) * per])) for i in range(reps)
        ]
    finally:
        loop.close()
    return figures


def _child(reps: int, per: int) -> None:
    print(json.dumps(measure(reps, per)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=11)
    parser.add_argument("--per", type=int, default=1000)
    parser.add_argument("--compare", help="another checkout whose wxpay_mw to measure beside")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.reps, args.per)
        return
    if not args.compare:
        figures = measure(args.reps + 1, args.per)[1:]  # the first is the warm-up
        _print("this", figures)
        return
    here = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="wxpay-mw-bench-") as tmp:
        _export(here, args.compare, Path(tmp))
        roots = {args.compare: tmp, "this": ""}
        results: dict[str, list[float]] = {name: [] for name in roots}
        order = list(roots)
        for rep in range(args.reps):
            # One repetition per interpreter in turn, alternating who goes first.
            for name in order if rep % 2 == 0 else order[::-1]:
                code = (
                    "import sys; sys.path[:0] = [p for p in sys.argv[1:3] if p]; "
                    f"from bench.notify_inprocess import _child; _child(2, {args.per})"
                )
                out = subprocess.run(
                    [sys.executable, "-c", code, roots[name], str(here)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                results[name].append(json.loads(out)[-1])  # the first of 2 is the warm-up
    for name, values in results.items():
        _print(name, values)
    ratios = [o / t for o, t in zip(results[args.compare], results["this"], strict=True)]
    print(
        f"{args.compare} / this, median of per-repetition ratios: x{statistics.median(ratios):.3f}"
    )


def _print(name: str, values: list[float]) -> None:
    print(
        f"{name:>8}: median {statistics.median(values):.1f} us, best {min(values):.1f} us "
        f"per notification over {len(values)} repetitions"
    )


def _export(checkout: Path, ref: str, into: Path) -> None:
    """``wxpay_mw`` at ``ref`` under ``into``, with the adapters where they install."""
    archive = subprocess.run(
        ["git", "-C", str(checkout), "archive", ref, "wxpay_mw", "adapters"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "adapters").rename(into / "wxpay_mw" / "adapters")


if __name__ == "__main__":
    main()
