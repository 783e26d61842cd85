"""The v3 simulator checks the merchant's Authorization as WeChat does, and signs every answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from urllib3.util import SKIP_HEADER

from wxpay_mw.errors import WeChatError, WeChatUnavailableError
from wxpay_mw.simulator import Simulator
from wxpay_mw.v3 import SignatureProbeError, V3ResponseSignatureError, calls
from wxpay_mw.v3.calls import V3Request
from wxpay_mw.v3.client import WeChatPayV3Client

from ._v3help import client, number, openid, signature_verifies, wechat_public_keys


@pytest.fixture(scope="module")
def v3sim_session() -> Iterator[Simulator]:
    with Simulator(api="v3", time_factor=0.001) as simulator:
        yield simulator


@pytest.fixture
def sim(v3sim_session: Simulator) -> Iterator[Simulator]:
    v3sim_session.reset()
    yield v3sim_session
    v3sim_session.reset()


def _order(sim: Simulator, no: str | None = None) -> V3Request:
    return calls.jsapi_order(
        appid=sim.merchant.appid,
        mchid=sim.merchant.mch_id,
        description="测试",
        out_trade_no=no or number(),
        notify_url="http://127.0.0.1:9/n",
        total=101,
        openid=openid(sim),
    )


def _send(
    sim: Simulator,
    req: V3Request,
    *,
    key: rsa.RSAPrivateKey | None = None,
    serial: str | None = None,
    body: bytes | None = None,
    drop: tuple[str, ...] = (),
    **sign: Any,
) -> requests.Response:
    settings = sim.v3_settings()
    headers = req.headers(
        key or settings.private_key,
        mchid=sign.pop("mchid", sim.merchant.mch_id),
        serial_no=serial or settings.cert_serial,
        **sign,
    )
    for name in drop:
        del headers[name]
    return requests.request(
        req.method,
        req.url(sim.base_url),
        data=req.body if body is None else body,
        headers=headers,
        timeout=10,
    )


def test_a_correct_request_is_answered_and_signed_under_the_public_key(sim: Simulator) -> None:
    answer = _send(sim, _order(sim))
    assert answer.status_code == 200, answer.text
    assert answer.json()["prepay_id"].startswith("wx")
    serial = answer.headers["Wechatpay-Serial"]
    assert serial == sim.v3_keys.public_key_id
    assert answer.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert answer.headers["Request-ID"]
    assert signature_verifies(wechat_public_keys(sim)[serial], dict(answer.headers), answer.content)


def test_a_request_signed_with_another_key_is_401_sign_error(sim: Simulator) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    answer = _send(sim, _order(sim), key=stranger)
    assert answer.status_code == 401
    data = answer.json()
    assert data["code"] == "SIGN_ERROR"
    info = data["detail"]["sign_information"]
    assert (info["method"], info["url"]) == ("POST", "/v3/pay/transactions/jsapi")
    assert info["sign_message_length"] > 0
    # Errors are signed too.
    key = wechat_public_keys(sim)[answer.headers["Wechatpay-Serial"]]
    assert signature_verifies(key, dict(answer.headers), answer.content)


def test_the_client_reports_sign_error_with_what_wechat_checked(
    sim: Simulator, tmp_path: Path
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "other_key.pem"
    path.write_bytes(
        stranger.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings = sim.v3_settings(private_key_path=str(path))
    config = sim.config(notify_url="http://127.0.0.1:9/n")
    with WeChatPayV3Client(config, settings) as c, pytest.raises(WeChatError) as caught:
        c.query_order(out_trade_no="ANY-ORDER-1")
    assert caught.value.code == "SIGN_ERROR"
    assert caught.value.fields["http_status"] == "401"
    assert "sign_information" in caught.value.fields["detail"]


def test_a_body_changed_after_signing_is_refused(sim: Simulator) -> None:
    req = _order(sim)
    answer = _send(sim, req, body=req.body.replace(b'"total":101', b'"total":1'))
    assert (answer.status_code, answer.json()["code"]) == (401, "SIGN_ERROR")


def test_a_url_changed_after_signing_is_refused(sim: Simulator) -> None:
    no = number()
    _send(sim, _order(sim, no))
    signed = calls.query_order(sim.merchant.mch_id, out_trade_no=no)
    settings = sim.v3_settings()
    headers = signed.headers(
        settings.private_key, mchid=sim.merchant.mch_id, serial_no=settings.cert_serial
    )
    url = sim.base_url + signed.path.replace("?mchid=", "?x=1&mchid=")
    answer = requests.get(url, headers=headers, timeout=10)
    assert (answer.status_code, answer.json()["code"]) == (401, "SIGN_ERROR")


def test_the_url_is_checked_as_sent_percent_encoding_included(sim: Simulator) -> None:
    no = "T|" + number()  # "|" travels as %7C: signed and checked undecoded
    assert _send(sim, _order(sim, no)).status_code == 200
    with client(sim) as c:
        assert c.query_order(out_trade_no=no)["out_trade_no"] == no


def test_a_wrong_certificate_serial_is_refused(sim: Simulator) -> None:
    answer = _send(sim, _order(sim), serial="0123456789ABCDEF0123456789ABCDEF01234567")
    assert answer.status_code == 401
    assert answer.json()["code"] == "SIGN_ERROR"
    assert "序列号" in answer.json()["message"]


def test_a_stale_timestamp_is_refused(sim: Simulator) -> None:
    answer = _send(sim, _order(sim), timestamp=str(int(time.time()) - 3600))
    assert (answer.status_code, answer.json()["code"]) == (401, "SIGN_ERROR")


def test_another_merchant_id_is_refused(sim: Simulator) -> None:
    answer = _send(sim, _order(sim), mchid="1230000109")
    assert (answer.status_code, answer.json()["code"]) == (400, "MCH_NOT_EXISTS")


@pytest.mark.parametrize("header", ["Accept", "User-Agent"])
def test_accept_and_user_agent_are_required(sim: Simulator, header: str) -> None:
    req = _order(sim)
    settings = sim.v3_settings()
    headers = req.headers(
        settings.private_key, mchid=sim.merchant.mch_id, serial_no=settings.cert_serial
    )
    del headers[header]
    # requests drops a header set to None; urllib3 adds its own User-Agent unless told
    # to skip it.
    sent: dict[str, str | None] = {**headers, header: None}
    if header == "User-Agent":
        sent[header] = SKIP_HEADER
    answer = requests.post(req.url(sim.base_url), data=req.body, headers=sent, timeout=10)
    assert (answer.status_code, answer.json()["code"]) == (400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Authorization", None),
        ("Authorization", 'WECHATPAY2-SHA256-RSA2048 mchid="1900000109"'),
        ("Authorization", "Basic dXNlcjpwYXNz"),
    ],
)
def test_a_missing_or_malformed_authorization_is_refused(
    sim: Simulator, header: str, value: str | None
) -> None:
    req = _order(sim)
    headers: dict[str, str | None] = {
        "Accept": "application/json",
        "User-Agent": "test",
        "Content-Type": "application/json",
        header: value,
    }
    answer = requests.post(req.url(sim.base_url), data=req.body, headers=headers, timeout=10)
    assert (answer.status_code, answer.json()["code"]) == (401, "SIGN_ERROR")


def test_null_in_the_body_is_refused(sim: Simulator) -> None:
    req = V3Request("POST", "/v3/pay/transactions/jsapi", b'{"appid":null}', "jsapi")
    answer = _send(sim, req)
    assert (answer.status_code, answer.json()["code"]) == (400, "PARAM_ERROR")


def test_a_missing_field_names_it(sim: Simulator) -> None:
    body = _order(sim).body.replace(b'"description":"\xe6\xb5\x8b\xe8\xaf\x95",', b"")
    req = V3Request("POST", "/v3/pay/transactions/jsapi", body, "jsapi")
    answer = _send(sim, req)
    assert answer.status_code == 400
    assert answer.json()["detail"]["field"] == "description"


def test_an_unknown_path_is_404(sim: Simulator) -> None:
    answer = _send(sim, V3Request("GET", "/v3/nothing/here", b"", "x"))
    assert answer.status_code == 404


def test_bad_sign_fault_is_not_trusted_by_the_client(sim: Simulator) -> None:
    sim.add_fault("/v3/pay/transactions/jsapi", "bad_sign", count=1)
    with client(sim) as c, pytest.raises(V3ResponseSignatureError):
        c.jsapi_order(out_trade_no=number(), total=101, description="A", openid=openid(sim))


def test_wechat_error_fault_answers_the_v3_code(sim: Simulator) -> None:
    sim.add_fault("/v3/pay/transactions/jsapi", "wechat_error", code="SYSTEMERROR", count=1)
    with client(sim) as c:
        with pytest.raises(WeChatError) as caught:
            c.jsapi_order(out_trade_no=number(), total=101, description="A", openid=openid(sim))
        assert (caught.value.code, caught.value.fields["http_status"]) == ("SYSTEM_ERROR", "500")
        sim.add_fault("/v3/pay/transactions/jsapi", "http_500", count=1)
        with pytest.raises(WeChatUnavailableError) as unavailable:
            c.jsapi_order(out_trade_no=number(), total=101, description="A", openid=openid(sim))
    assert unavailable.value.may_have_acted


def test_a_reset_fault_drops_the_connection_and_places_nothing(sim: Simulator) -> None:
    no = number()
    sim.add_fault("/v3/pay/transactions/jsapi", "reset", count=1)
    with client(sim) as c, pytest.raises(WeChatUnavailableError):
        c.jsapi_order(out_trade_no=no, total=101, description="A", openid=openid(sim))
    assert sim.order(no) is None


def test_a_probe_signature_on_an_answer_is_refused_by_the_client(sim: Simulator) -> None:
    sim.add_fault("/v3/pay/transactions/jsapi", "sign_probe", count=1)
    with client(sim) as c, pytest.raises(V3ResponseSignatureError) as caught:
        c.jsapi_order(out_trade_no=number(), total=101, description="A", openid=openid(sim))
    assert isinstance(caught.value.reason, SignatureProbeError)


def test_sign_probe_is_a_v3_fault(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="v3 path"):
        sim.add_fault("/pay/unifiedorder", "sign_probe")
