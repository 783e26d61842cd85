"""Real multi-process servers running tests/reliability/_app.py, and the test databases.

``run_server("uvicorn" | "gunicorn", env=..., shared=...)`` starts the server in its own
process group with ``workers`` worker processes, waits until every worker has imported
the app and the server answers, and on exit stops the whole group (SIGTERM, then
SIGKILL): no process outlives the test. Its output goes to ``shared/server.log``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.pg import pg_schema_url
from wxpay_mw.simulator import Merchant

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


@dataclass
class ServerProcess:
    """A running server: its base URL, its process (group leader) and shared directory."""

    kind: str
    base: str
    proc: subprocess.Popen[bytes]
    shared: Path

    def url(self, path: str) -> str:
        return f"{self.base}/wxpay{path}"

    def worker_pids(self) -> set[int]:
        """The pids of the workers that have imported the app."""
        return {int(p.name.removeprefix("ready-")) for p in self.shared.glob("ready-*")}

    def output(self) -> str:
        log = self.shared / "server.log"
        return log.read_text("utf-8", "replace") if log.exists() else ""

    def reactions(self) -> list[str]:
        """One line per paid reaction that ran (``out_trade_no transaction_id pid``)."""
        path = self.shared / "reactions"
        return path.read_text("utf-8").splitlines() if path.exists() else []


def merchant_env(
    merchant: Merchant, db_url: str, api_base: str = "http://127.0.0.1:9"
) -> dict[str, str]:
    """The environment that configures tests/reliability/_app.py for ``merchant``.

    WeChat is at ``api_base`` (default: a closed port); the notify_url is the server's own.
    """
    return {
        "WXPAY_APPID": merchant.appid,
        "WXPAY_MCH_ID": merchant.mch_id,
        "WXPAY_API_KEY": merchant.api_key,
        "WXPAY_APP_SECRET": merchant.app_secret,
        "WXPAY_NOTIFY_URL": "{server}/wxpay/notify",
        "WXPAY_API_BASE": api_base,
        "WXPAY_LOGIN_BASE": api_base,
        "WXPAY_TEST_DB_URL": db_url,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _command(kind: str, workers: int, port: int) -> list[str]:
    if kind == "uvicorn":
        return [
            sys.executable, "-m", "uvicorn", "tests.reliability._app:asgi_app",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--lifespan", "off", "--no-access-log", "--log-level", "warning",
            "--http", "h11", "--loop", "asyncio",
        ]  # fmt: skip
    if kind == "gunicorn":
        return [
            sys.executable, "-m", "gunicorn", "tests.reliability._app:wsgi_app",
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--worker-class", "gthread", "--threads", "8", "--log-level", "warning",
            "--graceful-timeout", "2",
        ]  # fmt: skip
    raise ValueError(kind)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            # The leader is gone; make sure no worker of its group lingers either.
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def run_server(
    kind: str, *, env: dict[str, str], shared: Path, workers: int = 4
) -> Iterator[ServerProcess]:
    """Run ``kind`` with ``workers`` processes serving the test app; yields it when ready.

    ``{server}`` in an ``env`` value is replaced by the server's base URL.
    """
    shared.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **env, "WXPAY_TEST_DIR": str(shared), "PYTHONPATH": str(ROOT)}
    for attempt in range(3):
        port = _free_port()
        # "{server}" in a value stands for the server's own base URL (a notify_url).
        base = f"http://127.0.0.1:{port}"
        proc_env = {k: v.replace("{server}", base) for k, v in full_env.items()}
        log = open(shared / "server.log", "ab")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            _command(kind, workers, port),
            cwd=ROOT,
            env=proc_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        server = ServerProcess(kind, base, proc, shared)
        try:
            if _wait_ready(server, workers):
                yield server
                return
        finally:
            _stop(proc)
        # The port was taken between choosing and binding it: try another.
        if "address already in use" not in server.output().lower() or attempt == 2:
            raise RuntimeError(f"{kind} did not start:\n{server.output()[-4000:]}")
    raise AssertionError("unreachable")


def _wait_ready(server: ServerProcess, workers: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return False
        if len(server.worker_pids()) >= workers:
            try:
                answer = requests.get(server.url("/orders/none"), timeout=5)
                if answer.status_code == 404:
                    return True
            except requests.ConnectionError:
                pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.kind} not ready in {START_TIMEOUT}s:\n{server.output()[-4000:]}")


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh reference-store database URL: a SQLite file, or a PostgreSQL schema."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp}/orders.db"
        return
    with pg_schema_url("wxpay_rel") as url:
        yield url
