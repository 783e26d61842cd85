"""``WXPAY_API_VERSION=v3 make demo``: the demo shop as a v3 merchant, driven over HTTP the
way its page drives it (wx.login, prepay, wx.requestPayment, the order's status)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def _demo(data: Path) -> Iterator[str]:
    """The demo in a subprocess on a free port, as `make demo` runs it; its base URL once
    it answers. Its output goes to a file, which nothing has to keep reading."""
    env = {**os.environ, "WXPAY_API_VERSION": "v3"}
    log = data.parent / f"demo-{time.monotonic_ns()}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.demo", "--port", "0", "--data", str(data)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = time.monotonic() + 60
        found = None
        while found is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            found = re.search(r"demo shop:\s+(http://\S+)", log.read_text())
        assert found, log.read_text()
        assert "WeChat Pay API v3" in log.read_text()
        base = found.group(1).rstrip("/")
        while True:  # the banner comes once the port is bound, before the server listens
            try:
                requests.get(f"{base}/api/products", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _post(url: str, data: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(url, json=data, timeout=10)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _buy(base: str) -> tuple[str, str]:
    code = _post(f"{base}/simulator/login", {})["code"]
    params = _post(f"{base}/wxpay/prepay", {"code": code, "product_id": "dumplings"})
    assert params["signType"] == "RSA"
    pay = {k: params[k] for k in ("timeStamp", "nonceStr", "package", "signType", "paySign")}
    assert _post(f"{base}/simulator/pay", pay)["errMsg"] == "requestPayment:ok"
    no, token = params["out_trade_no"], params["status_token"]
    url = f"{base}/wxpay/orders/{no}"
    deadline = time.monotonic() + 30
    while True:
        order = requests.get(url, headers={"x-wxpay-token": token}, timeout=10).json()
        if order["status"] == "paid" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert order["status"] == "paid" and order["total_fee"] == 1280
    return no, order["transaction_id"]


def test_the_demo_takes_a_v3_payment_and_keeps_its_keys(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    with _demo(data) as base:
        no, transaction_id = _buy(base)
        # The status poll may have found the payment first: wait for the notification.
        deadline = time.monotonic() + 30
        while True:
            notes = requests.get(f"{base}/simulator/notifications", timeout=5).json()
            if notes["notifications"] and notes["notifications"][0]["acknowledged"]:
                break
            assert time.monotonic() < deadline, notes
            time.sleep(0.1)
    (note,) = notes["notifications"]
    assert note["api"] == "v3" and note["out_trade_no"] == no
    assert [a["status"] for a in note["attempts"] if a["acknowledged"]] == [204]
    with closing(sqlite3.connect(data / "orders.db")) as db:
        row = db.execute(
            "SELECT status, total_fee, transaction_id FROM wxpay_orders WHERE out_trade_no = ?",
            (no,),
        ).fetchone()
    assert row == ("paid", 1280, transaction_id)
    keys = sorted(p.name for p in (data / "v3-keys").iterdir())
    before = {name: (data / "v3-keys" / name).read_bytes() for name in keys}
    assert keys  # made on the first start...
    with _demo(data) as base:
        _buy(base)
    # ...and reused on the next: the same merchant key, the same WeChat keys.
    assert {name: (data / "v3-keys" / name).read_bytes() for name in keys} == before
