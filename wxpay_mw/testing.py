"""The store conformance kit: run wxpay-mw's exactly-once checks against your own hooks.

A host that writes its own storage hooks (or wires the packaged store to its own
fulfilment) runs these from its pytest suite. Each check drives the real flow through
:meth:`wxpay_mw.WxPay.handle` with notifications signed as WeChat signs them (taken from
the simulator, or signed with the simulator merchant's key), against the simulator over
HTTP; nothing is mocked. A check raises ``AssertionError`` saying what went wrong.

Describe your host with a :class:`Host`::

    def my_plugins(probe: Probe) -> list[object]:
        # Fresh plugin objects over your (shared, persistent) storage. Call
        # probe.fulfilled(order, payment) from your paid reaction, inside its transaction.
        return [MyStore(DB_URL, on_paid=probe.fulfilled), MyCatalogue()]

    HOST = Host(plugins=my_plugins, payload=lambda no: {"sku": "tea"} if no is None
                else {"order_no": no})

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def host(self) -> Host:
            return HOST

``plugins`` must be a module-level function (or a ``functools.partial`` of one): the
process checks call it again in child processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import signing, xmlmsg
from .app import WxPay
from .client import WeChatClient
from .config import WxPayConfig
from .models import Order, Payment
from .sansio import Request, Response

if TYPE_CHECKING:
    from .simulator import Simulator

__all__ = [
    "CHECKS",
    "Host",
    "Probe",
    "StoreConformance",
    "check_amount_and_merchant_mismatch",
    "check_closed_order",
    "check_crash_mid_transaction",
    "check_duplicates_in_processes",
    "check_duplicates_in_threads",
    "check_pay_again",
    "check_reconciliation",
]

_TIMEOUT = 60.0


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
    """

    plugins: Callable[[Probe], Sequence[object]]
    payload: Callable[[str | None], dict[str, Any]]


def _expect(condition: bool, message: str) -> None:
    # Not ``assert``: the kit must check under ``python -O`` too.
    if not condition:
        raise AssertionError(message)


# -- driving the flow ---------------------------------------------------------------------


@contextmanager
def _wxpay(config: WxPayConfig, plugins: Sequence[object]) -> Iterator[WxPay]:
    """WxPay on ``plugins``; afterwards each plugin's ``dispose()`` or ``close()``, if any."""
    try:
        with WxPay(config, *plugins) as wxpay:
            yield wxpay
    finally:
        for plugin in plugins:
            closer = getattr(plugin, "dispose", None) or getattr(plugin, "close", None)
            if callable(closer):
                closer()


def _app(host: Host, sim: Simulator, probe: Probe) -> AbstractContextManager[WxPay]:
    return _wxpay(_config(sim), host.plugins(probe))


def _config(sim: Simulator) -> WxPayConfig:
    # Port 9 refuses connections: the simulator records notifications, never delivers.
    return sim.config(notify_url="http://127.0.0.1:9/wxpay/notify")


def _notify(wxpay: WxPay, body: bytes) -> str:
    response = wxpay.handle(Request("POST", "/notify", {"content-type": "text/xml"}, body))
    _expect(response.status == 200, f"the notify endpoint answered HTTP {response.status}")
    return xmlmsg.from_xml(response.body)["return_code"]


def _prepay(wxpay: WxPay, sim: Simulator, payload: dict[str, Any]) -> Response:
    body = json.dumps({**payload, "code": sim.login()}).encode()
    headers = {"content-type": "application/json"}
    return wxpay.handle(Request("POST", "/prepay", headers, body, client_ip="127.0.0.1"))


def _new_order(wxpay: WxPay, sim: Simulator, host: Host) -> dict[str, str]:
    response = _prepay(wxpay, sim, host.payload(None))
    _expect(response.status == 200, f"prepay of a new order failed: {response.body!r}")
    params: dict[str, str] = json.loads(response.body)
    return params


def _stored(wxpay: WxPay, out_trade_no: str) -> Order:
    order = wxpay.hook.wxpay_load_order(out_trade_no=out_trade_no)
    if not isinstance(order, Order):
        raise AssertionError(f"wxpay_load_order({out_trade_no!r}) returned {order!r}")
    return order


