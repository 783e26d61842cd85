"""The v3 request builders (exact bytes, exact signed URL) and the answer judges."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from wxpay_mw.errors import (
    OrderClosedError,
    OrderPaidError,
    OutTradeNoUsedError,
    RateLimitedError,
    ResponseMismatchError,
    WeChatError,
    WeChatUnavailableError,
)
from wxpay_mw.v3 import answers, calls
from wxpay_mw.v3.errors import BillDigestError

from ._vectors import VECTORS, private_key, public_key

KEY = private_key("go_test_key")
VEC = {v["name"]: v for v in VECTORS}


def signed_headers(req: calls.V3Request, vector: dict[str, Any]) -> dict[str, str]:
    inp = vector["input"]
    return req.headers(
        KEY,
        mchid=inp["mchid"],
        serial_no=inp["serial_no"],
        timestamp=inp["timestamp"],
        nonce=inp["nonce"],
    )


def test_the_jsapi_order_is_the_vector_byte_for_byte() -> None:
    vector = VEC["authorization-jsapi-post"]
    body = json.loads(vector["input"]["body"])
    req = calls.jsapi_order(
        appid=body["appid"],
        mchid=body["mchid"],
        description=body["description"],
        out_trade_no=body["out_trade_no"],
        notify_url=body["notify_url"],
        total=body["amount"]["total"],
        openid=body["payer"]["openid"],
    )
    assert (req.method, req.path) == ("POST", vector["input"]["url"])
    assert req.body == vector["input"]["body"].encode()
    headers = signed_headers(req, vector)
    assert headers["Authorization"] == vector["expect"]["authorization"]
    assert headers["Accept"] == "application/json"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"]
    assert "Wechatpay-Serial" not in headers
    assert req.url("https://api.mch.weixin.qq.com/") == (
        "https://api.mch.weixin.qq.com/v3/pay/transactions/jsapi"
    )


def test_query_and_close_are_the_vectors() -> None:
    vector = VEC["authorization-get-query"]
    req = calls.query_order("1230000109", out_trade_no="1217752501201407033233368018")
    assert (req.method, req.path, req.body) == ("GET", vector["input"]["url"], b"")
    headers = signed_headers(req, vector)
    assert headers["Authorization"] == vector["expect"]["authorization"]
    assert "Content-Type" not in headers
    vector = VEC["authorization-close-post"]
    req = calls.close_order("1230000109", "1217752501201407033233368018")
    assert (req.path, req.body) == (vector["input"]["url"], vector["input"]["body"].encode())
    assert signed_headers(req, vector)["Authorization"] == vector["expect"]["authorization"]


def test_the_public_key_id_is_sent_to_ask_for_public_key_signed_answers() -> None:
    req = calls.certificates()
    headers = req.headers(KEY, mchid="1", serial_no="ABCDEF01", wechatpay_serial="PUB_KEY_ID_0001")
    assert headers["Wechatpay-Serial"] == "PUB_KEY_ID_0001"


def test_the_signature_covers_the_path_as_sent_with_awkward_order_numbers() -> None:
    req = calls.query_order("1230000109", out_trade_no="a|b*c@d")
    assert req.path == "/v3/pay/transactions/out-trade-no/a%7Cb%2Ac%40d?mchid=1230000109"
    header = req.headers(
        KEY, mchid="1230000109", serial_no="F5765756002FDD77", timestamp="1", nonce="N"
    )
    signature = header["Authorization"].split('signature="')[1].rstrip('"')
    message = f"GET\n{req.path}\n1\nN\n\n".encode()
    public_key("go_test_key").verify(
        base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256()
    )


def test_query_by_transaction_id() -> None:
    req = calls.query_order("1230000109", transaction_id="4200000000000000000000000000")
    assert req.path == "/v3/pay/transactions/id/4200000000000000000000000000?mchid=1230000109"
    assert req.endpoint == "/v3/pay/transactions/id"
    with pytest.raises(ValueError, match="exactly one"):
        calls.query_order("1", out_trade_no="a", transaction_id="b")
    with pytest.raises(ValueError, match="exactly one"):
        calls.query_order("1")


def test_jsapi_order_options_and_refusals() -> None:
    base: dict[str, Any] = {
        "appid": "wx1",
        "mchid": "1",
        "description": "店-商品",
        "out_trade_no": "o1",
        "notify_url": "https://shop.example/wxpay/notify",
        "total": 1,
        "openid": "u",
    }
    req = calls.jsapi_order(
        **base,
        attach="a",
        time_expire="20240102030405",
        goods_tag="g",
        extra={"scene_info": {"payer_client_ip": "1.2.3.4"}, "detail": None},
    )
    body = json.loads(req.body)
    assert body["time_expire"] == "2024-01-02T03:04:05+08:00"
    assert body["attach"] == "a" and body["goods_tag"] == "g"
    assert body["scene_info"] == {"payer_client_ip": "1.2.3.4"}
    assert "detail" not in body and b"null" not in req.body
    assert "店-商品".encode() in req.body  # UTF-8, not \\u escapes
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 999, tzinfo=dt.UTC)
    assert json.loads(calls.jsapi_order(**base, time_expire=when).body)["time_expire"] == (
        "2024-01-02T03:04:05+00:00"
    )
    assert calls.rfc3339("2024-01-02T03:04:05Z") == "2024-01-02T03:04:05Z"
    for bad, match in [
        ({"description": "蛋糕🎂"}, "4-byte"),
        ({"description": "x" * 128}, "127"),
        ({"total": 1.5}, "int number of fen"),
        ({"total": 0}, "positive"),
        ({"openid": ""}, "openid"),
        ({"out_trade_no": "bad no"}, "out_trade_no"),
        ({"time_expire": "2024-01-02"}, "RFC 3339"),
        ({"time_expire": dt.datetime(2024, 1, 2)}, "aware"),
        ({"extra": {"amount": {}}}, "own argument"),
    ]:
        with pytest.raises(ValueError, match=match):
            calls.jsapi_order(**{**base, **bad})


def test_refund_and_refund_query() -> None:
    req = calls.refund(
        out_refund_no="R1",
        refund=50,
        total=100,
        transaction_id="42",
        reason="缺货",
        notify_url="https://shop.example/wxpay/refund-notify",
        funds_account="AVAILABLE",
    )
    assert (req.method, req.path) == ("POST", "/v3/refund/domestic/refunds")
    assert json.loads(req.body) == {
        "transaction_id": "42",
        "out_refund_no": "R1",
        "reason": "缺货",
        "notify_url": "https://shop.example/wxpay/refund-notify",
        "funds_account": "AVAILABLE",
        "amount": {"refund": 50, "total": 100, "currency": "CNY"},
    }
    by_order = json.loads(
        calls.refund(out_refund_no="R1", refund=1, total=1, out_trade_no="o").body
    )
    assert by_order["out_trade_no"] == "o" and "transaction_id" not in by_order
    with pytest.raises(ValueError, match="more than total"):
        calls.refund(out_refund_no="R1", refund=2, total=1, out_trade_no="o")
    with pytest.raises(ValueError, match="exactly one"):
        calls.refund(out_refund_no="R1", refund=1, total=1)
    q = calls.refund_query("R-1|2")
    assert (q.method, q.path, q.body) == ("GET", "/v3/refund/domestic/refunds/R-1%7C2", b"")


def test_trade_bill_and_its_download() -> None:
    req = calls.trade_bill(dt.date(2024, 5, 1), "SUCCESS", gzip_file=True)
    assert req.path == "/v3/bill/tradebill?bill_date=2024-05-01&bill_type=SUCCESS&tar_type=GZIP"
    assert (
        calls.trade_bill("2024-05-01").path
        == "/v3/bill/tradebill?bill_date=2024-05-01&bill_type=ALL"
    )
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        calls.trade_bill("20240501")
    with pytest.raises(ValueError, match="bill_type"):
        calls.trade_bill("2024-05-01", "NOPE")
    dl = calls.bill_download("https://api.mch.weixin.qq.com/v3/billdownload/file?token=abc")
    assert (dl.path, dl.base) == (
        "/v3/billdownload/file?token=abc",
        "https://api.mch.weixin.qq.com",
    )
    assert (
        dl.url("http://ignored") == "https://api.mch.weixin.qq.com/v3/billdownload/file?token=abc"
    )
    with pytest.raises(ValueError, match="absolute URL"):
        calls.bill_download("/v3/billdownload/file")


BILL = "交易时间,公众账号ID\n`2024-05-01 10:00:00,`wx1\n".encode()


def test_the_bill_digest_is_checked_plain_and_gzipped() -> None:
    import hashlib

    digest = hashlib.sha1(BILL).hexdigest()
    assert answers.check_bill(BILL, "SHA1", digest) == BILL
    assert answers.check_bill(gzip.compress(BILL), "SHA1", digest.upper()) == BILL
    with pytest.raises(BillDigestError, match="apply for the bill again") as caught:
        answers.check_bill(BILL[:-1], "SHA1", digest)
    assert caught.value.expected == digest
    with pytest.raises(BillDigestError, match="broken gzip"):
        answers.check_bill(b"\x1f\x8b" + b"x" * 20, "SHA1", digest)
    with pytest.raises(WeChatError, match="only SHA1"):
        answers.check_bill(BILL, "MD5", digest)


# --- judges --------------------------------------------------------------------------

REQ = calls.certificates()


def err(code: str, message: str = "m", **extra: Any) -> bytes:
    return json.dumps({"code": code, "message": message, **extra}).encode()


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "ORDER_CLOSED", OrderClosedError),
        (403, "OUT_TRADE_NO_USED", OutTradeNoUsedError),
        (400, "ORDERPAID", OrderPaidError),
        (429, "FREQUENCY_LIMITED", RateLimitedError),
        (429, "RATELIMIT_EXCEEDED", RateLimitedError),
        (429, "SOMETHING_NEW", RateLimitedError),
        (404, "ORDER_NOT_EXIST", WeChatError),
        (401, "SIGN_ERROR", WeChatError),
        (500, "SYSTEM_ERROR", WeChatError),
    ],
)
def test_wechat_json_errors_are_v2s_typed_errors(status: int, code: str, cls: type) -> None:
    with pytest.raises(WeChatError) as caught:
        answers.judge(REQ, status, err(code, "说明"), request_id="RID-1")
    exc = caught.value
    assert type(exc) is cls
    assert exc.code == code and exc.description == "说明"
    assert exc.fields["http_status"] == str(status) and exc.fields["request_id"] == "RID-1"
    assert exc.endpoint == "/v3/certificates"


def test_sign_error_keeps_what_wechat_checked_and_names_the_settings() -> None:
    detail = {"sign_information": {"method": "GET", "url": "/v3/certificates"}}
    with pytest.raises(WeChatError, match="WXPAY_CERT_SERIAL") as caught:
        answers.judge(REQ, 401, err("SIGN_ERROR", detail=detail))
    assert json.loads(caught.value.fields["detail"]) == detail


@pytest.mark.parametrize(
    ("status", "body", "acted"),
    [(502, b"<html>bad gateway</html>", True), (404, b"not found", False), (400, b"[1]", False)],
)
def test_errors_without_wechats_json_are_unavailable(status: int, body: bytes, acted: bool) -> None:
    with pytest.raises(WeChatUnavailableError, match=f"HTTP {status}") as caught:
        answers.judge(REQ, status, body, request_id="R")
    assert caught.value.may_have_acted is acted


def test_success_answers() -> None:
    assert answers.judge(REQ, 204, b"") == {}
    assert answers.judge(REQ, 202, b"") == {}
    assert answers.judge(REQ, 202, b'{"a":2}') == {"a": 2}
    assert answers.judge(REQ, 200, b'{"a":1}') == {"a": 1}
    with pytest.raises(WeChatUnavailableError, match="not a JSON object") as caught:
        answers.judge(REQ, 200, b"[]")
    assert caught.value.may_have_acted
    assert answers.prepay_id(REQ, {"prepay_id": "wx1"}) == "wx1"
    with pytest.raises(WeChatUnavailableError, match="query it by out_trade_no"):
        answers.prepay_id(REQ, {})


def test_an_answer_about_another_merchant_is_not_trusted() -> None:
    answers.check_merchant(REQ, {"appid": "wx1", "mchid": "1"}, appid="wx1", mchid="1")
    with pytest.raises(ResponseMismatchError, match="mchid"):
        answers.check_merchant(REQ, {"appid": "wx1", "mchid": "2"}, appid="wx1", mchid="1")
