"""The conformance kit's machinery: the probe, the host description, driving the flow.

Used by :mod:`wxpay_mw.testing`; see there.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import signing, xmlmsg
from ._kitapp import KitApp, running
from .config import WxPayConfig
from .models import Order, Payment
from .sansio import Request, Response

if TYPE_CHECKING:
    from .simulator import Simulator

__all__ = [
    "PAY_KEYS",
    "TIMEOUT",
    "Host",
    "KitApp",
    "Probe",
    "assert_paid_once",
    "expect",
    "host_app",
    "new_order",
    "new_probe",
    "notify",
    "notify_at_once",
    "paid_notification",
    "prepay",
    "running",
    "signed",
    "sim_config",
    "stored",
]

TIMEOUT = 60.0
#: What wx.requestPayment takes from prepay's answer (which may carry more).
PAY_KEYS = ("timeStamp", "nonceStr", "package", "signType", "paySign")


@dataclass(frozen=True)
class Probe:
    """What the kit watches: call :meth:`fulfilled` from your paid reaction.

    It appends one line per call to a file (outside your database, so a reaction that
    ran is seen even if its transaction later rolled back). While the kit asks it to
    stall, it stops there instead: the crash check kills the process at that point.
    """

    directory: str

    def fulfilled(self, order: Order, payment: Payment) -> None:
        """Record one paid reaction for ``order`` (call it inside the paid transaction)."""
        base = Path(self.directory)
        stall = base / "stall"
        if stall.exists():
            (base / f"arrived-{os.getpid()}").write_text(order.out_trade_no, encoding="utf-8")
            while stall.exists():
                time.sleep(0.01)
        line = f"{order.out_trade_no} {payment.transaction_id} {os.getpid()}\n"
        with open(base / "fulfilments", "a", encoding="utf-8") as log:
            log.write(line)

    def fulfilments(self, out_trade_no: str) -> list[str]:
        """The transaction_id of every reaction recorded for ``out_trade_no``."""
        path = Path(self.directory) / "fulfilments"
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [line.split()[1] for line in lines if line.split()[0] == out_trade_no]


@dataclass(frozen=True)
class Host:
    """The host under test.

    ``plugins(probe)``: fresh plugin objects over the host's storage (called once per
    WxPay the kit builds, in this process and in child processes); the paid reaction
    calls ``probe.fulfilled``. ``payload(out_trade_no)``: the prepay JSON (without the
    wx.login code) for a new order when None, else for paying that order again.
    ``asynchronous``: drive the flow through ``await WxPay.ahandle`` on an event loop
    (True), through ``WxPay.handle`` (False), or as the hooks say (None: asynchronously
    when any hook is ``async def``).
    """

    plugins: Callable[[Probe], Sequence[object]]
    payload: Callable[[str | None], dict[str, Any]]
    asynchronous: bool | None = None


def expect(condition: bool, message: str) -> None:
    # Not ``assert``: the kit must check under ``python -O`` too.
    if not condition:
        raise AssertionError(message)


# -- driving the flow ---------------------------------------------------------------------


def host_app(host: Host, sim: Simulator, probe: Probe) -> AbstractContextManager[KitApp]:
    """A WxPay on fresh plugins of ``host``, talking to ``sim``."""
    return running(sim_config(sim), host.plugins(probe), host.asynchronous)


def sim_config(sim: Simulator) -> WxPayConfig:
    """The simulator merchant's config; notifications are recorded, never delivered."""
    # Port 9 refuses connections: the simulator records notifications, never delivers.
    return sim.config(notify_url="http://127.0.0.1:9/wxpay/notify")


def notify(app: KitApp, body: bytes) -> str:
    """Hand ``body`` to the notify endpoint; the answer's return_code."""
    return _return_code(app.handle(_notification(body)))


def notify_at_once(app: KitApp, body: bytes, times: int) -> list[str]:
    """Hand ``body`` to the notify endpoint ``times`` times at once; each return_code."""
    return [_return_code(answer) for answer in app.handle_at_once(_notification(body), times)]


