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

An async host (``async def`` hooks, e.g. :class:`wxpay_mw.store.AsyncOrderStore`) is
checked the same way: the kit sees the async hooks (or ``Host(..., asynchronous=True)``
says so) and drives each request through ``await WxPay.ahandle(...)``, reconciliation
through ``await WxPay.areconcile(...)``, on an event loop of the app's own, which also
awaits each plugin's ``dispose()``. The duplicates then arrive as many ``ahandle`` tasks
at once on that loop, and in each child process on the child's own loop; the crash
check kills a child inside its awaited paid transaction. ``asynchronous=False`` refuses
``async def`` hooks.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import xmlmsg
from ._kit import (
    TIMEOUT,
    Host,
    Probe,
    assert_paid_once,
    expect,
    host_app,
    new_order,
    new_probe,
    notify,
    notify_at_once,
    paid_notification,
    prepay,
    running,
    signed,
    sim_config,
    stored,
)
from .client import WeChatClient
from .config import WxPayConfig

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


# -- the checks ---------------------------------------------------------------------------


def check_duplicates_in_threads(host: Host, sim: Simulator, threads: int = 16) -> None:
    """The same notification from ``threads`` threads at once (for an async host:
    as many ``ahandle`` tasks at once on one event loop): all SUCCESS, one reaction."""
    with new_probe() as probe, host_app(host, sim, probe) as app:
        params = new_order(app, sim, host)
        transaction_id, body = paid_notification(sim, params)
        answers = notify_at_once(app, body, threads)
        expect(answers == ["SUCCESS"] * threads, f"not every delivery was SUCCESS: {answers}")
        assert_paid_once(app, probe, params["out_trade_no"], transaction_id)


def _deliver_in_child(
    plugins: Callable[[Probe], Sequence[object]],
    config: WxPayConfig,
    probe: Probe,
    body: bytes,
    barrier: Any,
    times: int,
    asynchronous: bool | None,
) -> None:
    with running(config, plugins(probe), asynchronous) as app:
        barrier.wait()
        # An async host's loop takes its deliveries at once, as an ASGI server would.
        if app.asynchronous:
            answers = notify_at_once(app, body, times)
        else:
            answers = [notify(app, body) for _ in range(times)]
    if answers != ["SUCCESS"] * times:
        raise SystemExit(f"answers {answers}")


def check_duplicates_in_processes(
    host: Host, sim: Simulator, processes: int = 4, times: int = 3
) -> None:
    """The same notification from ``processes`` processes at once, ``times`` in each
    (for an async host: at once, as tasks on the process's event loop): one reaction."""
    ctx = multiprocessing.get_context("spawn")
    with new_probe() as probe, host_app(host, sim, probe) as app:
        params = new_order(app, sim, host)
        transaction_id, body = paid_notification(sim, params)
        barrier = ctx.Barrier(processes)
        args = (host.plugins, sim_config(sim), probe, body, barrier, times, host.asynchronous)
        children = [ctx.Process(target=_deliver_in_child, args=args) for _ in range(processes)]
        for child in children:
            child.start()
        for child in children:
            child.join(TIMEOUT * 2)
        codes = [child.exitcode for child in children]
        expect(codes == [0] * processes, f"child processes exited with {codes}")
        assert_paid_once(app, probe, params["out_trade_no"], transaction_id)


def _stall_in_child(
    plugins: Callable[[Probe], Sequence[object]],
    config: WxPayConfig,
    probe: Probe,
    body: bytes,
    asynchronous: bool | None,
) -> None:
    with running(config, plugins(probe), asynchronous) as app:
        notify(app, body)


def check_crash_mid_transaction(host: Host, sim: Simulator) -> None:
    """A process killed inside the paid transaction leaves nothing half-done; WeChat's
    retry then completes the payment, with one reaction."""
    ctx = multiprocessing.get_context("spawn")
    with new_probe() as probe, host_app(host, sim, probe) as app:
        params = new_order(app, sim, host)
        no = params["out_trade_no"]
        transaction_id, body = paid_notification(sim, params)
        stall = Path(probe.directory) / "stall"
        stall.write_text("hold the paid transaction", encoding="utf-8")
        args = (host.plugins, sim_config(sim), probe, body, host.asynchronous)
        child = ctx.Process(target=_stall_in_child, args=args)
        child.start()
        try:
            arrived = Path(probe.directory) / f"arrived-{child.pid}"
            deadline = time.monotonic() + TIMEOUT
            while not arrived.exists():
                expect(child.is_alive(), f"the child exited ({child.exitcode}) before paying")
                expect(time.monotonic() < deadline, "the paid reaction was never reached")
                time.sleep(0.01)
            os.kill(child.pid or 0, signal.SIGKILL)
        finally:
            child.join(TIMEOUT)
            stall.unlink(missing_ok=True)
        expect(child.exitcode == -signal.SIGKILL, f"the child exited with {child.exitcode}")
        expect(probe.fulfilments(no) == [], "a reaction was recorded by the killed process")
        status = stored(app, no).status
        expect(status == "pending", f"order {no} is {status!r} after the crash: half-written")
        expect(notify(app, body) == "SUCCESS", "WeChat's retry was not answered SUCCESS")
        expect(notify(app, body) == "SUCCESS", "a later duplicate was not answered SUCCESS")
        assert_paid_once(app, probe, no, transaction_id)


