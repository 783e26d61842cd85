"""Where the example shops find WeChat, their database and their port.

With ``WXPAY_APPID`` (and the other ``WXPAY_*`` settings) in the environment, the shop
talks to whatever WeChat they name: the real one, or a ``wxpay-mw simulator``. Without,
it starts an embedded simulator, so every example runs alone, offline, and prints how
to take a payment with curl.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wxpay_mw import WxPayConfig
from wxpay_mw.simulator import run_simulator
from wxpay_mw.store import OrderStore

__all__ = ["HOST", "PORT", "database_url", "open_store", "wechat"]

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8000"))

HOWTO = """
  Shop:             http://127.0.0.1:{port}
  WeChat simulator: {sim} (embedded; set WXPAY_* to use another WeChat)
  Its console:      {sim}/simulator/ (orders, notifications, faults)
  Pay for a tea, as the mini program would:
    curl -s -XPOST {sim}/simulator/login                 # wx.login -> {{"code": ...}}
    curl -s -XPOST http://127.0.0.1:{port}/wxpay/prepay -H 'content-type: application/json' \\
         -d '{{"code": "CODE", "product_id": "tea"}}'
    curl -s -XPOST {sim}/simulator/pay -d 'THE JSON PREPAY ANSWERED'   # wx.requestPayment
    curl -s http://127.0.0.1:{port}/wxpay/orders/OUT_TRADE_NO
"""


def database_url() -> str:
    """``DATABASE_URL``, or SQLite in demo-data/."""
    url = os.environ.get("DATABASE_URL")
    if url is None:
        Path("demo-data").mkdir(exist_ok=True)
        url = "sqlite:///demo-data/shop.db"
    return url


def open_store() -> OrderStore:
    """The packaged store at :func:`database_url`, its tables created if need be."""
    return OrderStore(database_url()).create_all()


@contextmanager
def wechat(port: int = PORT) -> Iterator[WxPayConfig]:
    """The shop's WxPayConfig: from the environment, or for an embedded simulator."""
    if os.environ.get("WXPAY_APPID"):
        yield WxPayConfig.from_env()
        return
    with run_simulator(time_factor=0.05) as simulator:
        print(HOWTO.format(port=port, sim=simulator.base_url), flush=True)
        yield simulator.config(notify_url=f"http://127.0.0.1:{port}/wxpay/notify")