def _notification(body: bytes) -> Request:
    return Request("POST", "/notify", {"content-type": "text/xml"}, body)


def _return_code(response: Response) -> str:
    expect(response.status == 200, f"the notify endpoint answered HTTP {response.status}")
    return xmlmsg.from_xml(response.body)["return_code"]


def prepay(app: KitApp, sim: Simulator, payload: dict[str, Any]) -> Response:
    """POST /prepay with ``payload`` and a fresh wx.login code."""
    body = json.dumps({**payload, "code": sim.login()}).encode()
    headers = {"content-type": "application/json"}
    return app.handle(Request("POST", "/prepay", headers, body, client_ip="127.0.0.1"))


def new_order(app: KitApp, sim: Simulator, host: Host) -> dict[str, str]:
    """Prepay a new order; the payment parameters with its out_trade_no."""
    response = prepay(app, sim, host.payload(None))
    expect(response.status == 200, f"prepay of a new order failed: {response.body!r}")
    params: dict[str, str] = json.loads(response.body)
    return params


def stored(app: KitApp, out_trade_no: str) -> Order:
    """The order as the host's wxpay_load_order returns it."""
    order = app.hook("wxpay_load_order", out_trade_no=out_trade_no)
    if not isinstance(order, Order):
        raise AssertionError(f"wxpay_load_order({out_trade_no!r}) returned {order!r}")
    return order


def paid_notification(sim: Simulator, params: dict[str, str]) -> tuple[str, bytes]:
    """The user pays at the simulator; WeChat's (the simulator's) signed notification."""
    no = params["out_trade_no"]
    sim.pay({key: params[key] for key in PAY_KEYS})
    log = sim.wait_for_notifications(
        lambda log: any(n["out_trade_no"] == no and n["kind"] == "payment" for n in log),
        timeout=TIMEOUT,
    )
    note = next(n for n in log if n["out_trade_no"] == no and n["kind"] == "payment")
    body = note["body"].encode()
    return xmlmsg.from_xml(body)["transaction_id"], body


def signed(sim: Simulator, order: Order, **changes: str) -> bytes:
    """A payment notification for ``order`` signed with the merchant's key."""
    merchant = sim.merchant
    fields: dict[str, str] = {
        "appid": merchant.appid,
        "mch_id": merchant.mch_id,
        "nonce_str": signing.make_nonce(),
        "return_code": "SUCCESS",
        "result_code": "SUCCESS",
        "openid": order.openid or "oKit",
        "trade_type": "JSAPI",
        "bank_type": "OTHERS",
        "total_fee": str(order.total_fee),
        "cash_fee": str(order.total_fee),
        "fee_type": "CNY",
        "transaction_id": "4200" + secrets.token_hex(12),
        "out_trade_no": order.out_trade_no,
        "time_end": time.strftime("%Y%m%d%H%M%S"),
        **changes,
    }
    sign_type = order.sign_type or signing.MD5
    fields["sign"] = signing.sign(fields, merchant.api_key, sign_type)
    return xmlmsg.to_xml(fields)


def assert_paid_once(app: KitApp, probe: Probe, no: str, transaction_id: str) -> None:
    """One reaction, and the order stored paid with this transaction_id."""
    reactions = probe.fulfilments(no)
    expect(
        reactions == [transaction_id],
        f"order {no}: the paid reaction ran {len(reactions)} times, expected exactly once",
    )
    order = stored(app, no)
    expect(order.status == "paid", f"order {no} is {order.status!r} after its payment")
    expect(order.transaction_id == transaction_id, f"order {no}: wrong transaction_id")


@contextmanager
def new_probe() -> Iterator[Probe]:
    """A probe on a fresh temporary directory."""
    with tempfile.TemporaryDirectory(prefix="wxpay-kit-") as directory:
        yield Probe(directory)
