"""AsyncWeChatClient takes its proxy from HTTP(S)_PROXY / NO_PROXY and logins from .netrc.

As requests does for WeChatClient, and as aiohttp's ``trust_env`` does; the client reads
them once per origin instead of on every call (aiohttp's way costs two worker-thread
hops per call). A real forwarding proxy in front of the real simulator records what
passes through it.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from wxpay_mw.aclient import AsyncWeChatClient
from wxpay_mw.simulator import Simulator, run_simulator

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "NETRC")


class _Forward(BaseHTTPRequestHandler):
    """A plain HTTP forward proxy: absolute-URI requests in, the origin's answer out."""

    seen: list[tuple[str, str | None, str | None]]

    def _forward(self) -> None:
        auth = self.headers.get("Authorization"), self.headers.get("Proxy-Authorization")
        self.seen.append((self.path, *auth))
        target = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("proxy-connection", "proxy-authorization")
        }
        origin = http.client.HTTPConnection(target.netloc, timeout=10)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            origin.request(self.command, path, body or None, headers)
            answer = origin.getresponse()
            content = answer.read()
        finally:
            origin.close()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.getheader("Content-Type", "text/plain"))
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = _forward

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[tuple[str, str | None, str | None]]]]:
    """The proxy's URL and what it forwarded: (target, Authorization, Proxy-Authorization)."""
    seen: list[tuple[str, str | None, str | None]] = []
    handler = type("Forward", (_Forward,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    with run_simulator(time_factor=0.001) as simulator:
        yield simulator


def _logins(sim: Simulator, count: int) -> list[str]:
    async def main() -> list[str]:
        async with AsyncWeChatClient(sim.config("http://127.0.0.1:1/wxpay/notify")) as client:
            return [
                (await client.code2session(sim.login(user=f"env{i}"))).openid for i in range(count)
            ]

    return asyncio.run(main())


def test_calls_go_through_the_proxy_http_proxy_names(
    sim: Simulator,
    proxy: tuple[str, list[tuple[str, str | None, str | None]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    openids = _logins(sim, 2)
    assert len(set(openids)) == 2 and all(openids)
    assert [(target.split("?")[0], auth, proxy_auth) for target, auth, proxy_auth in seen] == [
        (f"{sim.base_url}/sns/jscode2session", None, None)
    ] * 2


def test_no_proxy_sends_calls_straight_to_wechat(
    sim: Simulator,
    proxy: tuple[str, list[tuple[str, str | None, str | None]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert all(_logins(sim, 2))
    assert seen == []


def test_netrc_logins_for_the_host_and_the_proxy_are_sent_as_basic_auth(
    sim: Simulator,
    proxy: tuple[str, list[tuple[str, str | None, str | None]]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url, seen = proxy
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login shop password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTP_PROXY", url)
    assert all(_logins(sim, 1))
    expected = "Basic " + base64.b64encode(b"shop:s3cret").decode()
    # One machine entry: 127.0.0.1 is both WeChat (the simulator) and the proxy here.
    assert [(auth, proxy_auth) for _, auth, proxy_auth in seen] == [(expected, expected)]
