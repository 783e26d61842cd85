"""Kept connections: call after call on one connection, as WeChat's servers allow.

A pooled client (requests, aiohttp) sends its calls on the connections it keeps; a
simulator that closed every connection after one answer made each call open a new one,
which is neither what production does nor cheap. What must still close a connection
does: an HTTP/1.0 request, ``Connection: close``, a body whose end is not known up front,
the "reset" fault. Raw sockets here, so that nothing reconnects in silence.
"""

from __future__ import annotations

import socket

import requests

from wxpay_mw.simulator import Simulator


def _connect(sim: Simulator) -> socket.socket:
    host, port = sim.base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _answer(sock: socket.socket) -> tuple[bytes, dict[str, str], bytes]:
    """One whole answer off ``sock``: status line, headers, body (by its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return status.encode(), headers, body


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _get(path: str, extra: str = "", body: bytes = b"") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: sim\r\n{extra}\r\n".encode() + body


def test_three_requests_on_one_connection_are_each_answered(sim: Simulator) -> None:
    with _connect(sim) as sock:
        for _ in range(3):
            sock.sendall(_get("/simulator/faults"))
            status, headers, body = _answer(sock)
            assert status.startswith(b"HTTP/1.1 200 ")
            assert "connection" not in headers
            assert body == b'{"faults": []}'


def test_a_body_the_app_does_not_read_does_not_spill_into_the_next_request(
    sim: Simulator,
) -> None:
    junk = b"GET /nowhere HTTP/1.1\r\n\r\n"  # would be read as a request if left unread
    with _connect(sim) as sock:
        sock.sendall(_get("/simulator/faults", f"Content-Length: {len(junk)}\r\n", junk))
        assert _answer(sock)[2] == b'{"faults": []}'
        sock.sendall(_get("/simulator/faults"))
        assert _answer(sock)[2] == b'{"faults": []}'


def test_connection_close_is_honoured(sim: Simulator) -> None:
    with _connect(sim) as sock:
        sock.sendall(_get("/simulator/faults", "Connection: close\r\n"))
        status, headers, _ = _answer(sock)
        assert status.startswith(b"HTTP/1.1 200 ")
        assert headers["connection"] == "close"
        assert _closed(sock)


def test_a_chunked_body_closes_the_connection_after_its_answer(sim: Simulator) -> None:
    with _connect(sim) as sock:
        sock.sendall(_get("/simulator/faults", "Transfer-Encoding: chunked\r\n", b"0\r\n\r\n"))
        _, headers, _ = _answer(sock)
        assert headers["connection"] == "close"
        assert _closed(sock)


def test_an_http_1_0_request_gets_an_http_1_0_answer_and_a_closed_connection(
    sim: Simulator,
) -> None:
    with _connect(sim) as sock:
        sock.sendall(b"GET /simulator/faults HTTP/1.0\r\nHost: sim\r\n\r\n")
        status, _, body = _answer(sock)
        assert status.startswith(b"HTTP/1.0 200 ")
        assert body == b'{"faults": []}'
        assert _closed(sock)


def test_the_reset_fault_still_drops_a_kept_connection(sim: Simulator) -> None:
    requests.post(
        f"{sim.base_url}/simulator/faults",
        json={"endpoint": "/pay/orderquery", "kind": "reset"},
        timeout=10,
    ).raise_for_status()
    with _connect(sim) as sock:
        sock.sendall(_get("/simulator/faults"))
        assert _answer(sock)[0].startswith(b"HTTP/1.1 200 ")
        body = b"<xml></xml>"
        sock.sendall(
            f"POST /pay/orderquery HTTP/1.1\r\nHost: sim\r\nContent-Length: {len(body)}\r\n"
            "\r\n".encode()
            + body
        )
        assert _closed(sock)


def test_a_pooled_client_sends_its_calls_on_one_connection(sim: Simulator) -> None:
    with requests.Session() as session:
        ports = set()
        for _ in range(3):
            response = session.get(f"{sim.base_url}/simulator/faults", stream=True, timeout=10)
            ports.add(response.raw.connection.sock.getsockname()[1])
            response.content  # noqa: B018 - read it, so the connection goes back to the pool
            response.close()
    assert len(ports) == 1
