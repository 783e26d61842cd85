"""Secrets never leak in API v3: a v3 run of the flow, error paths included, searched.

Under the leak harness (every log record at every level, stdout, stderr), a v3 merchant
(no v2 key) takes payments and a refund through the ASGI middleware and the Flask
extension, meets every hostile v3 notification, a store that fails, WeChat failing and
signing wrongly, and a mistyped APIv3 key. Every HTTP answer, every exception and the
repr of every object a developer might print are added. Then the APIv3 key, the
merchant's private key, the app secret and every session_key must appear nowhere.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support import MemoryStore
from tests.support.v3messages import signed_notification, transaction
from tests.v3flow.conftest import Hosted, hosted
from wxpay_mw import WxPayConfig, WxPayError, hookimpl
from wxpay_mw.errors import ConfigError
from wxpay_mw.simulator import Simulator

from .leaks import LeakWatch

TIMEOUT = 10


class SessionKeys:
    """Registers every session_key WeChat hands out as a secret."""

    def __init__(self, watch: LeakWatch) -> None:
        self.watch = watch
        self.count = 0

    @hookimpl
    def wxpay_user_logged_in(self, openid: str, unionid: str | None, session_key: str) -> None:
        self.count += 1
        self.watch.secret(f"session_key {openid} #{self.count}", session_key)


def _private_key_body(path: str) -> str:
    """The private key as DER in Base64, one line: every 12-character window is searched."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return base64.b64encode(der).decode()


def _pay(run: Hosted, sim: Simulator, watch: LeakWatch) -> str:
    answer = requests.post(
        run.url("/prepay"), json={"code": sim.login(), "sku": "pear"}, timeout=TIMEOUT
    )
    watch.response("prepay", answer)
    data: dict[str, Any] = answer.json()
    sim.pay({k: v for k, v in data.items() if k not in ("out_trade_no", "status_token")})
    sim.wait_for_notifications(
        lambda log: any(n["out_trade_no"] == data["out_trade_no"] for n in log if n["acknowledged"])
    )
    status = requests.get(
        run.url(f"/orders/{data['out_trade_no']}"),
        headers={"x-wxpay-token": data["status_token"]},
        timeout=TIMEOUT,
    )
    watch.response("status", status)
    return str(data["out_trade_no"])


def _hostile(run: Hosted, sim: Simulator, watch: LeakWatch, store: MemoryStore) -> None:
    answer = requests.post(
        run.url("/prepay"), json={"code": sim.login(), "sku": "apple"}, timeout=TIMEOUT
    )
    no = str(answer.json()["out_trade_no"])
    tx = transaction(sim, no, 100)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def tampered(envelope: dict[str, Any]) -> None:
        envelope["resource"]["ciphertext"] = envelope["resource"]["ciphertext"][::-1]

    notes = {
        "bad signature": signed_notification(sim, tx, key=stranger),
        "unknown serial": signed_notification(sim, tx, serial="PUB_KEY_ID_0000000000000000"),
        "stale": signed_notification(sim, tx, timestamp=time.time() - 3600),
        "tampered": signed_notification(sim, tx, edit=tampered),
        "wrong mchid": signed_notification(sim, tx | {"mchid": "1900000999"}),
        "amount": signed_notification(sim, tx | {"amount": {"total": 1, "payer_total": 1}}),
    }
    for name, (headers, body) in notes.items():
        refused = requests.post(run.url("/notify"), data=body, headers=headers, timeout=TIMEOUT)
        assert refused.status_code in (400, 401), refused.text
        watch.response(f"hostile {name}", refused)
    store.fail_paid = True
    headers, body = signed_notification(sim, tx)
    failed = requests.post(run.url("/notify"), data=body, headers=headers, timeout=TIMEOUT)
    assert failed.status_code == 500
    watch.response("store down", failed)
    store.fail_paid = False


def _wechat_faults(run: Hosted, sim: Simulator, watch: LeakWatch) -> None:
    for kind in ("http_500", "bad_sign", "sign_probe"):
        sim.add_fault("/v3/pay/transactions/jsapi", kind, count=1)
        answer = requests.post(
            run.url("/prepay"), json={"code": sim.login(), "sku": "apple"}, timeout=TIMEOUT
        )
        assert answer.status_code >= 500, answer.text
        watch.response(f"wechat {kind}", answer)
    sim.clear_faults()


@pytest.mark.slow
def test_no_v3_secret_appears_anywhere_in_a_v3_run(leak_watch: LeakWatch) -> None:
    watch = leak_watch
    with Simulator(api="v3", time_factor=0.001) as sim:
        settings = sim.v3_settings()
        watch.secret("apiv3_key", settings.apiv3_key)
        watch.secret("private_key", _private_key_body(settings.private_key_path))
        watch.secret("app_secret", sim.merchant.app_secret)
        session_keys = SessionKeys(watch)
        for style in ("asgi-middleware", "flask-extension"):
            store = MemoryStore()
            with hosted(sim, style, (store, session_keys)) as run:
                paid = _pay(run, sim, watch)
                made = run.wxpay.refund(paid, 100)
                watch.repr("refund", made)
                sim.wait_for_notifications(
                    lambda log: any(n["kind"] == "refund" and n["acknowledged"] for n in log)
                )
                _hostile(run, sim, watch, store)
                _wechat_faults(run, sim, watch)
                for name, obj in (
                    ("config", run.wxpay.config),
                    ("v3 settings", run.wxpay.config.v3),
                    ("wxpay", run.wxpay),
                    ("client", run.wxpay.client),
                ):
                    watch.repr(name, obj)
                try:
                    run.wxpay.refund("NOSUCHORDER1", 1)
                except WxPayError as exc:
                    watch.exception("refund of an unknown order", exc)
            sim.reset()
        env = sim.v3_env("http://127.0.0.1:9/wxpay/notify")
        env["WXPAY_APIV3_KEY"] = settings.apiv3_key[:-1]  # one character short
        with pytest.raises(ConfigError) as raised:
            WxPayConfig.from_env(env)
        watch.exception("mistyped APIv3 key", raised.value)

    assert len([n for n in watch.secrets if n.startswith("session_key")]) == 10
    watch.assert_saw("notification rejected")
    watch.assert_saw("is 31 bytes")
    watch.assert_saw("Traceback")
    watch.assert_clean()
