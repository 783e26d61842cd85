"""A threaded wsgiref server that logs through ``logging`` and can drop a connection."""

from __future__ import annotations

import logging
import re
import socket
import socketserver
import ssl
import struct
from pathlib import Path
from typing import IO, Any, Final, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from ._app import RESET_KEY
from ._tls import CLIENT_CERT_KEY, TLS_KEY

__all__ = ["BACKLOG", "ThreadingWSGIServer", "listen_backlog", "make_server"]

logger = logging.getLogger("wxpay_mw.simulator")

#: The listen backlog asked for: a benchmark or a load test of the host app opens hundreds
#: of connections at once, and every one beyond the backlog is dropped (the client's SYN
#: is retried a second later) or reset. The kernel caps it at net.core.somaxconn.
BACKLOG: Final = 1024
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

    def handle(self) -> None:
        # wsgiref's own handle(), with our ServerHandler, plus the "reset" fault.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
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
            self.rfile,
            cast(IO[bytes], self.wfile),
            self.get_stderr(),
            environ,
            multithread=True,
        )
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.run(self.server.get_app())  # type: ignore[attr-defined]
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
