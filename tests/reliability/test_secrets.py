"""Secrets never leak: a full run of the flow, every error path included, searched.

Under the leak harness (every log record at every level, stdout, stderr), one merchant
runs everything this suite attacks: payments that succeed; bad, used and refused login
codes; WeChat failing in every way on login, unifiedorder and orderquery; every hostile
notification through an ASGI and a WSGI adapter; a paid hook that crashes; refund
notifications good and bad; reconciliation from Python and from the command line; the
``sign`` / ``verify`` commands; a configuration with a mistyped key; and a real uvicorn
server process whose output is searched too. Every HTTP answer, every exception raised
to the caller and the repr of every object a developer might print are added.

Then the API key (and the refund key derived from it), the app secret and every
session_key WeChat handed out must appear nowhere in any of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from examples.catalogue import Catalogue, new_trade_no
from examples.store import OrderStore
from tests.conformance.conftest import PREFIX, _Late, build_app
from tests.support import refund_notification, serve_asgi, serve_wsgi
from wxpay_mw import (
    ConfigError,
    Order,
    Payment,
    WxPay,
    WxPayConfig,
    WxPayError,
    hookimpl,
    signing,
    xmlmsg,
)
from wxpay_mw.cli import main as cli_main
from wxpay_mw.client import WeChatClient
from wxpay_mw.simulator import Simulator, run_simulator

from . import test_hostile_notify as hostile
from ._servers import database, merchant_env, run_server
from .leaks import LeakWatch

TIMEOUT = 30
MERCHANT = hostile.MERCHANT  # the hostile notifications are signed with its key


@dataclass
class SessionKeys:
    """Registers every session_key WeChat hands out as a secret to search for."""

    watch: LeakWatch
    count: int = 0

    @hookimpl
    def wxpay_user_logged_in(self, openid: str, unionid: str | None, session_key: str) -> None:
        self.count += 1
        self.watch.secret(f"session_key_{self.count}", session_key)


@dataclass
class Crashing:
    """A paid hook that fails while ``on`` (a database outage), with a chatty message."""

    on: bool = False

    @hookimpl
    def wxpay_order_paid(self, order: Order, payment: Payment) -> None:
        if self.on:
            raise RuntimeError(f"database down while paying {order.out_trade_no}")


@dataclass
class Run:
    """One host app (one adapter style) on a real server, and the watch over it."""

    style: str
    base: str
    store: OrderStore
    wxpay: WxPay
    sim: Simulator
    watch: LeakWatch
    crashing: Crashing

    def url(self, path: str) -> str:
        return f"{self.base}{PREFIX}{path}"

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = requests.request(method, self.url(path), timeout=TIMEOUT, **kwargs)
        self.watch.response(f"{self.style} {method} {path}", response)
        return response

    def prepay(self, **payload: Any) -> requests.Response:
        return self.send("POST", "/prepay", json={"code": self.sim.login(), **payload})

    def status(self, out_trade_no: str) -> requests.Response:
        token = self.wxpay.status_token(out_trade_no)
        return self.send("GET", f"/orders/{out_trade_no}", headers={"x-wxpay-token": token})


@contextmanager
def host(style: str, db: Path, sim: Simulator, watch: LeakWatch) -> Iterator[Run]:
    asgi = style in ("asgi-middleware", "starlette-mount")
    late = _Late(asgi)
    serve = serve_asgi if asgi else serve_wsgi
    with serve(late.asgi_app if asgi else late.wsgi) as base:
        store = OrderStore(f"sqlite:///{db}")
        crashing = Crashing()
        config = sim.config(notify_url=f"{base}{PREFIX}/notify", read_timeout=0.5)
        with WxPay(config, store, Catalogue(store), SessionKeys(watch), crashing) as wxpay:
            late.app, _ = build_app(style, wxpay)
            run = Run(style, base, store, wxpay, sim, watch, crashing)
            watch.repr(f"{style} objects", [config, wxpay, wxpay.client, store, sim, sim.merchant])
            yield run


def pay(run: Run) -> str:
    """A payment that succeeds end to end; its out_trade_no."""
    answer = run.prepay(product_id="tea")
    assert answer.status_code == 200, answer.text
    params = answer.json()
    no: str = params.pop("out_trade_no")
    params.pop("status_token")
    before = len(run.sim.notifications())
    run.sim.pay(params)
    run.sim.wait_for_notifications(lambda log: len(log) > before and log[-1]["acknowledged"])
    assert run.status(no).json()["status"] == "paid"
    return no


def login_errors(run: Run) -> None:
    assert run.send("POST", "/prepay", json={"code": "not-a-code", "product_id": "tea"}).ok is False
    code = run.sim.login()
    run.send("POST", "/prepay", json={"code": code, "product_id": "tea"})
    used = run.send("POST", "/prepay", json={"code": code, "product_id": "tea"})
    assert used.status_code == 401
    run.send("POST", "/prepay", json={"product_id": "tea"})  # no code at all
    run.send("POST", "/prepay", json={"code": run.sim.login(), "product_id": "caviar"})
    run.send("POST", "/prepay", data=b"{", headers={"content-type": "application/json"})
    for kind in ("http_500", "timeout", "reset", "malformed_xml"):
        run.sim.add_fault("/sns/jscode2session", kind, seconds=1.5 if kind == "timeout" else None)
        assert run.prepay(product_id="tea").status_code >= 500
        run.sim.clear_faults()


def wechat_faults(run: Run) -> None:
    for kind in ("latency", "timeout", "http_500", "reset", "malformed_xml", "bad_sign"):
        order = run.store.add_order(
            Order(out_trade_no=new_trade_no(), total_fee=1280, body="secret-test")
        )
        slow = 1.5 if kind in ("latency", "timeout") else None
        run.sim.add_fault("/pay/unifiedorder", kind, seconds=slow)
        assert run.prepay(out_trade_no=order.out_trade_no).status_code >= 500
        run.sim.clear_faults()
        assert run.prepay(out_trade_no=order.out_trade_no).status_code == 200
        # orderquery failing while the status path asks it
        run.sim.add_fault("/pay/orderquery", kind, seconds=slow)
        run.status(order.out_trade_no)
        run.sim.clear_faults()


def hostile_notifications(run: Run, tmp: Path) -> None:
    listener = hostile.Listener()
    try:
        secret_file = tmp / f"{run.style}-secret.txt"
        secret_file.write_text("XXE-MARKER")
        target = hostile.Host(
            run.style, run.base, run.store, tmp / f"{run.style}.db", hostile.Spy(), listener,
            secret_file,
        )  # fmt: skip
        for name, attack in hostile.ATTACKS.items():
            order = target.pending_order(attack.sign_type)
            body = attack.body(target, order)
            response = requests.request(
                attack.method, target.notify_url, data=body, headers=attack.headers, timeout=30
            )
            run.watch.response(f"{run.style} hostile {name}", response)
            assert b"SUCCESS" not in response.content, name
    finally:
        listener.close()


def crashing_paid_hook(run: Run) -> None:
    run.crashing.on = True
    try:
        answer = run.prepay(product_id="tea").json()
        no = answer.pop("out_trade_no")
        before = len(run.sim.notifications())
        run.sim.pay(answer)
        # WeChat's deliveries get FAIL (and are retried) while the hook crashes.
        run.sim.wait_for_notifications(
            lambda log: len(log) > before and len(log[-1]["attempts"]) >= 2
        )
    finally:
        run.crashing.on = False
    run.sim.wait_for_notifications(lambda log: log[-1]["acknowledged"])
    assert run.store.get(no).status == "paid"  # type: ignore[union-attr]


def refunds(run: Run, paid_no: str) -> None:
    good = refund_notification(
        appid=MERCHANT.appid, mch_id=MERCHANT.mch_id, key=MERCHANT.api_key,
        out_trade_no=paid_no, refund_fee=1, total_fee=1,
    )  # fmt: skip
    assert b"SUCCESS" in run.send("POST", "/refund-notify", data=good).content
    forged = refund_notification(
        appid=MERCHANT.appid, mch_id=MERCHANT.mch_id, key=hostile._other_key(),
        out_trade_no=paid_no, refund_fee=1, total_fee=1,
    )  # fmt: skip
    assert b"FAIL" in run.send("POST", "/refund-notify", data=forged).content
    garbage = xmlmsg.to_xml(
        {"return_code": "SUCCESS", "appid": MERCHANT.appid, "mch_id": MERCHANT.mch_id,
         "req_info": "bm90IGVuY3J5cHRlZA=="}
    )  # fmt: skip
    assert b"FAIL" in run.send("POST", "/refund-notify", data=garbage).content


def python_api_errors(run: Run, watch: LeakWatch) -> None:
    """What a host calling the Python API sees when things go wrong."""

    def catch(name: str, call: Any) -> None:
        try:
            call()
        except WxPayError as exc:
            watch.exception(name, exc)
        else:
            raise AssertionError(f"{name} should have failed")

    client = WeChatClient(run.wxpay.config)
    try:
        catch("code2session", lambda: client.code2session("bad-code"))
        catch("orderquery", lambda: client.order_query(out_trade_no="NOSUCH"))
        for kind in ("bad_sign", "http_500", "malformed_xml", "reset"):
            run.sim.add_fault("*", kind)
            catch(
                f"unified_order {kind}",
                lambda: client.unified_order(
                    out_trade_no=new_trade_no(), total_fee=1, body="x-y", openid="o",
                    spbill_create_ip="127.0.0.1",
                ),
            )  # fmt: skip
            if kind != "bad_sign":  # login answers are JSON, unsigned: nothing to forge
                catch(f"code2session {kind}", lambda: client.code2session(run.sim.login()))
            run.sim.clear_faults()
    finally:
        client.close()
    watch.repr("reconcile summary", run.wxpay.reconcile(older_than=2e9))


def cli_and_config(watch: LeakWatch, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    monkeypatch.setenv("WXPAY_API_KEY", MERCHANT.api_key)
    assert cli_main(["sign", "appid=wx1", "mch_id=1", "body=测试"]) == 0
    signed = {"appid": "wx1", "total_fee": "1"}
    message = tmp / "message.xml"
    message.write_bytes(xmlmsg.to_xml({**signed, "sign": "0" * 32}))
    assert cli_main(["verify", str(message)]) == 1
    message.write_bytes(xmlmsg.to_xml({**signed, "sign": signing.sign(signed, MERCHANT.api_key)}))
    assert cli_main(["verify", str(message)]) == 0
    # A key pasted with a typo (33 characters): the error must not echo it.
    typo = MERCHANT.api_key + "x"
    watch.secret("mistyped_api_key", typo)
    for bad in ({"api_key": typo}, {"api_key": typo[:20]}, {"app_secret": " "}):
        try:
            MERCHANT.as_config(notify_url="https://shop.example/n", **bad)
        except ConfigError as exc:
            watch.exception(f"config {sorted(bad)}", exc)
    monkeypatch.setenv("WXPAY_API_KEY", typo)
    try:
        WxPayConfig.from_env(
            {"WXPAY_APPID": MERCHANT.appid, "WXPAY_MCH_ID": MERCHANT.mch_id,
             "WXPAY_API_KEY": typo, "WXPAY_NOTIFY_URL": "https://shop.example/n"}
        )  # fmt: skip
    except ConfigError as exc:
        watch.exception("config from_env", exc)
    assert cli_main(["sign", "a=1"]) == 0  # warns about the key's length, never shows it


def server_process(watch: LeakWatch, sim: Simulator, tmp: Path) -> None:
    """The same host in a uvicorn process: its whole output is searched too."""
    with database("sqlite", tmp) as url:
        env = merchant_env(sim.merchant, url, api_base=sim.base_url)
        with run_server("uvicorn", env=env, shared=tmp / "shared", workers=2) as server:
            ok = requests.post(
                server.url("/prepay"), json={"code": sim.login(), "product_id": "tea"}, timeout=30
            )
            watch.response("process prepay", ok)
            params = ok.json()
            params.pop("out_trade_no")
            sim.pay(params)
            sim.wait_for_notifications(lambda log: log[-1]["acknowledged"])
            bad = requests.post(
                server.url("/prepay"), json={"code": "bad", "product_id": "tea"}, timeout=30
            )
            watch.response("process bad code", bad)
            forged = requests.post(server.url("/notify"), data=b"<xml><a>1</a></xml>", timeout=30)
            watch.response("process forged notify", forged)
            sim.add_fault("*", "http_500")
            watch.response(
                "process wechat down",
                requests.post(
                    server.url("/prepay"),
                    json={"code": sim.login(), "product_id": "tea"},
                    timeout=30,
                ),
            )
            sim.clear_faults()
        watch.text("uvicorn output", server.output())


@pytest.mark.slow
def test_no_secret_appears_anywhere_in_a_full_run(
    leak_watch: LeakWatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = leak_watch
    watch.api_key(MERCHANT.api_key)
    watch.secret("app_secret", MERCHANT.app_secret)
    watch.secret("sandbox_key", MERCHANT.sandbox_key)
    with run_simulator(MERCHANT, time_factor=0.001) as sim:
        for style in ("asgi-middleware", "flask-extension"):
            with host(style, tmp_path / f"{style}.db", sim, watch) as run:
                paid_no = pay(run)
                login_errors(run)
                wechat_faults(run)
                hostile_notifications(run, tmp_path)
                crashing_paid_hook(run)
                refunds(run, paid_no)
                python_api_errors(run, watch)
            sim.reset()
        cli_and_config(watch, monkeypatch, tmp_path)
        server_process(watch, sim, tmp_path / "process")

    session_keys = [name for name in watch.secrets if name.startswith("session_key")]
    assert len(session_keys) >= 10, "the run should have logged in many times"
    # The run did produce what is searched: warnings, tracebacks, answers, CLI output.
    watch.assert_saw("notification rejected")
    watch.assert_saw("Traceback")
    watch.assert_saw("database down while paying")
    watch.assert_saw("wechat_unavailable")
    watch.read_streams()
    watch.assert_saw("&key=" + "*" * 32)
    watch.assert_clean()
    # And the run was clean otherwise: no server machinery failing behind the scenes.
    assert not [where for where, text in watch.captured if "AttributeError" in text]
