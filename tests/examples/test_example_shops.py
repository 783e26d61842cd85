"""Each example shop, started as a developer starts it, takes a payment end to end.

Real processes, real HTTP: the shop on a free port, WeChat played by a simulator (the
one the example embeds when no WXPAY_* is set, or the pytest fixture's via WXPAY_*).
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
import requests

from wxpay_mw.simulator import Simulator

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHOPS = ["fastapi_shop", "starlette_shop", "flask_shop", "wsgi_shop"]


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def run_shop(
    module: str, tmp_path: Path, port: int, env: dict[str, str]
) -> Iterator[tuple[str, str]]:
    """Start ``python -m examples.<module>``; yield (shop URL, its output file path)."""
    log = tmp_path / f"{module}.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WXPAY_")}
    environ = {**clean, "PORT": str(port), "DATABASE_URL": f"sqlite:///{tmp_path}/shop.db", **env}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", f"examples.{module}"],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        # Ready when it answers; give up if the process dies or a minute passes.
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"{module} exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"{module} never answered:\n{log.read_text()}"
            try:
                requests.get(base + "/products", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield base, str(log)
    finally:
        process.terminate()
        process.wait(timeout=30)


def pay_for_tea(shop: str, wechat: str, tmp_path: Path) -> None:
    """What the mini program does, then what the shop's database must say."""
    with requests.Session() as http:
        assert [p["id"] for p in http.get(shop + "/products", timeout=5).json()] == [
            "tea",
            "dumplings",
            "mooncake",
        ]
        code = http.post(wechat + "/simulator/login", json={}, timeout=5).json()["code"]
        answer = http.post(
            shop + "/wxpay/prepay", json={"code": code, "product_id": "tea"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        params = answer.json()
        out_trade_no = params.pop("out_trade_no")
        token = params.pop("status_token")
        assert set(params) == {"timeStamp", "nonceStr", "package", "signType", "paySign"}
        paid = http.post(wechat + "/simulator/pay", json=params, timeout=10).json()
        assert paid["errMsg"] == "requestPayment:ok"
        status: dict[str, object] = {}
        for _ in range(100):
            status = http.get(
                f"{shop}/wxpay/orders/{out_trade_no}",
                headers={"X-WxPay-Token": token},
                timeout=10,
            ).json()
            if status["status"] != "pending":
                break
            time.sleep(0.1)
    assert status == {
        "out_trade_no": out_trade_no,
        "status": "paid",
        "total_fee": 1,
        "transaction_id": paid["transaction_id"],
    }
    with closing(sqlite3.connect(tmp_path / "shop.db")) as db:
        # The shop's own fulfilment row, written in the store's paid transaction, once.
        shipped = db.execute("SELECT out_trade_no, transaction_id FROM shipments").fetchall()
        assert shipped == [(out_trade_no, paid["transaction_id"])]


@pytest.mark.parametrize("module", SHOPS)
def test_shop_runs_alone_with_its_embedded_simulator(module: str, tmp_path: Path) -> None:
    with run_shop(module, tmp_path, free_port(), {}) as (shop, log):
        found = re.search(r"WeChat simulator: (http://\S+)", Path(log).read_text())
        assert found, "the shop did not say where its simulator is"
        pay_for_tea(shop, found.group(1), tmp_path)


@pytest.mark.parametrize("module", SHOPS)
def test_shop_configured_from_the_environment(
    module: str, tmp_path: Path, wxpay_simulator: Simulator
) -> None:
    port = free_port()
    config = wxpay_simulator.config(notify_url=f"http://127.0.0.1:{port}/wxpay/notify")
    env = {
        "WXPAY_APPID": config.appid,
        "WXPAY_MCH_ID": config.mch_id,
        "WXPAY_API_KEY": config.api_key,
        "WXPAY_APP_SECRET": config.app_secret or "",
        "WXPAY_NOTIFY_URL": config.notify_url,
        "WXPAY_API_BASE": config.api_base,
        "WXPAY_LOGIN_BASE": config.login_base,
    }
    with run_shop(module, tmp_path, port, env) as (shop, log):
        pay_for_tea(shop, wxpay_simulator.base_url, tmp_path)
        assert "embedded" not in Path(log).read_text()
        # WeChat (the fixture's simulator) got its notification acknowledged. Waited for
        # while the shop still runs: the status poll may have seen the payment through
        # orderquery before the notification arrived.
        assert wxpay_simulator.wait_for_notifications(1, timeout=30)
