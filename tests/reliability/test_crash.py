"""A worker killed (SIGKILL) in the middle of the paid transaction loses nothing.

The host app runs under uvicorn with four workers, paying at the simulator. While the
``block`` flag exists, the paid reaction stops inside the store's transaction (after
the conditional UPDATE, before COMMIT); the test kills that worker there. Nothing may
be half-written (the order still pending, no fulfilment, no reaction), and WeChat's
next delivery on its retry schedule (the simulator's, time-scaled) completes the
payment, with the paid reaction once. The same in API v3: the workers configured as a v3
merchant (no v2 key), the simulator in v3 mode; WeChat judges the dropped connection by
status (none) and sends the signed, sealed notification again.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def _wechat(api: str, v2: Simulator) -> Iterator[Simulator]:
    """The simulator in ``api``'s mode (v2: the fixture's)."""
    if api == "v2":
        yield v2
        return
    with Simulator(api="v3", time_factor=0.001) as v3:
        yield v3


def _env(api: str, sim: Simulator, url: str) -> dict[str, str]:
    """The workers' environment: a v2 merchant, or a v3 one without the v2 key."""
    env = merchant_env(sim.merchant, url, api_base=sim.base_url)
    if api == "v3":
        env = {**sim.v3_env(), **env}
        del env["WXPAY_API_KEY"]
    return env


@pytest.mark.slow
@pytest.mark.parametrize("api", ["v2", "v3"])
@pytest.mark.parametrize("db", DATABASES)
def test_a_worker_killed_mid_transaction_is_completed_by_wechats_retry(
    tmp_path: Path, db: str, api: str, wxpay_simulator: Simulator
) -> None:
    shared = tmp_path / "shared"
    with _wechat(api, wxpay_simulator) as sim, database(db, tmp_path) as url:
        store = OrderStore(url)
        env = _env(api, sim, url)
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
            assert params["signType"] == ("RSA" if api == "v3" else "MD5")

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
        # v3 is judged by status alone: 204 when recorded; v2 by its SUCCESS body.
        assert note["attempts"][-1]["status"] == (204 if api == "v3" else 200)
        transaction_id = sim.order(out_trade_no)["transaction_id"]  # type: ignore[index]
        assert [r.split()[:2] for r in reactions] == [[out_trade_no, transaction_id]]
        assert store.fulfilments() == [(out_trade_no, transaction_id)]
        paid = store.get(out_trade_no)
        assert paid is not None and paid.status == "paid"
        assert victim not in {int(r.split()[2]) for r in reactions}
