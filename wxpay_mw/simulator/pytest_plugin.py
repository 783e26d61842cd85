"""pytest fixtures that run the WeChat simulator for a host app's own tests.

Loaded in every pytest run through the ``pytest11`` entry point, so this module imports
nothing heavy and starts nothing until a fixture is used.

* ``wxpay_simulator_options`` (session): keyword arguments for the Simulator; override it
  in your conftest.py to choose the merchant, ``time_factor`` (default 0.001) or
  ``duplicate``.
* ``wxpay_simulator_session`` (session): one running simulator for the whole session.
* ``wxpay_simulator`` (function): that simulator, reset before and after each test.
* ``wxpay_notify_url`` (function): the notify_url your app serves; override it (default:
  a closed port, so notifications are recorded but never acknowledged).
* ``wxpay_config`` (function): a WxPayConfig for the simulator's merchant, with
  ``api_base`` and ``login_base`` pointed at the simulator.
* ``wxpay_host`` (function): a real port for your own ASGI or WSGI app, whose
  ``config()`` points the simulator's notifications at it; ``serve(app)`` serves the app
  there (ASGI under uvicorn, WSGI under wsgiref) until the test ends. See
  docs/simulator.md for a complete test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..config import WxPayConfig
    from ._host import HostServer
    from ._server import Simulator


@pytest.fixture(scope="session")
def wxpay_simulator_options() -> dict[str, Any]:
    """Keyword arguments for the session's Simulator; override to change them."""
    return {"time_factor": 0.001}


@pytest.fixture(scope="session")
def wxpay_simulator_session(wxpay_simulator_options: dict[str, Any]) -> Iterator[Simulator]:
    """A simulator running for the whole test session (not reset between tests)."""
    from ._server import Simulator

    with Simulator(**wxpay_simulator_options) as simulator:
        yield simulator


@pytest.fixture
def wxpay_simulator(wxpay_simulator_session: Simulator) -> Iterator[Simulator]:
    """The running simulator, with no orders, codes, notifications or faults."""
    wxpay_simulator_session.reset()
    yield wxpay_simulator_session
    wxpay_simulator_session.reset()


@pytest.fixture
def wxpay_notify_url() -> str:
    """The payment notify URL your app serves; override in your conftest.py."""
    # Port 9 (discard) refuses connections: notifications are logged, never acknowledged.
    return "http://127.0.0.1:9/wxpay/notify"


@pytest.fixture
def wxpay_config(wxpay_simulator: Simulator, wxpay_notify_url: str) -> WxPayConfig:
    """A WxPayConfig for the simulator's merchant, pointed at the simulator."""
    return wxpay_simulator.config(notify_url=wxpay_notify_url)


@pytest.fixture
def wxpay_host(wxpay_simulator: Simulator) -> Iterator[HostServer]:
    """A real port for your app: ``config()`` for it, then ``serve(app)``; stopped after."""
    from ._host import HostServer

    server = HostServer(wxpay_simulator)
    yield server
    server.stop()