def _paid_notification(sim: Simulator, params: dict[str, str]) -> tuple[str, bytes]:
    """The user pays at the simulator; WeChat's (the simulator's) signed notification."""
    no = params["out_trade_no"]
    sim.pay({k: v for k, v in params.items() if k != "out_trade_no"})
    log = sim.wait_for_notifications(
        lambda log: any(n["out_trade_no"] == no and n["kind"] == "payment" for n in log),
        timeout=_TIMEOUT,
    )
    note = next(n for n in log if n["out_trade_no"] == no and n["kind"] == "payment")
    body = note["body"].encode()
    return xmlmsg.from_xml(body)["transaction_id"], body


def _signed(sim: Simulator, order: Order, **changes: str) -> bytes:
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


def _assert_paid_once(wxpay: WxPay, probe: Probe, no: str, transaction_id: str) -> None:
    reactions = probe.fulfilments(no)
    _expect(
        reactions == [transaction_id],
        f"order {no}: the paid reaction ran {len(reactions)} times, expected exactly once",
    )
    order = _stored(wxpay, no)
    _expect(order.status == "paid", f"order {no} is {order.status!r} after its payment")
    _expect(order.transaction_id == transaction_id, f"order {no}: wrong transaction_id")


@contextmanager
def _probe() -> Iterator[Probe]:
    with tempfile.TemporaryDirectory(prefix="wxpay-kit-") as directory:
        yield Probe(directory)


# -- the checks ---------------------------------------------------------------------------


