"""HostServer (the wxpay_host fixture): the host's app on a real port, ASGI or WSGI."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
import requests

from wxpay_mw.simulator import Simulator
from wxpay_mw.simulator._host import HostServer, is_asgi


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"wsgi {environ['PATH_INFO']}".encode()]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"asgi {scope['path']}".encode()})


class AsgiObject:
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asgi_app(scope, receive, send)


async def broken_lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})


def test_is_asgi_tells_the_interfaces_apart() -> None:
    assert is_asgi(asgi_app) and is_asgi(AsgiObject())
    assert not is_asgi(wsgi_app)


@pytest.mark.parametrize(
    ("app", "word"), [(wsgi_app, "wsgi"), (asgi_app, "asgi"), (AsgiObject(), "asgi")]
)
def test_serves_the_app_on_the_port_its_config_names(
    wxpay_simulator: Simulator, app: Any, word: str
) -> None:
    host = HostServer(wxpay_simulator)
    try:
        config = host.config()
        assert config.notify_url == host.url + "/wxpay/notify" == host.notify_url
        assert config.refund_notify_url == host.url + "/wxpay/refund-notify"
        assert config.api_base == wxpay_simulator.base_url
        url = host.serve(app)
        assert url == host.url
        assert requests.get(url + "/x", timeout=10).text == f"{word} /x"
        with pytest.raises(RuntimeError, match="already serves"):
            host.serve(app)
    finally:
        host.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(host.url + "/x", timeout=5)


def test_explicit_interface_and_bad_ones(wxpay_simulator: Simulator) -> None:
    host = HostServer(wxpay_simulator)
    try:
        with pytest.raises(ValueError, match="interface"):
            host.serve(wsgi_app, interface="cgi")
        host.serve(AsgiObject(), interface="asgi")
        assert requests.get(host.url + "/y", timeout=10).text == "asgi /y"
    finally:
        host.stop()


def test_an_asgi_app_whose_startup_fails_is_reported(wxpay_simulator: Simulator) -> None:
    host = HostServer(wxpay_simulator)
    try:
        with pytest.raises(RuntimeError, match="did not start"):
            host.serve(broken_lifespan)
    finally:
        host.stop()


def test_the_fixture_serves_and_stops(wxpay_host: HostServer) -> None:
    url = wxpay_host.serve(wsgi_app)
    assert requests.get(url + "/z", timeout=10).text == "wsgi /z"
