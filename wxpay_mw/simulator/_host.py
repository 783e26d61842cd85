"""Serve a host's own ASGI or WSGI app on a real port, for tests against the simulator.

The port is bound before the app exists, because the app's configuration must already
name it: the simulator POSTs notifications to the ``notify_url`` the app sends with each
order. So: make a :class:`HostServer`, build the app with :meth:`HostServer.config`,
then :meth:`HostServer.serve` it. ASGI apps run under uvicorn on a thread, WSGI apps
under wsgiref (a thread per request). The ``wxpay_host`` pytest fixture wraps this.
"""

from __future__ import annotations

import contextlib
import inspect
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from ._httpd import BACKLOG, ThreadingWSGIServer, _RequestHandler

if TYPE_CHECKING:
    from ..config import WxPayConfig
    from ._server import Simulator

__all__ = ["HostServer"]

_START_TIMEOUT: Final = 30.0


def is_asgi(app: Any) -> bool:
    """Whether ``app`` is an ASGI app (an async callable), not a WSGI one."""
    if inspect.iscoroutinefunction(app):
        return True
    return callable(app) and inspect.iscoroutinefunction(type(app).__call__)


class _WSGIOnSocket(ThreadingWSGIServer):
    """wsgiref on a socket that is already bound."""

    def __init__(self, sock: socket.socket, app: Any) -> None:
        self._bound = sock
        super().__init__(sock.getsockname()[:2], _RequestHandler)
        self.set_app(app)

    def server_bind(self) -> None:
        self.socket.close()
        self.socket = self._bound
        host, port = self.socket.getsockname()[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()


class HostServer:
    """One host app on a real port of ``host``, its notify URLs pointed at by the config.

    ``notify_path`` and ``refund_notify_path`` are where the app serves WeChat's
    notifications (wxpay-mw's defaults under ``/wxpay``).
    """

    def __init__(
        self,
        simulator: Simulator,
        *,
        host: str = "127.0.0.1",
        notify_path: str = "/wxpay/notify",
        refund_notify_path: str = "/wxpay/refund-notify",
    ) -> None:
        self.simulator = simulator
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        port = self._sock.getsockname()[1]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        self.notify_url = self.url + notify_path
        self.refund_notify_url = self.url + refund_notify_path
        self._stop: Any = None
        self._thread: threading.Thread | None = None

    def config(self, **overrides: Any) -> WxPayConfig:
        """The simulator's merchant, pointed at the simulator, notified at this server."""
        overrides.setdefault("refund_notify_url", self.refund_notify_url)
        return self.simulator.config(notify_url=self.notify_url, **overrides)

    def serve(self, app: Any, *, interface: str = "auto") -> str:
        """Serve ``app`` (``interface``: "asgi", "wsgi" or "auto") until :meth:`stop`; the URL."""
        if self._thread is not None:
            raise RuntimeError("this server already serves an app: use another wxpay_host")
        if interface not in ("auto", "asgi", "wsgi"):
            raise ValueError("interface: expected 'asgi', 'wsgi' or 'auto'")
        asgi = is_asgi(app) if interface == "auto" else interface == "asgi"
        if asgi:
            self._serve_asgi(app)
        else:
            server = _WSGIOnSocket(self._sock, app)
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
            self._stop = server.shutdown
        return self.url

    def _serve_asgi(self, app: Any) -> None:
        try:
            import uvicorn
        except ImportError:
            raise RuntimeError(
                "serving an ASGI app needs uvicorn: pip install uvicorn (or 'wxpay-mw[dev]')"
            ) from None
        self._sock.listen(BACKLOG)
        # log_config None: leave the host test run's logging as it is.
        server = uvicorn.Server(
            uvicorn.Config(app, log_config=None, log_level="warning", lifespan="auto")
        )

        def run() -> None:
            # uvicorn exits when the app's startup fails: serve() reports it.
            with contextlib.suppress(SystemExit):
                server.run(sockets=[self._sock])

        thread = threading.Thread(target=run, name="wxpay-host-asgi", daemon=True)
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(
                    "the ASGI app did not start (its lifespan startup failed or hung): "
                    "see the log above"
                )
            time.sleep(0.01)
        self._thread = thread

        def stop() -> None:
            server.should_exit = True

        self._stop = stop

    def stop(self) -> None:
        """Stop serving and close the port."""
        if self._stop is not None:
            self._stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()
        self._stop = self._thread = None
