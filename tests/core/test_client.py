"""Both WeChat clients against a real local HTTP server that answers like WeChat.

Every test that takes ``client`` or ``make_client`` runs twice: against WeChatClient
(requests) and against AsyncWeChatClient (aiohttp), the latter through ``AsyncFacade``.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import certifi
import pytest

from wxpay_mw import signing
from wxpay_mw.aclient import AsyncWeChatClient
from wxpay_mw.client import LoginSession, WeChatClient
from wxpay_mw.config import WxPayConfig
from wxpay_mw.errors import (
    ConfigError,
    LoginError,
    OrderClosedError,
    OrderPaidError,
    OutTradeNoUsedError,
    RateLimitedError,
    ResponseMismatchError,
    ResponseSignatureError,
    WeChatError,
    WeChatUnavailableError,
    WxPayError,
)
from wxpay_mw.xmlmsg import to_xml

from ._client_fake_wechat import (
    API_KEY,
    APP_SECRET,
    APPID,
    MCH_ID,
    SANDBOX_KEY,
    SESSION_KEY,
    FakeWeChat,
    Reply,
    refused_port,
    run_fake_wechat,
    unresponsive_port,
)
from ._clients import Client, Kind, open_client, retries_captured
from ._tls import Pki, make_pki

UO = "/pay/unifiedorder"
ORDER: dict[str, Any] = {
    "out_trade_no": "T20240101001",
    "total_fee": 100,
    "body": "腾讯-游戏",
    "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    "spbill_create_ip": "203.0.113.7",
}

MakeClient = Callable[..., Client]


@pytest.fixture
def wechat() -> Iterator[FakeWeChat]:
    with run_fake_wechat() as fake:
        yield fake


@pytest.fixture
def make_client(wechat: FakeWeChat, kind: Kind) -> Iterator[MakeClient]:
    clients: list[Client] = []

    def make(*, connect_retries: int = 2, **settings: Any) -> Client:
        config = WxPayConfig(
            **{
                "appid": APPID,
                "mch_id": MCH_ID,
                "api_key": API_KEY,
                "app_secret": APP_SECRET,
                "notify_url": "https://shop.example.com/wxpay/notify",
                "api_base": wechat.base_url,
                "login_base": wechat.base_url,
                "connect_timeout": 1.0,
                "read_timeout": 1.0,
                **settings,
            }
        )
        client = open_client(kind, config, connect_retries=connect_retries)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> Client:
    return make_client()


# --- requests as WeChat wants them ---------------------------------------------------


def test_unified_order_sends_a_signed_request_and_returns_the_verified_answer(
    wechat: FakeWeChat, client: Client
) -> None:
    wechat.ok(UO, trade_type="JSAPI", prepay_id="wx201410272009395522657a690389285100")

    answer = client.unified_order(**ORDER, attach="cart 7")

    assert answer["prepay_id"] == "wx201410272009395522657a690389285100"
    sent = wechat.last(UO)
    assert sent.method == "POST"
    assert sent.headers["Content-Type"] == "text/xml; charset=utf-8"
    fields = sent.fields
    assert signing.verify(fields, API_KEY, "MD5")
    assert fields["appid"] == APPID and fields["mch_id"] == MCH_ID
    assert fields["sign_type"] == "MD5"
    assert len(fields["nonce_str"]) == 32
    assert fields["total_fee"] == "100"
    assert fields["body"] == "腾讯-游戏"
    assert fields["trade_type"] == "JSAPI"
    assert fields["notify_url"] == "https://shop.example.com/wxpay/notify"
    assert fields["attach"] == "cart 7"
    assert "time_expire" not in fields


def test_each_request_has_a_fresh_nonce(wechat: FakeWeChat, client: Client) -> None:
    wechat.ok("/pay/orderquery", trade_state="NOTPAY")
    client.order_query(out_trade_no="T1")
    client.order_query(out_trade_no="T1")
    nonces = {r.fields["nonce_str"] for r in wechat.received}
    assert len(nonces) == 2


def test_hmac_sha256_signs_requests_and_verifies_answers(
    wechat: FakeWeChat, make_client: MakeClient
) -> None:
    wechat.sign_type = "HMAC-SHA256"
    wechat.ok(UO, prepay_id="wx1")
    client = make_client(sign_type="HMAC-SHA256")

    assert client.unified_order(**ORDER)["prepay_id"] == "wx1"
    fields = wechat.last(UO).fields
    assert fields["sign_type"] == "HMAC-SHA256"
    assert len(fields["sign"]) == 64
    assert signing.verify(fields, API_KEY, "HMAC-SHA256")


def test_an_md5_answer_to_an_hmac_request_is_not_trusted(
    wechat: FakeWeChat, make_client: MakeClient
) -> None:
    wechat.ok(UO, prepay_id="wx1")  # the fake still signs MD5
    client = make_client(sign_type="HMAC-SHA256")
    with pytest.raises(ResponseSignatureError):
        client.unified_order(**ORDER)


def test_extra_fields_are_sent_and_signed(wechat: FakeWeChat, client: Client) -> None:
    wechat.ok(UO, prepay_id="wx1")
    client.unified_order(**ORDER, goods_tag="WXG", time_expire="20240101120000")
    fields = wechat.last(UO).fields
    assert fields["goods_tag"] == "WXG" and fields["time_expire"] == "20240101120000"
    assert signing.verify(fields, API_KEY, "MD5")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param(1.0, "not float", id="float"),
        pytest.param(9.8 * 100, "not float", id="float-arithmetic"),
        pytest.param(True, "not bool", id="bool"),
        pytest.param("100", "not str", id="str"),
        pytest.param(0, "positive", id="zero"),
        pytest.param(-1, "positive", id="negative"),
    ],
)
def test_total_fee_must_be_positive_int_fen(
    wechat: FakeWeChat, client: Client, value: object, problem: str
) -> None:
    with pytest.raises(ValueError, match="total_fee") as info:
        client.unified_order(**{**ORDER, "total_fee": value})
    assert problem in str(info.value)
    assert wechat.received == []


@pytest.mark.parametrize(
    ("change", "name"),
    [
        pytest.param({"out_trade_no": "订单1"}, "out_trade_no", id="cjk-out-trade-no"),
        pytest.param({"out_trade_no": "x" * 33}, "out_trade_no", id="long-out-trade-no"),
        # "$" would match before a final newline; the patterns end at \Z.
        pytest.param({"out_trade_no": "ORDER1\n"}, "out_trade_no", id="out-trade-no-newline"),
        pytest.param({"openid": ""}, "openid", id="jsapi-without-openid"),
        pytest.param({"body": ""}, "body", id="empty-body"),
        pytest.param({"sign": "X"}, "sign", id="reserved-extra"),
        pytest.param({"appid": "wx1"}, "appid", id="reserved-appid"),
        pytest.param({"time_expire": "2024-01-01"}, "time_expire", id="time-expire-format"),
        pytest.param({"time_expire": "20240101120000\n"}, "time_expire", id="time-expire-newline"),
        pytest.param({"detail": 1.5}, "detail", id="float-extra"),
    ],
)
def test_bad_order_arguments_are_refused_before_sending(
    wechat: FakeWeChat, client: Client, change: dict[str, object], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        client.unified_order(**{**ORDER, **change})
    assert wechat.received == []


# --- deciding the outcome ------------------------------------------------------------


ERR_CODES = [
    pytest.param("ORDERPAID", OrderPaidError, False, id="ORDERPAID-paid"),
    pytest.param("ORDERCLOSED", OrderClosedError, False, id="ORDERCLOSED-closed"),
    pytest.param("OUT_TRADE_NO_USED", OutTradeNoUsedError, False, id="OUT_TRADE_NO_USED"),
    pytest.param("SYSTEMERROR", WeChatError, True, id="SYSTEMERROR-retryable"),
    pytest.param("BIZERR_NEED_RETRY", WeChatError, True, id="BIZERR_NEED_RETRY-retryable"),
    pytest.param("FREQUENCY_LIMITED", RateLimitedError, True, id="FREQUENCY_LIMITED-rate"),
    pytest.param("INVALID_REQ_TOO_MUCH", RateLimitedError, True, id="INVALID_REQ_TOO_MUCH-rate"),
    pytest.param("SIGNERROR", WeChatError, False, id="SIGNERROR"),
    pytest.param("NOAUTH", WeChatError, False, id="NOAUTH"),
    pytest.param("NOTENOUGH", WeChatError, False, id="NOTENOUGH"),
    pytest.param("APPID_MCHID_NOT_MATCH", WeChatError, False, id="APPID_MCHID_NOT_MATCH"),
    pytest.param("ORDERNOTEXIST", WeChatError, False, id="ORDERNOTEXIST"),
    pytest.param("SOMETHING_NEW", WeChatError, False, id="unknown-code"),
]


@pytest.mark.parametrize(("err_code", "cls", "retryable"), ERR_CODES)
def test_err_code_maps_to_a_typed_error(
    wechat: FakeWeChat,
    client: Client,
    err_code: str,
    cls: type[WeChatError],
    retryable: bool,
) -> None:
    wechat.fail(UO, err_code, "WeChat's own words")

    with pytest.raises(WeChatError) as info:
        client.unified_order(**ORDER)

    error = info.value
    assert type(error) is cls
    assert error.code == err_code
    assert error.description == "WeChat's own words"
    assert error.endpoint == UO
    assert error.retryable is retryable
    assert error.hint
    assert err_code in str(error) and UO in str(error) and error.hint in str(error)
    assert error.fields["err_code"] == err_code


def test_signerror_hint_points_at_the_key(wechat: FakeWeChat, client: Client) -> None:
    wechat.fail(UO, "SIGNERROR", "签名错误")
    with pytest.raises(WeChatError, match="WXPAY_API_KEY"):
        client.unified_order(**ORDER)


@pytest.mark.parametrize(
    ("return_msg", "hint"),
    [
        pytest.param("签名错误", "WXPAY_API_KEY", id="sign-error"),
        pytest.param("body参数长度有误", "see return_msg", id="param-error"),
    ],
)
def test_return_code_fail_is_a_wechat_error_with_return_msg(
    wechat: FakeWeChat, client: Client, return_msg: str, hint: str
) -> None:
    # WeChat's FAIL answers carry no sign; they are not trusted for anything but failing.
    wechat.on(UO, Reply(to_xml({"return_code": "FAIL", "return_msg": return_msg})))
    with pytest.raises(WeChatError) as info:
        client.unified_order(**ORDER)
    assert type(info.value) is WeChatError
    assert info.value.code == "FAIL"
    assert info.value.description == return_msg
    assert hint in info.value.hint
    assert info.value.retryable is False


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda f: {**f, "sign": "0" * 32}, id="wrong-sign"),
        pytest.param(lambda f: {k: v for k, v in f.items() if k != "sign"}, id="missing-sign"),
        pytest.param(lambda f: {**f, "sign": f["sign"].lower()}, id="lower-case-sign"),
        pytest.param(lambda f: {**f, "prepay_id": "wx-forged"}, id="field-changed-after-signing"),
    ],
)
def test_an_answer_without_the_right_sign_is_never_trusted(
    wechat: FakeWeChat, client: Client, tamper: Callable[[dict[str, str]], dict[str, str]]
) -> None:
    fields = {
        "appid": APPID,
        "mch_id": MCH_ID,
        "nonce_str": "n",
        "return_code": "SUCCESS",
        "result_code": "SUCCESS",
        "prepay_id": "wx1",
    }
    fields["sign"] = signing.sign(fields, API_KEY)
    wechat.on(UO, Reply(to_xml(tamper(fields))))

    with pytest.raises(ResponseSignatureError) as info:
        client.unified_order(**ORDER)
    assert info.value.may_have_acted is True
    assert info.value.endpoint == UO


def test_an_unsigned_err_code_is_not_believed(wechat: FakeWeChat, client: Client) -> None:
    # A forged ORDERPAID would make the shop treat an unpaid order as paid.
    wechat.on(
        UO,
        Reply(
            to_xml(
                {
                    "return_code": "SUCCESS",
                    "result_code": "FAIL",
                    "err_code": "ORDERPAID",
                    "appid": APPID,
                    "mch_id": MCH_ID,
                }
            )
        ),
    )
    with pytest.raises(ResponseSignatureError):
        client.unified_order(**ORDER)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("appid", "wx0000000000000000", id="other-appid"),
        pytest.param("mch_id", "10000999", id="other-mch-id"),
        pytest.param("appid", None, id="no-appid"),
    ],
)
def test_a_signed_answer_for_another_merchant_is_not_trusted(
    wechat: FakeWeChat, client: Client, name: str, value: str | None
) -> None:
    fields = {"appid": APPID, "mch_id": MCH_ID, "return_code": "SUCCESS", "result_code": "SUCCESS"}
    fields["prepay_id"] = "wx1"
    if value is None:
        del fields[name]
    else:
        fields[name] = value
    fields["sign"] = signing.sign(fields, API_KEY)
    wechat.on(UO, Reply(to_xml(fields)))

    with pytest.raises(ResponseMismatchError) as info:
        client.unified_order(**ORDER)
    assert info.value.field == name
    assert info.value.may_have_acted is True


def test_success_without_prepay_id_is_unusable(wechat: FakeWeChat, client: Client) -> None:
    wechat.ok(UO)
    with pytest.raises(WeChatUnavailableError, match="prepay_id") as info:
        client.unified_order(**ORDER)
    assert info.value.may_have_acted is True


# --- transport failures --------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "may_have_acted"),
    [
        pytest.param(Reply(b"oops", status=500), True, id="http-500"),
        pytest.param(Reply(b"busy", status=503), True, id="http-503"),
        pytest.param(Reply(b"<html>gateway</html>"), True, id="html-body"),
        pytest.param(Reply(b"<xml><return_code>SUC"), True, id="truncated-xml"),
        pytest.param(Reply(b""), True, id="empty-body"),
        pytest.param(
            Reply(b'<!DOCTYPE x [<!ENTITY e "x">]><xml><a>&e;</a></xml>'), True, id="dtd-body"
        ),
        pytest.param(Reply(to_xml({"return_code": "MAYBE"})), True, id="odd-return-code"),
        pytest.param(Reply(b"no such path", status=404), False, id="http-404"),
    ],
)
def test_unusable_answers_raise_unavailable_with_may_have_acted(
    wechat: FakeWeChat, client: Client, reply: Reply, may_have_acted: bool
) -> None:
    wechat.on(UO, reply)
    with pytest.raises(WeChatUnavailableError) as info:
        client.unified_order(**ORDER)
    assert type(info.value) is WeChatUnavailableError
    assert info.value.may_have_acted is may_have_acted
    assert info.value.endpoint == UO
    # A 5xx is handed back, never repeated: the first request may have acted.
    assert wechat.count(UO) == 1


def test_read_timeout_is_unknown_outcome_and_never_repeated(
    wechat: FakeWeChat, make_client: MakeClient
) -> None:
    wechat.on(UO, Reply(wechat.signed({"return_code": "SUCCESS"}), delay=30))
    client = make_client(read_timeout=0.2)

    with pytest.raises(WeChatUnavailableError) as info:
        client.unified_order(**ORDER)

    assert info.value.may_have_acted is True
    assert "orderquery" in str(info.value)
    assert wechat.count(UO) == 1


def test_connection_dropped_after_sending_is_unknown_outcome_and_never_repeated(
    wechat: FakeWeChat, client: Client
) -> None:
    wechat.on("/secapi/pay/refund", Reply(drop=True))
    with pytest.raises(WeChatUnavailableError) as info:
        client.refund(out_refund_no="R1", out_trade_no="T1", total_fee=100, refund_fee=100)
    assert info.value.may_have_acted is True
    assert wechat.count("/secapi/pay/refund") == 1


@pytest.mark.parametrize("retries", [0, 2])
def test_connection_refused_is_retried_a_bounded_number_of_times(
    make_client: MakeClient, kind: Kind, caplog: pytest.LogCaptureFixture, retries: int
) -> None:
    base = f"http://127.0.0.1:{refused_port()}"
    client = make_client(api_base=base, connect_retries=retries)

    with (
        retries_captured(kind, caplog) as retried,
        pytest.raises(WeChatUnavailableError) as info,
    ):
        client.order_query(out_trade_no="T1")

    assert info.value.may_have_acted is False
    assert "nothing was sent" in str(info.value)
    assert retried() == retries


def test_connect_timeout_is_not_acted_and_retried_a_bounded_number_of_times(
    make_client: MakeClient, kind: Kind, caplog: pytest.LogCaptureFixture
) -> None:
    with unresponsive_port() as port:
        client = make_client(
            api_base=f"http://127.0.0.1:{port}", connect_timeout=0.1, connect_retries=1
        )
        with (
            retries_captured(kind, caplog) as retried,
            pytest.raises(WeChatUnavailableError) as info,
        ):
            client.close_order("T1")
    assert info.value.may_have_acted is False
    assert retried() == 1


def test_no_http_library_exception_escapes(make_client: MakeClient) -> None:
    client = make_client(api_base=f"http://127.0.0.1:{refused_port()}", connect_retries=0)
    for call in (
        lambda: client.order_query(out_trade_no="T1"),
        lambda: client.download_bill("20240101"),
        lambda: client.refund_query(out_trade_no="T1"),
    ):
        with pytest.raises(WxPayError):
            call()


# --- the other calls -----------------------------------------------------------------


def test_order_query_close_order_and_refund_query(wechat: FakeWeChat, client: Client) -> None:
    wechat.ok("/pay/orderquery", trade_state="SUCCESS", transaction_id="4200")
    wechat.ok("/pay/closeorder")
    wechat.ok("/pay/refundquery", refund_count="1", refund_status_0="SUCCESS")

    assert client.order_query(transaction_id="4200")["trade_state"] == "SUCCESS"
    assert wechat.last("/pay/orderquery").fields["transaction_id"] == "4200"
    assert "out_trade_no" not in wechat.last("/pay/orderquery").fields
    client.close_order("T1")
    assert wechat.last("/pay/closeorder").fields["out_trade_no"] == "T1"
    assert client.refund_query(out_refund_no="R1", offset=0)["refund_status_0"] == "SUCCESS"
    sent = wechat.last("/pay/refundquery").fields
    assert sent["out_refund_no"] == "R1" and sent["offset"] == "0"


def test_queries_need_an_id(wechat: FakeWeChat, client: Client) -> None:
    with pytest.raises(ValueError, match="out_trade_no or transaction_id"):
        client.order_query()
    with pytest.raises(ValueError, match="refund_id"):
        client.refund_query()
    assert wechat.received == []


def test_refund_over_plain_http_needs_no_certificate(
    wechat: FakeWeChat, make_client: MakeClient
) -> None:
    wechat.ok("/secapi/pay/refund", refund_id="50000", out_refund_no="R1")
    client = make_client(refund_notify_url="https://shop.example.com/wxpay/refund-notify")

    answer = client.refund(
        out_refund_no="R1", out_trade_no="T1", total_fee=100, refund_fee=40, refund_desc="退款"
    )

    assert answer["refund_id"] == "50000"
    fields = wechat.last("/secapi/pay/refund").fields
    assert (fields["total_fee"], fields["refund_fee"]) == ("100", "40")
    assert fields["notify_url"] == "https://shop.example.com/wxpay/refund-notify"
    assert fields["refund_desc"] == "退款"
    assert signing.verify(fields, API_KEY)


def test_refund_over_https_without_certificate_is_a_config_error(
    wechat: FakeWeChat, make_client: MakeClient
) -> None:
    client = make_client(api_base="https://127.0.0.1:9")
    with pytest.raises(ConfigError, match="WXPAY_CERT_PATH") as info:
        client.refund(out_refund_no="R1", out_trade_no="T1", total_fee=100, refund_fee=100)
    assert info.value.setting == "WXPAY_CERT_PATH"


@pytest.fixture
def pki(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Pki:
    """A test CA, trusted by both clients the way a host would point them at one."""
    pki = make_pki(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))  # requests
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))  # the async client
    return pki


def test_refund_presents_the_merchant_certificate_over_mutual_tls(pki: Pki, kind: Kind) -> None:
    with run_fake_wechat(tls=pki.server_context()) as wechat:
        wechat.ok("/secapi/pay/refund", refund_id="50000", out_refund_no="R1")
        wechat.ok("/pay/orderquery", trade_state="REFUND")
        config = _plain_config(
            api_base=wechat.base_url,
            cert_path=str(pki.client_cert),
            key_path=str(pki.client_key),
        )
        with open_client(kind, config) as client:
            answers = [
                client.refund(out_refund_no=no, out_trade_no="T1", total_fee=100, refund_fee=50)
                for no in ("R1", "R2")
            ]
            state = client.order_query(out_trade_no="T1")

    assert [a["refund_id"] for a in answers] == ["50000", "50000"]
    assert state["trade_state"] == "REFUND"
    refunds = [r for r in wechat.received if r.path == "/secapi/pay/refund"]
    assert [(r.fields["out_refund_no"], r.client_cert) for r in refunds] == [
        ("R1", "10000100"),
        ("R2", "10000100"),
    ]
    # Only refunds carry the certificate; other calls go without it.
    assert wechat.last("/pay/orderquery").client_cert is None


def test_async_client_trusts_certifi_unless_told_otherwise(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As requests: certifi's CAs by default (a slim container may have no system store),
    # the CAs in SSL_CERT_FILE when a host sets it.
    from wxpay_mw._aiosend import _trusted

    told = _trusted()
    assert [c["subject"] for c in told.get_ca_certs()] == [((("commonName", "wxpay-mw test CA"),),)]
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    default = _trusted()
    assert default.verify_mode == ssl.CERT_REQUIRED and default.check_hostname
    assert len(default.get_ca_certs()) == len(certifi.contents().split("END CERTIFICATE")) - 1


def test_an_unusable_merchant_certificate_sends_nothing(
    pki: Pki, kind: Kind, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
    with run_fake_wechat(tls=pki.server_context()) as wechat:
        config = _plain_config(
            api_base=wechat.base_url, cert_path=str(broken), key_path=str(pki.client_key)
        )
        with open_client(kind, config) as client, pytest.raises(WeChatUnavailableError) as info:
            client.refund(out_refund_no="R1", out_trade_no="T1", total_fee=100, refund_fee=100)

    assert info.value.may_have_acted is False
    assert "nothing was sent" in str(info.value)
    assert wechat.received == []


@pytest.mark.parametrize(
    ("total", "refund", "name"),
    [
        pytest.param(100, 101, "refund_fee", id="more-than-paid"),
        pytest.param(100, 1.5, "refund_fee", id="float-refund"),
        pytest.param("100", 1, "total_fee", id="str-total"),
    ],
)
def test_refund_amounts_are_checked(
    wechat: FakeWeChat, client: Client, total: object, refund: object, name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        client.refund(out_refund_no="R1", out_trade_no="T1", total_fee=total, refund_fee=refund)  # type: ignore[arg-type]
    assert wechat.received == []


@pytest.mark.parametrize("name", ["out_refund_no", "out_trade_no"])
def test_refund_numbers_with_a_trailing_newline_are_refused(
    wechat: FakeWeChat, client: Client, name: str
) -> None:
    numbers = {"out_refund_no": "R1", "out_trade_no": "T1", name: "N1\n"}
    with pytest.raises(ValueError, match=f"{name} 'N1\\\\n' is not valid"):
        client.refund(**numbers, total_fee=100, refund_fee=100)
    assert wechat.received == []


def test_download_bill_returns_the_text_table(wechat: FakeWeChat, client: Client) -> None:
    table = "交易时间,公众账号ID,商户号\n`2024-01-01 10:00:00,`wx1,`10000100\n"
    wechat.on("/pay/downloadbill", Reply(table.encode(), content_type="text/plain"))

    assert client.download_bill(datetime.date(2024, 1, 1), "SUCCESS") == table
    fields = wechat.last("/pay/downloadbill").fields
    assert fields["bill_date"] == "20240101" and fields["bill_type"] == "SUCCESS"
    assert signing.verify(fields, API_KEY)


def test_download_bill_failure_is_a_wechat_error(wechat: FakeWeChat, client: Client) -> None:
    failure = {"return_code": "FAIL", "return_msg": "No Bill Exist", "error_code": "20002"}
    wechat.on("/pay/downloadbill", Reply(to_xml(failure)))
    with pytest.raises(WeChatError) as info:
        client.download_bill("20240101")
    assert info.value.code == "FAIL"
    assert info.value.description == "No Bill Exist"
    assert info.value.fields["error_code"] == "20002"
    assert "no bill" in info.value.hint


@pytest.mark.parametrize(
    ("date", "bill_type"),
    [("2024-01-01", "ALL"), ("20240101", "EVERYTHING"), ("20240101\n", "ALL")],
    ids=["dashed-date", "unknown-type", "date-newline"],
)
def test_download_bill_arguments_are_checked(
    wechat: FakeWeChat, client: Client, date: str, bill_type: str
) -> None:
    with pytest.raises(ValueError):
        client.download_bill(date, bill_type)
    assert wechat.received == []


# --- sandbox -------------------------------------------------------------------------


def _getsignkey(wechat: FakeWeChat) -> None:
    wechat.on(
        "/sandboxnew/pay/getsignkey",
        Reply(
            to_xml(
                {
                    "return_code": "SUCCESS",
                    "return_msg": "ok",
                    "mch_id": MCH_ID,
                    "sandbox_signkey": SANDBOX_KEY,
                }
            )
        ),
    )


def test_sandbox_fetches_the_key_once_and_signs_with_it_under_sandboxnew(
    wechat: FakeWeChat, make_client: MakeClient
) -> None:
    _getsignkey(wechat)
    wechat.key = SANDBOX_KEY
    wechat.ok("/sandboxnew/pay/orderquery", trade_state="NOTPAY")
    wechat.ok("/sandboxnew/pay/refund", refund_id="1")
    client = make_client(sandbox=True)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: client.order_query(out_trade_no="T1"), range(8)))
    client.refund(out_refund_no="R1", out_trade_no="T1", total_fee=101, refund_fee=101)

    assert all(r["trade_state"] == "NOTPAY" for r in results)
    assert wechat.count("/sandboxnew/pay/getsignkey") == 1
    keyreq = wechat.last("/sandboxnew/pay/getsignkey").fields
    assert set(keyreq) == {"mch_id", "nonce_str", "sign"}
    assert signing.verify(keyreq, API_KEY, "MD5")  # signed with the production key
    assert signing.verify(wechat.last("/sandboxnew/pay/orderquery").fields, SANDBOX_KEY)
    assert signing.verify(wechat.last("/sandboxnew/pay/refund").fields, SANDBOX_KEY)
    assert client.signing_key() == SANDBOX_KEY
    assert SANDBOX_KEY not in repr(client)


def test_production_signing_key_is_the_api_key(client: Client) -> None:
    assert client.signing_key() == API_KEY


def test_sandbox_key_refused_is_a_wechat_error(wechat: FakeWeChat, make_client: MakeClient) -> None:
    wechat.on(
        "/sandboxnew/pay/getsignkey",
        Reply(to_xml({"return_code": "FAIL", "return_msg": "签名错误"})),
    )
    client = make_client(sandbox=True)
    with pytest.raises(WeChatError) as info:
        client.order_query(out_trade_no="T1")
    assert info.value.code == "FAIL"
    assert wechat.count("/sandboxnew/pay/orderquery") == 0


# --- login ---------------------------------------------------------------------------

LOGIN = "/sns/jscode2session"


def test_code2session_returns_a_login_session(wechat: FakeWeChat, client: Client) -> None:
    wechat.login({"openid": "o1", "session_key": SESSION_KEY, "unionid": "u1"})

    session = client.code2session("081code")

    assert session == LoginSession(openid="o1", session_key=SESSION_KEY, unionid="u1")
    assert SESSION_KEY not in repr(session) and SESSION_KEY not in str(session)
    sent = wechat.last(LOGIN)
    assert sent.method == "GET"
    assert sent.query == {
        "appid": APPID,
        "secret": APP_SECRET,
        "js_code": "081code",
        "grant_type": "authorization_code",
    }


def test_code2session_without_unionid(wechat: FakeWeChat, client: Client) -> None:
    wechat.login({"openid": "o1", "session_key": SESSION_KEY, "errcode": 0})
    assert client.code2session("c").unionid is None


LOGIN_CODES = [
    pytest.param(40029, LoginError, False, 401, id="40029-invalid-code"),
    pytest.param(40163, LoginError, False, 401, id="40163-code-used"),
    pytest.param(40226, LoginError, False, 401, id="40226-high-risk"),
    pytest.param(45011, RateLimitedError, True, 429, id="45011-rate-limited"),
    pytest.param(-1, WeChatError, True, 502, id="minus-1-busy"),
    pytest.param(40125, WeChatError, False, 502, id="40125-bad-secret"),
]


@pytest.mark.parametrize(("errcode", "cls", "retryable", "status"), LOGIN_CODES)
def test_login_errcodes_map_to_typed_errors(
    wechat: FakeWeChat,
    client: Client,
    errcode: int,
    cls: type[WeChatError],
    retryable: bool,
    status: int,
) -> None:
    wechat.login({"errcode": errcode, "errmsg": "invalid code, rid: 1"})
    with pytest.raises(WeChatError) as info:
        client.code2session("c")
    error = info.value
    assert type(error) is cls
    assert error.code == str(errcode)
    assert error.description == "invalid code, rid: 1"
    assert error.endpoint == LOGIN
    assert error.retryable is retryable
    assert error.status == status


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html>", id="not-json"),
        pytest.param(b"[1]", id="not-object"),
        pytest.param(b'{"session_key": "k"}', id="no-openid"),
    ],
)
def test_login_garbled_answers_are_unavailable(
    wechat: FakeWeChat, client: Client, body: bytes
) -> None:
    wechat.on(LOGIN, Reply(body, content_type="text/plain"))
    with pytest.raises(WeChatUnavailableError) as info:
        client.code2session("c")
    assert info.value.may_have_acted is True


def test_login_read_timeout_is_never_repeated_since_codes_are_single_use(
    wechat: FakeWeChat, make_client: MakeClient
) -> None:
    wechat.login({"openid": "o1", "session_key": SESSION_KEY}, delay=30)
    client = make_client(read_timeout=0.2)
    with pytest.raises(WeChatUnavailableError) as info:
        client.code2session("c")
    assert info.value.may_have_acted is True
    assert wechat.count(LOGIN) == 1


def test_login_needs_the_app_secret(wechat: FakeWeChat, make_client: MakeClient) -> None:
    client = make_client(app_secret=None)
    with pytest.raises(ConfigError, match="WXPAY_APP_SECRET"):
        client.code2session("c")
    with pytest.raises(ValueError, match="code"):
        make_client().code2session("")
    assert wechat.received == []


# --- secrets -------------------------------------------------------------------------

SECRETS = (API_KEY, APP_SECRET, SESSION_KEY, SANDBOX_KEY)


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_secrets_never_reach_logs_reprs_or_errors(
    wechat: FakeWeChat, make_client: MakeClient, kind: Kind, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    client = make_client()
    wechat.login({"openid": "o1", "session_key": SESSION_KEY})
    client.code2session("c1")
    wechat.ok(UO, prepay_id="wx1")
    client.unified_order(**ORDER)
    wechat.login({"errcode": 40029, "errmsg": "invalid code"})
    wechat.fail(UO, "ORDERPAID", "paid")
    wechat.on("/pay/orderquery", Reply(b"<xml><sign>x</sign>", status=500))
    for call in (
        lambda: client.code2session("c2"),
        lambda: client.unified_order(**ORDER),
        lambda: client.order_query(out_trade_no="T1"),
        # Login when WeChat is unreachable: urllib3 logs and raises with the URL, which
        # holds the secret.
        lambda: make_client(login_base=f"http://127.0.0.1:{refused_port()}").code2session("c3"),
    ):
        with pytest.raises(WxPayError) as info:
            call()
        errors.append(info.value)

    assert any(r.name.startswith("wxpay_mw.client") for r in caplog.records)
    if kind == "sync":
        # urllib3 did log the login URL, at DEBUG: redacted. (aiohttp logs no URLs.)
        assert any(
            r.name.startswith("urllib3") and "jscode2session" in r.getMessage()
            for r in caplog.records
        )
    _assert_no_secret(caplog.text, *(r.getMessage() for r in caplog.records), repr(client))
    for error in errors:
        for link in _chain(error):
            _assert_no_secret(str(link), repr(link), repr(getattr(link, "fields", "")))


def test_sandbox_key_never_in_logs(
    wechat: FakeWeChat, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _getsignkey(wechat)
    wechat.key = SANDBOX_KEY
    wechat.ok("/sandboxnew/pay/closeorder")
    make_client(sandbox=True).close_order("T1")
    _assert_no_secret(caplog.text)


# --- lifecycle -----------------------------------------------------------------------


def test_one_client_serves_concurrent_threads(wechat: FakeWeChat, client: Client) -> None:
    wechat.ok("/pay/orderquery", trade_state="SUCCESS")
    barrier = threading.Barrier(8)

    def query(i: int) -> str:
        barrier.wait()
        return client.order_query(out_trade_no=f"T{i}")["trade_state"]

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(query, range(8))) == ["SUCCESS"] * 8
    assert {r.fields["out_trade_no"] for r in wechat.received} == {f"T{i}" for i in range(8)}


def _plain_config(**settings: Any) -> WxPayConfig:
    return WxPayConfig(
        appid=APPID,
        mch_id=MCH_ID,
        api_key=API_KEY,
        app_secret=APP_SECRET,
        notify_url="https://shop.example.com/n",
        **settings,
    )


def test_context_manager_and_repr(wechat: FakeWeChat) -> None:
    wechat.ok("/pay/closeorder")
    with WeChatClient(_plain_config(api_base=wechat.base_url), pool_maxsize=4) as client:
        client.close_order("T1")
        text = repr(client)
    assert text.startswith("WeChatClient(")
    assert APPID in text and MCH_ID in text
    _assert_no_secret(text)


def test_async_context_manager_and_repr(wechat: FakeWeChat) -> None:
    wechat.ok("/pay/closeorder")

    async def main() -> str:
        config = _plain_config(api_base=wechat.base_url)
        async with AsyncWeChatClient(config, max_connections=4) as client:
            await client.close_order("T1")
            return repr(client)

    text = asyncio.run(main())
    assert wechat.count("/pay/closeorder") == 1
    assert text.startswith("AsyncWeChatClient(")
    assert APPID in text and MCH_ID in text
    _assert_no_secret(text)


def test_async_client_has_the_sync_clients_methods_as_coroutines() -> None:
    # The async flow calls the same names with the same arguments: every public method
    # of WeChatClient but close() is a coroutine function with the same signature.
    public = {n for n in vars(WeChatClient) if not n.startswith("_")} - {"close"}
    assert public == {
        "code2session",
        "unified_order",
        "order_query",
        "close_order",
        "refund",
        "refund_query",
        "download_bill",
        "signing_key",
        "sandbox_signkey",
    }
    for name in public:
        method = getattr(AsyncWeChatClient, name)
        assert inspect.iscoroutinefunction(method), name
        assert inspect.signature(method) == inspect.signature(getattr(WeChatClient, name)), name
    assert inspect.iscoroutinefunction(AsyncWeChatClient.aclose)


def test_async_client_shares_a_small_pool_between_many_tasks(wechat: FakeWeChat) -> None:
    wechat.ok("/pay/orderquery", trade_state="SUCCESS")
    # Made before any event loop runs, as a module-level client in a host app is.
    client = AsyncWeChatClient(_plain_config(api_base=wechat.base_url), max_connections=2)

    async def main() -> list[str]:
        async with client:
            answers = await asyncio.gather(
                *(client.order_query(out_trade_no=f"T{i}") for i in range(12))
            )
        return [a["trade_state"] for a in answers]

    assert asyncio.run(main()) == ["SUCCESS"] * 12
    assert {r.fields["out_trade_no"] for r in wechat.received} == {f"T{i}" for i in range(12)}


@pytest.mark.parametrize(
    ("cls", "kwargs", "name"),
    [
        pytest.param(WeChatClient, {"pool_maxsize": 0}, "pool_maxsize", id="pool-zero"),
        pytest.param(WeChatClient, {"pool_maxsize": True}, "pool_maxsize", id="pool-bool"),
        pytest.param(WeChatClient, {"connect_retries": -1}, "connect_retries", id="retries"),
        pytest.param(AsyncWeChatClient, {"max_connections": 0}, "max_connections", id="a-zero"),
        pytest.param(AsyncWeChatClient, {"max_connections": True}, "max_connections", id="a-bool"),
        pytest.param(AsyncWeChatClient, {"max_connections": "8"}, "max_connections", id="a-str"),
        pytest.param(AsyncWeChatClient, {"connect_retries": -1}, "connect_retries", id="a-retries"),
    ],
)
def test_bad_client_options(cls: type[Any], kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        cls(_plain_config(), **kwargs)
