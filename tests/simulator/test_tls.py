"""The refund path over TLS with the merchant's client certificate (issue 13, item 4).

WeChat's refund API demands mutual TLS (wechatpay-v2.md section 1, "申请退款 ... yes,
two-way cert") and answers HTTP 400 "No required SSL certificate was sent" without a
client certificate (issue 13, item 4, from captured traffic).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests

from wxpay_mw._transport import bad_status
from wxpay_mw.client import WeChatClient
from wxpay_mw.errors import WeChatUnavailableError
from wxpay_mw.simulator import Simulator

from .conftest import pay_params, place, signed

pytest.importorskip("cryptography", reason="the simulator's TLS mode needs the crypto extra")


@pytest.fixture
def tls_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A TLS simulator whose test CA requests (and so the client) trusts."""
    with Simulator(time_factor=0.001, tls=True) as simulator:
        assert simulator.tls_files is not None
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", simulator.tls_files.ca_cert)
        yield simulator


def _paid(sim: Simulator) -> str:
    params, answer = place(sim)
    sim.pay(pay_params(sim, answer["prepay_id"]))
    return params["out_trade_no"]


def _refund_body(sim: Simulator, out_trade_no: str) -> bytes:
    return signed(
        sim,
        {
            "out_trade_no": out_trade_no,
            "out_refund_no": "R1",
            "total_fee": "101",
            "refund_fee": "101",
        },
    )


def test_refund_without_a_client_certificate_is_http_400(tls_sim: Simulator) -> None:
    assert tls_sim.tls_files is not None and tls_sim.base_url.startswith("https://")
    number = _paid(tls_sim)
    response = requests.post(
        tls_sim.base_url + "/secapi/pay/refund",
        data=_refund_body(tls_sim, number),
        verify=tls_sim.tls_files.ca_cert,
        timeout=10,
    )
    assert response.status_code == 400
    assert "No required SSL certificate was sent" in response.text
    assert tls_sim.order(number)["refunded_fee"] == 0  # type: ignore[index]
    # Other paths need no client certificate, as at WeChat.
    query = requests.post(
        tls_sim.base_url + "/pay/orderquery",
        data=signed(tls_sim, {"out_trade_no": number}),
        verify=tls_sim.tls_files.ca_cert,
        timeout=10,
    )
    assert query.status_code == 200 and b"SUCCESS" in query.content


def test_refund_with_the_merchant_certificate_goes_through(tls_sim: Simulator) -> None:
    files = tls_sim.tls_files
    assert files is not None
    number = _paid(tls_sim)
    config = tls_sim.config(notify_url="http://127.0.0.1:9/n")
    assert (config.cert_path, config.key_path) == (files.client_cert, files.client_key)
    with WeChatClient(config) as client:
        answer = client.refund(
            out_trade_no=number, out_refund_no="R1", total_fee=101, refund_fee=101
        )
    assert answer["result_code"] == "SUCCESS"
    assert tls_sim.order(number)["refunded_fee"] == 101  # type: ignore[index]


def test_a_certificate_from_another_ca_fails_the_handshake(tls_sim: Simulator) -> None:
    # WeChat answers 400 "The SSL certificate error"; Python's ssl refuses in the
    # handshake instead. Either way nothing was refunded and the call may be repeated.
    number = _paid(tls_sim)
    with Simulator(tls=True) as stranger:
        assert stranger.tls_files is not None
        config = tls_sim.config(
            notify_url="http://127.0.0.1:9/n",
            cert_path=stranger.tls_files.client_cert,
            key_path=stranger.tls_files.client_key,
        )
        with WeChatClient(config) as client, pytest.raises(WeChatUnavailableError) as caught:
            client.refund(out_trade_no=number, out_refund_no="R1", total_fee=101, refund_fee=101)
    assert caught.value.may_have_acted is False
    assert tls_sim.order(number)["refunded_fee"] == 0  # type: ignore[index]


def test_the_clients_message_for_that_400_names_the_certificate_settings() -> None:
    error = bad_status(400, "/secapi/pay/refund")
    assert "WXPAY_CERT_PATH" in str(error) and "WXPAY_KEY_PATH" in str(error)
    assert error.may_have_acted is False
    assert "WXPAY_CERT_PATH" not in str(bad_status(400, "/pay/orderquery"))


def test_the_test_pki_is_private_and_removed_at_stop() -> None:
    with Simulator(tls=True) as sim:
        files = sim.tls_files
        assert files is not None
        assert os.stat(files.client_key).st_mode & 0o077 == 0
    assert sim.tls_files is None and not os.path.exists(files.directory)
