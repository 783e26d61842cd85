"""Real server processes on 127.0.0.1: start, wait until they answer, always kill.

Each server runs in its own session (process group) so that ``stop`` ends the server
and any workers it forked, and nothing else. ``running`` is a context manager: the
group is killed on the way out even when the benchmark fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SERVERS", "Server", "free_port", "running", "server_command"]

ROOT = Path(__file__).resolve().parent.parent

#: The WSGI servers run one worker process with this many threads; uvicorn one process.
WSGI_THREADS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(
    kind: str, target: str, port: int, *, threads: int = WSGI_THREADS, http: str = "h11"
) -> list[str]:
    """The command line serving ``target`` (``module:factory``) with server ``kind``.

    ``uvicorn``: one process, no reload, no access log, HTTP parser ``http`` (``h11`` or
    ``httptools``; named, so that installing httptools does not change what the other
    figures measure). ``gunicorn``: one gthread worker (keep-alive
    capable; the sync worker closes every connection). ``waitress``: one process,
    ``threads`` threads.
    """
    py = sys.executable
    if kind == "uvicorn":
        return [
            py, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log",
            "--http", http,
        ]  # fmt: skip
    if kind == "gunicorn":
        module, _, factory = target.partition(":")
        return [
            py, "-m", "gunicorn", "--workers", "1", "--worker-class", "gthread",
            "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--log-level",
            "warning", "--keep-alive", "30", "--backlog", "2048", f"{module}:{factory}()",
        ]  # fmt: skip
    if kind == "waitress":
        return [
            py, "-m", "waitress", "--host", "127.0.0.1", "--port", str(port),
            f"--threads={threads}", "--connection-limit=1000", "--backlog=2048",
            "--channel-timeout=60", "--call", target,
        ]  # fmt: skip
    raise ValueError(f"unknown server kind {kind!r}")


SERVERS = ("uvicorn", "gunicorn", "waitress")


@dataclass
class Server:
    """A started server: its port, its process and the log it writes."""

    kind: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    _worker: Any = None

    def worker_pid(self) -> int:
        """The pid that handles requests (gunicorn's one worker, else the process)."""
        if self.kind != "gunicorn":
            return self.proc.pid
        import psutil

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            children = psutil.Process(self.proc.pid).children()
            if children:
                return int(children[0].pid)
            time.sleep(0.05)
        raise RuntimeError("gunicorn started no worker")

    def cpu_seconds(self) -> float:
        """CPU seconds the request-handling process's live threads have used so far.

        Read from each thread's ``/proc/PID/task/TID/schedstat`` (nanoseconds): psutil's
        user + system times tick in 10 ms steps, too coarse for a run of a second; where
        there is no schedstat, psutil it is.
        """
        if self._worker is None:
            self._worker = self.worker_pid()
        tasks = Path(f"/proc/{self._worker}/task")
        try:
            total = 0
            for task in tasks.iterdir():
                with contextlib.suppress(FileNotFoundError):  # a thread that just ended
                    total += int((task / "schedstat").read_text().split()[0])
            return total / 1e9
        except OSError:
            import psutil

            times = psutil.Process(self._worker).cpu_times()
            return float(times.user + times.system)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _wait_ready(server: Server, path: str, timeout: float) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.kind} exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError as exc:
            last = repr(exc)
            time.sleep(0.1)
    raise RuntimeError(f"{server.kind} did not answer within {timeout} s ({last})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@contextlib.contextmanager
def running(
    kind: str,
    target: str,
    env: Mapping[str, str],
    log_dir: Path,
    *,
    threads: int = WSGI_THREADS,
    http: str = "h11",
    ready_path: str = "/health",
    timeout: float = 30.0,
) -> Iterator[Server]:
    """Start ``target`` under server ``kind`` with ``env`` added; kill it on exit."""
    port = free_port()
    log = log_dir / f"{kind}-{target.replace(':', '.')}-{port}.log"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            server_command(kind, target, port, threads=threads, http=http),
            cwd=ROOT,
            env=full_env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(kind, port, proc, log)
    try:
        _wait_ready(server, ready_path, timeout)
        yield server
    finally:
        _stop(proc)
