"""A plain WSGI shop that takes WeChat Pay: the pattern for Django, Bottle, Pyramid...

    python -m examples.wsgi_shop               # PORT=8000, an embedded simulator

``WxPayWSGIMiddleware`` answers everything under /wxpay and passes the rest to the
wrapped app. Django: ``application = WxPayWSGIMiddleware(get_wsgi_application(), wxpay)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

from wxpay_mw.adapters.wsgi import WxPayWSGIMiddleware

from wxpay_mw import WxPay

from .catalogue import PRODUCTS, Catalogue
from .wechat import HOST, PORT, open_store, wechat


def shop(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The host's own WSGI app: the product list, and 404 for anything else."""
    if environ.get("PATH_INFO") != "/products":
        start_response("404 Not Found", [("content-type", "text/plain")])
        return [b"not found"]
    body = json.dumps([vars(product) for product in PRODUCTS.values()]).encode()
    start_response("200 OK", [("content-type", "application/json")])
    return [body]


class ThreadingServer(ThreadingMixIn, WSGIServer):
    """wsgiref, a thread per request: WeChat's notification may come during a poll."""

    daemon_threads = True


def main() -> None:
    """Serve the shop until Ctrl-C (wsgiref; use gunicorn, waitress or uWSGI in production)."""
    store = open_store()
    with wechat() as config, WxPay(config, store, Catalogue(store)) as wxpay:
        app = WxPayWSGIMiddleware(shop, wxpay, prefix="/wxpay")
        with make_server(HOST, PORT, app, server_class=ThreadingServer) as server:
            server.serve_forever()


if __name__ == "__main__":
    main()
