"""API v3: a worker killed (SIGKILL) in the middle of the paid transaction loses nothing.

As test_crash.py for v2, with the workers configured as a v3 merchant (no v2 key) and the
simulator in v3 mode: WeChat judges the dropped connection by status (none) and sends
the signed, sealed notification again. The host app runs under uvicorn with four
workers, paying at the simulator. While the
``block`` flag exists, the paid reaction stops inside the store's transaction (after
the conditional UPDATE, before COMMIT); the test kills that worker there. Nothing may
be half-written (the order still pending, no fulfilment, no reaction), and WeChat's
next delivery on its retry schedule (the simulator's, time-scaled) completes the
payment, with the paid reaction once.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from examples.store import OrderStore
from wxpay_mw.simulator import Simulator

from ._servers import database, merchant_env, run_server

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
TIMEOUT = 30


def _wait_for(condition: Any, what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.parametrize("db", DATABASES)
def test_a_v3_worker_killed_mid_transaction_is_completed_by_wechats_retry(
    tmp_path: Path, db: str
) -> None:
    shared = tmp_path / "shared"
    with Simulator(api="v3", time_factor=0.001) as sim, database(db, tmp_path) as url:
        store = OrderStore(url)
        env = {**sim.v3_env(), **merchant_env(sim.merchant, url, api_base=sim.base_url)}
        del env["WXPAY_API_KEY"]
        with run_server("uvicorn", env=env, shared=shared) as server:
            prepay = requests.post(
                server.url("/prepay"),
                json={"code": sim.login(), "product_id": "dumplings"},
                timeout=TIMEOUT,
            )
            assert prepay.status_code == 200, prepay.text
            params = prepay.json()
            out_trade_no = params.pop("out_trade_no")
            params.pop("status_token")
            assert params["signType"] == "RSA"

            (shared / "block").write_text("hold the paid transaction")
            sim.pay(params)  # the user pays; WeChat starts notifying the server
            arrived = _wait_for(lambda: list(shared.glob("arrived-*")), "the paid hook")
            victim = int(arrived[0].name.removeprefix("arrived-"))
            assert victim in server.worker_pids()
            os.kill(victim, signal.SIGKILL)

            # Nothing half-written: the transaction died with the worker.
            order = store.get(out_trade_no)
            assert order is not None and order.status == "pending"
            assert store.fulfilments() == []
            assert server.reactions() == []

            (shared / "block").unlink()
            log = sim.wait_for_notifications(
                lambda log: any(n["acknowledged"] for n in log), timeout=TIMEOUT
            )
            reactions = server.reactions()

        note = next(n for n in log if n["out_trade_no"] == out_trade_no)
        first = note["attempts"][0]
        assert not first["acknowledged"] and first["status"] is None, first  # no answer
        assert note["acknowledged"] and len(note["attempts"]) >= 2
        assert note["attempts"][-1]["status"] == 204
        transaction_id = sim.order(out_trade_no)["transaction_id"]  # type: ignore[index]
        assert [r.split()[:2] for r in reactions] == [[out_trade_no, transaction_id]]
        assert store.fulfilments() == [(out_trade_no, transaction_id)]
        paid = store.get(out_trade_no)
        assert paid is not None and paid.status == "paid"
        assert victim not in {int(r.split()[2]) for r in reactions}
