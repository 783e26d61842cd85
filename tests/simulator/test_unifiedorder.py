"""unifiedorder over HTTP: WeChat's answers, good and bad."""

from __future__ import annotations

import pytest
import requests

from wxpay_mw import signing
from wxpay_mw.simulator import PROTOCOL_MSGS, Simulator
from wxpay_mw.xmlmsg import from_xml, to_xml

from .conftest import call, order_params, place, post, signed


def test_order_answer_is_signed_with_merchant_fields(sim: Simulator) -> None:
    _, answer = place(sim)
    assert answer["return_code"] == "SUCCESS"
    assert answer["appid"] == sim.merchant.appid
    assert answer["mch_id"] == sim.merchant.mch_id
    assert len(answer["nonce_str"]) == 32
    assert answer["trade_type"] == "JSAPI"
    assert answer["prepay_id"].startswith("wx")
    assert signing.verify(answer, sim.merchant.api_key, "MD5")


def test_hmac_request_gets_hmac_answer(sim: Simulator) -> None:
    _, answer = place(sim, sign_type="HMAC-SHA256")
    assert len(answer["sign"]) == 64
    assert signing.verify(answer, sim.merchant.api_key, "HMAC-SHA256")


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_wrong_key_is_signerror(sim: Simulator, sign_type: str) -> None:
    params = order_params(sim, "http://127.0.0.1:9/n")
    answer = call(sim, "/pay/unifiedorder", params, key="0" * 32, sign_type=sign_type)
    assert answer == {"return_code": "FAIL", "return_msg": PROTOCOL_MSGS["SIGNERROR"]}


def test_sign_type_is_honoured_not_guessed(sim: Simulator) -> None:
    # An HMAC sign declared as MD5 is wrong, even though the key is right.
    params = order_params(sim, "http://127.0.0.1:9/n")
    message = {
        "appid": sim.merchant.appid,
        "mch_id": sim.merchant.mch_id,
        "nonce_str": "n1",
        **params,
    }
    message["sign"] = signing.sign(message, sim.merchant.api_key, "HMAC-SHA256")
    answer = from_xml(post(sim, "/pay/unifiedorder", to_xml(message)).content)
    assert answer["return_msg"] == "签名错误"


def test_tampered_field_is_signerror(sim: Simulator) -> None:
    body = signed(sim, order_params(sim, "http://127.0.0.1:9/n", total_fee="101"))
    body = body.replace(b"<total_fee><![CDATA[101]]>", b"<total_fee><![CDATA[1]]>")
    assert from_xml(post(sim, "/pay/unifiedorder", body).content)["return_code"] == "FAIL"


@pytest.mark.parametrize(
    ("missing", "des"),
    [
        ("body", "缺少参数body"),
        ("out_trade_no", "缺少参数out_trade_no"),
        ("total_fee", "缺少参数total_fee"),
        ("notify_url", "缺少参数notify_url"),
        ("spbill_create_ip", "缺少参数spbill_create_ip"),
        ("openid", "JSAPI支付必须传openid"),
    ],
    ids=lambda v: v if "缺少" not in v and "JSAPI" not in v else "",
)
def test_missing_param_is_an_unsigned_return_code_fail(
    sim: Simulator, missing: str, des: str
) -> None:
    # WeChat answers a missing parameter with return_code=FAIL and a Chinese return_msg,
    # unsigned and without err_code, not with a signed LACK_PARAMS (captured answers,
    # issue 13 fidelity item 12; wechatpay-v2.md section 2).
    params = order_params(sim, "http://127.0.0.1:9/n")
    del params[missing]
    answer = call(sim, "/pay/unifiedorder", params)
    assert answer == {"return_code": "FAIL", "return_msg": des}


@pytest.mark.parametrize(
    ("change", "return_msg"),
    [
        ({"total_fee": "0"}, "total_fee参数格式错误"),
        ({"total_fee": "-1"}, "total_fee参数格式错误"),
        ({"total_fee": "1.00"}, "total_fee参数格式错误"),
        ({"total_fee": "abc"}, "total_fee参数格式错误"),
        ({"out_trade_no": "A" * 33}, "out_trade_no参数长度有误"),
        ({"out_trade_no": "订单1"}, "out_trade_no参数格式错误"),
        ({"out_trade_no": "a b"}, "out_trade_no参数格式错误"),
        ({"out_trade_no": "A1\n"}, "out_trade_no参数格式错误"),
        ({"body": "x" * 129}, "body参数长度有误"),
        ({"notify_url": "http://shop.example/notify?x=1"}, "notify_url参数格式错误"),
        ({"notify_url": "ftp://shop.example/notify"}, "notify_url参数格式错误"),
        ({"trade_type": "WAP"}, "trade_type参数格式错误"),
        ({"spbill_create_ip": "not-an-ip"}, "spbill_create_ip参数格式错误"),
        ({"time_expire": "2024-01-01"}, "time_expire参数格式错误"),
        ({"openid": "o-never-logged-in"}, "appid和openid不匹配"),
    ],
    ids=[
        "fee-zero",
        "fee-negative",
        "fee-decimal",
        "fee-text",
        "out_trade_no-33",
        "out_trade_no-cjk",
        "out_trade_no-space",
        "out_trade_no-newline",
        "body-129",
        "notify-query",
        "notify-ftp",
        "trade_type",
        "ip",
        "time_expire",
        "openid-unknown",
    ],
)
def test_bad_param_is_return_code_fail_naming_it(
    sim: Simulator, change: dict[str, str], return_msg: str
) -> None:
    answer = call(sim, "/pay/unifiedorder", order_params(sim, "http://127.0.0.1:9/n", **change))
    assert answer == {"return_code": "FAIL", "return_msg": return_msg}


