"""Hundreds of connections at once: the simulator's listen backlog holds them all.

The server is bound but not yet accepting, so every connection must wait in the kernel's
accept queue (the backlog): with socketserver's default of 5, or the 128 the simulator
once had, the connections beyond it get no SYN-ACK and their connect() never completes.
"""

from __future__ import annotations

import logging
import socket
import threading
from contextlib import ExitStack
from pathlib import Path

import pytest

from wxpay_mw.simulator import _httpd
from wxpay_mw.simulator._app import SimulatorApp
from wxpay_mw.simulator._httpd import BACKLOG, listen_backlog, make_server
from wxpay_mw.simulator._server import Simulator

CONNECTIONS = 600


def test_hundreds_of_simultaneous_connections_are_queued_and_answered(sim: Simulator) -> None:
    if listen_backlog() < CONNECTIONS:
        pytest.skip(
            f"net.core.somaxconn is {listen_backlog()}: "
            f"'sysctl -w net.core.somaxconn={BACKLOG}' to run this test"
        )
    server = make_server("127.0.0.1", 0, SimulatorApp(sim._ctx))
    port = server.server_port
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    with ExitStack() as stack:
        stack.callback(server.server_close)
        sockets = []
        # Nobody accepts yet: each connect() completes only if the kernel queued it.
        # (The timeout is a failsafe against a hang, not a measurement.)
        for _ in range(CONNECTIONS):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=30))
            sockets.append(sock)
        request = f"GET /simulator/faults HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        for sock in sockets:
            sock.sendall(request)
        thread.start()
        stack.callback(thread.join)
        stack.callback(server.shutdown)
        answers = []
        for sock in sockets:
            chunks = []
            while chunk := sock.recv(65536):  # ConnectionResetError fails the test
                chunks.append(chunk)
            answers.append(b"".join(chunks))
    assert len(answers) == CONNECTIONS
    assert all(a.startswith(b"HTTP/1.0 200 ") and a.endswith(b'{"faults": []}') for a in answers)


def test_the_backlog_granted_is_capped_by_somaxconn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    somaxconn = tmp_path / "somaxconn"
    somaxconn.write_text("128\n")
    monkeypatch.setattr(_httpd, "_SOMAXCONN", somaxconn)
    assert listen_backlog() == 128
    assert listen_backlog(100) == 100
    with caplog.at_level(logging.WARNING, logger="wxpay_mw.simulator"):
        make_server("127.0.0.1", 0, SimulatorApp(Simulator()._ctx)).server_close()
    assert "sysctl -w net.core.somaxconn=1024" in caplog.text
    monkeypatch.setattr(_httpd, "_SOMAXCONN", tmp_path / "absent")
    assert listen_backlog() == BACKLOG  # not Linux: the kernel's cap is unknown
