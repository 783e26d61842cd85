"""``wxpay-mw simulator trigger``: a genuine notification to a real host app, and to a
bare receiver that checks what arrived with the merchant's key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from examples.catalogue import Catalogue
from examples.flask_shop import create_app
from wxpay_mw import WxPay, signing
from wxpay_mw.cli import main
from wxpay_mw.refundcrypto import decrypt_req_info
from wxpay_mw.simulator import Simulator
from wxpay_mw.simulator._host import HostServer
from wxpay_mw.store import OrderStore
from wxpay_mw.xmlmsg import from_xml

from .conftest import Receiver

KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def merchant_env(monkeypatch: pytest.MonkeyPatch, wxpay_simulator: Simulator) -> None:
    """The host's merchant settings in the environment, as a developer exports them."""
    merchant = wxpay_simulator.merchant
    monkeypatch.setenv("WXPAY_APPID", merchant.appid)
    monkeypatch.setenv("WXPAY_MCH_ID", merchant.mch_id)
    monkeypatch.setenv("WXPAY_API_KEY", merchant.api_key)
    for name in ("WXPAY_NOTIFY_URL", "WXPAY_REFUND_NOTIFY_URL", "WXPAY_SIGN_TYPE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def shop(
    wxpay_simulator: Simulator, wxpay_host: HostServer, tmp_path: Path
) -> Iterator[tuple[str, OrderStore]]:
    """The Flask example shop on a real port, talking to the simulator."""
    store = OrderStore(f"sqlite:///{tmp_path / 'shop.db'}").create_all()
    with WxPay(wxpay_host.config(), store, Catalogue(store)) as wxpay:
        yield wxpay_host.serve(create_app(wxpay)), store
    store.dispose()


def _pending_order(sim: Simulator, shop: str) -> dict[str, str]:
    body = {"code": sim.login(), "product_id": "dumplings"}
    return requests.post(f"{shop}/wxpay/prepay", json=body, timeout=10).json()  # type: ignore[no-any-return]


