"""A load generator, run in its own process: asyncio over keep-alive connections.

``python -m bench._load SPEC.json`` reads a spec (host, port, requests to send, number of
connections, a time limit) and prints one JSON line with what happened: requests sent,
answers by status, bodies that did not match, elapsed seconds and latency percentiles.

Every request is built as bytes up front; each connection sends one request, reads the
answer (Content-Length framed), then sends the next: HTTP/1.1 keep-alive, no
pipelining. If the server closes a connection (some WSGI servers do after each answer),
the connection is reopened and the request counted once. It is bounded in both count and
time: it stops at the last request or at the deadline, whichever comes first.

wrk is faster, but it is not always installed; this one needs nothing but Python, and on
the machine it runs on it is measured against a trivial server (see notify_throughput)
so that its own ceiling is known.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoadSpec", "build_request", "main"]


def build_request(
    method: str, path: str, body: bytes = b"", *, host: str = "127.0.0.1", ctype: str = ""
) -> bytes:
    """One HTTP/1.1 keep-alive request as bytes."""
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    if body or method in ("POST", "PUT"):
        head.append(f"Content-Length: {len(body)}")
    if ctype:
        head.append(f"Content-Type: {ctype}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class LoadSpec:
    """What to send: requests (raw bytes, hex in JSON) and how hard."""

    host: str
    port: int
    requests: list[bytes]
    connections: int = 16
    time_limit: float = 30.0
    expect: bytes = b""  # a substring every answer body must contain, if set
    reject: bytes = b""  # a substring no answer body may contain, if set
    record_latency: bool = True
    #: Seconds each connection waits between an answer and its next request (a probe).
    interval: float = 0.0
    #: Keep (wall-clock send time, latency) of every request, to cut a time window.
    samples: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class _Conn(asyncio.Protocol):
    """One keep-alive connection: send a request, parse the answer, send the next.

    A Protocol rather than streams: the generator must be much faster than the servers
    it measures, and coroutine-per-read costs more than the servers' own parsing.
    """

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.index = -1
        self.t0 = 0.0
        self.wall = 0.0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.send_next()

    def send_next(self) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        self.index = self.run.take()
        if self.index < 0:
            self.transport.close()
            return
        self.t0 = time.perf_counter()
        self.wall = time.time()
        self.transport.write(self.run.spec.requests[self.index])

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            length, close, status = _parse_head(head)
            total = end + 4 + length
            if len(self.buf) < total:
                return
            body = bytes(self.buf[end + 4 : total])
            del self.buf[:total]
            self.run.record(status, body, time.perf_counter() - self.t0, self.wall)
            self.index = -1
            if close:
                assert self.transport is not None
                self.transport.close()
                return
            if self.run.spec.interval:
                asyncio.get_running_loop().call_later(self.run.spec.interval, self.send_next)
            else:
                self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.index >= 0:
            # The server closed before answering: send this request again elsewhere.
            self.run.retry(self.index, exc)
        if not self.closed.done():
            self.closed.set_result(None)


def _parse_head(head: bytes) -> tuple[int, bool, int]:
    lines = head.split(b"\r\n")
    version, status_text = lines[0].split(b" ", 2)[:2]
    status = int(status_text)
    length = 0
    # HTTP/1.0 (wsgiref, the simulator) closes after each answer unless it says otherwise.
    close = version == b"HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = b"close" in value.lower()
        elif name == b"transfer-encoding":
            raise ValueError("chunked answers are not supported by this generator")
    return length, close, status


class _Run:
    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.next = 0
        self.retries: list[int] = []
        self.attempts: dict[int, int] = {}
        self.statuses: dict[int, int] = {}
        self.latencies: list[float] = []
        self.samples: list[tuple[float, float]] = []
        self.mismatched = 0
        self.errors = 0
        self.reconnects = 0
        self.first_error = ""
        self.deadline = time.perf_counter() + spec.time_limit

    def take(self) -> int:
        if time.perf_counter() > self.deadline:
            return -1
        if self.retries:
            return self.retries.pop()
        if self.next >= len(self.spec.requests):
            return -1
        self.next += 1
        return self.next - 1

    def record(self, status: int, body: bytes, latency: float, wall: float) -> None:
        spec = self.spec
        if spec.record_latency:
            self.latencies.append(latency)
        if spec.samples:
            self.samples.append((wall, latency))
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if (spec.expect and spec.expect not in body) or (spec.reject and spec.reject in body):
            self.mismatched += 1
            if not self.first_error:
                self.first_error = f"{status}: {body[:300]!r}"

    def retry(self, index: int, exc: Exception | None) -> None:
        self.attempts[index] = self.attempts.get(index, 0) + 1
        if self.attempts[index] >= 3:
            self.errors += 1
            if not self.first_error:
                self.first_error = f"connection lost 3 times: {exc!r}"
        else:
            self.retries.append(index)

    def more(self) -> bool:
        return time.perf_counter() <= self.deadline and (
            bool(self.retries) or self.next < len(self.spec.requests)
        )


async def _connection(run: _Run) -> None:
    loop = asyncio.get_running_loop()
    first = True
    while run.more():
        if not first:
            run.reconnects += 1
        first = False
        try:
            _, proto = await loop.create_connection(
                lambda: _Conn(run), run.spec.host, run.spec.port
            )
        except OSError as exc:
            run.errors += 1
            if not run.first_error:
                run.first_error = repr(exc)
            await asyncio.sleep(0.05)
            continue
        await proto.closed


async def _run(spec: LoadSpec) -> dict[str, Any]:
    run = _Run(spec)
    wall_start = time.time()
    start = time.perf_counter()
    await asyncio.gather(*(_connection(run) for _ in range(spec.connections)))
    elapsed = time.perf_counter() - start
    wall_end = time.time()
    done = sum(run.statuses.values())
    latencies = sorted(run.latencies)

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "sent": done + run.errors,
        "done": done,
        "statuses": {str(k): v for k, v in run.statuses.items()},
        "mismatched": run.mismatched,
        "errors": run.errors,
        "reconnects": run.reconnects,
        "elapsed": elapsed,
        "rps": done / elapsed if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "first_error": run.first_error,
        "timed_out": done + run.errors < len(spec.requests),
        "wall_start": wall_start,
        "wall_end": wall_end,
        "samples": run.samples,
    }


def write_spec(spec: LoadSpec, path: str) -> None:
    """Save a spec for the load process (requests hex-encoded)."""
    data = {
        "host": spec.host,
        "port": spec.port,
        "requests": [r.hex() for r in spec.requests],
        "connections": spec.connections,
        "time_limit": spec.time_limit,
        "expect": spec.expect.hex(),
        "reject": spec.reject.hex(),
        "record_latency": spec.record_latency,
        "interval": spec.interval,
        "samples": spec.samples,
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


def read_spec(path: str) -> LoadSpec:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return LoadSpec(
        host=data["host"],
        port=data["port"],
        requests=[bytes.fromhex(r) for r in data["requests"]],
        connections=data["connections"],
        time_limit=data["time_limit"],
        expect=bytes.fromhex(data["expect"]),
        reject=bytes.fromhex(data["reject"]),
        record_latency=data["record_latency"],
        interval=data.get("interval", 0.0),
        samples=data.get("samples", False),
    )


def main(argv: list[str]) -> int:
    """``SPEC.json [PORT]``: run the spec (against PORT if given), print the JSON result."""
    spec = read_spec(argv[0])
    if len(argv) > 1:
        spec.port = int(argv[1])
    result = asyncio.run(_run(spec))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
