"""A client that leaves mid-body, under the async adapters on a real uvicorn server.

Nothing is handled (no hook runs), nothing is answered, and nothing is logged: a
dropped connection is routine on the internet, not a server error. The ASGI middleware
and the Starlette routes must behave alike.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.support import AsyncMemoryStore, MemoryStore, serve_asgi
from wxpay_mw import WxPay
from wxpay_mw.simulator import Merchant

from .conftest import ASYNC_STYLES, PREFIX, build_app

WAIT = 10.0


class Records(logging.Handler):
    """Every log record at WARNING or above, from any logger it is attached to."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()} (exc_info={bool(r.exc_info)})" for r in self.records]


@dataclass
class Watched:
    """Wraps the host app: records each request's end, and what escaped from the app."""

    app: Any
    done: list[tuple[str, BaseException | None]] = field(default_factory=list)
    ended: threading.Condition = field(default_factory=threading.Condition)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        escaped: BaseException | None = None
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            escaped = exc
            raise
        finally:
            if scope["type"] == "http":
                with self.ended:
                    self.done.append((scope["path"], escaped))
                    self.ended.notify_all()

    def wait_for(self, count: int) -> None:
        with self.ended:
            assert self.ended.wait_for(lambda: len(self.done) >= count, WAIT), self.done


@dataclass
class Server:
    base: str
    port: int
    store: MemoryStore
    watched: Watched
    log: Records


@pytest.fixture(params=["asgi-middleware", "starlette-mount", *ASYNC_STYLES])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    store = AsyncMemoryStore() if request.param.endswith("+async") else MemoryStore()
    config = Merchant().as_config(notify_url="http://127.0.0.1:9/wxpay/notify")
    with WxPay(config, store) as wxpay:
        app, _ = build_app(request.param, wxpay)
        watched = Watched(app)
        with serve_asgi(watched) as base:
            # uvicorn's own loggers do not propagate to the root: watch them and the root
            # (asyncio's "exception never retrieved", wxpay_mw's own) once it has started.
            log = Records()
            watched_loggers = [logging.getLogger("uvicorn"), logging.getLogger()]
            for logger in watched_loggers:
                logger.addHandler(log)
            try:
                yield Server(base, int(base.rsplit(":", 1)[1]), store, watched, log)
            finally:
                for logger in watched_loggers:
                    logger.removeHandler(log)


def _leave_mid_body(port: int, path: str, chunked: bool) -> None:
    """Send the headers and part of the body, then close the connection."""
    framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: 1000\r\n"
    part = b"<xml><return_code><![CDATA[SUCC"
    if chunked:
        part = b"%x\r\n%s\r\n" % (len(part), part)
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(
            b"POST " + path.encode() + b" HTTP/1.1\r\nHost: shop\r\n"
            b"Content-Type: text/xml\r\n" + framing + b"\r\n" + part
        )


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", ["/notify", "/prepay", "/refund-notify"])
def test_a_client_leaving_mid_body_is_not_an_error(
    server: Server, path: str, chunked: bool
) -> None:
    _leave_mid_body(server.port, PREFIX + path, chunked)
    server.watched.wait_for(1)

    assert server.watched.done == [(PREFIX + path, None)], "an exception escaped the app"
    assert server.log.lines() == []
    assert server.store.calls == [], "a request whose body never arrived was handled"
    # The server carries on: a complete request is answered as usual (FAIL, 400, 415).
    answer = requests.post(f"{server.base}{PREFIX}{path}", data=b"<xml>", timeout=WAIT)
    assert answer.status_code in (200, 400, 415), answer.text
