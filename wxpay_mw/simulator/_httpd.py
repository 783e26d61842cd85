"""A threaded wsgiref server that logs through ``logging`` and can drop a connection.

Connections are kept alive (HTTP/1.1), as WeChat's servers keep them: a pooled client
(requests, aiohttp) then sends call after call on one connection, as it does in
production, instead of opening one per call. A connection is closed after a request
whose body is chunked, has a malformed Content-Length or one over
:data:`MAX_KEPT_BODY`, after an answer without a Content-Length, an HTTP/1.0 request,
a ``Connection: close``, the "reset" fault, or ``_RequestHandler.timeout`` seconds idle.
"""

from __future__ import annotations

import io
import logging
import re
import socket
import socketserver
import ssl
import struct
from pathlib import Path
from typing import IO, Any, Final, cast
from wsgiref.headers import Headers
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from ._app import RESET_KEY
from ._tls import CLIENT_CERT_KEY, TLS_KEY

__all__ = ["BACKLOG", "MAX_KEPT_BODY", "ThreadingWSGIServer", "listen_backlog", "make_server"]

logger = logging.getLogger("wxpay_mw.simulator")

#: The listen backlog asked for: a benchmark or a load test of the host app opens hundreds
#: of connections at once, and every one beyond the backlog is dropped (the client's SYN
#: is retried a second later) or reset. The kernel caps it at net.core.somaxconn.
BACKLOG: Final = 1024
#: Request bodies up to this size are read before the app runs, so that the connection
#: can take the next request whatever the app read; a longer one closes the connection.
MAX_KEPT_BODY: Final = 1 << 20
_SOMAXCONN: Final = Path("/proc/sys/net/core/somaxconn")
_SECRET_IN_QUERY = re.compile(r"((?:^|[?&])secret=)[^&\s]*")


def listen_backlog(asked: int = BACKLOG) -> int:
    """The backlog the kernel grants for ``asked``: capped by net.core.somaxconn (Linux)."""
    try:
        return min(asked, int(_SOMAXCONN.read_text()))
    except (OSError, ValueError):
        return asked  # not Linux, or /proc unreadable: the kernel's cap is unknown


class _Handler(ServerHandler):
    #: Set by the "reset" fault; read after run(), when close() has dropped the environ.
    reset_connection = False
    #: Whether the connection may take another request; the request handler sets it
    #: before run(), and an answer whose end the client cannot tell clears it.
    keep_alive = False
    headers: Headers  # set by start_response (wsgiref's stubs leave it out)

    def cleanup_headers(self) -> None:
        super().cleanup_headers()  # sets Content-Length when the app gave one chunk
        if "Content-Length" not in self.headers:
            self.keep_alive = False  # the answer ends where the connection does
        if not self.keep_alive:
            self.headers["Connection"] = "close"

    def finish_response(self) -> None:
        # The "reset" fault: write nothing at all; the request handler then drops the
        # connection with an RST.
        environ: dict[str, Any] | None = getattr(self, "environ", None)
        if environ is not None and environ.get(RESET_KEY):
            self.reset_connection = True
            self.close()
            return
        super().finish_response()

    def log_exception(self, exc_info: Any) -> None:
        logger.error("simulator request failed", exc_info=exc_info)


class _RequestHandler(WSGIRequestHandler):
    # A client that opens a connection and sends nothing must not hold a thread forever.
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        # wsgiref writes every request to stderr; a library logs instead. The request line
        # of jscode2session carries the app secret in its query string: never log it.
        redacted = tuple(
            _SECRET_IN_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in args
        )
        logger.debug("%s " + format, self.address_string(), *redacted)

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, the body of every answer
    # on a kept connection waits for the client's delayed ACK (40 ms on Linux).
    disable_nagle_algorithm = True

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.handle_one_request()

    def handle_one_request(self) -> None:
        # wsgiref's own handle(), with our ServerHandler, plus the "reset" fault, once
        # per request on a kept connection.
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except OSError:  # idle past the timeout, or the client is gone
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        if self.request_version != "HTTP/1.1":
            self.close_connection = True
        stdin: io.BufferedIOBase = self.rfile
        length = self.headers.get("Content-Length", "0")
        if (
            "Transfer-Encoding" in self.headers
            or not (length.isascii() and length.isdigit())
            or int(length) > MAX_KEPT_BODY
        ):
            self.close_connection = True  # where the next request starts is unknown
        else:
            stdin = io.BytesIO(self.rfile.read(int(length)))
        environ = self.get_environ()
        # The request target as sent: v3 signs the URL undecoded, which PATH_INFO is not.
        environ["REQUEST_URI"] = self.path
        if isinstance(self.connection, ssl.SSLSocket):
            # The handshake is done (the request line was read through it): say whether
            # the client presented a certificate the test CA signed.
            environ["wsgi.url_scheme"] = "https"
            environ[TLS_KEY] = True
            environ[CLIENT_CERT_KEY] = bool(self.connection.getpeercert())
        handler = _Handler(
            stdin,
            cast(IO[bytes], self.wfile),
            self.get_stderr(),
            environ,
            multithread=True,
        )
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.keep_alive = not self.close_connection
        # HTTP/1.0 clients get HTTP/1.0 answers (and a closed connection), as before.
        handler.http_version = "1.1" if self.request_version == "HTTP/1.1" else "1.0"
        handler.run(self.server.get_app())  # type: ignore[attr-defined]
        if not handler.keep_alive or handler.reset_connection:
            self.close_connection = True
        if handler.reset_connection:
            # SO_LINGER 0: closing sends RST, the closest thing to a connection reset.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref's server, one daemon thread per request."""

    daemon_threads = True
    # socketserver's default backlog is 5: see BACKLOG.
    request_queue_size = BACKLOG
    #: Set for TLS: each accepted connection is wrapped; the handshake happens in the
    #: request's own thread, so a slow or failing client never holds up accepting.
    ssl_context: ssl.SSLContext | None = None

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        if self.ssl_context is None:
            return sock, address
        return self.ssl_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        ), address

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can hang for seconds on
        # machines without DNS; the simulator only needs the address it bound.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)
        self.setup_environ()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints tracebacks to stderr; clients hanging up is routine here.
        logger.debug("connection from %s failed", client_address, exc_info=True)


def make_server(
    host: str, port: int, app: Any, ssl_context: ssl.SSLContext | None = None
) -> ThreadingWSGIServer:
    """Bind (port 0: a free port) and return the server; serve_forever() starts it.

    With ``ssl_context`` it serves HTTPS.
    """
    server = ThreadingWSGIServer((host, port), _RequestHandler)
    server.ssl_context = ssl_context
    server.set_app(app)
    granted = listen_backlog()
    if granted < BACKLOG:
        logger.warning(
            "the listen backlog is capped at %d by net.core.somaxconn: raise it "
            "(sysctl -w net.core.somaxconn=%d) before opening hundreds of connections at once",
            granted,
            BACKLOG,
        )
    return server