def check_duplicates_in_threads(host: Host, sim: Simulator, threads: int = 16) -> None:
    """The same notification from ``threads`` threads at once: all SUCCESS, one reaction."""
    with _probe() as probe, _app(host, sim, probe) as wxpay:
        params = _new_order(wxpay, sim, host)
        transaction_id, body = _paid_notification(sim, params)
        start = threading.Barrier(threads)
        answers: list[str] = []
        lock = threading.Lock()

        def deliver() -> None:
            start.wait()
            answer = _notify(wxpay, body)
            with lock:
                answers.append(answer)

        workers = [threading.Thread(target=deliver) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        _expect(answers == ["SUCCESS"] * threads, f"not every delivery was SUCCESS: {answers}")
        _assert_paid_once(wxpay, probe, params["out_trade_no"], transaction_id)


def _deliver_in_child(
    plugins: Callable[[Probe], Sequence[object]],
    config: WxPayConfig,
    probe: Probe,
    body: bytes,
    barrier: Any,
    times: int,
) -> None:
    with _wxpay(config, plugins(probe)) as wxpay:
        barrier.wait()
        answers = [_notify(wxpay, body) for _ in range(times)]
    if answers != ["SUCCESS"] * times:
        raise SystemExit(f"answers {answers}")


def check_duplicates_in_processes(
    host: Host, sim: Simulator, processes: int = 4, times: int = 3
) -> None:
    """The same notification from ``processes`` processes at once: one reaction."""
    ctx = multiprocessing.get_context("spawn")
    with _probe() as probe, _app(host, sim, probe) as wxpay:
        params = _new_order(wxpay, sim, host)
        transaction_id, body = _paid_notification(sim, params)
        barrier = ctx.Barrier(processes)
        args = (host.plugins, _config(sim), probe, body, barrier, times)
        children = [ctx.Process(target=_deliver_in_child, args=args) for _ in range(processes)]
        for child in children:
            child.start()
        for child in children:
            child.join(_TIMEOUT * 2)
        codes = [child.exitcode for child in children]
        _expect(codes == [0] * processes, f"child processes exited with {codes}")
        _assert_paid_once(wxpay, probe, params["out_trade_no"], transaction_id)


def _stall_in_child(
    plugins: Callable[[Probe], Sequence[object]], config: WxPayConfig, probe: Probe, body: bytes
) -> None:
    with _wxpay(config, plugins(probe)) as wxpay:
        _notify(wxpay, body)


def check_crash_mid_transaction(host: Host, sim: Simulator) -> None:
    """A process killed inside the paid transaction leaves nothing half-done; WeChat's
    retry then completes the payment, with one reaction."""
    ctx = multiprocessing.get_context("spawn")
    with _probe() as probe, _app(host, sim, probe) as wxpay:
        params = _new_order(wxpay, sim, host)
        no = params["out_trade_no"]
        transaction_id, body = _paid_notification(sim, params)
        stall = Path(probe.directory) / "stall"
        stall.write_text("hold the paid transaction", encoding="utf-8")
        child = ctx.Process(target=_stall_in_child, args=(host.plugins, _config(sim), probe, body))
        child.start()
        try:
            arrived = Path(probe.directory) / f"arrived-{child.pid}"
            deadline = time.monotonic() + _TIMEOUT
            while not arrived.exists():
                _expect(child.is_alive(), f"the child exited ({child.exitcode}) before paying")
                _expect(time.monotonic() < deadline, "the paid reaction was never reached")
                time.sleep(0.01)
            os.kill(child.pid or 0, signal.SIGKILL)
        finally:
            child.join(_TIMEOUT)
            stall.unlink(missing_ok=True)
        _expect(child.exitcode == -signal.SIGKILL, f"the child exited with {child.exitcode}")
        _expect(probe.fulfilments(no) == [], "a reaction was recorded by the killed process")
        status = _stored(wxpay, no).status
        _expect(status == "pending", f"order {no} is {status!r} after the crash: half-written")
        _expect(_notify(wxpay, body) == "SUCCESS", "WeChat's retry was not answered SUCCESS")
        _expect(_notify(wxpay, body) == "SUCCESS", "a later duplicate was not answered SUCCESS")
        _assert_paid_once(wxpay, probe, no, transaction_id)


def check_amount_and_merchant_mismatch(host: Host, sim: Simulator) -> None:
    """Correctly signed notifications with a wrong amount, mch_id or appid change nothing."""
    with _probe() as probe, _app(host, sim, probe) as wxpay:
        no = _new_order(wxpay, sim, host)["out_trade_no"]
        order = _stored(wxpay, no)
        wrong = {
            "total_fee": {"total_fee": str(order.total_fee + 1)},
            "mch_id": {"mch_id": sim.merchant.mch_id + "9"},
            "appid": {"appid": "wx" + "0" * 16},
        }
        for what, changes in wrong.items():
            answer = _notify(wxpay, _signed(sim, order, **changes))
            _expect(answer == "FAIL", f"a notification with a wrong {what} was answered {answer}")
        _expect(probe.fulfilments(no) == [], "a mismatched notification caused a reaction")
        after = _stored(wxpay, no)
        _expect(after.status == "pending", f"a mismatched notification made it {after.status!r}")
        _expect(after.transaction_id is None, "a mismatched notification stored a transaction_id")


def check_closed_order(host: Host, sim: Simulator) -> None:
    """A closed order cannot be paid again; WeChat's verified word that it was paid
    anyway (a close that lost a race) is honoured, once."""
    with _probe() as probe, _app(host, sim, probe) as wxpay:
        no = _new_order(wxpay, sim, host)["out_trade_no"]
        with WeChatClient(_config(sim)) as client:  # the merchant closes it
            client.close_order(no)
        _expect(wxpay.order_status(no)["status"] == "closed", "orderquery CLOSED not stored")
        _expect(_stored(wxpay, no).status == "closed", "the store did not keep the close")
        again = _prepay(wxpay, sim, host.payload(no))
        _expect(again.status == 409, f"paying a closed order again answered {again.status}")
        _expect(
            json.loads(again.body)["error"] == "order_closed",
            "paying a closed order again was not refused as order_closed",
        )
        late = _signed(sim, _stored(wxpay, no))
        transaction_id = xmlmsg.from_xml(late)["transaction_id"]
        _expect(_notify(wxpay, late) == "SUCCESS", "a verified late payment was refused")
        _expect(_notify(wxpay, late) == "SUCCESS", "its duplicate was refused")
        _assert_paid_once(wxpay, probe, no, transaction_id)


def check_pay_again(host: Host, sim: Simulator) -> None:
    """Paying the same order again reuses its prepay_id; a paid order is not paid twice."""
    with _probe() as probe, _app(host, sim, probe) as wxpay:
        first = _new_order(wxpay, sim, host)
        no = first["out_trade_no"]
        response = _prepay(wxpay, sim, host.payload(no))
        _expect(response.status == 200, f"paying {no} again failed: {response.body!r}")
        second = json.loads(response.body)
        _expect(second["out_trade_no"] == no, "paying again created another order")
        _expect(second["package"] == first["package"], "paying again did not reuse prepay_id")
        _expect(
            _stored(wxpay, no).prepay_id == first["package"].removeprefix("prepay_id="),
            "the store did not keep the prepay_id",
        )
        transaction_id, body = _paid_notification(sim, second)
        _expect(
            _notify(wxpay, body) == "SUCCESS", "the payment notification was not answered SUCCESS"
        )
        paid_again = _prepay(wxpay, sim, host.payload(no))
        _expect(paid_again.status == 409, f"paying a paid order answered {paid_again.status}")
        _assert_paid_once(wxpay, probe, no, transaction_id)


def check_reconciliation(host: Host, sim: Simulator, machines: int = 2) -> None:
    """An order paid whose notification never came is found by reconciliation, run by
    several machines at once: one reaction; a second run finds nothing more."""
    with _probe() as probe, _app(host, sim, probe) as wxpay:
        params = _new_order(wxpay, sim, host)
        no = params["out_trade_no"]
        transaction_id, _ = _paid_notification(sim, params)  # never delivered
        start = threading.Barrier(machines)
        paid: list[int] = []

        def machine() -> None:
            with _app(host, sim, probe) as app:
                start.wait()
                paid.append(app.reconcile(older_than=time.time() + 60).paid)

        workers = [threading.Thread(target=machine) for _ in range(machines)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        _expect(len(paid) == machines, "a reconciliation run failed")
        _expect(sum(paid) >= 1, f"reconciliation found no paid order ({paid})")
        _assert_paid_once(wxpay, probe, no, transaction_id)
        again = wxpay.reconcile(older_than=time.time() + 60)
        _expect(again.paid == 0, "a second reconciliation paid the order again")
        _assert_paid_once(wxpay, probe, no, transaction_id)


#: Every check, in the order a failure is easiest to understand.
CHECKS: tuple[Callable[[Host, Simulator], None], ...] = (
    check_amount_and_merchant_mismatch,
    check_pay_again,
    check_duplicates_in_threads,
    check_duplicates_in_processes,
    check_crash_mid_transaction,
    check_closed_order,
    check_reconciliation,
)


class StoreConformance:
    """pytest tests for every check; subclass it and define a ``host`` fixture.

    Uses the ``wxpay_simulator`` fixture of wxpay-mw's pytest plugin.
    """

    def test_amount_and_merchant_mismatch(self, host: Host, wxpay_simulator: Simulator) -> None:
        """See :func:`check_amount_and_merchant_mismatch`."""
        check_amount_and_merchant_mismatch(host, wxpay_simulator)

    def test_pay_again(self, host: Host, wxpay_simulator: Simulator) -> None:
        """See :func:`check_pay_again`."""
        check_pay_again(host, wxpay_simulator)

    def test_duplicates_in_threads(self, host: Host, wxpay_simulator: Simulator) -> None:
        """See :func:`check_duplicates_in_threads`."""
        check_duplicates_in_threads(host, wxpay_simulator)

    def test_duplicates_in_processes(self, host: Host, wxpay_simulator: Simulator) -> None:
        """See :func:`check_duplicates_in_processes`."""
        check_duplicates_in_processes(host, wxpay_simulator)

    def test_crash_mid_transaction(self, host: Host, wxpay_simulator: Simulator) -> None:
        """See :func:`check_crash_mid_transaction`."""
        check_crash_mid_transaction(host, wxpay_simulator)

    def test_closed_order(self, host: Host, wxpay_simulator: Simulator) -> None:
        """See :func:`check_closed_order`."""
        check_closed_order(host, wxpay_simulator)

    def test_reconciliation(self, host: Host, wxpay_simulator: Simulator) -> None:
        """See :func:`check_reconciliation`."""
        check_reconciliation(host, wxpay_simulator)
