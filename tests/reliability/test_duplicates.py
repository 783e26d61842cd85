"""Duplicates at scale: one notification 200 times at once, across worker processes.

WeChat sends a notification from several servers within seconds and retries it for a
day. Here the same valid notification arrives 200 times at the same moment at a real
server with four worker processes (uvicorn for the ASGI adapter, gunicorn for the WSGI
one) serving a host app on the reference store, on SQLite and on PostgreSQL. Every
delivery must be answered SUCCESS (so WeChat stops), and the paid reaction must run
exactly once: one row in ``fulfilments``, one line in the reaction log kept outside the
database.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from examples.store import OrderStore
from tests.support import payment_notification
from wxpay_mw import Order, xmlmsg
from wxpay_mw.simulator import Merchant

from ._servers import database, merchant_env, run_server

COPIES = 200
WORKERS = 4
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.slow
@pytest.mark.parametrize("server_kind", ["uvicorn", "gunicorn"])
@pytest.mark.parametrize("db", DATABASES)
def test_the_same_notification_200_times_at_once_reacts_once(
    tmp_path: Path, server_kind: str, db: str
) -> None:
    merchant = Merchant()
    with database(db, tmp_path) as url:
        store = OrderStore(url)
        order = store.add_order(
            Order(out_trade_no="DUP0001", total_fee=1280, body="dup-test", openid="oDup")
        )
        store.wxpay_order_prepaid(order=order, prepay_id="wx" + "1" * 30)
        body = payment_notification(
            appid=merchant.appid,
            mch_id=merchant.mch_id,
            key=merchant.api_key,
            out_trade_no=order.out_trade_no,
            total_fee=order.total_fee,
        )
        transaction_id = xmlmsg.from_xml(body)["transaction_id"]
        env = merchant_env(merchant, url)
        with run_server(
            server_kind, env=env, shared=tmp_path / "shared", workers=WORKERS
        ) as server:
            start = threading.Barrier(COPIES)

            def deliver(_: int) -> requests.Response:
                start.wait()
                return requests.post(
                    server.url("/notify"),
                    data=body,
                    headers={"content-type": "text/xml"},
                    timeout=120,
                )

            with ThreadPoolExecutor(COPIES) as pool:
                answers = list(pool.map(deliver, range(COPIES)))
            reactions = server.reactions()
            output = server.output()

        failures = [a.text for a in answers if a.status_code != 200 or b"SUCCESS" not in a.content]
        assert not failures, f"{len(failures)} not SUCCESS, e.g. {failures[0]}\n{output[-3000:]}"
        assert all(xmlmsg.from_xml(a.content)["return_code"] == "SUCCESS" for a in answers)
        # Evidence that the duplicates really raced across processes.
        assert len({a.headers["x-worker-pid"] for a in answers}) >= 2
        assert reactions == [reactions[0]] and reactions[0].startswith(
            f"{order.out_trade_no} {transaction_id} "
        ), reactions
        assert store.fulfilments() == [(order.out_trade_no, transaction_id)]
        stored = store.get(order.out_trade_no)
        assert stored is not None and stored.status == "paid"
        assert stored.transaction_id == transaction_id
        # Every delivery reached the paid hook (and was logged); only one won.
        paid_log = [n for n in store.notifications() if n["kind"] == "paid"]
        assert len(paid_log) == COPIES