def check_amount_and_merchant_mismatch(host: Host, sim: Simulator) -> None:
    """Correctly signed notifications with a wrong amount, mch_id or appid change nothing."""
    with new_probe() as probe, host_app(host, sim, probe) as app:
        no = new_order(app, sim, host)["out_trade_no"]
        order = stored(app, no)
        wrong = {
            "total_fee": {"total_fee": str(order.total_fee + 1)},
            "mch_id": {"mch_id": sim.merchant.mch_id + "9"},
            "appid": {"appid": "wx" + "0" * 16},
        }
        for what, changes in wrong.items():
            answer = notify(app, signed(sim, order, **changes))
            expect(answer == "FAIL", f"a notification with a wrong {what} was answered {answer}")
        expect(probe.fulfilments(no) == [], "a mismatched notification caused a reaction")
        after = stored(app, no)
        expect(after.status == "pending", f"a mismatched notification made it {after.status!r}")
        expect(after.transaction_id is None, "a mismatched notification stored a transaction_id")


def check_closed_order(host: Host, sim: Simulator) -> None:
    """A closed order cannot be paid again; WeChat's verified word that it was paid
    anyway (a close that lost a race) is honoured, once."""
    with new_probe() as probe, host_app(host, sim, probe) as app:
        no = new_order(app, sim, host)["out_trade_no"]
        with WeChatClient(sim_config(sim)) as client:  # the merchant closes it
            client.close_order(no)
        expect(app.order_status(no)["status"] == "closed", "orderquery CLOSED not stored")
        expect(stored(app, no).status == "closed", "the store did not keep the close")
        again = prepay(app, sim, host.payload(no))
        expect(again.status == 409, f"paying a closed order again answered {again.status}")
        expect(
            json.loads(again.body)["error"] == "order_closed",
            "paying a closed order again was not refused as order_closed",
        )
        late = signed(sim, stored(app, no))
        transaction_id = xmlmsg.from_xml(late)["transaction_id"]
        expect(notify(app, late) == "SUCCESS", "a verified late payment was refused")
        expect(notify(app, late) == "SUCCESS", "its duplicate was refused")
        assert_paid_once(app, probe, no, transaction_id)


def check_pay_again(host: Host, sim: Simulator) -> None:
    """Paying the same order again reuses its prepay_id; a paid order is not paid twice."""
    with new_probe() as probe, host_app(host, sim, probe) as app:
        first = new_order(app, sim, host)
        no = first["out_trade_no"]
        response = prepay(app, sim, host.payload(no))
        expect(response.status == 200, f"paying {no} again failed: {response.body!r}")
        second = json.loads(response.body)
        expect(second["out_trade_no"] == no, "paying again created another order")
        expect(second["package"] == first["package"], "paying again did not reuse prepay_id")
        expect(
            stored(app, no).prepay_id == first["package"].removeprefix("prepay_id="),
            "the store did not keep the prepay_id",
        )
        transaction_id, body = paid_notification(sim, second)
        expect(notify(app, body) == "SUCCESS", "the payment notification was not answered SUCCESS")
        paid_again = prepay(app, sim, host.payload(no))
        expect(paid_again.status == 409, f"paying a paid order answered {paid_again.status}")
        assert_paid_once(app, probe, no, transaction_id)


def check_reconciliation(host: Host, sim: Simulator, machines: int = 2) -> None:
    """An order paid whose notification never came is found by reconciliation, run by
    several machines at once: one reaction; a second run finds nothing more."""
    with new_probe() as probe, host_app(host, sim, probe) as app:
        params = new_order(app, sim, host)
        no = params["out_trade_no"]
        transaction_id, _ = paid_notification(sim, params)  # never delivered
        start = threading.Barrier(machines)
        paid: list[int] = []

        def machine() -> None:
            with host_app(host, sim, probe) as machine_app:
                start.wait()
                paid.append(machine_app.reconcile(older_than=time.time() + 60).paid)

        workers = [threading.Thread(target=machine) for _ in range(machines)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        expect(len(paid) == machines, "a reconciliation run failed")
        expect(sum(paid) >= 1, f"reconciliation found no paid order ({paid})")
        assert_paid_once(app, probe, no, transaction_id)
        again = app.reconcile(older_than=time.time() + 60)
        expect(again.paid == 0, "a second reconciliation paid the order again")
        assert_paid_once(app, probe, no, transaction_id)


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
