"""WSGI middleware: serve wxpay-mw under a prefix, pass everything else through.

For any WSGI framework (Django, Bottle, Pyramid, Falcon, Flask)::

    application = WxPayWSGIMiddleware(application, wxpay, prefix="/wxpay")

Requests under the prefix are answered here with ``SCRIPT_NAME`` / ``PATH_INFO`` shifted
the way werkzeug's DispatcherMiddleware does; the rest reach the wrapped app untouched.
The client IP is ``REMOTE_ADDR``: behind a reverse proxy, wrap the app in your
framework's proxy-fix middleware (werkzeug's ``ProxyFix``) so that it is the user's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from wxpay_mw.app import WxPay
from wxpay_mw.sansio import Request, Response, normalize_prefix

__all__ = ["WxPayWSGIMiddleware", "read_body", "wsgi_headers"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def wsgi_headers(environ: Environ) -> dict[str, str]:
    """Request headers with lower-case names, from a WSGI environ."""
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


def read_body(environ: Environ, cap: int) -> bytes:
    """At most ``cap + 1`` bytes of the body (so the core can answer 413)."""
    declared = str(environ.get("CONTENT_LENGTH") or "")
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if declared.isascii() and declared.isdigit():
        length = int(declared)
        if length > cap:
            return b""  # refused on the declared length, never read
    elif environ.get("wsgi.input_terminated"):
        length = cap + 1  # chunked: the server marks the end of the stream
    else:
        return b""  # no length: reading could block forever (PEP 3333)
    chunks: list[bytes] = []
    left = length
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _wsgi_str(value: str) -> str:
    # PEP 3333 carries paths as latin-1 decoded bytes; the URL bytes are UTF-8.
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def start(start_response: StartResponse, response: Response) -> list[bytes]:
    """Send a sans-IO response through WSGI; the body iterable."""
    phrase = HTTPStatus(response.status).phrase
    headers = [*response.headers, ("content-length", str(len(response.body)))]
    start_response(f"{response.status} {phrase}", headers)
    return [response.body]


class WxPayWSGIMiddleware:
    """WSGI middleware serving wxpay-mw's endpoints at ``prefix``."""

    def __init__(self, app: WSGIApp, wxpay: WxPay, prefix: str = "/wxpay") -> None:
        self.app = app
        self.wxpay = wxpay
        self.prefix = normalize_prefix(prefix)
        # WSGI calls are synchronous: an async def hook would never run.
        wxpay.require_sync("the WSGI adapter")

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            return self.app(environ, start_response)
        # The shifted environ is what a hook sees as request.native, like a mounted app.
        native = dict(environ)
        native["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
        native["PATH_INFO"] = path[len(self.prefix) :]
        request = Request(
            method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
            path=_wsgi_str(native["PATH_INFO"]),
            headers=wsgi_headers(environ),
            body=read_body(environ, self.wxpay.max_body_bytes),
            client_ip=str(environ.get("REMOTE_ADDR", "")),
            native=native,
        )
        return start(start_response, self.wxpay.handle(request))
