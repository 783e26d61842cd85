"""Run the load generator as a separate process and collect its JSON result."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import _load
from ._apps import order_fee, order_no
from ._data import notification, notification_body
from ._servers import ROOT

__all__ = ["finish_load", "run_load", "start_load"]


def _command(spec_path: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "bench._load", str(spec_path), str(port)]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def run_load(spec_path: Path, port: int, timeout: float) -> dict[str, Any]:
    """Run one load process to completion; its result plus the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        _command(spec_path, port),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def start_load(spec_path: Path, port: int) -> subprocess.Popen[str]:
    """Start a load process without waiting (read its stdout when it ends)."""
    return subprocess.Popen(
        _command(spec_path, port),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish_load(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    """Wait for a started load process; kill it if it overruns."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"load generator ran over {timeout} s and was killed") from None
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {err[-2000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def notify_spec(
    tmp: Path,
    start: int,
    count: int,
    name: str,
    *,
    connections: int = 16,
    time_limit: float = 60.0,
    record_latency: bool = True,
) -> Path:
    """A load spec file of ``count`` distinct, signed notifications for orders ``start``..."""
    requests = [
        _load.build_request(
            "POST",
            "/wxpay/notify",
            notification_body(notification(order_no(i), order_fee(i), serial=i)),
            ctype="text/xml",
        )
        for i in range(start, start + count)
    ]
    path = tmp / name
    _load.write_spec(
        _load.LoadSpec(
            "127.0.0.1",
            0,
            requests,
            connections=connections,
            time_limit=time_limit,
            expect=b"SUCCESS",
            reject=b"FAIL",
            record_latency=record_latency,
        ),
        str(path),
    )
    return path
