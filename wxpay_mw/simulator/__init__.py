"""An offline stand-in for WeChat's login and pay hosts.

It checks every signature and parameter as WeChat does, answers with WeChat's return codes
and err_codes, signs its answers, and delivers payment and refund notifications on
WeChat's retry schedule (scaled by ``time_factor``)::

    from wxpay_mw.simulator import run_simulator

    with run_simulator(time_factor=0.001) as sim:
        config = sim.config(notify_url="http://127.0.0.1:8000/wxpay/notify")
        code = sim.login()              # what wx.login does
        ...                             # the app calls WeChat at sim.base_url
        sim.pay(prepay_params)          # what wx.requestPayment does
        sim.wait_for_notifications(1)   # until the app acknowledged the notification

Also a console page at ``/simulator/``, a pytest plugin (fixtures ``wxpay_simulator``,
``wxpay_config``, ``wxpay_host``...) and the ``wxpay-mw simulator`` command (with
``trigger``). docs/simulator.md describes them all.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._control import OUTCOMES
    from ._delivery import RETRY_SCHEDULE
    from ._faults import FAULT_KINDS, LOGIN_ERRORS, PAY_ERRORS
    from ._merchant import DEFAULT_APPID, DEFAULT_MCH_ID, Merchant
    from ._server import PaymentRefused, Simulator, run_simulator
    from ._state import stable_openid
    from ._wire import PROTOCOL_MSGS

# Imported on first use: the pytest plugin lives in this package and is loaded by every
# pytest run, which should not pay for requests and the server until a fixture is used.
_WHERE = {
    "RETRY_SCHEDULE": "._delivery",
    "FAULT_KINDS": "._faults",
    "LOGIN_ERRORS": "._faults",
    "OUTCOMES": "._control",
    "PAY_ERRORS": "._faults",
    "DEFAULT_APPID": "._merchant",
    "DEFAULT_MCH_ID": "._merchant",
    "Merchant": "._merchant",
    "PaymentRefused": "._server",
    "Simulator": "._server",
    "run_simulator": "._server",
    "stable_openid": "._state",
    "PROTOCOL_MSGS": "._wire",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_WHERE[name], __name__), name)


__all__ = [
    "DEFAULT_APPID",
    "DEFAULT_MCH_ID",
    "FAULT_KINDS",
    "LOGIN_ERRORS",
    "OUTCOMES",
    "PAY_ERRORS",
    "PROTOCOL_MSGS",
    "RETRY_SCHEDULE",
    "Merchant",
    "PaymentRefused",
    "Simulator",
    "run_simulator",
    "stable_openid",
]