@pytest.mark.usefixtures("merchant_env")
def test_trigger_payment_pays_the_hosts_pending_order(
    wxpay_simulator: Simulator,
    shop: tuple[str, OrderStore],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, store = shop
    params = _pending_order(wxpay_simulator, url)
    no = params["out_trade_no"]
    argv = ["simulator", "trigger", "payment", "--url", f"{url}/wxpay/notify"]
    status = main([*argv, "--out-trade-no", no, "--total-fee", "1280"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"POST {url}/wxpay/notify" in out
    assert f"<out_trade_no>{no}</out_trade_no>" in out.replace("<![CDATA[", "").replace("]]>", "")
    assert "acknowledged" in out
    order = store.get(no)
    assert order is not None and order.status == "paid"
    # Nothing went through the simulator: the event came from the command alone.
    assert wxpay_simulator.notifications() == []


@pytest.mark.usefixtures("merchant_env")
def test_trigger_exits_1_when_the_host_refuses(
    wxpay_simulator: Simulator,
    shop: tuple[str, OrderStore],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, store = shop
    no = _pending_order(wxpay_simulator, url)["out_trade_no"]
    # The wrong amount: the host must refuse it (and keep the order pending).
    argv = ["simulator", "trigger", "payment", "--url", f"{url}/wxpay/notify"]
    assert main([*argv, "--out-trade-no", no, "--total-fee", "1"]) == 1
    out = capsys.readouterr().out
    assert "NOT acknowledged" in out
    assert "your app answered HTTP 200" in out and "FAIL" in out
    assert store.get(no).status == "pending"  # type: ignore[union-attr]


def test_trigger_signs_with_the_exported_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver = Receiver().start()
    try:
        monkeypatch.setenv("WXPAY_APPID", "wx1234567890abcdef")
        monkeypatch.setenv("WXPAY_MCH_ID", "1230000109")
        monkeypatch.setenv("WXPAY_API_KEY", KEY)
        monkeypatch.setenv("WXPAY_NOTIFY_URL", receiver.url)
        monkeypatch.setenv("WXPAY_SIGN_TYPE", "HMAC-SHA256")
        assert main(["simulator", "trigger", "payment.coupon", "--total-fee", "300"]) == 0
        monkeypatch.setenv("WXPAY_REFUND_NOTIFY_URL", receiver.url)
        argv = ["simulator", "trigger", "refund.closed", "--out-trade-no", "T1"]
        assert main([*argv, "--total-fee", "300", "--refund-fee", "100"]) == 0
        out = capsys.readouterr().out
    finally:
        receiver.stop()
    payment, refund = (from_xml(r.body) for r in receiver.received)
    assert signing.verify(payment, KEY, "HMAC-SHA256")
    assert "sign_type" not in payment
    assert (payment["mch_id"], payment["result_code"]) == ("1230000109", "SUCCESS")
    assert (payment["total_fee"], payment["cash_fee"], payment["coupon_fee"]) == (
        "300",
        "150",
        "150",
    )
    assert payment["coupon_count"] == "1"
    assert "is new to your app" in out  # no --out-trade-no: the command says so
    assert "sign" not in refund
    secret = decrypt_req_info(refund["req_info"], KEY)
    assert (secret["out_trade_no"], secret["refund_status"]) == ("T1", "REFUNDCLOSE")
    assert (secret["total_fee"], secret["refund_fee"]) == ("300", "100")
    assert "refund_status=REFUNDCLOSE" in out
    assert KEY not in out


def test_trigger_refuses_without_a_merchant_or_a_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("WXPAY_APPID", "WXPAY_MCH_ID", "WXPAY_API_KEY", "WXPAY_NOTIFY_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["simulator", "trigger", "payment", "--url", "http://127.0.0.1:9/n"]) == 2
    assert "export your app's WXPAY_APPID" in capsys.readouterr().err
    monkeypatch.setenv("WXPAY_APPID", "wx1234567890abcdef")
    monkeypatch.setenv("WXPAY_MCH_ID", "1230000109")
    monkeypatch.setenv("WXPAY_API_KEY", KEY)
    assert main(["simulator", "trigger", "payment"]) == 2
    assert "pass --url or set WXPAY_NOTIFY_URL" in capsys.readouterr().err
    argv = ["simulator", "trigger", "refund", "--url", "http://127.0.0.1:9/n"]
    assert main([*argv, "--total-fee", "5", "--refund-fee", "6"]) == 2
    assert "--refund-fee" in capsys.readouterr().err
    argv = ["simulator", "trigger", "payment.coupon", "--url", "http://127.0.0.1:9/n"]
    assert main(argv) == 2
    assert main(["simulator", "trigger", "payment", "--url", "x", "--total-fee", "0"]) == 2
    assert main(["simulator", "trigger", "nothing"]) == 2


def test_trigger_exits_1_when_nobody_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WXPAY_APPID", "wx1234567890abcdef")
    monkeypatch.setenv("WXPAY_MCH_ID", "1230000109")
    monkeypatch.setenv("WXPAY_API_KEY", KEY)
    # Port 9 (discard) refuses connections.
    assert main(["simulator", "trigger", "payment", "--url", "http://127.0.0.1:9/n"]) == 1
    assert "did not answer" in capsys.readouterr().out


def test_trigger_wants_a_real_acknowledgement(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A plain "success" is not WeChat's acknowledgement: WeChat would send it again.
    receiver = Receiver(answer=lambda n: (200, b"success")).start()
    try:
        monkeypatch.setenv("WXPAY_APPID", "wx1234567890abcdef")
        monkeypatch.setenv("WXPAY_MCH_ID", "1230000109")
        monkeypatch.setenv("WXPAY_API_KEY", KEY)
        assert main(["simulator", "trigger", "payment", "--url", receiver.url]) == 1
        assert "NOT acknowledged" in capsys.readouterr().out
        monkeypatch.setenv("WXPAY_SIGN_TYPE", "SHA1")
        assert main(["simulator", "trigger", "payment", "--url", receiver.url]) == 2
        assert "WXPAY_SIGN_TYPE" in capsys.readouterr().err
    finally:
        receiver.stop()
    assert len(receiver.received) == 1
