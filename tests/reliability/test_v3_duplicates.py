"""Duplicates at scale in API v3: one signed, sealed notification 200 times at once,
across worker processes, acknowledged 204 each time, reacting once.

As test_duplicates.py for v2, with the workers configured as a v3 merchant (no v2 key):
the keys are a v3 simulator's, and the notification is WeChat's JSON, signed in its
headers under the WeChat Pay public key.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from examples.store import OrderStore
from tests.support.v3messages import signed_notification, transaction
from wxpay_mw import Order
from wxpay_mw.simulator import Simulator

from ._servers import database, merchant_env, run_server

COPIES = 200
WORKERS = 4
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.slow
@pytest.mark.parametrize("server_kind", ["uvicorn", "gunicorn"])
@pytest.mark.parametrize("db", DATABASES)
def test_the_same_v3_notification_200_times_at_once_reacts_once(
    tmp_path: Path, server_kind: str, db: str
) -> None:
    with Simulator(api="v3", time_factor=0.001) as sim, database(db, tmp_path) as url:
        store = OrderStore(url)
        order = store.add_order(
            Order(out_trade_no="DUP3001", total_fee=1280, body="dup-test", openid="oDup")
        )
        store.wxpay_order_prepaid(order=order, prepay_id="wx" + "3" * 30)
        tx = transaction(sim, order.out_trade_no, order.total_fee)
        headers, body = signed_notification(sim, tx)
        env = {**sim.v3_env(), **merchant_env(sim.merchant, url, api_base=sim.base_url)}
        del env["WXPAY_API_KEY"]
        with run_server(
            server_kind, env=env, shared=tmp_path / "shared", workers=WORKERS
        ) as server:
            start = threading.Barrier(COPIES)

            def deliver(_: int) -> requests.Response:
                start.wait()
                return requests.post(server.url("/notify"), data=body, headers=headers, timeout=120)

            with ThreadPoolExecutor(COPIES) as pool:
                answers = list(pool.map(deliver, range(COPIES)))
            reactions = server.reactions()
            output = server.output()

        failures = [f"{a.status_code} {a.text}" for a in answers if a.status_code != 204]
        assert not failures, f"{len(failures)} not 204, e.g. {failures[0]}\n{output[-3000:]}"
        assert all(a.content == b"" for a in answers)
        assert len({a.headers["x-worker-pid"] for a in answers}) >= 2
        transaction_id = tx["transaction_id"]
        assert reactions == [reactions[0]] and reactions[0].startswith(
            f"{order.out_trade_no} {transaction_id} "
        ), reactions
        assert store.fulfilments() == [(order.out_trade_no, transaction_id)]
        stored = store.get(order.out_trade_no)
        assert stored is not None and stored.status == "paid"
        assert stored.transaction_id == transaction_id
