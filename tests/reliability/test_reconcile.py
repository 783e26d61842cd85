"""Reconciliation: a payment whose notification never arrived is still not lost.

The host's notify_url is unreachable for WeChat's whole retry schedule (the simulator's,
time-scaled to under a second), so every delivery fails and WeChat gives up. The user
did pay. The order must become paid through ``GET {prefix}/orders/{no}`` (the mini
program polls it after wx.requestPayment) or through ``wxpay-mw reconcile`` (cron),
with the paid reaction exactly once however often either runs. In both API versions: in
v3 the workers and ``wxpay-mw reconcile`` are a v3 merchant (no v2 key) and ask
``GET /v3/pay/transactions/out-trade-no/{no}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from examples.store import OrderStore
from wxpay_mw.simulator import RETRY_SCHEDULE, Simulator, run_simulator

from ._servers import ROOT, ServerProcess, database, merchant_env, run_server

TIMEOUT = 30
# The whole schedule (24 h 4 min) in under a second.
TIME_FACTOR = 1e-5
UNREACHABLE = "http://127.0.0.1:9/wxpay/notify"


@pytest.fixture(params=["v2", "v3"])
def sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    with run_simulator(api=request.param, time_factor=TIME_FACTOR) as running:
        yield running


def _pay_without_notification(server: ServerProcess, sim: Simulator) -> tuple[str, str]:
    """Prepay through the host, pay at WeChat; every notification attempt fails.

    The order's number and status token.
    """
    answer = requests.post(
        server.url("/prepay"),
        json={"code": sim.login(), "product_id": "mooncake"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    params = answer.json()
    out_trade_no: str = params.pop("out_trade_no")
    token: str = params.pop("status_token")
    assert params["signType"] == ("RSA" if sim.api == "v3" else "MD5")
    sim.pay(params)
    return out_trade_no, token


def _reconcile_command(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("wxpay-mw")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "wxpay_mw.cli"]
    return subprocess.run(
        [*command, "reconcile", "--app", "tests.reliability._app:wxpay", "--older-than", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_a_payment_whose_notification_never_came_is_reconciled_once(
    tmp_path: Path, sim: Simulator
) -> None:
    shared = tmp_path / "shared"
    with database("sqlite", tmp_path) as url:
        store = OrderStore(url)
        env = {
            **(sim.v3_env() if sim.api == "v3" else {}),
            **merchant_env(sim.merchant, url, api_base=sim.base_url),
            "WXPAY_NOTIFY_URL": UNREACHABLE,
        }
        if sim.api == "v3":
            del env["WXPAY_API_KEY"]  # a v3 merchant may have no v2 key
        with run_server("uvicorn", env=env, shared=shared) as server:
            by_status, token = _pay_without_notification(server, sim)
            by_command, _ = _pay_without_notification(server, sim)
            log = sim.wait_for_notifications(
                lambda log: len(log) == 2 and all(n["finished"] for n in log), timeout=TIMEOUT
            )
            # WeChat tried its whole schedule and gave up: nothing was acknowledged.
            assert all(not n["acknowledged"] for n in log)
            assert all(len(n["attempts"]) == len(RETRY_SCHEDULE) + 1 for n in log)
            assert store.get(by_status).status == "pending"  # type: ignore[union-attr]

            # 1. The mini program polls the order's status.
            for _ in range(2):
                status = requests.get(
                    server.url(f"/orders/{by_status}"),
                    headers={"x-wxpay-token": token},
                    timeout=TIMEOUT,
                )
                assert status.status_code == 200
                assert status.json()["status"] == "paid"
                assert status.json()["transaction_id"] == sim.order(by_status)["transaction_id"]  # type: ignore[index]

            # 2. Cron runs `wxpay-mw reconcile` (twice: the second finds nothing to do).
            first = _reconcile_command({**env, "WXPAY_TEST_DIR": str(shared)})
            assert first.returncode == 0, first.stderr
            assert json.loads(first.stdout.splitlines()[-1])["paid"] == 1
            second = _reconcile_command({**env, "WXPAY_TEST_DIR": str(shared)})
            assert second.returncode == 0, second.stderr
            assert json.loads(second.stdout.splitlines()[-1])["checked"] == 0
            reactions = server.reactions()

        for no in (by_status, by_command):
            paid = store.get(no)
            assert paid is not None and paid.status == "paid"
        transaction = {no: sim.order(no)["transaction_id"] for no in (by_status, by_command)}  # type: ignore[index]
        assert sorted(store.fulfilments()) == sorted(transaction.items())
        assert sorted(r.split()[0] for r in reactions) == sorted([by_status, by_command])


def test_reconcile_refuses_an_app_that_is_not_a_wxpay(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wxpay_mw.cli", "reconcile", "--app", "os:path"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "not a WxPay" in result.stderr
    assert "Traceback" not in result.stderr