def test_allowed_out_trade_no_characters(sim: Simulator) -> None:
    place(sim, out_trade_no="aZ09_-|*@" + "x" * 23)


def test_body_of_128_chinese_characters_is_allowed(sim: Simulator) -> None:
    place(sim, body="商" * 128)


def test_appid_not_bound_to_mch_id(sim: Simulator) -> None:
    params = order_params(sim, "http://127.0.0.1:9/n")
    message = {
        "appid": "wxffffffffffffffff",
        "mch_id": sim.merchant.mch_id,
        "nonce_str": "n",
        **params,
    }
    message["sign"] = signing.sign(message, sim.merchant.api_key)
    answer = from_xml(post(sim, "/pay/unifiedorder", to_xml(message)).content)
    assert answer["result_code"] == "FAIL"
    assert answer["err_code"] == "APPID_MCHID_NOT_MATCH"
    assert signing.verify(answer, sim.merchant.api_key)


def test_unknown_mch_id(sim: Simulator) -> None:
    params = {"appid": sim.merchant.appid, "mch_id": "1234", "nonce_str": "n", "sign": "X"}
    answer = from_xml(post(sim, "/pay/unifiedorder", to_xml(params)).content)
    assert answer == {"return_code": "FAIL", "return_msg": PROTOCOL_MSGS["MCHID_NOT_EXIST"]}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "POST_DATA_EMPTY"),
        (b"   ", "POST_DATA_EMPTY"),
        (b"<xml><appid>\xb2\xe2</appid></xml>", "NOT_UTF8"),
        (b"<xml><appid>wx", "XML_FORMAT_ERROR"),
        (b"not xml at all", "XML_FORMAT_ERROR"),
        (b'<!DOCTYPE x [<!ENTITY e "e">]><xml><a>&e;</a></xml>', "XML_FORMAT_ERROR"),
    ],
    ids=["empty", "blank", "gbk", "truncated", "text", "entity"],
)
def test_protocol_errors(sim: Simulator, body: bytes, code: str) -> None:
    answer = from_xml(post(sim, "/pay/unifiedorder", body).content)
    assert answer == {"return_code": "FAIL", "return_msg": PROTOCOL_MSGS[code]}


def test_get_is_require_post_method(sim: Simulator) -> None:
    response = requests.get(sim.base_url + "/pay/unifiedorder", timeout=10)
    assert from_xml(response.content) == {
        "return_code": "FAIL",
        "return_msg": PROTOCOL_MSGS["REQUIRE_POST_METHOD"],
    }


def test_same_order_twice_gives_same_prepay_id(sim: Simulator) -> None:
    params, first = place(sim)
    again = call(sim, "/pay/unifiedorder", params)  # a new nonce_str and sign
    assert again["prepay_id"] == first["prepay_id"]


def test_same_out_trade_no_other_params_is_out_trade_no_used(sim: Simulator) -> None:
    params, _ = place(sim)
    answer = call(sim, "/pay/unifiedorder", {**params, "total_fee": "102"})
    assert answer["err_code"] == "OUT_TRADE_NO_USED"


def test_prepay_id_renewed_after_two_hours(sim: Simulator) -> None:
    params, first = place(sim)
    sim.advance_clock(2 * 3600 + 1)
    again = call(sim, "/pay/unifiedorder", params)
    assert again["result_code"] == "SUCCESS"
    assert again["prepay_id"] != first["prepay_id"]


def test_paid_order_is_orderpaid(sim: Simulator) -> None:
    params, answer = place(sim)
    sim.pay(
        signing.request_payment_params(
            appid=sim.merchant.appid, key=sim.merchant.api_key, prepay_id=answer["prepay_id"]
        )
    )
    assert call(sim, "/pay/unifiedorder", params)["err_code"] == "ORDERPAID"


def test_closed_order_is_orderclosed(sim: Simulator) -> None:
    params, _ = place(sim)
    closed = call(sim, "/pay/closeorder", {"out_trade_no": params["out_trade_no"]})
    assert closed["result_code"] == "SUCCESS"
    assert call(sim, "/pay/unifiedorder", params)["err_code"] == "ORDERCLOSED"


def test_native_order_has_code_url(sim: Simulator) -> None:
    _, answer = place(sim, trade_type="NATIVE", openid="", product_id="p1")
    assert answer["code_url"].startswith("weixin://wxpay/bizpayurl")


def test_unknown_path_is_404(sim: Simulator) -> None:
    assert post(sim, "/pay/nothing", b"<xml/>").status_code == 404
