"""A scripted WeChat-like HTTP server for the client tests.

Each test scripts the answers (signed with our signing module, or deliberately not) and
reads back what the client sent. It answers what a faithful simulator would not: every
err_code, wrong signs, 5xx, garbled bodies, answers that never come, dropped connections.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from wxpay_mw import signing
from wxpay_mw.xmlmsg import from_xml, to_xml

APPID = "wxd930ea5d5a258f4f"
MCH_ID = "10000100"
API_KEY = "192006250b4c09247ec02edce69f6a2d"
APP_SECRET = "a5ecre7a5ecre7a5ecre7a5ecre7a5ec"
SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="
SANDBOX_KEY = "5andb0x5andb0x5andb0x5andb0x5and"


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    # Over TLS: the common name of the client certificate presented, if any.
    client_cert: str | None = None

    @property
    def fields(self) -> dict[str, str]:
        return from_xml(self.body)


@dataclass
class Reply:
    """One scripted answer. ``delay`` holds it back (released at teardown);
    ``drop`` closes the connection without answering."""

    body: bytes = b""
    status: int = 200
    delay: float = 0.0
    drop: bool = False
    content_type: str = "text/xml"


Script = Reply | Callable[[Received], Reply]


@dataclass
class FakeWeChat:
    """The server's state: scripted replies per path and everything received."""

    key: str = API_KEY
    sign_type: signing.SignType = "MD5"
    base_url: str = ""
    replies: dict[str, Script] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- scripting

    def on(self, path: str, reply: Script) -> None:
        self.replies[path] = reply

    def signed(self, fields: dict[str, str], *, key: str | None = None) -> bytes:
        """WeChat's answer: ``fields`` plus appid, mch_id, nonce_str and a right sign."""
        full = {"appid": APPID, "mch_id": MCH_ID, "nonce_str": "n0nce", **fields}
        full["sign"] = signing.sign(full, key or self.key, self.sign_type)
        return to_xml(full)

    def ok(self, path: str, **fields: str) -> None:
        """Answer ``path`` with return_code and result_code SUCCESS plus ``fields``."""
        self.on(
            path,
            Reply(self.signed({"return_code": "SUCCESS", "result_code": "SUCCESS", **fields})),
        )

    def fail(self, path: str, err_code: str, des: str = "") -> None:
        """Answer ``path`` with result_code FAIL and ``err_code`` (signed, as WeChat does)."""
        self.on(
            path,
            Reply(
                self.signed(
                    {
                        "return_code": "SUCCESS",
                        "result_code": "FAIL",
                        "err_code": err_code,
                        "err_code_des": des,
                    }
                )
            ),
        )

    def login(self, payload: dict[str, Any], **kw: Any) -> None:
        self.on("/sns/jscode2session", Reply(json.dumps(payload).encode(), **kw))

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for r in self.received if r.path == path)

    def last(self, path: str) -> Received:
        with self.lock:
            return [r for r in self.received if r.path == path][-1]

    # -- serving

    def answer(self, received: Received) -> Reply:
        with self.lock:
            self.received.append(received)
            script = self.replies.get(received.path)
        if script is None:
            return Reply(b"not found", status=404, content_type="text/plain")
        return script(received) if callable(script) else script


def _handler(state: FakeWeChat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # A stuck client must not hold the server's shutdown for long.
        timeout = 5

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            received = Received(
                method=self.command,
                path=url.path,
                query={k: v[0] for k, v in parse_qs(url.query).items()},
                headers=dict(self.headers.items()),
                body=body,
                client_cert=_client_cert(self.connection),
            )
            reply = state.answer(received)
            if reply.delay:
                state.release.wait(reply.delay)
            if reply.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _client_cert(connection: socket.socket) -> str | None:
    if not isinstance(connection, ssl.SSLSocket):
        return None
    peer = connection.getpeercert()
    if not peer:
        return None
    return next(value for rdn in peer["subject"] for key, value in rdn if key == "commonName")


class _Server(ThreadingHTTPServer):
    # Concurrency tests connect many at once; the default backlog of 5 would drop SYNs.
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The client hung up first (read-timeout tests): expected, not a failure.
        pass


@contextmanager
def run_fake_wechat(*, tls: ssl.SSLContext | None = None, **kw: Any) -> Iterator[FakeWeChat]:
    """Serve a FakeWeChat on a free local port for the duration of the block
    (over HTTPS with ``tls``)."""
    state = FakeWeChat(**kw)
    server = _Server(("127.0.0.1", 0), _handler(state))
    scheme = "http"
    if tls is not None:
        # The handshake happens in the handler's thread, on its first read, so that a
        # client failing it never holds up the accepting thread.
        server.socket = tls.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        scheme = "https"
    state.base_url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def unresponsive_port() -> Iterator[int]:
    """A port whose listen backlog is full: a connect there hangs until it times out."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def refused_port() -> int:
    """A free port with nothing listening: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
