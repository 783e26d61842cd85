"""Real HTTP servers on free ports, each in a thread, for ASGI and WSGI apps."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import uvicorn

__all__ = ["serve_asgi", "serve_wsgi"]


@contextmanager
def serve_asgi(app: Any, *, lifespan: str = "off") -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread; yields ``http://127.0.0.1:PORT``.

    The socket is bound before the server starts (port 0: the OS picks a free port), so
    there is no race for the port. The server is stopped and joined on exit.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # h11 and no websockets: only what every install has; no access log noise.
    config = uvicorn.Config(
        app,
        loop="asyncio",
        http="h11",
        ws="none",
        interface="asgi3",
        lifespan=lifespan,  # type: ignore[arg-type]
        # The peer address is the client's; no X-Forwarded-For trust in tests.
        proxy_headers=False,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn failed to start")
            thread.join(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # A thread per request, joined on server_close: concurrency tests need parallel
    # requests, and no thread may outlive the test.
    daemon_threads = False
    block_on_close = True
    # socketserver's default backlog of 5 resets bursts of concurrent connections.
    request_queue_size = 128


@contextmanager
def serve_wsgi(app: Callable[..., Any]) -> Iterator[str]:
    """Serve a WSGI app with a threading wsgiref server; yields ``http://127.0.0.1:PORT``."""
    server = make_server(
        "127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
