"""pytest fixtures that run the WeChat simulator for a host app's own tests.

Loaded in every pytest run through the ``pytest11`` entry point, so this module imports
nothing heavy and starts nothing until a fixture is used.

* ``wxpay_simulator_options`` (session): keyword arguments for the Simulator; override it
  in your conftest.py to choose the merchant, ``time_factor`` (default 0.001) or
  ``duplicate``, or ``{"api": "v3", "v3_mode": ...}`` for WeChat Pay API v3.
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
* ``wxpay_v3_settings`` (function): the :class:`~wxpay_mw.v3.V3Settings` of the
  simulator's merchant (APIv3 key, private key file and serial, WeChat Pay public key and
  its id). Needs ``{"api": "v3"}`` in ``wxpay_simulator_options`` (with ``v3_mode``
  ``"public_key"``, ``"certificate"`` or ``"both"``); ``wxpay_simulator.v3_env()`` gives
  the same as ``WXPAY_*`` variables.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..config import WxPayConfig
    from ..v3.settings import V3Settings
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


@pytest.fixture
def wxpay_v3_settings(wxpay_simulator: Simulator) -> V3Settings:
    """The V3Settings of the simulator's merchant (a simulator started with api="v3")."""
    if wxpay_simulator.api != "v3":
        pytest.fail(
            'wxpay_v3_settings needs a v3 simulator: return {"api": "v3", ...} from your '
            "wxpay_simulator_options fixture"
        )
    return wxpay_simulator.v3_settings()
